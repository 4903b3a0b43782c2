"""Output of a suite run: the printed tables, the JSON file and the matplotlib plots."""

from __future__ import annotations

import json
import math
import os
from typing import Optional

from benchmarks.workloads import LEAVES_SWEEP, PARAMS_SWEEP, TABLE

OURS = 'optax_like'              # the default path: optax's state, a tree of leaves
FUSED = 'optax_like_fused'       # optax_like.fused(tx): the opt-in bucketed wrapper
OPTAX_AGAIN = 'optax_again'      # --aa: optax a second time; optax/optax_again is the noise floor
OPTAX = 'optax'
TORCH = 'torch_fused'


def _ms(x: Optional[float]) -> str:
  return '-' if x is None else f'{x:.3f}' if x < 1 else f'{x:.2f}' if x < 100 else f'{x:.1f}'


def _x(x: Optional[float], fmt: str = '{:.2f}x') -> str:
  return '-' if x is None or not math.isfinite(x) else fmt.format(x)


def _pct(x: Optional[float]) -> str:
  return '-' if x is None or not math.isfinite(x) else f'{100 * x:.0f}%'


def _passes(hlo: Optional[dict]) -> str:
  return '-' if not hlo or 'passes' not in hlo else f"{hlo['passes']:.1f}"


def _render(headers: list[str], rows: list[list[str]], right: set[int]) -> str:
  widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
            for i, h in enumerate(headers)]

  def line(cells):
    return ' | '.join(c.rjust(w) if i in right else c.ljust(w)
                      for i, (c, w) in enumerate(zip(cells, widths)))

  sep = '-+-'.join('-' * w for w in widths)
  return '\n'.join([line(headers), sep] + [line(r) for r in rows])


STEP_HEADERS = ['workload', 'optax ms', 'ours ms', 'ratio', 'fused ms', 'fused ratio',
                'limit ms', 'ours frac', 'fused frac', 'torch fused ms']


def _lib(libs: dict, name: str, key: str) -> Optional[float]:
  return libs[name].get(key) if name in libs else None


def _has_aa(results: dict) -> bool:
  return any('aa_ratio' in r for r in results['workloads'])


def step_rows(results: dict, tag: Optional[str] = None) -> list[list[str]]:
  rows = []
  aa = _has_aa(results)
  for r in results['workloads']:
    if tag is not None and tag not in r['tags']:
      continue
    libs = r['libs']
    rows.append([r['name'], _ms(libs[OPTAX]['step_ms']), _ms(libs[OURS]['step_ms']),
                 _x(r['ratio']), _ms(_lib(libs, FUSED, 'step_ms')), _x(r.get('fused_ratio')),
                 _ms(r['limit_ms']), _pct(r['fraction_of_limit']),
                 _pct(r.get('fused_fraction_of_limit')), _ms(_lib(libs, TORCH, 'step_ms'))]
                + ([_x(r.get('aa_ratio'))] if aa else []))
  return rows


def _header_lines(results: dict) -> list[str]:
  """What ran where: smoke label, device, variants, torch, budget and what it left out."""
  out = []
  if results.get('smoke'):
    out.append(f"SMOKE RUN ({results['suite']} sizes, few rounds): checks that the suite runs; "
               'its numbers are not benchmarks')
  dev = results.get('device')
  if dev:
    cores = results.get('machine', {}).get('cores')
    cpu = results.get('machine', {}).get('cpu')
    kind = '' if dev['device_kind'] == dev['platform'] else f"{dev['device_kind']}, "
    where = f"{dev['platform']} ({kind}" + (
        f'{cores} cores, {cpu})' if dev['platform'] == 'cpu' else f"{dev['count']} "
        f"device{'s' if dev['count'] != 1 else ''})")
    out.append(f'device: {where}; jax {results.get("versions", {}).get("jax")}, optax '
               f'{results.get("versions", {}).get("optax")}')
  variants = results.get('variants')
  if variants:
    out.append('variants: ' + '; '.join(f'{k} = {v}' for k, v in variants.items())
               + ('' if FUSED in variants else
                  f'; {FUSED}: not in this optax_like (no optax_like.fused)'))
  torch = results.get('torch')
  if torch:
    out.append(f"PyTorch Adam(fused=True): {torch['status']}"
               + (f" on {torch['device']}" if torch.get('device') else ''))
  b = results.get('budget')
  if b:
    out.append(f"budget {b['budget_s']:g} s: {len(results['workloads'])} workloads ran in "
               f"{b.get('used_s', '?')} s (plan from the bandwidth and kernel probes: launch "
               f"{1e6 * b['kernel_probe']['launch_s']:.1f} us, compile "
               f"{1e3 * b['kernel_probe']['compile_s_per_kernel']:.2f} ms per kernel)")
  for sk in results.get('skipped') or []:
    out.append(f"  skipped {sk['name']}: {sk['reason']}")
  return out


def format_tables(results: dict) -> str:
  """The step-time table (table workloads, then sweep-only points) and the compile table."""
  bw = results['bandwidth']
  out = _header_lines(results)
  head = f"memory bandwidth (in-place scale of {bw['n_elements']:,} float32): " \
         f"XLA {bw['xla']['gb_per_s']:.1f} GB/s"
  if bw.get('torch'):
    head += f", PyTorch {bw['torch']['gb_per_s']:.1f} GB/s"
  out.append(head)
  out.append('ratio = median over rounds of (optax time / variant time), >1: faster than optax; '
             'ours = default path, fused = optax_like.fused(tx); frac = bandwidth-limit time / '
             'step time')
  out.append('(limit = DRAM bandwidth; frac > 100% means the working set fits in cache)')
  headers = STEP_HEADERS + (['A/A (optax/optax)'] if _has_aa(results) else [])
  if _has_aa(results):
    out.append('A/A = the same optax step timed as a second variant: the spread of a ratio that '
               'should be 1.00x on this machine')
  table = step_rows(results, TABLE)
  sweep = [r for r in step_rows(results) if r[0] not in {t[0] for t in table}]
  rows = table + ([['(sweep points)'] + [''] * (len(headers) - 1)] + sweep if sweep else [])
  out.append(_render(headers, rows, right=set(range(1, len(headers)))))
  out.append('')
  crow = []
  for r in results['workloads']:
    libs = r['libs']
    if libs[OPTAX].get('compile_s') is None:
      continue
    fused = libs.get(FUSED)
    crow.append([r['name'], str(r['n_leaves']), f"{libs[OPTAX]['compile_s']:.2f}",
                 f"{libs[OURS]['compile_s']:.2f}", _x(r['compile_ratio']),
                 f"{fused['compile_s']:.2f}" if fused else '-', _x(r.get('fused_compile_ratio')),
                 str(libs[OPTAX]['hlo'].get('fusions', '-')),
                 str(libs[OURS]['hlo'].get('fusions', '-')),
                 str(fused['hlo'].get('fusions', '-')) if fused else '-',
                 _passes(libs[OPTAX]['hlo']), _passes(libs[OURS]['hlo']),
                 _passes(fused['hlo'] if fused else None), str(r['passes'])])
  out.append('compile = jax.jit(step).lower(...).compile(); fusions = fusion ops in the compiled '
             'HLO; XLA passes = XLA bytes accessed / (4 * params)')
  out.append(_render(['workload', 'leaves', 'optax compile s', 'ours compile s', 'ratio',
                      'fused compile s', 'fused ratio', 'optax fusions', 'ours fusions',
                      'fused fusions', 'optax XLA passes', 'ours XLA passes',
                      'fused XLA passes', 'min passes'], crow, right=set(range(1, 14))))
  for r in results['workloads']:
    for name, why in (r.get('unsupported') or {}).items():
      out.append(f"{r['name']}: {name} not run ({why})")
  return '\n'.join(out)


def write_json(results: dict, path: str) -> None:
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, 'w') as f:
    json.dump(results, f, indent=1, sort_keys=False, allow_nan=False)
    f.write('\n')


def _series(results: dict, tag: str, key, lib: str):
  pts = []
  for r in results['workloads']:
    if tag in r['tags'] and lib in r['libs']:
      v = r['libs'][lib].get('step_ms') if key == 'step' else r['libs'][lib].get('compile_s')
      if v is not None:
        pts.append((r['n_leaves'] if tag == LEAVES_SWEEP else r['n_params'], v, r))
  pts.sort(key=lambda p: p[0])
  return pts


def write_plots(results: dict, out_dir: str, prefix: str = 'benchmarks') -> list[str]:
  """Step time vs leaves, step time vs params, compile time vs leaves; returns written paths.

  matplotlib is imported here only; without it the plots are skipped with a message.
  """
  try:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
  except ImportError:
    print('matplotlib is not installed: plots skipped (pip install matplotlib)')
    return []

  machine = results['machine']
  dev = results.get('device') or {'platform': 'cpu'}
  where = (f"{machine.get('cpu', '?')}, {machine.get('cores', '?')} cores"
           if dev['platform'] == 'cpu' else f"{dev['platform']}: {dev.get('device_kind')}")
  subtitle = (f"{where}; jax {results['versions'].get('jax')}, "
              f"optax {results['versions'].get('optax')}"
              + (' (SMOKE RUN, not a benchmark)' if results.get('smoke') else ''))
  styles = {OPTAX: dict(color='tab:red', marker='o', label='optax'),
            OURS: dict(color='tab:blue', marker='s', label='optax_like (default)'),
            FUSED: dict(color='tab:green', marker='D', label='optax_like.fused(tx)'),
            TORCH: dict(color='tab:gray', marker='^', label='PyTorch Adam(fused=True)',
                        linestyle='--')}
  written = []

  def finish(fig, ax, name, title, xlabel, ylabel):
    ax.set_xscale('log')
    ax.set_yscale('log')
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title + '\n' + subtitle, fontsize=10)
    ax.grid(True, which='both', alpha=0.3)
    ax.legend(fontsize=9)
    fig.tight_layout()
    path = os.path.join(out_dir, f'{prefix}_{name}.png')
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)

  os.makedirs(out_dir, exist_ok=True)
  # Step time against number of leaves (constant total size).
  pts = {lib: _series(results, LEAVES_SWEEP, 'step', lib) for lib in (OPTAX, OURS, FUSED)}
  if pts[OPTAX]:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for lib, p in pts.items():
      if p:
        ax.plot([x for x, _, _ in p], [y for _, y, _ in p], **styles[lib])
    limit = [(x, r['limit_ms']) for x, _, r in pts[OPTAX]]
    ax.plot([x for x, _ in limit], [y for _, y in limit], color='k', linestyle=':',
            label='bandwidth limit (8 passes)')
    total = pts[OPTAX][0][2]['n_params']
    finish(fig, ax, 'leaves', f'clip_by_global_norm + adam, {total:,} params split into n leaves',
           'number of leaves', 'step time (ms)')
  # Step time against parameter count (one leaf).
  pts = {lib: _series(results, PARAMS_SWEEP, 'step', lib) for lib in (OPTAX, OURS, FUSED, TORCH)}
  if pts[OPTAX]:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for lib, p in pts.items():
      if p:
        ax.plot([x for x, _, _ in p], [y for _, y, _ in p], **styles[lib])
    ax.plot([x for x, _, _ in pts[OPTAX]], [r['limit_ms'] for _, _, r in pts[OPTAX]],
            color='k', linestyle=':', label='bandwidth limit (7 passes)')
    finish(fig, ax, 'params', 'adam, one float32 leaf', 'parameters', 'step time (ms)')
  # Compile time against number of leaves.
  pts = {lib: _series(results, LEAVES_SWEEP, 'compile', lib) for lib in (OPTAX, OURS, FUSED)}
  if pts[OPTAX]:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for lib, p in pts.items():
      if p:
        ax.plot([x for x, _, _ in p], [y for _, y, _ in p], **styles[lib])
    finish(fig, ax, 'compile', 'clip_by_global_norm + adam: jit(step).lower().compile()',
           'number of leaves', 'compile time (s)')
  return written

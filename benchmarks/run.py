"""Benchmark suite: optax_like against optax (and PyTorch's fused Adam) next to the bandwidth limit.

Run from the repository root (needs optax and matplotlib: ``pip install -e '.[bench]'``;
PyTorch is optional)::

  python -m benchmarks.run                # full suite (~12 min on 2 CPU cores; writes docs/)
  python -m benchmarks.run --budget 300   # what fits in 300 s on this backend (CPU, GPU, TPU)
  python -m benchmarks.run --quick        # a smoke run of tiny sizes (seconds; not benchmarks)
  python -m benchmarks.run --only 'adam_20M|lars' --rounds 30

Every workload runs three JAX variants of the same optimizer configuration on the same params
and grads: ``optax``; ``optax_like``, the default path (optax's state, a tree of leaves); and
``optax_like.fused(tx)``, the opt-in bucketed wrapper (where this version of optax_like has
it). Each step is jitted with params and state donated and compiled once (the compile time is
recorded). Rounds alternate the variants (the order rotates each round) and each ratio is the
median over rounds of ``optax time / variant time`` (> 1: faster than optax), so noise from a
shared machine hits all sides alike. PyTorch's ``Adam(fused=True)`` is timed on the Adam
workloads when torch is installed (on the GPU when JAX runs on one). The machine's memory
bandwidth is measured in the same run (an in-place scale of a large float32 array, at the start
and at the end) and turned into a bandwidth-limit time per workload from its pass count (see
``benchmarks/workloads.py``).

``--budget SECONDS`` measures the backend first (bandwidth, per-kernel launch and compile cost),
estimates every workload, and runs those that fit, most important first (``benchmarks/budget.py``);
the table lists what was skipped and why.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Optional

import jax
import numpy as np

from benchmarks import budget as budget_lib
from benchmarks import harness, report
from benchmarks.workloads import FULL, QUICK, SuiteConfig, Workload, build_workloads

OPTAX, OURS, FUSED, TORCH = report.OPTAX, report.OURS, report.FUSED, report.TORCH
OPTAX_AGAIN = report.OPTAX_AGAIN
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INSTALL_HINT = "pip install -e '.[bench]'"


# ---------------------------------------------------------------------------------------------
# Requirements, devices, versions.

def check_requirements(plots: bool = True) -> None:
  """Exits with what to install when optax (or matplotlib, for the plots) is missing."""
  missing = []
  try:
    import optax  # noqa: F401,PLC0415
  except ImportError:
    missing.append('optax==0.2.8')
  if plots:
    try:
      import matplotlib  # noqa: F401,PLC0415
    except ImportError:
      missing.append('matplotlib')
  if missing:
    raise SystemExit(
        f'benchmarks.run needs {" and ".join(missing)}, which '
        f'{"is" if len(missing) == 1 else "are"} not installed. Install with\n'
        f'  {INSTALL_HINT}\nor\n  pip install {" ".join(missing)}'
        + ('\n(or pass --no-plots to run without matplotlib)'
           if missing == ['matplotlib'] else '')
        + '\nPyTorch is optional: pip install torch adds its fused Adam to the table.')


def _import_torch():
  try:
    import torch  # noqa: PLC0415 - optional
    return torch
  except ImportError:
    return None


def device_info() -> dict:
  """The JAX backend the suite runs on (reported in the table and the JSON)."""
  devices = jax.devices()
  d = devices[0]
  return {'platform': d.platform, 'device_kind': getattr(d, 'device_kind', d.platform),
          'count': len(devices), 'backend': jax.default_backend()}


def torch_device(torch) -> str:
  """PyTorch runs where JAX runs: on the GPU when JAX's backend is a GPU and CUDA is there."""
  if jax.default_backend() == 'gpu' and torch.cuda.is_available():
    return 'cuda'
  return 'cpu'


def jax_variants(aa: bool = False) -> dict[str, tuple[Any, Any]]:
  """name -> (module with optax's API, wrapper of the workload's optimizer or None).

  The fused column appears when this optax_like has ``fused`` (the opt-in bucketed wrapper).
  ``aa``: optax once more, as its own variant (an A/A comparison: the noise floor of a ratio).
  """
  import optax  # noqa: PLC0415
  import optax_like  # noqa: PLC0415
  variants = {OPTAX: (optax, None), OURS: (optax_like, None)}
  if hasattr(optax_like, 'fused'):
    variants[FUSED] = (optax_like, optax_like.fused)
  if aa:
    variants[OPTAX_AGAIN] = (optax, None)
  return variants


def machine_info() -> dict:
  info = {'platform': platform.platform(), 'machine': platform.machine(),
          'python': platform.python_version(), 'cores': os.cpu_count(),
          'jax_devices': [str(d) for d in jax.devices()]}
  try:
    with open('/proc/cpuinfo') as f:
      for line in f:
        if line.startswith('model name'):
          info['cpu'] = line.split(':', 1)[1].strip()
          break
    with open('/proc/meminfo') as f:
      for line in f:
        if line.startswith('MemTotal'):
          info['memory_gib'] = round(int(line.split()[1]) / 2**20, 1)
          break
  except OSError:
    pass
  info.setdefault('cpu', platform.processor() or 'unknown')
  if hasattr(os, 'getloadavg'):
    info['load_average_at_end'] = [round(x, 2) for x in os.getloadavg()]
  return info


def versions(torch) -> dict:
  import jaxlib
  import optax
  import optax_like
  v = {'jax': jax.__version__, 'jaxlib': jaxlib.__version__, 'optax': optax.__version__,
       'optax_like': optax_like.__version__, 'numpy': np.__version__,
       'torch': torch.__version__ if torch is not None else None,
       'torch_threads': torch.get_num_threads() if torch is not None else None}
  try:
    commit = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=REPO, capture_output=True,
                            text=True, timeout=10).stdout.strip()
    dirty = subprocess.run(['git', 'status', '--porcelain', '--', 'optax_like'], cwd=REPO,
                           capture_output=True, text=True, timeout=10).stdout.strip()
    v['optax_like_commit'] = commit or None
    v['optax_like_dirty'] = bool(dirty)
  except (OSError, subprocess.SubprocessError):
    pass
  return v


def _median(xs):
  return statistics.median(xs) if xs else None


def add_limits(rec: dict, bandwidth_bps: float) -> None:
  """Bandwidth-limit time of a workload and the fraction of it each variant reaches."""
  limit_s = rec['passes'] * 4 * rec['n_params'] / bandwidth_bps
  rec['limit_ms'] = 1e3 * limit_s
  for lib in rec['libs'].values():
    lib['fraction_of_limit'] = rec['limit_ms'] / lib['step_ms']
    lib['effective_gb_per_s'] = rec['passes'] * 4 * rec['n_params'] / (lib['step_ms'] / 1e3) / 1e9
  rec['fraction_of_limit'] = rec['libs'][OURS]['fraction_of_limit']
  if FUSED in rec['libs']:
    rec['fused_fraction_of_limit'] = rec['libs'][FUSED]['fraction_of_limit']


# ---------------------------------------------------------------------------------------------
# One workload.

class Deadline:
  """The budget's clock: seconds left for workloads (the end-of-run work is reserved)."""

  def __init__(self, budget_s: float, start: float, reserve_s: float):
    self.budget_s, self.start, self.reserve_s = budget_s, start, reserve_s

  def left(self) -> float:
    return self.start + self.budget_s - self.reserve_s - time.perf_counter()


class Skipped(Exception):
  """A workload given up under the budget (after it started: its compiles ran long)."""


def measure_workload(w: Workload, cfg: SuiteConfig, rounds: int, variants: dict, torch,
                     progress: harness.Progress, *, torch_dev: str = 'cpu',
                     deadline: Optional[Deadline] = None, later_s: float = 0.0,
                     estimate: Optional[budget_lib.Estimate] = None) -> dict:
  """Compiles and times one workload for every variant; returns its JSON record.

  With a ``deadline`` (``--budget``), ``later_s`` is what the workloads planned after this one
  need at the least: this one gives up (``Skipped``) when its compiles leave no room for one
  round, skips the extra compile-time samples unless they are cheap, and runs as many of its
  ``rounds`` as still fit.
  """
  t_start = time.perf_counter()
  params_np, grads_np = harness.make_data(w)
  runners, unsupported = {}, {}
  try:
    names = list(variants)
    for i, name in enumerate(names):
      lib, wrap = variants[name]
      progress.set_label(f'{w.name}: compile {name}')
      try:
        runners[name] = harness.JaxRunner(lib, w, params_np, grads_np, wrap=wrap)
      except (ValueError, TypeError, NotImplementedError) as e:
        if name in (OPTAX, OURS, OPTAX_AGAIN):
          raise
        unsupported[name] = f'{type(e).__name__}: {e}'[:300]
      progress.advance()
      if deadline is not None and estimate is not None and i + 1 < len(names):
        # The compiles still to come, scaled by how far off the estimate was so far. Only
        # this workload must fit (it runs before, and so matters more than, the later ones).
        so_far = sum(r.compile_s for r in runners.values())
        guessed = sum(estimate.compile_each.get(n, 0.0) for n in names[:i + 1])
        still = sum(estimate.compile_each.get(n, 0.0) for n in names[i + 1:]) * (
            so_far / guessed if guessed > 0 else 1.0)
        if still + estimate.round_s > deadline.left():
          raise Skipped(f'budget: its compiles took {so_far:.0f} s so far, the rest would '
                        f'need ~{still:.0f} s, {max(0.0, deadline.left()):.0f} s left')
    if torch is not None and w.make_torch_opt is not None:
      progress.set_label(f'{w.name}: setup torch')
      runners[TORCH] = harness.TorchRunner(torch, w, params_np, grads_np, device=torch_dev)
  except Skipped:
    for r in runners.values():
      r.close()
    raise
  del params_np, grads_np

  jax_names = [n for n in variants if n in runners]
  compiles = [runners[n].compile_s for n in jax_names]
  extra = sum(compiles) * (cfg.compile_reps - 1)
  cheap = deadline is None or (
      (estimate is None or estimate.compile_samples > 1)
      and extra < 0.2 * max(0.0, deadline.left() - later_s))
  if max(compiles) < cfg.compile_reps_below_s and cheap:
    progress.set_label(f'{w.name}: compile-time samples')
    for rep in range(1, cfg.compile_reps):
      k = rep % len(jax_names)
      for name in jax_names[k:] + jax_names[:k]:
        runners[name].compile_again()

  progress.set_label(f'{w.name}: calibrate')
  for r in runners.values():
    r.steps(1)  # first call after compile
  per_step = statistics.median(r.steps(1) for r in runners.values())
  steps = harness.steps_for(per_step, cfg.round_target_s, cfg.min_steps, cfg.max_steps)
  planned_rounds = rounds
  if deadline is not None:
    slowest = max(r.steps(1) for r in runners.values())
    round_s = len(runners) * (steps + 1) * slowest
    rounds = budget_lib.fit_rounds(rounds, round_s, deadline.left(), later_s)

  progress.set_label(f'{w.name}: {rounds} rounds x {steps} steps')
  times = harness.run_rounds(runners, rounds, steps, on_round=lambda r: progress.advance())
  progress.advance(planned_rounds - rounds)

  rec = {'name': w.name, 'description': w.description, 'tags': sorted(w.tags),
         'optimizer': w.make_opt.__name__, 'n_params': w.n_params, 'n_leaves': w.n_leaves,
         'passes': w.passes, 'rounds': rounds, 'steps_per_round': steps, 'libs': {}}
  if unsupported:
    rec['unsupported'] = unsupported
  for name, runner in runners.items():
    ms = [1e3 * t for t in times[name]]
    rec['libs'][name] = {
        'step_ms': _median(ms), 'step_ms_rounds': ms, 'step_ms_min': min(ms),
        'compile_s': runner.compile_s,
        'compile_s_samples': getattr(runner, 'compile_samples', None), 'hlo': runner.hlo,
        'finite': runner.check_finite()}
    if runner.hlo and 'bytes_accessed' in runner.hlo:
      # XLA's own count of bytes read + written, in float32 passes over all parameters.
      runner.hlo['passes'] = runner.hlo['bytes_accessed'] / (4 * w.n_params)
    runner.close()
  for name, key in ((OURS, ''), (FUSED, 'fused_'), (OPTAX_AGAIN, 'aa_')):
    if name not in times:
      continue
    ratios = [a / b for a, b in zip(times[OPTAX], times[name])]
    rec[f'{key}ratio_rounds'] = ratios
    rec[f'{key}ratio'] = _median(ratios)
    rec[f'{key}compile_ratio'] = rec['libs'][OPTAX]['compile_s'] / rec['libs'][name]['compile_s']
  if TORCH in times:
    # > 1: ours faster than PyTorch's fused Adam.
    rec['torch_over_ours'] = _median([t / o for t, o in zip(times[TORCH], times[OURS])])
    rec['optax_over_torch'] = _median([a / t for a, t in zip(times[OPTAX], times[TORCH])])
    if FUSED in times:
      rec['torch_over_fused'] = _median([t / f for t, f in zip(times[TORCH], times[FUSED])])
  rec['wall_s'] = time.perf_counter() - t_start
  del runners
  gc.collect()
  return rec


# ---------------------------------------------------------------------------------------------
# The suite.

def _select(cfg: SuiteConfig, only: Optional[str], max_leaves: Optional[int]) -> list[Workload]:
  workloads = build_workloads(cfg, max_leaves=max_leaves)
  if only:
    pattern = re.compile(only)
    workloads = [w for w in workloads if pattern.search(w.name)]
    if not workloads:
      raise SystemExit(f'--only {only!r} matches no workload; names: '
                       + ', '.join(w.name for w in build_workloads(cfg, max_leaves)))
  return workloads


def run_suite(cfg: SuiteConfig = FULL, *, rounds: Optional[int] = None,
              only: Optional[str] = None, max_leaves: Optional[int] = None,
              use_torch: bool = True, show_progress: bool = True, stream=None,
              budget_s: Optional[float] = None, start: Optional[float] = None,
              variants: Optional[dict] = None) -> dict:
  """Runs the suite and returns all numbers as a JSON-ready dict (no files written).

  ``budget_s``: finish within that many seconds from ``start`` (``time.perf_counter()``,
  default now), running the workloads that fit (``benchmarks.budget``); the rest are listed
  under ``skipped``. ``variants``: name -> (module, wrapper) (default ``jax_variants()``).
  """
  start = time.perf_counter() if start is None else start
  rounds = rounds or cfg.rounds
  torch = _import_torch() if use_torch else None
  torch_status = ('disabled (--no-torch)' if not use_torch else
                  'not installed (pip install torch adds its fused Adam)' if torch is None
                  else 'timed')
  torch_dev = torch_device(torch) if torch is not None else None
  workloads = _select(cfg, only, max_leaves)
  variants = jax_variants() if variants is None else variants
  load_start = [round(x, 2) for x in os.getloadavg()] if hasattr(os, 'getloadavg') else None
  device = device_info()

  progress = harness.Progress(2, stream=stream, enabled=show_progress)
  progress.set_label('bandwidth (start)')
  t0 = time.perf_counter()
  bw_runs = [harness.bandwidth_xla(cfg.bandwidth_n, cfg.bandwidth_reps)]
  torch_bw = [harness.bandwidth_torch(torch, cfg.bandwidth_n, cfg.bandwidth_reps, torch_dev)] \
      if torch is not None else []
  probe_s = time.perf_counter() - t0

  order, planned, deadline, plan, budget_rec = workloads, {w.name: rounds for w in workloads}, \
      None, None, None
  if budget_s is not None:
    progress.set_label('kernel probe (budget)')
    kernel = harness.kernel_probe()
    machine = budget_lib.Machine(bandwidth_bps=bw_runs[0]['gb_per_s'] * 1e9,
                                 launch_s=kernel['launch_s'],
                                 compile_s_per_kernel=kernel['compile_s_per_kernel'])
    # Reserved for the end: the closing bandwidth probe, the report and the plots, a margin.
    reserve_s = probe_s + 5.0 + 0.03 * budget_s
    deadline = Deadline(budget_s, start, reserve_s)
    order = budget_lib.priority(workloads, cfg)
    estimates = {w.name: budget_lib.estimate(w, machine, cfg, list(variants), torch is not None,
                                             FUSED) for w in order}
    plan = budget_lib.plan(order, estimates, deadline.left(), rounds)
    planned = plan.rounds
    order = [w for w in order if w.name in planned]
    budget_rec = {'budget_s': budget_s, 'reserve_s': round(reserve_s, 1),
                  'kernel_probe': kernel, 'planned_rounds': dict(planned),
                  'estimates_s': {n: round(e.total_s(planned.get(n, budget_lib.MIN_ROUNDS)), 1)
                                  for n, e in estimates.items()}}

  progress.total = 2 + sum(len(variants) + planned[w.name] for w in order)
  progress.advance()
  records, skipped = [], list(plan.skipped) if plan else []
  for i, w in enumerate(order):
    later_s = sum(plan.min_s(v.name) for v in order[i + 1:]) if plan else 0.0
    if deadline is not None:
      need = plan.min_s(w.name)
      if need > deadline.left():
        skipped.append({'name': w.name, 'estimate_s': round(need, 1),
                        'reason': f'budget: needs ~{need:.0f} s, '
                                  f'{max(0.0, deadline.left()):.0f} s left when its turn came'})
        progress.advance(len(variants) + planned[w.name])
        continue
    try:
      records.append(measure_workload(
          w, cfg, planned[w.name], variants, torch, progress, torch_dev=torch_dev or 'cpu',
          deadline=deadline, later_s=later_s,
          estimate=plan.estimates[w.name] if plan else None))
    except Skipped as e:
      skipped.append({'name': w.name, 'reason': str(e)})
  # Report in the suite's own order (table rows first), whatever order they ran in.
  rank = {w.name: k for k, w in enumerate(workloads)}
  records.sort(key=lambda r: rank[r['name']])

  progress.set_label('bandwidth (end)')
  bw_runs.append(harness.bandwidth_xla(cfg.bandwidth_n, cfg.bandwidth_reps))
  if torch is not None:
    torch_bw.append(harness.bandwidth_torch(torch, cfg.bandwidth_n, cfg.bandwidth_reps,
                                            torch_dev))
  progress.advance()
  progress.close()
  bandwidth_bps = 8 * cfg.bandwidth_n / statistics.median(
      [t for r in bw_runs for t in r['times_s']])
  for rec in records:
    add_limits(rec, bandwidth_bps)

  def pooled(runs):
    ts = [t for r in runs for t in r['times_s']]
    return {'gb_per_s': 8 * cfg.bandwidth_n / statistics.median(ts) / 1e9,
            'gb_per_s_best': 8 * cfg.bandwidth_n / min(ts) / 1e9,
            'gb_per_s_start': runs[0]['gb_per_s'], 'gb_per_s_end': runs[-1]['gb_per_s'],
            'times_s': ts}

  machine = machine_info()
  machine['load_average_at_start'] = load_start
  if budget_rec is not None:
    budget_rec['used_s'] = round(time.perf_counter() - start, 1)
  return {
      'suite': cfg.name,
      'smoke': cfg.name != FULL.name,
      'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
      'command': ' '.join(['python -m benchmarks.run'] + sys.argv[1:])
      if sys.argv and sys.argv[0].endswith('run.py') else None,
      'device': device,
      'machine': machine, 'versions': versions(torch),
      'variants': {name: ('optax' if name == OPTAX else
                          'optax again (A/A noise floor)' if name == OPTAX_AGAIN else
                          'optax_like, default path (optax state)' if name == OURS else
                          f'optax_like.{getattr(wrap, "__name__", wrap)}(tx)')
                   for name, (_, wrap) in variants.items()},
      'torch': {'status': torch_status, 'device': torch_dev},
      'budget': budget_rec,
      'skipped': skipped,
      'method': {
          'step': 'jax.jit(step, donate_argnums=(0, 1)) over (params, opt_state); grads fixed; '
                  'compiled once via .lower().compile() (the compile time, tracing included)',
          'rounds': rounds, 'round_target_s': cfg.round_target_s,
          'compile_s': f'median of {cfg.compile_reps} samples (variants alternating) where '
                       f'every first compile took < {cfg.compile_reps_below_s} s (and, under '
                       '--budget, the samples were cheap), else one sample; optimizer and step '
                       'rebuilt for each sample (no JAX cache hit)',
          'timing': 'each round: variants in rotating order, 1 untimed warm-up step, then '
                    'steps_per_round timed steps ending with block_until_ready',
          'ratio': 'median over rounds of optax step time / optax_like step time (default '
                   'path); fused_ratio: the same for optax_like.fused(tx)',
          'step_ms': 'median over rounds of seconds per step',
          'limit': 'passes * 4 bytes * n_params / XLA bandwidth (pooled median of start and end '
                   'probes); fraction_of_limit = limit time / step time',
          'bandwidth_probe': 'x * c in place (jit, donated) on n_elements float32: '
                             '8 bytes per element (read + write); torch: x.mul_(c)',
          'leaves_sweep_cap': f'leaf counts {list(cfg.leaves_sweep)}: optax compile time grows '
                              'superlinearly with leaves (minutes at 4000), so the sweep stops '
                              'there',
          'budget': 'with --budget: bandwidth and a kernel probe (launch and compile cost per '
                    'kernel) measured first, every workload estimated from them, workloads run '
                    'in priority order while they fit (benchmarks/budget.py)',
      },
      'bandwidth': {'n_elements': cfg.bandwidth_n, 'xla': pooled(bw_runs),
                    'torch': pooled(torch_bw) if torch_bw else None,
                    'limit_basis_gb_per_s': bandwidth_bps / 1e9},
      'workloads': records,
  }


def _default_out_dir(args) -> tuple[str, bool]:
  """docs/ for a complete full run; a temp dir for partial or quick runs (keeps docs/ clean)."""
  if args.out_dir:
    return args.out_dir, True
  if args.quick or args.only or args.max_leaves or args.budget is not None:
    return os.path.join(tempfile.gettempdir(), 'optax_like_benchmarks'), False
  return os.path.join(REPO, 'docs'), True


def main(argv=None) -> dict:
  start = time.perf_counter()
  parser = argparse.ArgumentParser(prog='python -m benchmarks.run', description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--quick', action='store_true',
                      help='smoke run: tiny sizes and few rounds (seconds; checks that the '
                           'suite runs, its numbers are not benchmarks)')
  parser.add_argument('--budget', type=float, default=None, metavar='SECONDS',
                      help='finish within SECONDS (from the start of the run): measure the '
                           'backend, then run the workloads that fit, most important first')
  parser.add_argument('--rounds', type=int, default=None,
                      help=f'timed rounds per workload (default {FULL.rounds}, quick '
                           f'{QUICK.rounds}; under --budget: at most this many)')
  parser.add_argument('--only', default=None, metavar='REGEX',
                      help='run only workloads whose name matches (re.search)')
  parser.add_argument('--max-leaves', type=int, default=None,
                      help='skip workloads with more leaves (optax compiles 4000 leaves in '
                           'minutes)')
  parser.add_argument('--out-dir', default=None,
                      help='where the JSON and the plots go (default: docs/ for a full '
                           'run, a temp dir for --quick/--only/--max-leaves/--budget)')
  parser.add_argument('--prefix', default='benchmarks',
                      help='file name prefix: PREFIX.json, PREFIX_*.png (default benchmarks)')
  parser.add_argument('--aa', action='store_true',
                      help='time optax twice (A/A): its ratio is the noise floor of the others')
  parser.add_argument('--no-plots', action='store_true')
  parser.add_argument('--no-torch', action='store_true',
                      help="don't time PyTorch even if installed")
  parser.add_argument('--torch-threads', type=int, default=None,
                      help="torch.set_num_threads for PyTorch's runs (default: torch's own)")
  parser.add_argument('--no-progress', action='store_true')
  args = parser.parse_args(argv)
  if args.rounds is not None and args.rounds < 1:
    parser.error('--rounds must be >= 1')
  if args.budget is not None and args.budget <= 0:
    parser.error('--budget must be > 0 seconds')
  check_requirements(plots=not args.no_plots)

  cfg = QUICK if args.quick else FULL
  if args.torch_threads is not None and not args.no_torch:
    torch = _import_torch()
    if torch is not None:
      torch.set_num_threads(args.torch_threads)
  results = run_suite(cfg, rounds=args.rounds, only=args.only, max_leaves=args.max_leaves,
                      use_torch=not args.no_torch, show_progress=not args.no_progress,
                      budget_s=args.budget, start=start, variants=jax_variants(aa=args.aa))
  print(report.format_tables(results))
  out_dir, _ = _default_out_dir(args)
  json_path = os.path.join(out_dir, f'{args.prefix}.json')
  report.write_json(results, json_path)
  print(f'\nwrote {json_path}')
  if not args.no_plots:
    for path in report.write_plots(results, out_dir, prefix=args.prefix):
      print(f'wrote {path}')
  if results['budget'] is not None:
    print(f"budget {args.budget:g} s: finished in {time.perf_counter() - start:.0f} s")
  return results


if __name__ == '__main__':
  main()

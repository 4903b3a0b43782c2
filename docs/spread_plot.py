"""Draws docs/benchmarks_spread.png: the per-round ratios of docs/benchmarks.json, not only medians.

Usage: ``python docs/spread_plot.py [docs/benchmarks.json] [docs/benchmarks_spread.png]``
(needs matplotlib: ``pip install -e '.[bench]'``). Each box is one workload's per-round ratios
(optax time / variant time, > 1: faster than optax) over the alternating rounds of one
``python -m benchmarks.run`` run; the A/A box (optax against itself) is the noise floor.
"""

import json
import pathlib
import sys

VARIANTS = (('ratio_rounds', 'optax_like (default)', '#1f77b4'),
            ('fused_ratio_rounds', 'optax_like.fused(tx)', '#2ca02c'),
            ('aa_ratio_rounds', 'optax vs optax (A/A noise)', '#7f7f7f'))


def spread_rows(report):
  """(workload, variant label, median, 25th, 75th percentile, min, max) per workload/variant."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  rows = []
  for workload in report['workloads']:
    for key, label, _ in VARIANTS:
      values = workload.get(key)
      if values:
        q = np.percentile(values, [50, 25, 75, 0, 100])
        rows.append((workload['name'], label, *map(float, q)))
  return rows


def main(argv):
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  source = pathlib.Path(argv[1] if len(argv) > 1 else 'docs/benchmarks.json')
  target = pathlib.Path(argv[2] if len(argv) > 2 else 'docs/benchmarks_spread.png')
  report = json.loads(source.read_text())
  workloads = [w for w in report['workloads'] if 'table' in w.get('tags', [])]
  fig, ax = plt.subplots(figsize=(10, 0.28 * len(workloads) * len(VARIANTS) + 1.5))
  positions, labels = [], []
  for i, workload in enumerate(workloads):
    for j, (key, label, color) in enumerate(VARIANTS):
      values = workload.get(key)
      if not values:
        continue
      pos = i * (len(VARIANTS) + 1) + j
      box = ax.boxplot([values], positions=[pos], orientation='horizontal', widths=0.7, patch_artist=True,
                       whis=(0, 100))
      for patch in box['boxes']:
        patch.set_facecolor(color)
        patch.set_alpha(0.6)
    positions.append(i * (len(VARIANTS) + 1) + 1)
    labels.append(workload['name'])
  ax.axvline(1.0, color='k', lw=0.8)
  ax.set_yticks(positions, labels, fontsize=8)
  ax.invert_yaxis()
  ax.set_xscale('log')
  ax.set_xticks([0.5, 0.7, 1, 1.5, 2, 3, 5, 8], ['0.5', '0.7', '1', '1.5', '2', '3', '5', '8'])
  ax.minorticks_off()
  ax.set_xlabel('optax step time / variant step time, per round (> 1: faster than optax)')
  machine = report.get('machine', {})
  ax.set_title(f"Per-round ratios, {len(workloads)} workloads ({report.get('command', '')}; "
               f"{machine.get('cpu', '')}, {machine.get('cores', '?')} cores)", fontsize=9)
  handles = [plt.Rectangle((0, 0), 1, 1, color=c, alpha=0.6) for _, _, c in VARIANTS]
  ax.legend(handles, [label for _, label, _ in VARIANTS], fontsize=8, loc='upper right')
  fig.tight_layout()
  fig.savefig(target, dpi=100)
  print(f'wrote {target}')


if __name__ == '__main__':
  main(sys.argv)

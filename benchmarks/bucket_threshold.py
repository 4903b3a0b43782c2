"""Where sharing a bucket pays: ``optax_like.fused(tx)`` against the default tree path.

Run from the repository root::

  python -m benchmarks.bucket_threshold              # adam and clip+adam, 6 leaf sizes
  python -m benchmarks.bucket_threshold --rounds 30 --only adam

For each (n leaves of `size` params, about 400k params in all) it times, side by side in one
process with alternating rounds (``harness.run_rounds``): optax, ``optax_like.fused(tx)``
(every leaf of up to ``tree.SMALL_LEAF`` elements shares its dtype's bucket) and our default
tree path (the same ``tx`` unwrapped). This is the measurement behind ``tree.SMALL_LEAF`` (see
``docs/fused.md``). To see what a bucket costs above the threshold, pass
``--small-leaf 100000`` (every leaf bucketed).
"""

from __future__ import annotations

import argparse
import statistics

import optax

import optax_like
from benchmarks import harness, workloads
from optax_like._src import tree as tree_lib

SIZES = ((1000, 400), (200, 2000), (100, 4000), (50, 8000), (25, 16000), (10, 40000))


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--rounds', type=int, default=15)
  parser.add_argument('--steps', type=int, default=5, help='timed steps per round')
  parser.add_argument('--only', choices=('adam', 'clip_adam'), default=None)
  parser.add_argument('--sizes', default=None,
                      help="comma-separated NxSIZE pairs, e.g. '4x10,2x20' (default: 6 sizes)")
  parser.add_argument('--small-leaf', type=int, default=None,
                      help='override tree.SMALL_LEAF (the bucket threshold) for this run')
  args = parser.parse_args(argv)
  if args.small_leaf is not None:
    tree_lib.SMALL_LEAF = args.small_leaf
  # name -> (library, wrapper of the optimizer)
  libs = {'optax': (optax, None), 'fused': (optax_like, optax_like.fused),
          'tree': (optax_like, None)}
  makers = {'adam': workloads.adam, 'clip_adam': workloads.clip_adam}
  print(f'bucket threshold tree.SMALL_LEAF = {tree_lib.SMALL_LEAF}; median ms per step over '
        f'{args.rounds} alternating rounds of {args.steps} steps; tree/fused: median of '
        f'per-round ratios (>1: fused faster)')
  print(f'{"optimizer":10s} | {"leaves x size":>14s} | {"optax":>7s} | {"fused":>7s} | '
        f'{"tree":>7s} | tree/fused')
  for name, make in makers.items():
    if args.only and name != args.only:
      continue
    sizes = SIZES if not args.sizes else [tuple(int(v) for v in pair.split('x'))
                                          for pair in args.sizes.split(',')]
    for n, size in sizes:
      w = workloads.Workload(f'{name}_{n}x{size}', '', make, ((size,),) * n, 7,
                             frozenset())
      params, grads = harness.make_data(w)
      runners = {k: harness.JaxRunner(lib, w, params, grads, wrap=wrap)
                 for k, (lib, wrap) in libs.items()}
      times = harness.run_rounds(runners, args.rounds, args.steps)
      ms = {k: statistics.median(v) * 1e3 for k, v in times.items()}
      ratio = statistics.median(t / f for t, f in zip(times['tree'], times['fused']))
      print(f'{name:10s} | {f"{n} x {size}":>14s} | {ms["optax"]:7.3f} | {ms["fused"]:7.3f} | '
            f'{ms["tree"]:7.3f} | {ratio:.2f}x', flush=True)
      for r in runners.values():
        r.close()


if __name__ == '__main__':
  main()

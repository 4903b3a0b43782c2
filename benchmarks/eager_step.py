"""Eager (un-jitted) optimizer steps, optax against optax_like's default path, side by side.

  python -m benchmarks.eager_step                       # clip+adam, adam, sgd, lars; 1000 leaves
  python -m benchmarks.eager_step --only clip_adam --leaves 200 --rounds 11

An eager step dispatches a few small XLA programs per leaf, so its time is JAX's per-op Python
and dispatch overhead times the leaf count, not memory bandwidth: this is where per-leaf Python
work in a transform (a no-op ``asarray``/``astype``, a dtype promotion query, a host-to-device
copy of a hyperparameter) shows. Each round runs one step of each library (alternating which
goes first) over the mixed small leaves of ``benchmarks.workloads.mixed_shapes``; the ratio is
the median over rounds of ``optax time / ours time`` (> 1: ours faster), for wall time and for
process CPU time.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax

from benchmarks import harness, workloads

OPTIMIZERS = {'clip_adam': workloads.clip_adam, 'adam': workloads.adam,
              'sgd_momentum': workloads.sgd_momentum, 'lars_wd': workloads.lars_wd}


def compare(make_opt, n_leaves: int, rounds: int) -> dict:
  """Median seconds per eager step of each library and the median per-round ratios."""
  import optax
  import optax_like
  w = workloads.Workload('eager', '', make_opt, workloads.mixed_shapes(n_leaves), 1,
                         frozenset())
  params_np, grads_np = harness.make_data(w)
  grads = harness.as_tree(grads_np)
  runs = {}
  for name, lib in (('optax', optax), ('optax_like', optax_like)):
    opt = make_opt(lib)
    params = harness.as_tree(params_np)
    runs[name] = [lib, opt, params, opt.init(params)]

  def step(name):
    lib, opt, params, state = runs[name]
    updates, state = opt.update(grads, state, params)
    params = jax.block_until_ready(lib.apply_updates(params, updates))
    runs[name][2:] = [params, state]

  for name in runs:
    step(name)  # first call: JAX compiles each op once
  wall = {name: [] for name in runs}
  cpu = {name: [] for name in runs}
  for r in range(rounds):
    for name in (list(runs) if r % 2 == 0 else list(runs)[::-1]):
      t0, c0 = time.perf_counter(), time.process_time()
      step(name)
      wall[name].append(time.perf_counter() - t0)
      cpu[name].append(time.process_time() - c0)
  ratio = lambda t: statistics.median(a / b for a, b in zip(t['optax'], t['optax_like']))  # noqa: E731
  return {'optax_ms': 1e3 * statistics.median(wall['optax']),
          'ours_ms': 1e3 * statistics.median(wall['optax_like']),
          'wall_ratio': ratio(wall), 'cpu_ratio': ratio(cpu)}


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(prog='python -m benchmarks.eager_step',
                                   description=__doc__.splitlines()[0])
  parser.add_argument('--leaves', type=int, default=1000)
  parser.add_argument('--rounds', type=int, default=7)
  parser.add_argument('--only', choices=sorted(OPTIMIZERS), default=None)
  args = parser.parse_args(argv)
  print(f'eager step over {args.leaves} mixed leaves, median of {args.rounds} alternating '
        'rounds; ratio = optax / ours (> 1: ours faster)')
  print(f'{"optimizer":13s} | {"optax ms":>9s} | {"ours ms":>9s} | {"wall ratio":>10s} | '
        f'{"cpu ratio":>9s}')
  for name, make in OPTIMIZERS.items():
    if args.only and name != args.only:
      continue
    r = compare(make, args.leaves, args.rounds)
    print(f'{name:13s} | {r["optax_ms"]:9.1f} | {r["ours_ms"]:9.1f} | '
          f'{r["wall_ratio"]:9.2f}x | {r["cpu_ratio"]:8.2f}x', flush=True)


if __name__ == '__main__':
  main()

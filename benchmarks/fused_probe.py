"""Side-by-side probe of the fused-execution variants, with the HLO evidence behind them.

  python -m benchmarks.fused_probe                    # 20M single leaves + 1000 mixed leaves
  python -m benchmarks.fused_probe --n 4000000 --leaves 200 --rounds 5   # a quicker look
  python -m benchmarks.fused_probe --experiments      # the HLO experiments of docs/fused.md

For each workload it compiles, in one process, optax's step, our default (tree-path) step, our
``fused(tx)`` step and ``update_and_apply`` of the fused optimizer, every step jitted with
params and state donated, and prints per variant: compile seconds, number of fusions in the
compiled HLO, large (array-valued) fusions, XLA's "bytes accessed" estimate, the median step time,
the median over alternating rounds of ``optax time / variant time``, and the fraction of the
bandwidth limit (``passes * 4 bytes * n / bandwidth``, bandwidth measured in the same process).
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax

from benchmarks import harness, workloads
from benchmarks.workloads import Workload


def _steps(lib, w: Workload):
  """Step variants: optax's; ours on the default tree path, ``fused(tx)``, ``update_and_apply``."""
  import optax_like
  opt = w.make_opt(lib)

  def step_of(tx):
    def step(params, state, grads):
      updates, state = tx.update(grads, state, params)
      return lib.apply_updates(params, updates), state
    return step

  if lib is not optax_like:
    return {'tree': (step_of(opt), opt)}
  fused_opt = optax_like.fused(opt)
  return {
      'fused': (step_of(fused_opt), fused_opt),
      'tree': (step_of(opt), opt),
      'update_and_apply': (lambda p, s, g: optax_like.update_and_apply(fused_opt, g, s, p),
                           fused_opt),
  }


def _large_fusions(text: str) -> int:
  return sum(1 for line in text.splitlines()
             if ' fusion(' in line and not line.split('=', 1)[1].lstrip().startswith(
                 ('f32[] ', 's32[] ', 'pred[] ', '(f32[], ')))


class Runner(harness.JaxRunner):
  def __init__(self, step, opt, w, params_np, grads_np):  # noqa: D107 - harness.JaxRunner
    self.step_fn, self.opt = step, opt
    self.workload = w
    self.params = harness.as_tree(params_np)
    self.grads = harness.as_tree(grads_np)
    self.state = opt.init(self.params)
    jax.block_until_ready(self.state)
    t0 = time.perf_counter()
    self.compiled = jax.jit(step, donate_argnums=(0, 1)).lower(
        self.params, self.state, self.grads).compile()
    self.compile_s = time.perf_counter() - t0
    self.hlo = harness.hlo_stats(self.compiled)
    self.hlo['large_fusions'] = _large_fusions(self.compiled.as_text())


def probe(w: Workload, bandwidth: float, rounds: int) -> None:
  import optax
  import optax_like
  params_np, grads_np = harness.make_data(w)
  runners = {}
  for lib_name, lib in (('optax', optax), ('ours', optax_like)):
    for v, (step, opt) in _steps(lib, w).items():
      runners[f'{lib_name}:{v}'] = Runner(step, opt, w, params_np, grads_np)
  per_step = runners['optax:tree'].steps(1)
  k = harness.steps_for(per_step, 0.25, 3, 100)
  times = harness.run_rounds(runners, rounds, k)
  limit = w.passes * 4 * w.n_params / bandwidth
  print(f'\n{w.name}: {w.description}; {w.passes}-pass bandwidth limit {limit * 1e3:.2f} ms')
  print(f'  {"variant":24s} {"compile s":>9s} {"fusions":>7s} {"large":>5s} {"bytes acc.":>10s} '
        f'{"step ms":>8s} {"ratio":>6s} {"of limit":>8s}')
  base = times['optax:tree']
  for name, r in runners.items():
    t = statistics.median(times[name])
    ratio = statistics.median(a / b for a, b in zip(base, times[name]))
    print(f'  {name:24s} {r.compile_s:9.2f} {r.hlo.get("fusions", -1):7d} '
          f'{r.hlo["large_fusions"]:5d} {r.hlo.get("bytes_accessed", 0):10.3g} {t * 1e3:8.2f} '
          f'{ratio:6.2f} {limit / t:8.0%}', flush=True)
  for r in runners.values():
    r.close()


def _compile_s(f, *args) -> tuple[float, int]:
  t0 = time.perf_counter()
  compiled = jax.jit(f).lower(*args).compile()
  return time.perf_counter() - t0, compiled.as_text().count(' fusion(')


def split_scaling(ns=(250, 1000), k: int = 100) -> None:
  """Compile seconds (and fusions) of n slices of a flat vector against n elementwise kernels."""
  import jax.numpy as jnp
  print('\nsplit scaling (leaves of %d): compile s, fusions' % k)
  for n in ns:
    flat = jnp.ones(n * k)
    leaves = [jnp.ones(k) for _ in range(n)]
    split = lambda f: [f[i * k:(i + 1) * k] for i in range(n)]  # noqa: E731,B023
    per_leaf = lambda ps: [x * 0.9 + 1.0 for x in ps]  # noqa: E731
    concat = lambda ps: jnp.concatenate(ps)  # noqa: E731
    offsets = [jnp.int32(i * k) for i in range(n)]
    dyn_split = lambda f, offs: [jax.lax.dynamic_slice_in_dim(f, o, k) for o in offs]  # noqa
    print(f'  n={n}: constant-offset slices {_compile_s(split, flat)}, runtime-offset slices '
          f'{_compile_s(dyn_split, flat, offsets)}, elementwise per leaf '
          f'{_compile_s(per_leaf, leaves)}, concat {_compile_s(concat, leaves)}', flush=True)


def output_floor(n_leaves: int = 1000, rounds: int = 9) -> None:
  """The step-time floor of a tree of n separate output buffers: one kernel per leaf.

  ``p + 1`` on every leaf of the mixed workload (jitted, donated) against optax's clip+adam
  step on the same leaves: whatever the optimizer, a step that writes n leaves launches n
  kernels.
  """
  import jax.numpy as jnp
  import numpy as np
  import optax
  shapes = workloads.mixed_shapes(n_leaves)
  params = [jnp.ones(s) for s in shapes]
  floor = jax.jit(lambda ps: [p + 1.0 for p in ps], donate_argnums=0)
  tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-3))

  def optax_step(ps, s):
    u, s = tx.update(ps, s, ps)
    return optax.apply_updates(ps, u), s
  step = jax.jit(optax_step, donate_argnums=(0, 1))
  a, b, s = [p.copy() for p in params], [p.copy() for p in params], tx.init(params)
  a = floor(a)
  b, s = step(b, s)
  t_floor, t_optax = [], []
  for _ in range(rounds):
    t0 = time.perf_counter()
    a = jax.block_until_ready(floor(a))
    t_floor.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    b, s = jax.block_until_ready(step(b, s))
    t_optax.append(time.perf_counter() - t0)
  print(f'\noutput floor, {n_leaves} mixed leaves ({sum(int(np.prod(x)) for x in shapes):,} '
        f'params): `p + 1` per leaf {np.median(t_floor) * 1e3:.2f} ms, optax clip+adam step '
        f'{np.median(t_optax) * 1e3:.2f} ms (median of {rounds} alternating rounds)', flush=True)


def buffer_cost(n: int = 1000, calls: int = 200) -> None:
  """Per-call cost of n scalar buffers passed through a jitted step (in and out, donated).

  Why ``bucketed`` keeps ~2 sqrt(n) index scalars in its state rather than one offset per leaf.
  """
  import jax.numpy as jnp
  import numpy as np
  x = jnp.ones(10)
  f = jax.jit(lambda x, o: (x + 1, o), donate_argnums=1)
  g = jax.jit(lambda x: x + 1)
  o = tuple(jnp.asarray(i, jnp.int32) for i in range(n))
  with_buffers, without = [], []
  for _ in range(calls):
    t0 = time.perf_counter()
    _, o = jax.block_until_ready(f(x, o))
    with_buffers.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    jax.block_until_ready(g(x))
    without.append(time.perf_counter() - t0)
  extra = (np.median(with_buffers) - np.median(without)) / n
  print(f'\nbuffer cost: {n} int32 scalars through a jitted call (donated): '
        f'{extra * 1e6:.2f} us per buffer per call', flush=True)


def lars_prototype(n: int, rounds: int) -> None:
  """Today's LARS expression (11 passes) against the 9-pass prototype of docs/fused.md."""
  import jax.numpy as jnp
  import numpy as np
  wd, lr, tc, mom = 1e-4, 1e-3, 1e-3, 0.9

  def ratio(norm_p, norm_d):
    return jnp.where((norm_p > 0) & (norm_d > 0), tc * norm_p / norm_d, 1.0)

  def current(p, g, t):
    d = g + wd * p
    t = d * (-lr * ratio(jnp.linalg.norm(p), jnp.linalg.norm(d))) + mom * t
    return p + t, t, g

  def prototype(p, g, t):
    # The barrier keeps CSE from merging the norm's d with the update's, so d is never stored.
    pb, gb = jax.lax.optimization_barrier((p, g))
    db = gb + wd * pb
    sp, sd = jax.lax.reduce((pb * pb, db * db), (jnp.float32(0), jnp.float32(0)),
                            lambda a, b: (a[0] + b[0], a[1] + b[1]), (0,))
    d = g + wd * p
    t = d * (-lr * ratio(jnp.sqrt(sp), jnp.sqrt(sd))) + mom * t
    return p + t, t, g

  rng = np.random.default_rng(0)
  runs = {}
  for f in (current, prototype):
    args = (jnp.asarray(rng.standard_normal(n, dtype=np.float32)),
            jnp.asarray(1e-2 * rng.standard_normal(n, dtype=np.float32)), jnp.zeros(n))
    compiled = jax.jit(f, donate_argnums=(0, 2)).lower(*args).compile()
    stats = harness.hlo_stats(compiled)
    print(f'\nLARS {f.__name__}: fusions {stats.get("fusions")}, large '
          f'{_large_fusions(compiled.as_text())}')
    for line in compiled.as_text().splitlines():
      if ' fusion(' in line:
        print('   ', line.split(', metadata')[0].strip()[:150])
    runs[f.__name__] = [compiled, args, []]
  for _ in range(rounds):
    for run in runs.values():
      compiled, args, times = run
      args = compiled(*args)
      jax.block_until_ready(args)
      t0 = time.perf_counter()
      for _ in range(3):
        args = compiled(*args)
      jax.block_until_ready(args)
      times.append((time.perf_counter() - t0) / 3)
      run[1] = args
  a, b = runs['current'][2], runs['prototype'][2]
  print(f'  step ms: current {statistics.median(a) * 1e3:.2f}, prototype '
        f'{statistics.median(b) * 1e3:.2f}, ratio {statistics.median(x / y for x, y in zip(a, b)):.2f}')


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(prog='python -m benchmarks.fused_probe', description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--n', type=int, default=20_000_000, help='single-leaf size')
  parser.add_argument('--leaves', type=int, default=1000, help='mixed small leaves (0: skip)')
  parser.add_argument('--rounds', type=int, default=9)
  parser.add_argument('--only', default='', help='substring of the workload names to run')
  parser.add_argument('--experiments', action='store_true',
                      help='run the split-scaling, output-floor, buffer-cost and LARS-prototype experiments')
  args = parser.parse_args(argv)
  if args.experiments:
    split_scaling()
    output_floor(args.leaves or 1000, args.rounds)
    buffer_cost()
    lars_prototype(args.n, args.rounds)
    return
  bw = harness.bandwidth_xla(min(args.n * 2, 100_000_000), 5)['gb_per_s'] * 1e9
  print(f'bandwidth (in-place scale, XLA): {bw / 1e9:.1f} GB/s')
  big = args.n
  ws = [
      Workload('adam', f'adam, one leaf of {workloads.human(big)}', workloads.adam, ((big,),),
               workloads.ADAM_PASSES, frozenset()),
      Workload('rmsprop_momentum', 'rmsprop(momentum=0.9), one leaf',
               workloads.rmsprop_momentum, ((big,),), workloads.RMSPROP_MOMENTUM_PASSES,
               frozenset()),
      Workload('sgd_momentum', 'sgd(momentum=0.9), one leaf', workloads.sgd_momentum,
               ((big,),), workloads.SGD_MOMENTUM_PASSES, frozenset()),
      Workload('lars_wd', 'lars(weight_decay=1e-4), one leaf', workloads.lars_wd, ((big,),),
               workloads.LARS_PASSES, frozenset()),
  ]
  if args.leaves:
    shapes = workloads.mixed_shapes(args.leaves)
    ws.append(Workload(f'clip_adam_{args.leaves}_mixed',
                       f'chain(clip_by_global_norm, adam), {args.leaves} mixed small leaves',
                       workloads.clip_adam, shapes, workloads.CLIP_ADAM_PASSES, frozenset()))
  for w in ws:
    if args.only in w.name:
      probe(w, bw, args.rounds)


if __name__ == '__main__':
  main()

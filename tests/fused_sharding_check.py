"""Run in a subprocess with 8 host devices: ``fused`` never gathers, the plain path shards.

Prints one line per check, ending in ``ok`` or ``FAIL <details>``; exits 1 on any failure.
"""

import os
import sys

os.environ['XLA_FLAGS'] = os.environ.get('XLA_FLAGS', '') + ' --xla_force_host_platform_device_count=8'

import jax  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import NamedSharding, PartitionSpec as P  # noqa: E402

import optax_like as ox  # noqa: E402

failures = 0


def check(name, cond, detail=''):
  global failures
  failures += not cond
  print(f'{name} ' + ('ok' if cond else f'FAIL {detail}'))


def main():
  assert len(jax.devices()) == 8, jax.devices()
  mesh = jax.make_mesh((8,), ('data',))
  rng = np.random.default_rng(0)
  host = {'kernel': rng.normal(size=(8, 4)).astype(np.float32),
          'bias': rng.normal(size=(4,)).astype(np.float32),
          'emb': rng.normal(size=(3, 8)).astype(np.float32)}
  grads = {k: v * 0.1 + 0.05 for k, v in host.items()}
  plain = ox.chain(ox.clip_by_global_norm(1.0), ox.adam(1e-2))
  opt = ox.fused(plain)

  # 1. Replicated params (data parallel): fused, and the flat state is replicated like them.
  repl = NamedSharding(mesh, P())
  params = jax.device_put(host, repl)
  state = opt.init(params)
  ok = all(x.sharding.is_fully_replicated and len(x.sharding.device_set) == 8
           for x in jax.tree.leaves(state['inner_state']) if x.ndim)
  check('replicated_params_fused_with_replicated_state', ok,
        str(jax.tree.map(lambda x: x.sharding, state)))

  # 2. ... and the jitted step equals the plain path on one device, state still replicated.
  ps, s = params, state
  pr, sr = host, plain.init(host)
  step = jax.jit(lambda g, s, p: ox.update_and_apply(opt, g, s, p))
  for _ in range(3):
    ps, s = step(jax.device_put(grads, repl), s, ps)
    u, sr = plain.update(grads, sr, pr)
    pr = ox.apply_updates(pr, u)
  err = max(float(np.max(np.abs(np.asarray(ps[k]) - np.asarray(pr[k])))) for k in host)
  still = all(x.sharding.is_fully_replicated for x in jax.tree.leaves(s['inner_state']) if x.ndim)
  check('replicated_step_equals_plain_path', err <= 1e-6 and still,
        f'err={err} replicated={still}')

  # 3. Sharded params, plain path: every state leaf sharded like its parameter (eager and jit).
  specs = {'kernel': P('data'), 'bias': P(), 'emb': P(None, 'data')}
  sharded = {k: jax.device_put(v, NamedSharding(mesh, specs[k])) for k, v in host.items()}
  for mode, init in (('eager', plain.init), ('jit', jax.jit(plain.init))):
    mu = init(sharded)[1][0].mu
    ok = all(mu[k].sharding.is_equivalent_to(NamedSharding(mesh, specs[k]), mu[k].ndim)
             for k in host)
    check(f'sharded_params_plain_state_sharded_like_params_{mode}', ok,
          str(jax.tree.map(lambda x: x.sharding, mu)))

  # 4. fused refuses sharded params and params on different devices: it would gather them.
  scattered = {k: jax.device_put(v, jax.devices()[i]) for i, (k, v) in enumerate(host.items())}
  refused = []
  for p in (sharded, scattered):
    try:
      opt.init(p)
      refused.append(False)
    except ValueError as e:
      refused.append('gather' in str(e))
  check('fused_refuses_sharded_and_scattered_params', all(refused), str(refused))
  sys.exit(1 if failures else 0)


if __name__ == '__main__':
  main()

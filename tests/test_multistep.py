"""MultiSteps, skip_not_finite, skip_large_updates: hand-computed trajectories (k=3 over 7 steps,
a schedule k, skipped mini-steps), optax differential, non-finite handling, errors."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from optax_like._src import base, multistep as ms
from differential import extra_args_recorder, lockstep, random_like, random_tree

NAN, INF = float('nan'), float('inf')


def run_scalar(opt, grads, **update_kw):
  s = opt.init(jnp.zeros([]))
  rows = []
  for g in grads:
    u, s = opt.update(jnp.asarray(g, jnp.float32), s, **update_kw)
    rows.append(dict(u=float(u), mini=int(s.mini_step), gstep=int(s.gradient_step),
                     acc=float(s.acc_grads), updated=bool(opt.has_updated(s))))
  return rows, s


def col(rows, key):
  return [r[key] for r in rows]


# ---------------------------------------------------------------------------------------------
# hand-computed


def test_k3_over_7_steps_mean():
  opt = ms.MultiSteps(optax.sgd(1.0, momentum=0.5), every_k_schedule=3)
  rows, s = run_scalar(opt, [1., 2., 3., 4., 5., 6., 7.])
  # mean(1,2,3) = 2 -> trace 2; mean(4,5,6) = 5 -> trace 5 + 0.5 * 2 = 6.
  assert col(rows, 'u') == [0., 0., -2., 0., 0., -6., 0.]
  assert col(rows, 'mini') == [1, 2, 0, 1, 2, 0, 1]
  assert col(rows, 'gstep') == [0, 0, 1, 1, 1, 2, 2]
  assert col(rows, 'acc') == [1., 1.5, 0., 4., 4.5, 0., 7.]
  assert col(rows, 'updated') == [False, False, True, False, False, True, False]
  np.testing.assert_allclose(s.inner_opt_state[0].trace, 6.0)


def test_k3_over_7_steps_sum():
  opt = ms.MultiSteps(optax.sgd(1.0, momentum=0.5), every_k_schedule=3, use_grad_mean=False)
  rows, _ = run_scalar(opt, [1., 2., 3., 4., 5., 6., 7.])
  # sum 6 -> trace 6; sum 15 -> trace 15 + 3 = 18.
  assert col(rows, 'u') == [0., 0., -6., 0., 0., -18., 0.]
  assert col(rows, 'acc') == [1., 3., 0., 4., 9., 0., 7.]


def test_schedule_k():
  # k = gradient_step + 1: emit after 1, then 2, then 3 mini-steps.
  opt = ms.MultiSteps(optax.sgd(1.0), every_k_schedule=lambda step: step + 1)
  rows, _ = run_scalar(opt, [1., 2., 3., 4., 5., 6., 7.])
  assert col(rows, 'u') == [-1., 0., -2.5, 0., 0., -5., 0.]
  assert col(rows, 'gstep') == [1, 1, 2, 2, 2, 3, 3]
  assert col(rows, 'mini') == [0, 1, 0, 1, 2, 0, 1]


def test_skip_not_finite_skips_mini_steps():
  opt = ms.MultiSteps(optax.sgd(1.0), every_k_schedule=2, should_skip_update_fn=ms.skip_not_finite)
  s = opt.init(jnp.zeros(2))
  got = []
  for g in [[1., 1.], [NAN, 1.], [3., 3.], [5., 5.], [INF, -INF], [7., 7.]]:
    u, s = opt.update(jnp.array(g), s)
    got.append((u.tolist(), int(s.mini_step), int(s.skip_state['num_not_finite']),
                bool(s.skip_state['should_skip'])))
  assert got == [([0., 0.], 1, 0, False), ([0., 0.], 1, 1, True), ([-2., -2.], 0, 0, False),
                 ([0., 0.], 1, 0, False), ([0., 0.], 1, 2, True), ([-6., -6.], 0, 0, False)]


def test_skip_large_updates():
  fn = functools.partial(ms.skip_large_updates, max_squared_norm=10.0)
  opt = ms.MultiSteps(optax.sgd(1.0), every_k_schedule=2, should_skip_update_fn=fn)
  s = opt.init(jnp.zeros(2))
  got = []
  for g in [[1., 2.], [3., 1.], [3., 2.], [2., 0.], [NAN, 0.]]:
    u, s = opt.update(jnp.array(g), s)
    got.append((u.tolist(), float(s.skip_state['norm_squared'])))
  # 10 is not < 10: skipped; 13: skipped; NaN: skipped.
  assert got[0] == ([0., 0.], 5.0)
  assert got[1] == ([0., 0.], 10.0)
  assert got[2] == ([0., 0.], 13.0)
  assert got[3] == ([-1.5, -1.0], 4.0)
  assert got[4][0] == [0., 0.] and np.isnan(got[4][1])


def test_skip_fns_direct():
  skip, info = ms.skip_not_finite({'a': jnp.array([1., NAN]), 'b': [jnp.array(INF)]}, 0, None)
  assert bool(skip) and int(info['num_not_finite']) == 2
  assert info['num_not_finite'].dtype == jnp.int32
  skip, info = ms.skip_not_finite({}, 0, None)
  assert not bool(skip) and info['num_not_finite'].dtype == jnp.int32
  skip, info = ms.skip_large_updates({'a': jnp.array([3., 4.])}, 0, None, max_squared_norm=26.)
  assert not bool(skip) and float(info['norm_squared']) == 25.0
  skip, info = ms.skip_large_updates(jnp.array([256., 1.], jnp.bfloat16), 0, None,
                                     max_squared_norm=1e9)
  assert float(info['norm_squared']) == 65537.0   # summed in float32, not bf16


# ---------------------------------------------------------------------------------------------
# differential against optax


def _config(rng):
  kw = {}
  if rng.rand() < 0.5:
    kw['every_k_schedule'] = int(rng.randint(1, 5))
  else:
    a, b = int(rng.randint(1, 3)), int(rng.randint(2, 4))
    kw['every_k_schedule'] = lambda step: jnp.where(step % 2 == 0, a, b)
  kw['use_grad_mean'] = bool(rng.rand() < 0.6)
  skip = rng.choice(['none', 'finite', 'large'])
  if skip == 'finite':
    skip_fns = ms.skip_not_finite, optax.skip_not_finite
  elif skip == 'large':
    skip_fns = (functools.partial(ms.skip_large_updates, max_squared_norm=20.0),
                functools.partial(optax.skip_large_updates, max_squared_norm=20.0))
  else:
    skip_fns = None, None
  if rng.rand() < 0.5:
    inner_kw = dict(learning_rate=float(rng.uniform(0.01, 0.1)), b1=float(rng.uniform(0, 0.95)),
                    b2=float(rng.uniform(0.5, 0.999)))
    inner = lambda: optax.adam(**inner_kw)
  else:
    inner_kw = dict(learning_rate=float(rng.uniform(0.01, 0.1)),
                    momentum=float(rng.uniform(0, 0.95)))
    inner = lambda: optax.sgd(**inner_kw)
  return kw, skip_fns, inner, skip


@pytest.mark.parametrize('seed,use_jit', [(0, False), (1, False), (2, False), (3, True),
                                          (4, True)])
def test_multisteps_matches_optax(seed, use_jit):
  rng = np.random.RandomState(seed)
  params = random_tree(rng, 'small')
  kw, (skip_a, skip_b), inner, skip = _config(rng)
  ours = ms.MultiSteps(inner(), should_skip_update_fn=skip_a, **kw)
  theirs = optax.MultiSteps(inner(), should_skip_update_fn=skip_b, **kw)

  def grads():
    for i in range(7):
      g = random_like(rng, params, 2.0)
      if skip == 'finite' and i in (1, 4):
        g['dense']['bias'] = g['dense']['bias'].at[0].set(NAN if i == 1 else INF)
      yield g

  for step in lockstep(ours, theirs, params, grads(), jit=use_jit, jit_theirs=True):
    assert bool(ours.has_updated(step.state)) == bool(theirs.has_updated(step.their_state))


def test_multisteps_bf16_updates_float32_accumulator_matches_optax():
  p = {'w': jnp.zeros(3, jnp.bfloat16)}
  ours = ms.MultiSteps(optax.sgd(0.5), 2)
  theirs = optax.MultiSteps(optax.sgd(0.5), 2)
  assert ours.init(p).acc_grads['w'].dtype == jnp.float32
  rng = np.random.RandomState(0)
  grads = [{'w': jnp.asarray(rng.normal(size=3), jnp.bfloat16)} for _ in range(4)]
  for step in lockstep(ours, theirs, p, grads, jit_theirs=True, move_params=False):
    assert step.updates['w'].dtype == jnp.bfloat16


# ---------------------------------------------------------------------------------------------
# beyond optax


def test_non_finite_gradient_without_skip_fn_does_not_poison_later_steps():
  opt = ms.MultiSteps(optax.sgd(1.0), every_k_schedule=2)
  rows, _ = run_scalar(opt, [1., INF, 3., 5., 7., 9.])
  u = col(rows, 'u')
  assert u[0] == 0.0                       # optax: 0.0 too
  assert np.isinf(u[1])                    # the step that completes the accumulation
  assert u[2] == 0.0 and u[4] == 0.0       # optax: NaN (0 * NaN accumulator)
  assert u[3] == -4.0 and u[5] == -8.0     # optax: NaN forever
  theirs = optax.MultiSteps(optax.sgd(1.0), every_k_schedule=2)
  s = theirs.init(jnp.zeros([]))
  for g in [1., INF, 3., 5.]:
    ub, s = theirs.update(jnp.asarray(g), s)
  assert np.isnan(float(ub))               # documents the optax behaviour we improve on


def test_gradient_transformation_and_chain_and_extra_args():
  inner, calls = extra_args_recorder()
  opt = ms.MultiSteps(inner, 1)
  tx = opt.gradient_transformation()
  assert type(tx) is base.GradientTransformation
  u, _ = tx.update(jnp.ones(1), tx.init(jnp.zeros(1)), value=3.0)
  assert calls and calls[-1][0] == 3.0 and u.tolist() == [1.0]
  assert opt.inner_opt.update is not None
  chained = optax.chain(optax.scale(2.0), ms.MultiSteps(optax.sgd(1.0), 2).gradient_transformation())
  s = chained.init(jnp.zeros(1))
  u, s = chained.update(jnp.ones(1), s)
  u, s = chained.update(jnp.ones(1) * 3, s)
  assert u.tolist() == [-4.0]


def test_state_fields_match_optax():
  assert ms.MultiStepsState._fields == optax.MultiStepsState._fields
  s = ms.MultiSteps(optax.sgd(1.0), 2).init({'a': jnp.zeros(2)})
  assert s.skip_state == () and s.mini_step.dtype == jnp.int32
  assert s.gradient_step.dtype == jnp.int32


def test_numpy_int_k_accepted():
  opt = ms.MultiSteps(optax.sgd(1.0), np.int64(2))
  rows, _ = run_scalar(opt, [1., 3.])
  assert col(rows, 'u') == [0.0, -2.0]


# ---------------------------------------------------------------------------------------------
# errors


@pytest.mark.parametrize('k', [0, -3])
def test_k_must_be_positive(k):
  with pytest.raises(ValueError, match=r'MultiSteps: `every_k_schedule` must be >= 1, got'):
    ms.MultiSteps(optax.sgd(1.0), k)


@pytest.mark.parametrize('k', [2.0, 'two', True, None])
def test_k_type(k):
  with pytest.raises(TypeError, match=r'MultiSteps: `every_k_schedule` must be an int >= 1'):
    ms.MultiSteps(optax.sgd(1.0), k)


def test_bad_opt_and_skip_fn():
  with pytest.raises(TypeError, match='MultiSteps: `opt` must be a GradientTransformation'):
    ms.MultiSteps(object(), 2)
  with pytest.raises(TypeError, match='MultiSteps: `should_skip_update_fn` must be callable'):
    ms.MultiSteps(optax.sgd(1.0), 2, should_skip_update_fn=3)
  opt = ms.MultiSteps(optax.sgd(1.0), 2,
                      should_skip_update_fn=lambda u, step, p: (jnp.zeros(2, bool), ()))
  with pytest.raises(ValueError, match='must return a bool scalar as its first output, got dtype '
                                       'bool and shape'):
    opt.update(jnp.ones(1), opt.init(jnp.zeros(1)))


def test_accumulator_dtype_none_keeps_param_dtype():
  # optax raises in lax.cond here (bf16 accumulator in, float32 out); ours stays bf16.
  opt = ms.MultiSteps(optax.sgd(1.0), 3, accumulator_dtype=None)
  p = jnp.zeros(2, jnp.bfloat16)
  s = opt.init(p)
  step = jax.jit(opt.update)
  accs = []
  for g in [1.0, 2.0, 4.0]:
    u, s = step(jnp.full(2, g, jnp.bfloat16), s)
    assert s.acc_grads.dtype == jnp.bfloat16 and u.dtype == jnp.bfloat16
    accs.append(float(s.acc_grads[0]))
  assert accs == [1.0, 1.5, 0.0]
  assert float(u[0]) == float(jnp.asarray(-7.0 / 3.0, jnp.bfloat16))

"""Tests for optax_like._src.clipping: clip, clip_by_block_rms, clip_by_global_norm, clip_by_norm."""

import functools
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from optax_like._src import base, clipping
from optax_like._src import tree as tree_lib
from differential import (ATOL, DIFFERENTIAL_KINDS, RTOL, ErrorLog, assert_trees_close, lockstep,
                          random_grads, random_tree)

ERRORS = ErrorLog('clipping')
# The default states are optax's exactly (no extra leaves); every comparison is logged.
assert_close = functools.partial(assert_trees_close, log=ERRORS)


# --------------------------------------------------------------------------- helpers


def run_both(ours, theirs, params, grads, use_jit):
  """Our and optax's clip over ``grads`` at fixed params; our (updates, state) per step."""
  return [(step.updates, step.state) for step in lockstep(
      ours, theirs, params, grads, jit=use_jit, move_params=False, check=assert_close)]


def grads_seq(rng, kind, steps=3):
  return list(random_grads(rng, kind, steps, high=3.0))


CASES = [(seed, False) for seed in range(4)] + [(100, True), (101, True)]


# --------------------------------------------------------------------------- differential


@pytest.mark.parametrize('seed,use_jit', CASES)
def test_clip_matches_optax(seed, use_jit):
  rng = np.random.RandomState(seed)
  kind = DIFFERENTIAL_KINDS[seed % 3]
  max_delta = float(rng.uniform(0.05, 1.5))
  run_both(clipping.clip(max_delta), optax.clip(max_delta), random_tree(rng, kind),
           grads_seq(rng, kind), use_jit)


@pytest.mark.parametrize('seed,use_jit', CASES)
def test_clip_by_block_rms_matches_optax(seed, use_jit):
  rng = np.random.RandomState(seed)
  kind = DIFFERENTIAL_KINDS[seed % 3]
  threshold = float(rng.uniform(0.1, 2.0))
  run_both(clipping.clip_by_block_rms(threshold), optax.clip_by_block_rms(threshold),
           random_tree(rng, kind), grads_seq(rng, kind), use_jit)


@pytest.mark.parametrize('seed,use_jit', CASES)
def test_clip_by_global_norm_matches_optax(seed, use_jit):
  rng = np.random.RandomState(seed)
  kind = DIFFERENTIAL_KINDS[seed % 3]
  seq = grads_seq(rng, kind, steps=4)
  # Put the threshold among the norms so that some steps clip and some do not.
  norms = [float(tree_lib.global_norm(g)) for g in seq]
  max_norm = float(rng.uniform(min(norms), max(norms)))
  outs = run_both(clipping.clip_by_global_norm(max_norm), optax.clip_by_global_norm(max_norm),
                  random_tree(rng, kind), seq, use_jit)
  assert all(type(state) is base.EmptyState for _, state in outs)
  # With report=True the updates are the same and the state holds the pre-clip norm.
  outs = [(step.updates, step.state) for step in lockstep(
      clipping.clip_by_global_norm(max_norm, report=True), optax.clip_by_global_norm(max_norm),
      random_tree(rng, kind), seq, jit=use_jit, move_params=False,
      check=functools.partial(assert_trees_close, allow_extra=True))]
  for (_, state), n in zip(outs, norms):
    np.testing.assert_allclose(state.global_norm, n, rtol=RTOL)


def test_transforms_sit_in_optax_chain_and_ours_in_optax_chain():
  rng = np.random.RandomState(7)
  params = random_tree(rng, 'nested')
  ours = optax.chain(clipping.clip(0.5), clipping.clip_by_global_norm(1.0), optax.scale(-0.1))
  theirs = optax.chain(optax.clip(0.5), optax.clip_by_global_norm(1.0), optax.scale(-0.1))
  run_both(ours, theirs, params, grads_seq(rng, 'nested'), use_jit=False)
  ours = base.chain(optax.clip(0.5), clipping.clip_by_block_rms(0.3))
  theirs = optax.chain(optax.clip(0.5), optax.clip_by_block_rms(0.3))
  run_both(ours, theirs, params, grads_seq(rng, 'nested'), use_jit=False)


# --------------------------------------------------------------------------- hand-computed


def test_clip_trajectory_hand_computed():
  # SGD on f(w) = 0.5 * ||w - target||^2 with clipped gradients, lr = 0.5, clip 1.0.
  tx = clipping.clip(1.0)
  target = np.array([4.0, -0.5, 0.2], np.float32)
  w = jnp.zeros(3)
  state = tx.init(w)
  expected_w = np.zeros(3, np.float32)
  for _ in range(4):
    g = w - target
    u, state = tx.update(g, state)
    w = w - 0.5 * u
    expected_w = expected_w - np.float32(0.5) * np.clip(expected_w - target, -1.0, 1.0)
    np.testing.assert_allclose(w, expected_w, rtol=RTOL)
  np.testing.assert_allclose(w, [2.0, -0.46875, 0.1875], rtol=RTOL)


def test_clip_by_block_rms_hand_computed():
  tx = clipping.clip_by_block_rms(1.0)
  u, _ = tx.update({'a': jnp.array([3.0, 4.0]), 'b': jnp.array([0.5, -0.5])}, tx.init(None))
  rms = np.sqrt(12.5)
  np.testing.assert_allclose(u['a'], [3 / rms, 4 / rms], rtol=RTOL)
  np.testing.assert_allclose(u['b'], [0.5, -0.5], rtol=RTOL)  # rms 0.5 < 1: unchanged


def test_clip_by_global_norm_reports_pre_clip_norm_over_steps():
  tx = clipping.clip_by_global_norm(2.0, report=True)
  params = {'a': jnp.zeros(1), 'b': jnp.zeros(2)}
  state = tx.init(params)
  assert state.global_norm.dtype == jnp.float32 and float(state.global_norm) == 0.0
  steps = [({'a': [3.0], 'b': [0.0, 4.0]}, 5.0, 2.0 / 5.0),
           ({'a': [1.0], 'b': [0.0, 0.0]}, 1.0, 1.0),
           ({'a': [0.0], 'b': [6.0, 8.0]}, 10.0, 0.2)]
  for g, norm, scale in steps:
    g = jax.tree.map(jnp.asarray, g)
    u, state = tx.update(g, state)
    np.testing.assert_allclose(float(state.global_norm), norm, rtol=RTOL)
    for k in g:
      np.testing.assert_allclose(u[k], np.asarray(g[k]) * scale, rtol=RTOL)


def test_clip_by_norm_hand_computed_and_reported():
  assert clipping.clip_by_norm(1.0).init({'a': jnp.zeros(2)}) == base.EmptyState()
  tx = clipping.clip_by_norm(1.0, report=True)
  params = {'big': jnp.zeros(2), 'small': jnp.zeros(2), 'zero': jnp.zeros(3)}
  state = tx.init(params)
  assert jax.tree.map(float, state.norm) == {'big': 0.0, 'small': 0.0, 'zero': 0.0}
  g = {'big': jnp.array([3.0, 4.0]), 'small': jnp.array([0.3, -0.4]), 'zero': jnp.zeros(3)}
  u, state = tx.update(g, state)
  np.testing.assert_allclose(u['big'], [0.6, 0.8], rtol=RTOL)
  np.testing.assert_allclose(u['small'], [0.3, -0.4], rtol=RTOL)
  np.testing.assert_array_equal(u['zero'], np.zeros(3))
  np.testing.assert_allclose([state.norm[k] for k in ('big', 'small', 'zero')], [5.0, 0.5, 0.0],
                             rtol=RTOL)
  assert all(x.dtype == jnp.float32 and x.shape == () for x in jax.tree.leaves(state.norm))
  # Second step: the state follows the new gradients.
  u, state = tx.update(jax.tree.map(lambda x: 2 * x, g), state)
  np.testing.assert_allclose(u['small'], [0.6, -0.8], rtol=RTOL)  # norm 1.0: kept
  np.testing.assert_allclose([state.norm['big'], state.norm['small']], [10.0, 1.0], rtol=RTOL)


def _tf_clip_by_norm(g, c):
  """numpy float32 transcription of tf.clip_by_norm: (g * c) / max(||g||, c)."""
  g = np.asarray(g, np.float32)
  n = np.sqrt(np.sum(g * g, dtype=np.float32))
  return (g * np.float32(c)) / np.maximum(n, np.float32(c))


def test_clip_by_norm_matches_tf_formula_over_trajectory():
  rng = np.random.RandomState(3)
  c = 0.7
  tx = clipping.clip_by_norm(c, report=True)
  params = random_tree(rng, 'nested')
  state = tx.init(params)
  update = jax.jit(tx.update)
  for step in range(3):
    g = random_tree(rng, 'nested', scale=[0.05, 1.0, 5.0][step])
    u, state = update(g, state)
    for (path, x), y, n in zip(jax.tree_util.tree_leaves_with_path(g), jax.tree.leaves(u),
                               jax.tree.leaves(state.norm)):
      np.testing.assert_allclose(y, _tf_clip_by_norm(x, c), rtol=RTOL, atol=ATOL,
                                 err_msg=jax.tree_util.keystr(path))
      np.testing.assert_allclose(n, np.linalg.norm(np.asarray(x).ravel()), rtol=RTOL)


def test_clip_by_norm_zero_max_norm_zero_leaf_is_not_nan():
  tx = clipping.clip_by_norm(0.0)
  u, state = tx.update({'a': jnp.zeros(2), 'b': jnp.array([1.0, 2.0])},
                       tx.init({'a': jnp.zeros(2), 'b': jnp.zeros(2)}))
  np.testing.assert_array_equal(u['a'], [0.0, 0.0])
  np.testing.assert_array_equal(u['b'], [0.0, 0.0])


def test_clip_by_norm_gradient_at_zero_is_finite():
  tx = clipping.clip_by_norm(1.0)
  grad = jax.jit(jax.grad(lambda x: jnp.sum(tx.update(x, tx.init(x))[0])))(jnp.zeros(3))
  assert np.all(np.isfinite(grad))


def _tf_clip_by_global_norm(gs, c):
  gs = [np.asarray(g, np.float32) for g in gs]
  n = np.sqrt(sum(np.sum(g * g, dtype=np.float32) for g in gs), dtype=np.float32)
  with np.errstate(divide='ignore', invalid='ignore'):
    scale = np.float32(c) * np.minimum(np.float32(1) / n, np.float32(1) / np.float32(c))
    scale = scale + (n - n)
  return [g * scale for g in gs], n


@pytest.mark.parametrize('c', [3.0, 0.1, 7.3])
def test_clip_by_global_norm_nan_mode_matches_tf_formula(c):
  rng = np.random.RandomState(int(c * 10))
  tx = clipping.clip_by_global_norm(c, nonfinite='nan', report=True)
  state = tx.init(None)
  for step in range(3):
    g = random_tree(rng, 'list', scale=[0.1, 1.0, 4.0][step])
    u, state = tx.update(g, state)
    expected, n = _tf_clip_by_global_norm(jax.tree.leaves(g), c)
    for y, e in zip(jax.tree.leaves(u), expected):
      np.testing.assert_allclose(y, e, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(state.global_norm, n, rtol=RTOL)


def test_clip_by_global_norm_hand_values_nan_mode():
  tx = clipping.clip_by_global_norm(1.0, nonfinite='nan', report=True)
  u, state = tx.update({'a': jnp.array([3.0]), 'b': jnp.array([4.0])}, tx.init(None))
  np.testing.assert_allclose([u['a'][0], u['b'][0]], [0.6, 0.8], rtol=RTOL)
  assert float(state.global_norm) == 5.0
  # Below the threshold the scale is c * (1/c), as in TF (1.0 here, exactly).
  u, _ = tx.update({'a': jnp.array([0.3]), 'b': jnp.array([0.4])}, state)
  np.testing.assert_allclose([u['a'][0], u['b'][0]], [0.3, 0.4], rtol=RTOL)


@pytest.mark.parametrize('bad', [np.inf, np.nan, -np.inf])
def test_clip_by_global_norm_nonfinite_modes(bad):
  g = {'a': jnp.array([1.0, 2.0]), 'b': jnp.array([bad, 0.5])}
  tx_nan = clipping.clip_by_global_norm(1.0, nonfinite='nan', report=True)
  u, state = tx_nan.update(g, tx_nan.init(None))
  assert all(np.all(np.isnan(x)) for x in jax.tree.leaves(u))  # EVERY update is NaN
  assert not np.isfinite(float(state.global_norm))
  # optax's default: a NaN norm gives NaN, an infinite norm zeroes the finite entries.
  tx = clipping.clip_by_global_norm(1.0)
  u, state = tx.update(g, tx.init(None))
  u_optax, _ = optax.clip_by_global_norm(1.0).update(g, optax.EmptyState())
  for x, y in zip(jax.tree.leaves(u), jax.tree.leaves(u_optax)):
    np.testing.assert_array_equal(x, y)
  if np.isinf(bad):
    np.testing.assert_array_equal(u['a'], [0.0, 0.0])


def test_clip_by_global_norm_nan_mode_under_jit_and_none_leaves():
  tx = clipping.clip_by_global_norm(1.0, nonfinite='nan')
  g = {'a': jnp.array([3.0]), 'n': None, 'b': jnp.array([4.0])}
  u, state = jax.jit(tx.update)(g, tx.init(g))
  assert u['n'] is None
  np.testing.assert_allclose([u['a'][0], u['b'][0]], [0.6, 0.8], rtol=RTOL)


def test_empty_tree():
  for tx in (clipping.clip_by_global_norm(1.0), clipping.clip_by_norm(1.0),
             clipping.clip_by_global_norm(1.0, nonfinite='nan'),
             clipping.clip_by_global_norm(1.0, report=True), clipping.clip_by_norm(1.0, report=True)):
    u, state = tx.update({}, tx.init({}))
    assert u == {}


# --------------------------------------------------------------------------- 16-bit leaves


def test_bf16_norms_accumulate_in_float32():
  # 4096 elements of 0.1: the bf16 sum of squares would stall far from 40.96.
  x32 = np.full(4096, 0.1, np.float32)
  g = {'w': jnp.asarray(x32, jnp.bfloat16), 'v': jnp.asarray([3.0], jnp.bfloat16)}
  xb = np.asarray(g['w'], np.float32)  # the bf16 values, exactly, in float32
  tx = clipping.clip_by_global_norm(1.0, report=True)
  u, state = tx.update(g, tx.init(g))
  n = np.sqrt(np.sum(xb.astype(np.float64) ** 2) + 9.0)
  np.testing.assert_allclose(float(state.global_norm), n, rtol=1e-6)
  assert u['w'].dtype == jnp.bfloat16 and state.global_norm.dtype == jnp.float32
  np.testing.assert_allclose(np.asarray(u['w'], np.float32),
                             np.asarray(jnp.asarray(xb / n, jnp.bfloat16), np.float32))

  tx = clipping.clip_by_norm(0.5, report=True)
  u, state = tx.update(g, tx.init(g))
  nw = np.sqrt(np.sum(xb.astype(np.float64) ** 2))
  np.testing.assert_allclose(float(state.norm['w']), nw, rtol=1e-6)
  assert u['w'].dtype == jnp.bfloat16
  expected = np.asarray(jnp.asarray((xb * np.float32(0.5)) / np.float32(nw), jnp.bfloat16),
                        np.float32)
  np.testing.assert_allclose(np.asarray(u['w'], np.float32), expected)


def test_clip_bf16_threshold_not_rounded_early():
  tx = clipping.clip(1.0)
  g = jnp.asarray([2.0, -0.5, 300.0], jnp.float16)
  u, _ = tx.update(g, tx.init(g))
  assert u.dtype == jnp.float16
  np.testing.assert_array_equal(np.asarray(u, np.float32), [1.0, -0.5, 1.0])
  tx = clipping.clip_by_block_rms(0.01)
  g = jnp.asarray([3.0, 4.0], jnp.bfloat16)
  u, _ = tx.update(g, tx.init(g))
  expected = np.asarray(jnp.asarray(np.array([3.0, 4.0], np.float32) /
                                    (np.sqrt(np.float32(12.5)) / np.float32(0.01)),
                                    jnp.bfloat16), np.float32)
  assert u.dtype == jnp.bfloat16
  np.testing.assert_array_equal(np.asarray(u, np.float32), expected)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize('make,arg', [
    (lambda: clipping.clip(-1.0), 'max_delta'),
    (lambda: clipping.clip_by_block_rms(-0.1), 'threshold'),
    (lambda: clipping.clip_by_global_norm(-1.0), 'max_norm'),
    (lambda: clipping.clip_by_norm(-2.0), 'max_norm'),
])
def test_negative_thresholds_rejected(make, arg):
  with pytest.raises(ValueError, match=f'`{arg}` must be >= 0'):
    make()


def test_bad_nonfinite_mode():
  with pytest.raises(ValueError, match="`nonfinite` must be one of \\('optax', 'nan'\\)"):
    clipping.clip_by_global_norm(1.0, nonfinite='keras')


def test_nonfinite_is_keyword_only():
  with pytest.raises(TypeError):
    clipping.clip_by_global_norm(1.0, 'nan')  # pylint: disable=too-many-function-args


def test_zero_thresholds_accepted_and_traced_thresholds_work():
  clipping.clip(0.0), clipping.clip_by_norm(0.0), clipping.clip_by_global_norm(0.0)

  @jax.jit
  def f(c, g):
    tx = clipping.clip_by_global_norm(c)
    return tx.update(g, tx.init(g))[0]
  np.testing.assert_allclose(f(1.0, jnp.array([3.0, 4.0])), [0.6, 0.8], rtol=RTOL)


def test_tree_map_params_treats_norms_as_non_params():
  params = {'w': jnp.ones((2, 3)), 'b': jnp.ones(3)}
  tx = optax.chain(clipping.clip_by_norm(1.0, report=True), optax.scale_by_adam())
  state = tx.init(params)
  mapped = optax.tree_map_params(tx, lambda p: p.shape, state)
  assert mapped[0].norm['w'].shape == ()  # left alone
  assert mapped[1].mu['w'] == (2, 3)


def test_true_divide_is_correctly_rounded_under_jit():
  # XLA turns x / scalar into x * (1 / scalar); TF's clip_by_norm divides for real.
  rng = np.random.RandomState(0)
  x = (10 * rng.normal(size=1000)).astype(np.float32)
  d = np.float32(13.155532)
  if jax.default_backend() == 'cpu':
    np.testing.assert_array_equal(jax.jit(clipping._true_divide)(x, d), x / d)
    np.testing.assert_array_equal(clipping._true_divide(jnp.asarray(x), jnp.asarray(d)), x / d)
  else:
    # A GPU's own float32 division is not correctly rounded: on an H200, 49% of these
    # elements were one unit in the last place off under jit (eager not checked there).
    np.testing.assert_array_max_ulp(jax.jit(clipping._true_divide)(x, d), x / d, maxulp=1)
  assert np.isnan(clipping._true_divide(jnp.array([np.nan, 1.0]), jnp.float32(2.0))[0])


def test_state_classes_are_optaxs():
  assert clipping.ClipState is base.EmptyState
  assert clipping.ClipByGlobalNormState is base.EmptyState
  assert clipping.GlobalNormReport._fields == ('global_norm',)
  params = {'w': jnp.ones((2, 3)), 'b': [jnp.ones(3, jnp.bfloat16)]}
  for ours, theirs in [(clipping.clip(1.0), optax.clip(1.0)),
                       (clipping.clip_by_block_rms(1.0), optax.clip_by_block_rms(1.0)),
                       (clipping.clip_by_global_norm(1.0), optax.clip_by_global_norm(1.0)),
                       (clipping.clip_by_global_norm(1.0, nonfinite='nan'),
                        optax.clip_by_global_norm(1.0))]:
    s_ours, s_theirs = ours.init(params), theirs.init(params)
    assert type(s_ours).__name__ == type(s_theirs).__name__ == 'EmptyState'
    _, s_ours = ours.update(params, s_ours)
    assert s_ours == base.EmptyState()


@pytest.mark.parametrize('report', [False, True])
def test_report_is_keyword_only_and_documented(report):
  for fn in (clipping.clip_by_global_norm, clipping.clip_by_norm):
    param = inspect.signature(fn).parameters['report']
    assert param.kind is inspect.Parameter.KEYWORD_ONLY and param.default is False
    assert 'report' in fn.__doc__
  tx = clipping.clip_by_global_norm(1.0, report=report)
  state = tx.update(jnp.array([3.0, 4.0]), tx.init(None))[1]
  assert (type(state) is clipping.GlobalNormReport) == report

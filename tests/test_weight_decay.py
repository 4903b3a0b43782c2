"""Tests for optax_like._src.weight_decay.add_decayed_weights."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from optax_like._src import base, masking, weight_decay
from differential import (DIFFERENTIAL_KINDS, RTOL, ErrorLog, assert_trees_close, lockstep,
                          random_grads, random_tree)

ERRORS = ErrorLog('weight_decay')
# Updates and states leaf by leaf (optax's layout exactly), each comparison logged for the summary.
assert_close = functools.partial(assert_trees_close, log=ERRORS)


def random_mask(rng, params, form):
  leaf_mask = jax.tree.map(lambda _: bool(rng.rand() < 0.5), params)
  if form == 'tree':
    return leaf_mask
  if form == 'callable':
    return lambda p: jax.tree.map(lambda x: x.ndim != 1, p)
  # A prefix: one bool per top-level entry.
  if isinstance(params, dict):
    return {k: bool(rng.rand() < 0.5) for k in params}
  return [bool(rng.rand() < 0.5) for _ in params]


def run_both(ours, theirs, params, rng, kind, use_jit, steps=3):
  """Our and optax's transform over random gradients, params moving; our final state."""
  init_a, init_b = ours.init(params), theirs.init(params)
  assert jax.tree.structure(init_a).num_leaves == jax.tree.structure(init_b).num_leaves
  return list(lockstep(ours, theirs, params, random_grads(rng, kind, steps), jit=use_jit,
                       check=assert_close))[-1].state


CASES = [(s, False) for s in range(6)] + [(60, True), (61, True)]


@pytest.mark.parametrize('seed,use_jit', CASES)
def test_matches_optax(seed, use_jit):
  rng = np.random.RandomState(seed)
  kind = DIFFERENTIAL_KINDS[seed % 3]
  params = random_tree(rng, kind)
  sched = seed % 2 == 1
  wd = float(rng.uniform(1e-4, 0.5))
  wd_arg = optax.linear_schedule(wd, wd / 10, 4) if sched else wd
  form = ['none', 'tree', 'callable', 'prefix'][seed % 4]
  mask = None if form == 'none' or kind == 'with_none' else random_mask(rng, params, form)
  ours = weight_decay.add_decayed_weights(wd_arg, mask)
  theirs = optax.add_decayed_weights(wd_arg, mask)
  state = run_both(ours, theirs, params, rng, kind, use_jit)
  if sched:
    count = state.inner_state.count if mask is not None else state.count
    assert int(count) == 3 and count.dtype == jnp.int32


def test_zero_decay_returns_updates_untouched_and_schedule_state():
  tx = weight_decay.add_decayed_weights()
  g = {'a': jnp.array([1.0])}
  u, state = tx.update(g, tx.init(g), {'a': jnp.array([5.0])})
  assert u is g and state == base.EmptyState()
  tx = weight_decay.add_decayed_weights(lambda count: 0.0)
  assert isinstance(tx.init(g), weight_decay.WeightDecaySchedule)


def test_schedule_trajectory_hand_computed():
  # weight_decay(count) = 0.1 * (count + 1), read at the pre-increment count.
  tx = weight_decay.add_decayed_weights(lambda count: 0.1 * (count + 1))
  w = jnp.array([1.0, -2.0])
  state = tx.init(w)
  assert int(state.count) == 0
  expected = np.array([1.0, -2.0], np.float32)
  for step in range(3):
    g = jnp.array([0.5, 0.5])
    u, state = tx.update(g, state, w)
    np.testing.assert_allclose(u, 0.5 + 0.1 * (step + 1) * expected, rtol=RTOL)
    assert int(state.count) == step + 1
    w = w - 0.5 * u
    expected = expected - 0.5 * (0.5 + 0.1 * (step + 1) * expected)
  np.testing.assert_allclose(w, expected, rtol=RTOL)


def test_masked_with_regex_mask_excludes_biases():
  params = {'dense': {'kernel': jnp.array([1.0, 2.0]), 'bias': jnp.array([3.0])},
            'out': [{'kernel': jnp.array([4.0]), 'bias': jnp.array([5.0])}]}
  g = jax.tree.map(jnp.zeros_like, params)
  tx = weight_decay.add_decayed_weights(0.5, mask=masking.regex_mask(['bias'], match=False))
  u, state = tx.update(g, tx.init(params), params)
  assert isinstance(state, masking.MaskedState)
  np.testing.assert_allclose(u['dense']['kernel'], [0.5, 1.0])
  np.testing.assert_allclose(u['out'][0]['kernel'], [2.0])
  np.testing.assert_array_equal(u['dense']['bias'], [0.0])
  np.testing.assert_array_equal(u['out'][0]['bias'], [0.0])


def test_none_leaves_and_jit():
  tx = weight_decay.add_decayed_weights(0.1)
  params = {'a': jnp.array([2.0]), 'n': None}
  u, _ = jax.jit(tx.update)({'a': jnp.array([1.0]), 'n': None}, tx.init(params), params)
  assert u['n'] is None
  np.testing.assert_allclose(u['a'], [1.2], rtol=RTOL)


def test_bf16_decay_coefficient_kept_in_float32():
  # In bf16, 0.07 rounds to 0.0698; 100 * that gives 6.96875 instead of 7.0.
  tx = weight_decay.add_decayed_weights(0.07)
  p = jnp.asarray([100.0, 1.0], jnp.bfloat16)
  g = jnp.asarray([0.0, 1.0], jnp.bfloat16)
  u, _ = tx.update(g, tx.init(p), p)
  assert u.dtype == jnp.bfloat16
  f32 = np.array([0.0, 1.0], np.float32) + np.float32(0.07) * np.array([100.0, 1.0], np.float32)
  expected = np.asarray(jnp.asarray(f32, jnp.bfloat16), np.float32)
  np.testing.assert_array_equal(np.asarray(u, np.float32), expected)
  naive = np.asarray(g + jnp.asarray(0.07, jnp.bfloat16) * p, np.float32)
  assert naive[0] != expected[0]  # the test would catch bf16 arithmetic


def test_needs_params():
  tx = weight_decay.add_decayed_weights(0.1)
  with pytest.raises(ValueError, match='add_decayed_weights needs the current parameters'):
    tx.update({'a': jnp.ones(1)}, tx.init({'a': jnp.ones(1)}))
  tx = weight_decay.add_decayed_weights(0.1, mask={'a': True})
  with pytest.raises(ValueError, match='add_decayed_weights needs the current parameters'):
    tx.update({'a': jnp.ones(1)}, tx.init({'a': jnp.ones(1)}))


def test_bad_weight_decay_and_mask():
  with pytest.raises(TypeError, match='add_decayed_weights: `weight_decay` must be a number or a '
                     'schedule'):
    weight_decay.add_decayed_weights('0.1')
  with pytest.raises(ValueError, match='`weight_decay` must be a scalar or a schedule'):
    weight_decay.add_decayed_weights(jnp.ones(2))
  tx = weight_decay.add_decayed_weights(0.1, mask={'a': True, 'b': False})
  with pytest.raises(ValueError, match=r"masked: the structure of the mask does not match the "
                     r"params .* at path <root>: keys only in the mask: \['b'\]\."):
    tx.init({'a': jnp.ones(1)})

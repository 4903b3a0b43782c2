"""adaptive_grad_clip, unitwise_norm/clip, per-example clipping, stateless_with_tree_map,
periodic_update, apply_every, freeze, selective_transform, lookahead, monitor, snapshot and
measure_with_ema: differential tests against optax over random trees (float32 and bfloat16,
eager and jitted, states compared), hand-computed values, and errors naming the argument."""

import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optax_like as ox
from differential import DIFFERENTIAL_KINDS, assert_same_layout, assert_trees_close, lockstep
from differential import random_tree


def _norm(lib):
  # A float32 measurement on both sides (our global_norm of bfloat16 leaves is float32 already;
  # optax.tree.norm's is bfloat16).
  norm = optax.tree.norm if lib is optax else ox.global_norm
  return lambda u: norm(u).astype(jnp.float32)


def _mask_for(tree):
  """A static mask over ``tree``'s leaves: True at every other leaf (None leaves stay None)."""
  flat, treedef = jax.tree.flatten(tree)
  return jax.tree.unflatten(treedef, [i % 2 == 0 for i in range(len(flat))])


# name -> builder(lib, params): each library gets its own inner transformations.
CASES = {
    'adaptive_grad_clip': lambda lib, p: lib.adaptive_grad_clip(0.3),
    'adaptive_grad_clip_eps': lambda lib, p: lib.adaptive_grad_clip(0.05, eps=0.5),
    'stateless_with_tree_map': lambda lib, p: lib.stateless_with_tree_map(
        lambda u, q: 2.0 * u - 0.5 * q),
    'apply_every': lambda lib, p: lib.apply_every(3),
    'apply_every_chain': lambda lib, p: lib.chain(lib.apply_every(2),
                                                  lib.sgd(0.1, momentum=0.9)),
    'freeze': lambda lib, p: lib.chain(lib.freeze(_mask_for(p)), lib.adam(0.1)),
    'selective_transform': lambda lib, p: lib.selective_transform(
        lib.adam(0.1), freeze_mask=_mask_for(p)),
    'monitor': lambda lib, p: lib.chain(
        lib.sgd(0.1, momentum=0.9),
        lib.monitor({'norm': _norm(lib), 'ema': lib.measure_with_ema(_norm(lib), 0.8)}),
        lib.clip_by_global_norm(0.5)),
    'snapshot': lambda lib, p: lib.chain(lib.snapshot('norm', _norm(lib)), lib.scale(-0.1)),
}

# (case, dtype, jit): float32 jitted for every case; bfloat16 jitted and float32 eager for
# every other case, alternating (each step is compiled or dispatched op by op: kept few).
RUNS = ([(c, 'float32', True) for c in CASES]
        + [(c, 'bfloat16', True) for c in sorted(CASES)[::2]]
        + [(c, 'float32', False) for c in sorted(CASES)[1::2]])


def _close(dtype):
  if dtype == 'bfloat16':  # ours computes 16-bit leaves in float32, optax in bfloat16
    return functools.partial(assert_trees_close, rtol=2e-2, atol=2e-2)
  return assert_trees_close


@pytest.mark.parametrize('case,dtype,jit', RUNS)
def test_matches_optax_step_by_step(case, dtype, jit):
  seed = sorted(CASES).index(case)
  rng = np.random.RandomState(seed)
  kind = DIFFERENTIAL_KINDS[seed % 3]
  params = random_tree(rng, kind, dtype=jnp.dtype(dtype))
  grads = [random_tree(rng, kind, rng.uniform(0.2, 2.0), dtype=jnp.dtype(dtype))
           for _ in range(3)]
  ours, theirs = CASES[case](ox, params), CASES[case](optax, params)
  assert_same_layout(ours.init(params), theirs.init(params), case)
  check = _close(dtype)
  with warnings.catch_warnings():
    warnings.simplefilter('ignore', DeprecationWarning)
    steps = list(lockstep(ours, theirs, params, grads, jit=jit, check=check))
  assert len(steps) == 3
  assert_same_layout(steps[-1].state, steps[-1].their_state, case)


@pytest.mark.parametrize('reset_state', [False, True])
def test_lookahead_matches_optax(reset_state):
  rng = np.random.RandomState(7)
  fast = random_tree(rng, 'with_none')
  grads = [random_tree(rng, 'with_none') for _ in range(5)]
  build = lambda lib: lib.lookahead(lib.adam(0.1), sync_period=2, slow_step_size=0.4,
                                    reset_state=reset_state)
  ours, theirs = build(ox), build(optax)
  pa, pb = ox.LookaheadParams.init_synced(fast), optax.LookaheadParams.init_synced(fast)
  sa, sb = ours.init(pa), theirs.init(pb)
  assert_same_layout(sa, sb)
  update_a = jax.jit(ours.update)
  for i, g in enumerate(grads):
    # Eager on the first step, jitted after.
    ua, sa = (ours.update if i == 0 else update_a)(g, sa, pa)
    ub, sb = theirs.update(g, sb, pb)
    assert_trees_close(tuple(ua), tuple(ub))
    assert_trees_close(sa.fast_state, sb.fast_state)
    assert int(sa.steps_since_sync) == int(sb.steps_since_sync) == (i + 1) % 2
    assert_same_layout(sa, sb)
    pa, pb = ox.apply_updates(pa, ua), optax.apply_updates(pb, ub)
  assert_trees_close(tuple(pa), tuple(pb))


# ---------------------------------------------------------------------------------------------
# hand-computed values


def test_apply_every_emits_sums_every_k_steps():
  tx = ox.apply_every(3)
  state = tx.init({'w': jnp.zeros(2)})
  out = []
  for g in range(1, 8):
    u, state = tx.update({'w': jnp.full(2, float(g))}, state)
    out.append(float(u['w'][0]))
  assert out == [0, 0, 6, 0, 0, 15, 0]
  assert int(state.count) == 1 and state.count.dtype == jnp.int32
  assert state.grad_acc['w'].tolist() == [7.0, 7.0]


def test_lookahead_trajectory_by_hand():
  # sgd(1) on gradient 1: fast 4 -> 3 -> 2, sync: slow 4 + 0.5 (2 - 4) = 3, fast = 3.
  opt = ox.lookahead(ox.sgd(1.0), sync_period=2, slow_step_size=0.5)
  params = ox.LookaheadParams.init_synced(jnp.array([4.0]))
  state = opt.init(params)
  trail = []
  for _ in range(4):
    updates, state = opt.update(jnp.array([1.0]), state, params)
    params = ox.apply_updates(params, updates)
    trail.append((float(params.fast[0]), float(params.slow[0])))
  assert trail == [(3.0, 4.0), (3.0, 3.0), (2.0, 3.0), (2.0, 2.0)]


def test_adaptive_grad_clip_by_hand():
  # A (2, 2) kernel: units are columns. Column 0 of params has norm 5, its gradient norm 10.
  params = jnp.array([[3.0, 0.0], [4.0, 0.0]])
  grads = jnp.array([[6.0, 1e-4], [8.0, 0.0]])
  tx = ox.adaptive_grad_clip(0.5, eps=1e-3)
  updates, _ = tx.update(grads, tx.init(params), params)
  # Column 0 rescaled to norm 2.5; column 1 bounded by 0.5 * eps = 5e-4 > 1e-4: unchanged.
  np.testing.assert_allclose(updates, [[1.5, 1e-4], [2.0, 0.0]], rtol=1e-6)


@pytest.mark.parametrize('shape,axis', [((5,), None), ((1, 4), None), ((3, 4), None),
                                        ((2, 3, 4), None), ((2, 2, 3, 4), None),
                                        ((2, 2, 2, 3, 4), None), ((3, 4), 1), ((3, 4, 5), (0, 2)),
                                        ((2, 2, 2, 2, 2, 2), (0, 1, 2))])
def test_unitwise_norm_matches_optax(shape, axis):
  x = jnp.asarray(np.random.RandomState(len(shape)).normal(size=shape).astype(np.float32))
  ours = ox.transforms.unitwise_norm(x, axis)
  theirs = optax.transforms.unitwise_norm(x, axis)
  assert ours.shape == x.shape and ours.dtype == theirs.dtype
  np.testing.assert_allclose(ours, theirs, rtol=1e-6)
  g_norm = ours
  max_norm = jnp.full(shape, 0.7)
  np.testing.assert_allclose(ox.transforms.unitwise_clip(g_norm, max_norm, x),
                             optax.transforms.unitwise_clip(theirs, max_norm, x), rtol=1e-6)


@pytest.mark.parametrize('uniform,clip', [(True, 0.7), (False, 0.7), (True, 0.0),
                                          (False, float('inf'))])
def test_per_example_clipping_matches_optax(uniform, clip):
  rng = np.random.RandomState(3)
  grads = {'a': jnp.asarray(rng.normal(size=(6, 3)).astype(np.float32)),
           'b': [jnp.asarray(rng.normal(size=(6, 2, 2)).astype(np.float32))],
           'c': jnp.zeros((6,))}
  assert_trees_close(ox.per_example_global_norm_clip(grads, clip),
                     optax.per_example_global_norm_clip(grads, clip))
  assert_trees_close(ox.per_example_layer_norm_clip(grads, clip, uniform),
                     optax.per_example_layer_norm_clip(grads, clip, uniform))


def test_per_example_clipping_by_hand_and_integer_grads():
  grads = [jnp.array([[0, 0, 0], [0, 3, 4], [4, 0, 3], [3, 4, 0]])]  # int32, norms 0 5 5 5
  sums, n = ox.per_example_global_norm_clip(grads, 1.25)
  assert sums[0].dtype == jnp.float32 and int(n) == 3 and n.dtype == jnp.int32
  np.testing.assert_allclose(sums[0], [1.75, 1.75, 1.75], rtol=1e-6)
  sums, counts = ox.per_example_layer_norm_clip(grads, 0.0)
  assert sums[0].tolist() == [0.0, 0.0, 0.0] and int(counts[0]) == 3


def test_periodic_update_eager_and_jitted():
  new, old = {'a': jnp.ones(2), 'b': [jnp.ones(1)]}, {'a': jnp.zeros(2), 'b': [jnp.zeros(1)]}
  jitted = jax.jit(ox.periodic_update)
  for step in range(1, 7):
    expected = new if step % 3 == 0 else old
    assert_trees_close(ox.periodic_update(new, old, step, 3), expected)
    assert_trees_close(jitted(new, old, step, 3), expected)
    assert_trees_close(jitted(new, old, jnp.asarray(step), 3),
                       optax.periodic_update(new, old, jnp.asarray(step), 3))


def test_freeze_and_selective_transform_keep_optaxs_states():
  params = {'a': jnp.ones(2), 'b': {'c': jnp.ones(3), 'd': jnp.ones(1)}}
  for mask in (True, np.array(False), {'a': False, 'b': True}):
    for build in (lambda lib: lib.freeze(mask),
                  lambda lib: lib.selective_transform(lib.adam(0.1), freeze_mask=mask)):
      ours, theirs = build(ox), build(optax)
      grads = jax.tree.map(lambda x: 2 * x, params)
      u, s = ours.update(grads, ours.init(params), params)
      v, t = theirs.update(grads, theirs.init(params), params)
      assert_trees_close(u, v)
      assert_same_layout(s, t)


def test_monitor_measurements_by_hand():
  tx = ox.monitor({'norm': ox.global_norm,
                   'ema': ox.measure_with_ema(ox.global_norm, decay=0.5)})
  state = tx.init(jnp.zeros(2))
  assert state.measurements == {}
  for g in (jnp.array([3.0, 4.0]), jnp.array([6.0, 8.0])):
    u, state = tx.update(g, state)
    assert u is g  # the updates pass unchanged
  assert float(state.measurements['norm']) == 10.0
  # EMA 0.5: 2.5, then 6.25; debiased by 1 - 0.25.
  np.testing.assert_allclose(float(state.measurements['ema']), 6.25 / 0.75, rtol=1e-6)


def test_fused_apply_every_chain_equals_plain():
  params = {'w': jnp.ones((3, 2)), 'b': jnp.zeros(2)}
  plain = ox.chain(ox.apply_every(2), ox.sgd(0.1, momentum=0.9))
  fused = ox.fused(ox.chain(ox.apply_every(2), ox.sgd(0.1, momentum=0.9)))
  sp, sf = plain.init(params), fused.init(params)
  rng = np.random.RandomState(0)
  for _ in range(4):
    g = jax.tree.map(lambda x: jnp.asarray(rng.normal(size=x.shape), jnp.float32), params)
    up, sp = plain.update(g, sp, params)
    uf, sf = fused.update(g, sf, params)
    assert_trees_close(uf, up)


# ---------------------------------------------------------------------------------------------
# errors name the argument or the tree path


@pytest.mark.parametrize('make,error,word', [
    (lambda: ox.adaptive_grad_clip(-1.0), ValueError, 'clipping'),
    (lambda: ox.adaptive_grad_clip(True), TypeError, 'clipping'),
    (lambda: ox.adaptive_grad_clip(0.1, eps=-1.0), ValueError, 'eps'),
    (lambda: ox.adaptive_grad_clip(0.1, axis='0'), TypeError, 'axis'),
    (lambda: ox.apply_every(0), ValueError, '`k`'),
    (lambda: ox.apply_every(True), TypeError, '`k`'),
    (lambda: ox.apply_every(1.5), ValueError, '`k`'),
    (lambda: ox.lookahead(ox.sgd(0.1), 0, 0.5), ValueError, 'sync_period'),
    (lambda: ox.lookahead(ox.sgd(0.1), 2, True), TypeError, 'slow_step_size'),
    (lambda: ox.lookahead(ox.sgd(0.1), 2, 0.5, reset_state='no'), TypeError, 'reset_state'),
    (lambda: ox.lookahead('sgd', 2, 0.5), TypeError, 'fast_optimizer'),
    (lambda: ox.freeze({'a': 'yes'}), TypeError, "['a']"),
    (lambda: ox.selective_transform(ox.sgd(0.1), freeze_mask=lambda p: p),
     TypeError, 'freeze_mask'),
    (lambda: ox.snapshot(3, ox.global_norm), TypeError, 'measure_name'),
    (lambda: ox.snapshot('n', 3), TypeError, 'measure'),
    (lambda: ox.monitor([ox.global_norm]), TypeError, 'measures'),
    (lambda: ox.measure_with_ema(ox.global_norm, 1.5), ValueError, 'decay'),
    (lambda: ox.stateless_with_tree_map(3), TypeError, '`f`'),
    (lambda: ox.periodic_update(jnp.ones(1), jnp.ones(1), 1, 0), ValueError, 'update_period'),
    (lambda: ox.periodic_update({'a': jnp.ones(1)}, {'b': jnp.ones(1)}, 1, 2), ValueError,
     "['a']"),
    (lambda: ox.per_example_global_norm_clip([jnp.ones(3)], -1.0), ValueError, 'l2_norm_clip'),
    (lambda: ox.per_example_global_norm_clip({'x': jnp.ones((3, 2)), 'y': jnp.ones((2,))}, 1.0),
     ValueError, "['y']"),
    (lambda: ox.per_example_layer_norm_clip([jnp.ones(())], 1.0), ValueError, '[0]'),
    (lambda: ox.per_example_layer_norm_clip([jnp.ones((2, 1))], 1.0, uniform=1), TypeError,
     'uniform'),
    (lambda: ox.transforms.unitwise_norm(jnp.ones((1,) * 6 + (2, 2))), ValueError, 'axis'),
    (lambda: ox.transforms.unitwise_clip(jnp.ones(2), jnp.ones(2), jnp.ones(3)), ValueError,
     'grad'),
])
def test_bad_arguments_are_named(make, error, word):
  with pytest.raises(error, match=None) as info:
    make()
  assert word in str(info.value), str(info.value)


def test_update_errors_name_params_and_paths():
  tx = ox.adaptive_grad_clip(0.1)
  with pytest.raises(ValueError, match='params'):
    tx.update({'a': jnp.ones(2)}, tx.init(None))
  la = ox.lookahead(ox.sgd(0.1), 2, 0.5)
  with pytest.raises(ValueError, match='LookaheadParams'):
    la.update(jnp.ones(2), la.init(jnp.ones(2)), jnp.ones(2))
  ae = ox.apply_every(2)
  with pytest.raises(ValueError, match=r"\['b'\]"):
    ae.update({'a': jnp.ones(2), 'b': jnp.ones(1)}, ae.init({'a': jnp.ones(2)}))
  with pytest.raises(TypeError, match='ApplyEvery'):
    ae.update({'a': jnp.ones(2)}, ox.trace(0.9).init({'a': jnp.ones(2)}))
  sm = ox.stateless_with_tree_map(lambda u, p: u + p)
  with pytest.raises(ValueError, match=r"\['b'\]"):
    sm.update({'a': jnp.ones(1), 'b': jnp.ones(1)}, sm.init(None), {'a': jnp.ones(1)})

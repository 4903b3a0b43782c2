"""Tests for optax_like._src.trust_ratio.scale_by_trust_ratio."""

import functools
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optax_like as ox
from optax_like._src import base, trust_ratio
import differential
from differential import DIFFERENTIAL_KINDS, RTOL, ErrorLog, assert_trees_close, lockstep

ERRORS = ErrorLog('trust_ratio')
# The default state is optax's (EmptyState); every comparison is logged for the report.
assert_close = functools.partial(assert_trees_close, log=ERRORS)
# With report=True ours keeps the last trust ratios, which optax's state lacks.
assert_close_reporting = functools.partial(assert_trees_close, allow_extra=True, log=ERRORS)


def random_tree(rng, kind, scale=1.0, zero_leaf=False):
  """``differential.random_tree``; with ``zero_leaf``, one leaf is zeros (the zero-norm branch)."""
  tree = differential.random_tree(rng, kind, scale)
  if zero_leaf and kind == 'nested':
    tree['dense']['bias'] = jnp.zeros_like(tree['dense']['bias'])
  elif zero_leaf and kind == 'list':
    tree[1][1]['a'] = jnp.zeros_like(tree[1][1]['a'])
  return tree


def np_norm(x):
  return float(np.sqrt(np.sum(np.asarray(x, np.float64) ** 2)))


def expected_ratio(u, p, min_norm, tc, eps):
  pn, un = max(np_norm(p), min_norm), max(np_norm(u), min_norm)
  return 1.0 if pn == 0 or un == 0 else tc * pn / (un + eps)


# --------------------------------------------------------------------------- differential


@pytest.mark.parametrize('seed,use_jit', [(s, False) for s in range(4)] + [(50, True), (51, True)])
def test_matches_optax_over_steps(seed, use_jit):
  rng = np.random.RandomState(seed)
  kind = DIFFERENTIAL_KINDS[seed % 3]
  min_norm = float(rng.choice([0.0, rng.uniform(0.5, 3.0)]))
  tc = float(rng.uniform(0.001, 2.0))
  eps = float(rng.choice([0.0, rng.uniform(1e-6, 0.5)]))
  ours = trust_ratio.scale_by_trust_ratio(min_norm=min_norm, trust_coefficient=tc, eps=eps,
                                         report=True)
  theirs = optax.scale_by_trust_ratio(min_norm=min_norm, trust_coefficient=tc, eps=eps)
  # Params move between steps (p + u); some leaves start at zero, one gradient leaf is zero.
  params = random_tree(rng, kind, zero_leaf=seed % 2 == 0)
  grads = []

  def draw():
    for i in range(3):
      grads.append(random_tree(rng, kind, scale=rng.uniform(0.1, 3.0), zero_leaf=i == 1))
      yield grads[-1]

  before = params
  for step in lockstep(ours, theirs, params, draw(), jit=use_jit, check=assert_close,
                       check_state=assert_close_reporting):
    for (path, u), p, r in zip(jax.tree_util.tree_leaves_with_path(grads[-1]),
                               jax.tree.leaves(before), jax.tree.leaves(step.state.trust_ratio)):
      np.testing.assert_allclose(r, expected_ratio(u, p, min_norm, tc, eps), rtol=1e-5,
                                 err_msg=jax.tree_util.keystr(path))
    assert_close(step.params, step.their_params)
    before = step.params


def test_in_optax_chain_like_lars():
  rng = np.random.RandomState(9)
  params = random_tree(rng, 'nested', zero_leaf=True)
  ours = optax.chain(optax.add_decayed_weights(1e-2), trust_ratio.scale_by_trust_ratio(
      trust_coefficient=0.001), optax.scale_by_learning_rate(0.5), optax.trace(0.9))
  theirs = optax.lars(0.5, weight_decay=1e-2, weight_decay_mask=True, trust_ratio_mask=True)
  grads = (random_tree(rng, 'nested') for _ in range(3))
  # lars masks its first two transforms: the states agree on the momentum, the last entry.
  for step in lockstep(ours, theirs, params, grads, check=assert_close,
                       check_state=lambda a, b: assert_close(a[-1], b[-1])):
    assert_close(step.params, step.their_params)


# --------------------------------------------------------------------------- hand-computed


def test_hand_computed_trajectory_and_reported_ratios():
  # LARS-style loop: w <- w - lr * r * g with r = 0.5 * ||w|| / ||g||, g = w (f = ||w||^2/2).
  tx = trust_ratio.scale_by_trust_ratio(trust_coefficient=0.5, report=True)
  params = {'w': jnp.array([3.0, 4.0]), 'b': jnp.zeros(2)}
  state = tx.init(params)
  assert jax.tree.map(float, state.trust_ratio) == {'w': 1.0, 'b': 1.0}
  lr = 0.2
  expected_w = np.array([3.0, 4.0])
  for _ in range(3):
    g = {'w': params['w'], 'b': jnp.array([1.0, -1.0])}
    u, state = tx.update(g, state, params)
    # ||w|| / ||g|| = 1 for w, so r = 0.5 and u = 0.5 * w; b has ||p|| = 0 at the start -> r = 1.
    np.testing.assert_allclose(float(state.trust_ratio['w']), 0.5, rtol=RTOL)
    np.testing.assert_allclose(u['w'], 0.5 * np.asarray(params['w']), rtol=RTOL)
    params = jax.tree.map(lambda p, x: p - lr * x, params, u)
    expected_w = expected_w * (1 - lr * 0.5)
    np.testing.assert_allclose(params['w'], expected_w, rtol=RTOL)
  # b: step 1 r=1 (zero param) -> b = -0.2*[1,-1]; then r = 0.5*||b||/||g|| = 0.5*0.2 = 0.1, ...
  b1 = -0.2 * np.array([1.0, -1.0])
  b2 = b1 - lr * 0.5 * (np.sqrt(2) * 0.2 / np.sqrt(2)) * np.array([1.0, -1.0])
  b3 = b2 - lr * 0.5 * (np_norm(b2) / np.sqrt(2)) * np.array([1.0, -1.0])
  np.testing.assert_allclose(params['b'], b3, rtol=RTOL)
  np.testing.assert_allclose(float(state.trust_ratio['b']), 0.5 * np_norm(b2) / np.sqrt(2),
                             rtol=RTOL)


def test_min_norm_floor_and_eps():
  tx = trust_ratio.scale_by_trust_ratio(min_norm=2.0, trust_coefficient=1.0, eps=0.5, report=True)
  params = {'zero': jnp.zeros(2), 'big': jnp.array([6.0, 8.0])}
  g = {'zero': jnp.array([0.3, 0.4]), 'big': jnp.array([0.0, 0.1])}
  u, state = tx.update(g, tx.init(params), params)
  # zero: ||p|| -> 2, ||g|| = 0.5 -> 2; r = 2 / (2 + 0.5) = 0.8. big: 10 / (2 + 0.5) = 4.
  np.testing.assert_allclose([state.trust_ratio['zero'], state.trust_ratio['big']], [0.8, 4.0],
                             rtol=RTOL)
  np.testing.assert_allclose(u['zero'], [0.24, 0.32], rtol=RTOL)
  np.testing.assert_allclose(u['big'], [0.0, 0.4], rtol=RTOL)


def test_zero_update_gives_ratio_one():
  tx = trust_ratio.scale_by_trust_ratio(trust_coefficient=0.001, report=True)
  params = jnp.array([1.0, 2.0])
  u, state = tx.update(jnp.zeros(2), tx.init(params), params)
  assert float(state.trust_ratio) == 1.0
  np.testing.assert_array_equal(u, [0.0, 0.0])


def test_gradient_through_update_is_finite_at_zero():
  tx = trust_ratio.scale_by_trust_ratio()
  params = jnp.zeros(3)
  grad = jax.jit(jax.grad(lambda g: jnp.sum(tx.update(g, tx.init(params), params)[0])))(
      jnp.zeros(3))
  assert np.all(np.isfinite(grad))


def test_none_leaves_and_jit():
  tx = trust_ratio.scale_by_trust_ratio(trust_coefficient=2.0, report=True)
  params = {'a': jnp.array([3.0, 4.0]), 'n': None}
  u, state = jax.jit(tx.update)({'a': jnp.array([0.0, 5.0]), 'n': None}, tx.init(params), params)
  assert u['n'] is None and state.trust_ratio['n'] is None
  np.testing.assert_allclose(u['a'], [0.0, 10.0], rtol=RTOL)


# --------------------------------------------------------------------------- 16-bit leaves


def test_bf16_norms_in_float32():
  x = np.full(2048, 0.01, np.float32)
  params = {'w': jnp.asarray(x * 30, jnp.bfloat16)}
  g = {'w': jnp.asarray(x, jnp.bfloat16)}
  tx = trust_ratio.scale_by_trust_ratio(trust_coefficient=0.001, report=True)
  u, state = tx.update(g, tx.init(params), params)
  pb, gb = np.asarray(params['w'], np.float32), np.asarray(g['w'], np.float32)
  r = 0.001 * np_norm(pb) / np_norm(gb)
  assert state.trust_ratio['w'].dtype == jnp.float32 and u['w'].dtype == jnp.bfloat16
  np.testing.assert_allclose(float(state.trust_ratio['w']), r, rtol=1e-6)
  expected = np.asarray(jnp.asarray(gb * np.float32(r), jnp.bfloat16), np.float32)
  np.testing.assert_array_equal(np.asarray(u['w'], np.float32), expected)


# --------------------------------------------------------------------------- errors


def test_needs_params():
  tx = trust_ratio.scale_by_trust_ratio()
  with pytest.raises(ValueError, match='scale_by_trust_ratio needs the current parameters'):
    tx.update({'a': jnp.ones(2)}, tx.init({'a': jnp.ones(2)}))


@pytest.mark.parametrize('kwargs,arg', [({'min_norm': -1.0}, 'min_norm'),
                                        ({'trust_coefficient': -0.1}, 'trust_coefficient'),
                                        ({'eps': -1e-8}, 'eps')])
def test_negative_hyperparameters(kwargs, arg):
  with pytest.raises(ValueError, match=f'scale_by_trust_ratio: `{arg}` must be >= 0'):
    trust_ratio.scale_by_trust_ratio(**kwargs)


def test_mismatched_params_structure():
  tx = trust_ratio.scale_by_trust_ratio()
  with pytest.raises(ValueError, match=r"paths only in updates: \[\"\['c'\]\"\]"):
    tx.update({'a': jnp.ones(1), 'c': jnp.ones(1)}, tx.init(None),
              {'a': jnp.ones(1), 'b': jnp.ones(1)})


def test_is_a_gradient_transformation():
  tx = trust_ratio.scale_by_trust_ratio()
  assert isinstance(tx, base.GradientTransformation)


def test_gradient_through_update_matches_optax():
  rng = np.random.RandomState(4)
  params, g = random_tree(rng, 'nested', zero_leaf=True), random_tree(rng, 'nested')
  for min_norm in (0.0, 1.5):
    ours = trust_ratio.scale_by_trust_ratio(min_norm=min_norm, trust_coefficient=0.3, eps=0.1)
    theirs = optax.scale_by_trust_ratio(min_norm=min_norm, trust_coefficient=0.3, eps=0.1)

    def loss(tx, state):
      return lambda g, p: sum(jnp.sum(jnp.sin(x)) for x in jax.tree.leaves(tx.update(g, state, p)[0]))
    ga = jax.jit(jax.grad(loss(ours, ours.init(params)), argnums=(0, 1)))(g, params)
    gb = jax.jit(jax.grad(loss(theirs, theirs.init(params)), argnums=(0, 1)))(g, params)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), ga, gb)


def test_default_state_is_optaxs():
  assert trust_ratio.ScaleByTrustRatioState is base.EmptyState
  assert trust_ratio.TrustRatioReport._fields == ('trust_ratio',)
  params = {'w': jnp.ones((2, 3)), 'b': [jnp.ones(3, jnp.bfloat16)]}
  tx = trust_ratio.scale_by_trust_ratio()
  state = tx.init(params)
  assert type(state).__name__ == type(optax.scale_by_trust_ratio().init(params)).__name__
  assert state == base.EmptyState()
  assert jax.jit(tx.update)(params, state, params)[1] == base.EmptyState()


def test_lars_and_lamb_states_are_optaxs():
  params = {'w': jnp.ones((2, 3)), 'b': jnp.zeros(3)}
  for name in ('lars', 'lamb'):
    ours = getattr(ox, name)(0.1).init(params)
    theirs = getattr(optax, name)(0.1).init(params)
    # Different classes of the same names: compare the printed structures (class names, nesting).
    assert str(jax.tree.structure(ours)) == str(jax.tree.structure(theirs)), name
    flat_a = jax.tree_util.tree_flatten_with_path(ours)[0]
    flat_b = jax.tree_util.tree_flatten_with_path(theirs)[0]
    assert [(jax.tree_util.keystr(k), x.shape, x.dtype) for k, x in flat_a] == [
        (jax.tree_util.keystr(k), x.shape, x.dtype) for k, x in flat_b], name


def test_report_is_keyword_only():
  param = inspect.signature(trust_ratio.scale_by_trust_ratio).parameters['report']
  assert param.kind is inspect.Parameter.KEYWORD_ONLY and param.default is False
  assert 'report' in trust_ratio.scale_by_trust_ratio.__doc__

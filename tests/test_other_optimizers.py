"""Adafactor, SM3, Rprop, sign methods, Fromage, noisy SGD, optimistic methods, Polyak and DoG
step sizes, and the small stateless transforms (issue 10, optimizers-other).

Differential against optax over random pytrees (several steps, eager and jitted, states equal
by key path), hand-computed values, 16-bit leaves, ``fused`` for the elementwise aliases, and
errors that name the argument.
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optax_like as ox
from optax_like._src import parameter_free
from differential import ErrorLog, assert_trees_close, lockstep, random_tree

ERRORS = ErrorLog('other optimizers')

# Layouts without scalar leaves (SM3 needs an axis per leaf, in optax too), with a None leaf.
NO_SCALARS = {'dense': {'kernel': (3, 4), 'bias': (4,)}, 'blocks': [(2, 2, 3), (5,)],
              'none': None}


def _fn(lib, name):
  if name == 'scale_by_distance_over_gradients' and lib is optax:
    return optax.scale_by_distance_over_gradients
  return getattr(lib, name)


def _schedule(count):
  return 0.1 / (1.0 + count)


# name -> (builder of the transform from a library, tree layout, needs ``value``).
CASES = {
    'adafactor': (lambda lib: lib.adafactor(0.1, min_dim_size_to_factor=2), 'nested', False),
    'adafactor_momentum_decay': (lambda lib: lib.adafactor(
        min_dim_size_to_factor=3, momentum=0.9, weight_decay_rate=0.01,
        clipping_threshold=None), 'with_none', False),
    'scale_by_factored_rms': (lambda lib: lib.scale_by_factored_rms(
        min_dim_size_to_factor=2, decay_rate=0.5, step_offset=1), 'list', False),
    'scale_by_factored_rms_unfactored': (lambda lib: lib.scale_by_factored_rms(factored=False),
                                         'nested', False),
    'sm3': (lambda lib: lib.sm3(0.1), NO_SCALARS, False),
    'scale_by_sm3': (lambda lib: lib.scale_by_sm3(b1=0.5, b2=0.9), NO_SCALARS, False),
    'rprop': (lambda lib: lib.rprop(0.1, eta_plus=1.5, max_step_size=0.3), 'nested', False),
    'scale_by_rprop': (lambda lib: lib.scale_by_rprop(0.2), 'with_none', False),
    'sign_sgd': (lambda lib: lib.sign_sgd(_schedule), 'list', False),
    'signum': (lambda lib: lib.signum(0.1, beta=0.5), 'nested', False),
    'scale_by_sign': (lambda lib: lib.scale_by_sign(), 'with_none', False),
    'fromage': (lambda lib: lib.fromage(0.1), 'nested', False),
    'fromage_schedule': (lambda lib: lib.fromage(_schedule, min_norm=1e-3), 'list', False),
    'scale_by_param_block_norm': (lambda lib: lib.scale_by_param_block_norm(), 'nested', False),
    'scale_by_param_block_rms': (lambda lib: lib.scale_by_param_block_rms(0.5), 'list', False),
    'noisy_sgd': (lambda lib: lib.noisy_sgd(0.1, eta=0.5, key=3), 'nested', False),
    'add_noise': (lambda lib: lib.add_noise(0.3, 0.55, jax.random.key(7)), 'with_none', False),
    'optimistic_gradient_descent': (lambda lib: lib.optimistic_gradient_descent(
        0.1, alpha=0.5, beta=0.8), 'nested', False),
    'optimistic_adam': (lambda lib: lib.optimistic_adam(0.01, optimism=0.02), 'list', False),
    'optimistic_adam_v2': (lambda lib: lib.optimistic_adam_v2(
        _schedule, alpha=0.7, nesterov=False), 'with_none', False),
    'scale_by_optimistic_gradient': (lambda lib: lib.scale_by_optimistic_gradient(),
                                     'list', False),
    'polyak_sgd': (lambda lib: lib.polyak_sgd(max_learning_rate=0.5, f_min=-1.0), 'nested',
                   True),
    'scale_by_polyak_plus': (lambda lib: lib.scale_by_polyak(variant='sps+', eps=1e-3),
                             'with_none', True),
    'scale_by_distance_over_gradients': (
        lambda lib: _fn(lib, 'scale_by_distance_over_gradients')(reps_rel=1e-2,
                                                                 global_scale=-1.0),
        NO_SCALARS, False),   # optax turns a scalar leaf's update into shape (1,)
    'centralize': (lambda lib: lib.centralize(), 'nested', False),
    'normalize_by_update_norm': (lambda lib: lib.normalize_by_update_norm(-0.5), 'list', False),
}


def _build(lib, name):
  with warnings.catch_warnings():
    warnings.simplefilter('ignore', DeprecationWarning)   # optimistic_adam
    return CASES[name][0](lib)


def _unkeyed(tree):
  """Typed PRNG keys replaced by their key data, so that states compare as numbers."""
  return jax.tree.map(
      lambda x: jax.random.key_data(x) if isinstance(x, jax.Array)
      and jnp.issubdtype(x.dtype, jax.dtypes.prng_key) else x, tree)


def _check(ours, theirs, **kw):
  return assert_trees_close(_unkeyed(ours), _unkeyed(theirs), log=ERRORS, **kw)


def _values(rng, needs_value):
  if not needs_value:
    return None
  return lambda g: {'value': jnp.asarray(rng.uniform(0.5, 3.0), jnp.float32)}


# Compiled too (each compile costs about a second of CPU): the stateful aliases.
JITTED = ('adafactor', 'sm3', 'rprop', 'noisy_sgd', 'polyak_sgd')


@pytest.mark.parametrize('name,jit', [(n, False) for n in sorted(CASES)] +
                         [(n, True) for n in JITTED])
def test_matches_optax_step_for_step(name, jit):
  _, layout, needs_value = CASES[name]
  rng = np.random.RandomState(sorted(CASES).index(name))
  params = random_tree(rng, layout)
  scales = (1.0, 0.3, 2.0) if jit else (1.0, 0.3)   # eager: op-by-op dispatch, fewer steps
  grads = [random_tree(rng, layout, scale) for scale in scales]
  steps = list(lockstep(_build(ox, name), _build(optax, name), params, grads, jit=jit,
                        check=_check, extra_args=_values(rng, needs_value)))
  assert len(steps) == len(scales)
  # Every state has optax's class names (ours may be other classes of the same name).
  a, b = steps[-1].state, steps[-1].their_state
  names = lambda s: [type(x).__name__ for x in jax.tree.leaves(
      s, is_leaf=lambda x: isinstance(x, tuple) and hasattr(x, '_fields'))
      if hasattr(x, '_fields')]
  assert names(a) == names(b)


# ----------------------------------------------------------------------------- 16-bit leaves

MIXED = {'w': ((4, 3), jnp.bfloat16), 'v': ((5,), jnp.float16), 'f': ((2, 3), jnp.float32)}


def _mixed(rng, scale=1.0):
  return {k: jnp.asarray(scale * rng.normal(size=shape), dtype)
          for k, (shape, dtype) in MIXED.items()}


@pytest.mark.parametrize('name', ['adafactor', 'sm3', 'noisy_sgd',
                                  'scale_by_distance_over_gradients'])
def test_16_bit_leaves_keep_their_dtype_and_optax_numbers(name):
  rng = np.random.RandomState(5)
  params = _mixed(rng)
  ours, theirs = _build(ox, name), _build(optax, name)
  assert jax.tree.map(lambda x: x.dtype, jax.eval_shape(ours.init, params)) == jax.tree.map(
      lambda x: x.dtype, jax.eval_shape(theirs.init, params))
  sa, sb = ours.init(params), theirs.init(params)
  kw = {'value': jnp.asarray(2.0)} if CASES[name][2] else {}
  for scale in (1.0, 0.5):
    g = _mixed(rng, scale)
    ua, sa = ours.update(g, sa, params, **kw)
    ub, sb = theirs.update(g, sb, params, **kw)
    for k in g:
      assert ua[k].dtype == g[k].dtype, (name, k)
    # optax computes 16-bit leaves in their own precision, ours in float32: bf16 tolerance.
    _check(ua, ub, rtol=2e-2, atol=2e-2, check_dtype=False)


# ----------------------------------------------------------------------------- hand values


def test_adafactor_first_step_by_hand():
  # Step 0: decay 0, so v = g^2 + eps; factored kernel (2 x 3, min size 2): R = row means
  # of g^2 (over axis 1), C = column means (over axis 0); u = g (R / mean R)^-1/2 C^-1/2.
  g = jnp.array([[1.0, 2.0, 2.0], [3.0, 0.0, 4.0]])
  tx = ox.scale_by_factored_rms(min_dim_size_to_factor=2, epsilon=0.0)
  u, state = tx.update(g, tx.init(g), g)
  r, c = np.array([3.0, 25.0 / 3]), np.array([5.0, 2.0, 10.0])
  want = np.asarray(g) * (r / r.mean())[:, None] ** -0.5 * c[None, :] ** -0.5
  np.testing.assert_allclose(u, want, rtol=1e-6)
  np.testing.assert_allclose(state.v_row, r, rtol=1e-6)
  np.testing.assert_allclose(state.v_col, c, rtol=1e-6)
  assert state.v.shape == (1,) and int(state.count) == 1


def test_sm3_accumulates_per_axis_by_hand():
  tx = ox.scale_by_sm3(b1=0.0, eps=0.0)
  g1, g2 = jnp.array([[1.0, 2.0], [3.0, 0.0]]), jnp.array([[1.0, 1.0], [1.0, 2.0]])
  _, s = tx.update(g1, tx.init(g1))
  # a1 = g1^2 = [[1, 4], [9, 0]]: row maxima [4, 9], column maxima [9, 4].
  u, s = tx.update(g2, s)
  # a2 = g2^2 + min(row, col) = [[1 + 4, 1 + 4], [1 + 9, 4 + 4]]
  a2 = np.array([[5.0, 5.0], [10.0, 8.0]])
  np.testing.assert_allclose(u, np.asarray(g2) / np.sqrt(a2), rtol=1e-6)
  np.testing.assert_allclose(s.mu[0], [5.0, 10.0])
  np.testing.assert_allclose(s.mu[1], [10.0, 8.0])


def test_rprop_steps_by_hand():
  tx = ox.scale_by_rprop(1.0, eta_minus=0.5, eta_plus=2.0, min_step_size=0.25,
                         max_step_size=3.0)
  s = tx.init(jnp.zeros(2))
  outputs = []
  for g in ([1.0, 1.0], [1.0, -1.0], [1.0, -1.0], [1.0, 1.0]):
    u, s = tx.update(jnp.array(g), s)
    outputs.append((u.tolist(), s.step_sizes.tolist()))
  assert outputs == [([0.0, 0.0], [1.0, 1.0]),      # p = [1, 1]
                     ([1.0, 0.0], [2.0, 0.5]),      # second leaf flips: p = [2, 0]
                     ([2.0, 0.0], [3.0, 0.5]),      # capped at 3; s = 0 keeps 0.5: p = [3, -0.5]
                     ([3.0, 0.0], [3.0, 0.25])]     # flips again, floored at 0.25


def test_polyak_variants_and_zero_gradient():
  g = {'a': jnp.array([3.0]), 'b': jnp.array([4.0])}
  sps, plus = ox.scale_by_polyak(max_learning_rate=10.0), ox.scale_by_polyak(variant='sps+')
  u, _ = sps.update(g, sps.init(g), value=jnp.array(-5.0))   # negative gap: step -0.2
  assert [u['a'].item(), u['b'].item()] == pytest.approx([-0.6, -0.8])
  u, _ = plus.update(g, plus.init(g), value=jnp.array(-5.0))  # sps+: gap clipped to 0
  assert [u['a'].item(), u['b'].item()] == [0.0, 0.0]
  zero = {'a': jnp.zeros(1), 'b': jnp.zeros(1)}
  u, _ = sps.update(zero, sps.init(zero), value=jnp.array(1.0))   # no division by 0
  assert [u['a'].item(), u['b'].item()] == [0.0, 0.0]


def test_distance_over_gradients_by_hand():
  tx = ox.scale_by_distance_over_gradients(reps_rel=0.5, eps=0.0)
  p0 = jnp.array([3.0, 4.0])
  s = tx.init(p0)
  assert float(s.max_dist) == 3.0 and s.grad_sum_of_squares.shape == (1,)
  u, s = tx.update(jnp.array([0.0, 2.0]), s, p0)
  assert u.tolist() == [0.0, 3.0]
  p1 = jnp.array([3.0, 0.0])         # moved 4 away: r = max(3, 4); G = 4 + 9
  u, s = tx.update(jnp.array([3.0, 0.0]), s, p1)
  np.testing.assert_allclose(u, [3.0 * 4.0 / np.sqrt(13.0), 0.0], rtol=1e-6)
  # A scalar leaf keeps its shape (optax's update would have shape (1,)).
  u, _ = tx.update(jnp.array(1.0), tx.init(jnp.array(2.0)), jnp.array(2.0))
  assert u.shape == ()


def test_noise_uses_optax_keys_with_seed_and_key():
  g = {'a': jnp.ones((2, 3)), 'b': [jnp.zeros(4), None]}
  for key in (0, 5, jax.random.key(11)):
    ours, theirs = ox.add_noise(1.0, 0.5, key), optax.add_noise(1.0, 0.5, key)
    sa, sb = ours.init(g), theirs.init(g)
    for _ in range(3):
      ua, sa = ours.update(g, sa)
      ub, sb = theirs.update(g, sb)
      _check(ua, ub)
      _check(sa, sb)
  with pytest.warns(DeprecationWarning, match='seed'):
    tx = ox.add_noise(1.0, 0.5, seed=2)
  np.testing.assert_array_equal(jax.random.key_data(tx.init(g).rng_key),
                                jax.random.key_data(jax.random.key(2)))
  with pytest.warns(UserWarning, match='key will be required'):
    ox.noisy_sgd(0.1)


def test_scale_gradient_scales_only_the_backward_pass():
  x = {'a': jnp.array([1.0, -2.0]), 'b': jnp.array(3.0)}
  f = lambda s: (lambda t: sum(jnp.sum(v ** 2) for v in jax.tree.leaves(
      ox.scale_gradient(t, s))))
  for s in (1.0, 0.0, -0.5, jnp.asarray(0.25)):
    assert jax.tree.map(float, ox.scale_gradient(x, s)['b']) == 3.0
    grads = jax.grad(f(s))(x)
    theirs = jax.grad(lambda t: sum(jnp.sum(v ** 2) for v in jax.tree.leaves(
        optax.scale_gradient(t, float(s)))))(x)
    _check(grads, theirs)
  # A traced scale takes the general path.
  g = jax.jit(jax.grad(lambda t, s: jnp.sum(ox.scale_gradient(t, s) ** 2)))(x['a'], 2.0)
  np.testing.assert_allclose(g, 2.0 * 2.0 * np.asarray(x['a']))


# ----------------------------------------------------------------------------- fused


@pytest.mark.parametrize('name', ['rprop', 'signum', 'fromage', 'polyak_sgd'])
def test_fused_equals_the_plain_alias(name):
  rng = np.random.RandomState(9)
  params = random_tree(rng, 'small')
  plain, fused = _build(ox, name), ox.fused(_build(ox, name))
  sp, sf = plain.init(params), fused.init(params)
  kw = {'value': jnp.asarray(1.5)} if CASES[name][2] else {}
  pp = pf = params
  for scale in (1.0, 0.4):
    g = random_tree(rng, 'small', scale)
    up, sp = plain.update(g, sp, pp, **kw)
    uf, sf = fused.update(g, sf, pf, **kw)
    _check(uf, up)
    pp, pf = ox.apply_updates(pp, up), ox.apply_updates(pf, uf)


@pytest.mark.parametrize('name', ['adafactor', 'sm3', 'noisy_sgd'])
def test_fused_rejects_leaf_dependent_aliases(name):
  with pytest.raises(ValueError, match='cannot run over flat buckets'):
    ox.fused(_build(ox, name))


# ----------------------------------------------------------------------------- bad input

BAD = [
    (lambda: ox.scale_by_factored_rms(epsilon=-1.0), ValueError, 'epsilon'),
    (lambda: ox.scale_by_factored_rms(min_dim_size_to_factor=-3), ValueError,
     'min_dim_size_to_factor'),
    (lambda: ox.scale_by_factored_rms(decay_rate=True), TypeError, 'decay_rate'),
    (lambda: ox.scale_by_factored_rms(decay_rate_fn=3), TypeError, 'decay_rate_fn'),
    (lambda: ox.adafactor(learning_rate='fast'), TypeError, 'learning_rate'),
    (lambda: ox.adafactor(0.1, momentum=1.5), ValueError, 'momentum'),
    (lambda: ox.adafactor(0.1, clipping_threshold=-1.0), ValueError, 'clipping_threshold'),
    (lambda: ox.sm3(-0.1), ValueError, 'learning_rate'),
    (lambda: ox.scale_by_sm3(b1=2.0), ValueError, 'b1'),
    (lambda: ox.scale_by_sm3(eps=True), TypeError, 'eps'),
    (lambda: ox.rprop(0.1, eta_minus=-0.5), ValueError, 'eta_minus'),
    (lambda: ox.rprop(0.1, min_step_size=2.0, max_step_size=1.0), ValueError, 'min_step_size'),
    (lambda: ox.sign_sgd('x'), TypeError, 'learning_rate'),
    (lambda: ox.signum(0.1, beta=1.5), ValueError, 'beta'),
    (lambda: ox.fromage(0.1, min_norm=-1.0), ValueError, 'min_norm'),
    (lambda: ox.scale_by_param_block_norm(min_scale=-1.0), ValueError, 'min_scale'),
    (lambda: ox.add_noise(-1.0, 0.5, 0), ValueError, 'eta'),
    (lambda: ox.add_noise(1.0, 0.5, True), TypeError, 'key'),
    (lambda: ox.add_noise(1.0, 0.5, 1, seed=2), ValueError, 'seed or key'),
    (lambda: ox.optimistic_gradient_descent(0.1, alpha=True), TypeError, 'alpha'),
    (lambda: ox.optimistic_adam(lambda c: 0.1), ValueError, 'schedules'),
    (lambda: ox.optimistic_adam_v2(0.1, b1=1.5), ValueError, 'b1'),
    (lambda: ox.polyak_sgd(max_learning_rate=-1.0), ValueError, 'max_learning_rate'),
    (lambda: ox.scale_by_distance_over_gradients(eps=-1.0), ValueError, 'eps'),
    (lambda: ox.normalize_by_update_norm(scale_factor=0.0), ValueError, 'scale_factor'),
    (lambda: ox.scale_gradient(jnp.ones(1), True), TypeError, 'scale'),
]


@pytest.mark.filterwarnings('ignore::DeprecationWarning')
@pytest.mark.parametrize('make,error,word', BAD, ids=[w for _, _, w in BAD])
def test_bad_hyperparameters_name_the_argument(make, error, word):
  with pytest.raises(error, match=word):
    make()


def test_bad_updates_name_the_problem():
  p = {'a': jnp.ones((2, 2)), 'b': jnp.ones(3)}
  # Missing params.
  for tx in (ox.scale_by_factored_rms(), ox.scale_by_param_block_rms(),
             ox.scale_by_distance_over_gradients()):
    with pytest.raises(ValueError, match='params'):
      tx.update(p, tx.init(p))
  # Update and state trees that disagree: the error names the tree path.
  for tx in (ox.scale_by_factored_rms(), ox.scale_by_rprop(0.1), ox.scale_by_sm3(),
             ox.scale_by_optimistic_gradient()):
    with pytest.raises(ValueError, match=r"\['c'\]"):
      tx.update({'a': p['a'], 'c': p['b']}, tx.init(p), p)
  # SM3 on a scalar leaf names the leaf; Polyak without the loss names `value`.
  with pytest.raises(ValueError, match=r"scalar at \['s'\]"):
    ox.scale_by_sm3().init({'s': jnp.ones(())})
  with pytest.raises(TypeError, match='value'):
    ox.polyak_sgd().update(p, ox.polyak_sgd().init(p), p)
  with pytest.raises(ValueError, match='variant'):
    tx = ox.scale_by_polyak(variant='sps++')
    tx.update(p, tx.init(p), value=1.0)
  with pytest.raises(TypeError, match='FactoredState'):
    tx = ox.scale_by_factored_rms()
    tx.update(p, ox.scale_by_sm3().init(p), p)


def test_state_classes_are_optaxs():
  assert parameter_free.ScaleByDistanceOverGradientsState._fields == (
      optax._src.transform.ScaleByDistanceOverGradientsState._fields)
  for name in ('FactoredState', 'ScaleBySM3State', 'ScaleByRpropState', 'AddNoiseState'):
    assert getattr(ox, name)._fields == getattr(optax, name)._fields

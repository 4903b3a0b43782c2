"""optax_like.tree / tree_utils against optax 0.2.8's: the math over random pytrees (nested
dicts, lists, None leaves; float32, bfloat16, complex), eager and jitted, and the state
utilities (tree_get / tree_set / tree_get_all_with_path / tree_map_params) over the states of
this library's optimizers, inject_hyperparams and the fused(tx) wrapper."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optax_like as ox
from tests.differential import random_tree

# --------------------------------------------------------------------------- math


# Dict, list, tuple and None nodes, a scalar, a vector and matrices in one tree.
LAYOUT = {'dense': {'kernel': (2, 3)}, 'blocks': [(3,), ((), None)], 'none': None}


def _trees(dtype=np.float32):
  rng = np.random.default_rng(0)
  x, y, z = (random_tree(rng, LAYOUT, dtype=dtype) for _ in range(3))
  # Divisors away from zero.
  y = jax.tree.map(lambda v: (jnp.abs(v) + 0.5).astype(v.dtype), y)
  return x, y, z


# name -> how to call it on (x, y, z): the same call is made on optax.tree and optax_like.tree.
CALLS = {
    'add': lambda m, x, y, z: m.add(x, y),
    'add3': lambda m, x, y, z: m.add(x, y, z),
    'sub': lambda m, x, y, z: m.sub(x, y),
    'mul': lambda m, x, y, z: m.mul(x, y),
    'div': lambda m, x, y, z: m.div(x, y),
    'scale': lambda m, x, y, z: m.scale(0.3, x),
    'add_scale': lambda m, x, y, z: m.add_scale(x, 0.7, y),
    'vdot': lambda m, x, y, z: m.vdot(x, y),
    'sum': lambda m, x, y, z: m.sum(x),
    'sum_assoc': lambda m, x, y, z: m.sum(x, associative_reduction=True),
    'max': lambda m, x, y, z: m.max(x),
    'min': lambda m, x, y, z: m.min(x),
    'conj': lambda m, x, y, z: m.conj(x),
    'real': lambda m, x, y, z: m.real(x),
    'norm': lambda m, x, y, z: m.norm(x),
    'norm_sq': lambda m, x, y, z: m.norm(x, squared=True),
    'norm_1': lambda m, x, y, z: m.norm(x, ord=1),
    'norm_inf': lambda m, x, y, z: m.norm(x, ord='inf'),
    'norm_inf_sq': lambda m, x, y, z: m.norm(x, ord=jnp.inf, squared=True),
    'batch_shape': lambda m, x, y, z: m.batch_shape(x, (2, 1)),
    'zeros_like': lambda m, x, y, z: m.zeros_like(x),
    'zeros_like_int': lambda m, x, y, z: m.zeros_like(x, dtype=jnp.int32),
    'ones_like': lambda m, x, y, z: m.ones_like(x),
    'full_like': lambda m, x, y, z: m.full_like(x, 2.5),
    'clip': lambda m, x, y, z: m.clip(x, -0.5, 0.25),
    'clip_max': lambda m, x, y, z: m.clip(x, max_value=0.1),
    'where': lambda m, x, y, z: m.where(True, x, y),
    'allclose': lambda m, x, y, z: m.allclose(x, y),
    'allclose_self': lambda m, x, y, z: m.allclose(x, x),
    'cast': lambda m, x, y, z: m.cast(x, jnp.bfloat16),
    'cast_like': lambda m, x, y, z: m.cast_like(x, m.cast(y, jnp.float16)),
}
# (update_moment / bias_correction are numerics.py's, tested with it.)


def _assert_same(ours, theirs, exact=False):
  ta, tb = jax.tree.structure(ours), jax.tree.structure(theirs)
  assert ta == tb, (ta, tb)
  for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs)):
    a, b = jnp.asarray(a), jnp.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape, a.dtype, b.dtype)
    wide = np.complex128 if jnp.iscomplexobj(a) else np.float64
    if exact or a.dtype == bool or jnp.issubdtype(a.dtype, jnp.integer):
      np.testing.assert_array_equal(np.asarray(a, wide), np.asarray(b, wide))
    else:
      np.testing.assert_allclose(np.asarray(a, wide), np.asarray(b, wide), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize('name', sorted(CALLS))
def test_math_matches_optax(name):
  call = CALLS[name]
  for dtype in (np.float32, jnp.bfloat16):
    x, y, z = _trees(dtype)
    _assert_same(call(ox.tree, x, y, z), call(optax.tree, x, y, z), exact=name != 'vdot')


@pytest.mark.parametrize('dtype', [np.float32, jnp.bfloat16], ids=['f32', 'bf16'])
def test_math_matches_optax_jitted(dtype):
  # The reductions and fused arithmetic, in one compiled function (one compilation per library).
  names = ('add_scale', 'vdot', 'sum', 'norm', 'norm_sq', 'norm_1', 'norm_inf', 'max', 'where',
           'allclose', 'clip', 'div')
  def run(lib):
    return jax.jit(lambda x, y, z: {n: CALLS[n](lib.tree, x, y, z) for n in names})(
        *_trees(dtype))
  ours, theirs = run(ox), run(optax)
  for name in names:
    _assert_same(ours[name], theirs[name])


@pytest.mark.parametrize('name', ['vdot', 'norm', 'norm_1', 'norm_inf', 'conj', 'real', 'sum',
                                  'add_scale'])
def test_complex_trees(name):
  rng = np.random.default_rng(0)
  x, y, z = (jax.tree.map(lambda v: v + 1j * v[::-1] if v.ndim else v * (1 - 2j),
                          random_tree(rng, 'nested')) for _ in range(3))
  _assert_same(CALLS[name](ox.tree, x, y, z), CALLS[name](optax.tree, x, y, z))


def test_empty_trees_and_empty_leaves():
  for fn in ('sum', 'max', 'min', 'size', 'norm'):
    for t in ({}, [jnp.zeros((0,))], {'a': None}):
      ours, theirs = getattr(ox.tree, fn)(t), getattr(optax.tree, fn)(t)
      assert np.asarray(ours) == np.asarray(theirs) and np.shape(ours) == np.shape(theirs)
  assert ox.tree.dtype({}) == optax.tree.dtype({})
  assert ox.tree.allclose({}, {}) is True


def test_hand_values():
  t = {'a': jnp.array([3.0, -4.0]), 'b': [jnp.array(12.0)]}
  assert float(ox.tree.norm(t)) == 13.0
  assert float(ox.tree.norm(t, squared=True)) == 169.0
  assert float(ox.tree.norm(t, ord=1)) == 19.0
  assert float(ox.tree.norm(t, ord='infinity')) == 12.0
  assert ox.tree.size(t) == 3
  assert float(ox.tree.vdot(t, t)) == 169.0
  assert float(ox.tree.max(t)) == 12.0 and float(ox.tree.min(t)) == -4.0
  assert ox.tree_utils.tree_add is ox.tree.add and ox.tree_utils.tree_map_params is ox.tree.map_params
  assert ox.tree_map_params is ox.tree_utils.tree_map_params


def test_dtype_handlers_match_optax():
  trees = [{'a': jnp.ones(1, jnp.float16), 'b': jnp.ones(1, jnp.float32)},
           {'a': jnp.ones(1, jnp.int32), 'b': jnp.ones(1, jnp.uint32)},
           [jnp.ones(1, jnp.bfloat16), 1.0]]
  for t in trees:
    for handler in ('promote', 'highest', 'lowest'):
      try:
        theirs = optax.tree.dtype(t, handler)
      except ValueError:
        with pytest.raises(ValueError, match='cannot be ordered'):
          ox.tree.dtype(t, handler)
        continue
      assert ox.tree.dtype(t, handler) == theirs
  assert ox.tree.dtype({'a': jnp.ones(2)}) == jnp.float32


def test_random_trees_match_optax():
  key = jax.random.key(3)
  target = {'a': jnp.zeros((2, 3)), 'b': [jnp.zeros(4, jnp.bfloat16), None]}
  # (split_key_like draws one key per leaf, in leaf order, as optax's.)
  _assert_same(ox.tree.unwrap_random_key_data(ox.tree.split_key_like(key, target)),
               optax.tree.unwrap_random_key_data(optax.tree.split_key_like(key, target)))
  for kwargs in ({'dtype': jnp.float16}, {'sampler': ox.perturbations.Gumbel().sample}):
    _assert_same(ox.tree.random_like(key, target, **kwargs),
                 optax.tree.random_like(key, target, **kwargs), exact=True)
  jitted = jax.jit(lambda k: ox.tree.random_like(k, target))(key)
  _assert_same(jitted, optax.tree.random_like(key, target), exact=True)
  tree = {'k': jax.random.key(0), 'x': jnp.ones(2)}
  _assert_same(ox.tree.unwrap_random_key_data(tree), jax.tree.map(
      lambda v: jax.random.key_data(v) if v.dtype == jax.random.key(0).dtype else v, tree))


def test_bad_inputs_name_the_argument_or_path():
  with pytest.raises(ValueError, match=r"tree_add: tree_x and tree_y .*\['b'\]"):
    ox.tree.add({'a': jnp.ones(1)}, {'b': jnp.ones(1)})
  with pytest.raises(ValueError, match=r'other_trees\[0\]'):
    ox.tree.add({'a': jnp.ones(1)}, {'a': jnp.ones(1)}, {'c': jnp.ones(1)})
  with pytest.raises(ValueError, match='tree_vdot: .*shapes'):
    ox.tree.vdot([jnp.ones(2)], [jnp.ones(3)])
  with pytest.raises(ValueError, match='`ord`'):
    ox.tree.norm([jnp.ones(2)], ord=3)
  with pytest.raises(ValueError, match='`mixed_dtype_handler`'):
    ox.tree.dtype([jnp.ones(2)], 'largest')
  with pytest.raises(ValueError, match=r"\['b'\] is float16"):
    ox.tree.dtype({'a': jnp.ones(1), 'b': jnp.ones(1, jnp.float16)})


def test_deprecated_names_warn_and_work():
  with pytest.warns(DeprecationWarning, match='tree_scale'):
    fn = ox.tree_utils.tree_scalar_mul
  assert fn is ox.tree_utils.tree_scale
  with pytest.warns(DeprecationWarning):
    l1 = ox.tree_utils.tree_l1_norm
  assert float(l1({'a': jnp.array([1.0, -2.0])})) == 3.0
  with pytest.raises(AttributeError):
    ox.tree_utils.no_such_name  # pylint: disable=pointless-statement


# --------------------------------------------------------------------------- state utilities

PARAMS = {'w': jnp.array([[1.0, -2.0], [0.5, 3.0]]), 'b': jnp.array([0.1, -0.2]),
          'n': None}
GRADS = jax.tree.map(lambda p: 0.3 * p + 0.1, PARAMS)


def _optimizers(lib):
  """Optimizers built the same way from ``lib`` (optax or optax_like)."""
  mask = {'w': True, 'b': False, 'n': None}
  return {
      'sgd': lib.sgd(0.1),
      'sgd_momentum': lib.sgd(0.1, momentum=0.9, nesterov=True),
      'adam': lib.adam(0.1),
      'adamw': lib.adamw(0.1, weight_decay=0.01),
      'lars': lib.lars(0.1),
      'lamb': lib.lamb(0.1),
      'rmsprop': lib.rmsprop(0.1, momentum=0.5, centered=True),
      'adagrad': lib.adagrad(0.1),
      'lion': lib.lion(0.1),
      'amsgrad': lib.amsgrad(0.1),
      'clip_adam': lib.chain(lib.clip_by_global_norm(1.0), lib.adam(0.1)),
      'inject': lib.inject_hyperparams(lib.adam)(learning_rate=0.1),
      'inject_schedule': lib.inject_hyperparams(lib.sgd)(
          learning_rate=lib.linear_schedule(0.1, 0.0, 10), momentum=0.9),
      'masked': lib.masked(lib.adam(0.1), mask),
      'multi_transform': lib.multi_transform({'a': lib.adam(0.1), 'b': lib.sgd(0.1)},
                                             {'w': 'a', 'b': 'b', 'n': None}),
      'multi_steps': lib.MultiSteps(lib.adam(0.1), every_k_schedule=2),
      'apply_if_finite': lib.apply_if_finite(lib.sgd(0.1, momentum=0.9), 3),
  }


OPTIMIZERS = sorted(_optimizers(ox))


def _two_steps(tx):
  state = tx.init(PARAMS)
  update = jax.jit(tx.update)
  for _ in range(2):
    _, state = update(GRADS, state, PARAMS)
  return state


@functools.lru_cache(maxsize=None)
def _ours(name):
  """Our optimizer ``name`` and its state after two steps (built once per test session)."""
  tx = _optimizers(ox)[name]
  return tx, _two_steps(tx)


def _paths(found):
  return [(jax.tree_util.keystr(p), v) for p, v in found]


def _same_found(ours, theirs):
  assert [p for p, _ in _paths(ours)] == [p for p, _ in _paths(theirs)]
  _assert_same([v for _, v in ours], [v for _, v in theirs], exact=True)


@pytest.mark.parametrize('name', OPTIMIZERS)
def test_state_utils_match_optax_on_our_states(name):
  tx, state = _ours(name)
  for key in ('count', 'learning_rate', 'mu', 'trace', 'ScaleByAdamState', 'inner_state',
              'hyperparams', 'nu'):
    _same_found(ox.tree_utils.tree_get_all_with_path(state, key),
                optax.tree_utils.tree_get_all_with_path(state, key))
    is_array = lambda path, v: isinstance(v, jax.Array)
    _same_found(ox.tree_utils.tree_get_all_with_path(state, key, is_array),
                optax.tree_utils.tree_get_all_with_path(state, key, is_array))


# optax_like's multi_transform/partition check `param_labels` against the params also when
# init is given tree_map_params' placeholder (optax_like/_src/masking.py, `labels_for`), so
# neither library's tree_map_params can trace it; optax's own multi_transform passes it.
_MAP_PARAMS_XFAIL = {}


@pytest.mark.parametrize('name', [
    pytest.param(n, marks=pytest.mark.xfail(reason=_MAP_PARAMS_XFAIL[n], strict=True))
    if n in _MAP_PARAMS_XFAIL else n for n in OPTIMIZERS])
def test_tree_map_params_matches_optax_on_our_states(name):
  tx, state = _ours(name)
  # tree_map_params: the same parameter-shaped parts as optax finds in our state.
  f = lambda p, s: (jnp.shape(p), s)
  sums = jax.tree.map(jnp.sum, PARAMS)
  try:
    theirs = optax.tree_map_params(tx, f, state, sums, transform_non_params=jnp.shape)
  except ValueError:   # masked states hold MaskedNode where `rest` has arrays: optax refuses
    with pytest.raises(ValueError):
      ox.tree_map_params(tx, f, state, sums, transform_non_params=jnp.shape)
  else:
    ours = ox.tree_map_params(tx, f, state, sums, transform_non_params=jnp.shape)
    assert jax.tree.structure(ours) == jax.tree.structure(theirs)
    _assert_same(jax.tree.leaves(ours), jax.tree.leaves(theirs), exact=True)
  # ... and optax's optimizer on optax's state gives the same shape of answer.
  their_tx = _optimizers(optax)[name]
  their_state = _two_steps(their_tx)
  mapped = optax.tree_map_params(their_tx, lambda p: p.shape, their_state,
                                 transform_non_params=lambda v: None)
  assert jax.tree.leaves(ox.tree_map_params(tx, lambda p: p.shape, state,
                                            transform_non_params=lambda v: None)) == \
      jax.tree.leaves(mapped)


@pytest.mark.parametrize('name', OPTIMIZERS)
def test_tree_set_matches_optax(name):
  _, state = _ours(name)
  for kwargs in ({'count': jnp.asarray(7, jnp.int32)},
                 {'learning_rate': jnp.asarray(0.05)},
                 {'ScaleByAdamState': jnp.asarray(-1.0)}):
    try:
      theirs = optax.tree_utils.tree_set(state, **kwargs)
    except KeyError:
      with pytest.raises(KeyError, match='found no value'):
        ox.tree_utils.tree_set(state, **kwargs)
      continue
    ours = ox.tree_utils.tree_set(state, **kwargs)
    assert jax.tree.structure(ours) == jax.tree.structure(theirs)
    _assert_same(jax.tree.leaves(ours), jax.tree.leaves(theirs), exact=True)


def test_inject_hyperparams_learning_rate_get_and_set_drive_the_update():
  for lib in (ox, optax):
    tx = lib.inject_hyperparams(lib.adam)(learning_rate=0.1)
    state = tx.init(PARAMS)
    assert float(ox.tree_utils.tree_get(state, 'learning_rate')) == pytest.approx(0.1)
    state = ox.tree_utils.tree_set(state, learning_rate=jnp.asarray(0.01))
    u, state = jax.jit(tx.update)(GRADS, state, PARAMS)
    # Adam's first step is lr * sign(g) (to eps).
    np.testing.assert_allclose(u['w'], -0.01 * np.sign(GRADS['w']), rtol=1e-5)
    assert int(state.count) == 1
    assert len(ox.tree_utils.tree_get_all_with_path(state, 'count')) == 2   # and Adam's
  # A schedule: the hyperparameter and the schedule's state are told apart by a filter.
  tx = ox.inject_hyperparams(ox.sgd)(learning_rate=lambda c: 1 / (c + 1))
  state = tx.init(PARAMS)
  found = ox.tree_utils.tree_get_all_with_path(state, 'learning_rate')
  assert len(found) == len(optax.tree_utils.tree_get_all_with_path(state, 'learning_rate'))
  assert float(ox.tree_utils.tree_get(
      state, 'learning_rate', filtering=lambda p, v: isinstance(v, jax.Array))) == 1.0


def test_named_tuple_paths_and_filters():
  tx = ox.chain(ox.scale_by_adam(), ox.scale_by_schedule(lambda c: 0.5))
  state = tx.init(PARAMS)
  with pytest.raises(KeyError, match=r'found 2 values for .count.*ScaleByAdamState\.count'):
    ox.tree_utils.tree_get(state, 'count')
  only_adam = lambda path, v: path[-1] == ox.tree_utils.NamedTupleKey('ScaleByAdamState', 'count')
  assert int(ox.tree_utils.tree_get(state, 'count', filtering=only_adam)) == 0
  new = ox.tree_utils.tree_set(state, only_adam, count=jnp.asarray(5, jnp.int32))
  assert int(new[0].count) == 5 and int(new[1].count) == 0
  assert ox.tree_utils.tree_get(state, 'missing', default=3) == 3
  with pytest.raises(KeyError, match="'missing'.*accepts"):
    ox.tree_utils.tree_set(state, only_adam, missing=1)


def test_tree_set_inside_a_match_follows_optax():
  # A dict holding the key and, deeper in a list, another dict holding it: both are found,
  # but, as in optax, only the outer one is replaced (the list does not hold the key).
  tree = {'lr': 1.0, 'inner': [{'lr': 2.0}], 'd': {'lr': 3.0}}
  assert [v for _, v in ox.tree_utils.tree_get_all_with_path(tree, 'lr')] == [1.0, 2.0, 3.0]
  want = optax.tree_utils.tree_set(tree, lr=0.0)
  assert ox.tree_utils.tree_set(tree, lr=0.0) == want == {'lr': 0.0, 'inner': [{'lr': 2.0}],
                                                          'd': {'lr': 0.0}}


def test_fused_state():
  tx = ox.fused(ox.chain(ox.clip_by_global_norm(1.0), ox.adam(0.1)))
  params = {'w': jnp.ones((3, 2)), 'b': jnp.ones(2), 'big': jnp.ones(5000)}
  state = tx.init(params)
  _, state = tx.update(jax.tree.map(jnp.ones_like, params), state, params)
  assert int(ox.tree_utils.tree_get(state, 'count')) == 1
  state2 = ox.tree_utils.tree_set(state, count=jnp.asarray(4, jnp.int32))
  assert int(ox.tree_utils.tree_get(state2, 'count')) == 4
  tx.update(jax.tree.map(jnp.ones_like, params), state2, params)   # still a valid state
  shapes = ox.tree_map_params(tx, lambda v: v.shape, state, transform_non_params=lambda v: None)
  adam_state = shapes['inner_state'][1][0]
  assert adam_state.mu == ((8,), (5000,)) and adam_state.nu == ((8,), (5000,))
  assert adam_state.count is None
  assert jax.tree.leaves(shapes['leaf_index']) == []
  zeroed = ox.tree_map_params(tx, jnp.zeros_like, state)
  assert float(ox.tree.sum(zeroed['inner_state'][1][0].mu)) == 0.0
  tx.update(jax.tree.map(jnp.ones_like, params), zeroed, params)
  with pytest.raises(ValueError, match='to_optax_state'):
    ox.tree_map_params(tx, lambda v, s: v, state, params)


def test_tree_map_params_with_is_leaf_and_init_function():
  tx = ox.masked(ox.adam(0.1), {'w': True, 'b': False, 'n': None})
  state = tx.init(PARAMS)
  ours = ox.tree_map_params(tx.init, lambda p: p.shape, state)
  theirs = optax.tree_map_params(tx.init, lambda p: p.shape, state)
  assert jax.tree.leaves(ours) == jax.tree.leaves(theirs)
  is_masked = lambda v: isinstance(v, ox.MaskedNode)
  ours = ox.tree_map_params(tx, lambda p: 'p', state, is_leaf=is_masked)
  theirs = optax.tree_map_params(tx, lambda p: 'p', state, is_leaf=is_masked)
  assert jax.tree.leaves(ours) == jax.tree.leaves(theirs)
  with pytest.raises(TypeError, match='`initable`'):
    ox.tree_map_params(3, lambda p: p, state)


def test_vdot_under_explicit_sharding():
  # jnp.vdot ravels its operands, which explicit sharding refuses; ours contracts in place.
  mesh = jax.make_mesh((1,), ('x',), axis_types=(jax.sharding.AxisType.Explicit,))
  with jax.sharding.set_mesh(mesh):
    a = jax.device_put(jnp.arange(4.0), jax.sharding.NamedSharding(mesh, jax.P('x')))
    assert float(jax.jit(ox.tree.vdot)({'a': a}, {'a': a})) == 14.0


def test_python_number_leaves_match_optax():
  # Weak types, dtypes and values as optax gives them, eagerly and under jit.
  x, y, z = {'a': 1.5, 'b': [2, -0.5]}, {'a': 0.5, 'b': [3, 2.0]}, {'a': 1.0, 'b': [1, 1.0]}
  for name, call in CALLS.items():
    try:
      theirs = call(optax.tree, x, y, z)
    except (AttributeError, TypeError):
      with pytest.raises((AttributeError, TypeError)):
        call(ox.tree, x, y, z)
      continue
    ours = call(ox.tree, x, y, z)
    assert jax.tree.structure(ours) == jax.tree.structure(theirs), name
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs)):
      assert type(a) is type(b) or isinstance(a, jax.Array), (name, a, b)
      a, b = jnp.asarray(a), jnp.asarray(b)
      assert (a.dtype, a.weak_type) == (b.dtype, b.weak_type), (name, a, b)
      np.testing.assert_array_equal(a, b, err_msg=name)
  for name in ('zeros_like', 'full_like', 'ones_like'):
    ours = jax.jit(lambda t: CALLS[name](ox.tree, t, t, t))(x)
    theirs = jax.jit(lambda t: CALLS[name](optax.tree, t, t, t))(x)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs)):
      assert (a.dtype, a.weak_type) == (b.dtype, b.weak_type), (name, a, b)

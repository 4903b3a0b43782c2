"""Regression tests: the functional layer never returns a silent wrong answer (issue 9, item 3).

optax is the oracle where it gives an answer: integer gradients, hyperparameters given as
Python ints, abstract (``jax.ShapeDtypeStruct``) params, ``None`` updates, callable pytrees as
masks and Python-number leaves are accepted as optax accepts them, with optax's numbers. Where
optax would compute garbage (``adam(b1=True)``, another optimizer's state, a hyperparameter
array of the wrong shape) we raise an error that names the argument.
"""

import inspect
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optax_like as ox
from differential import assert_trees_close

PARAMS = {'w': jnp.array([[1.0, -2.0], [0.5, 3.0]]), 'b': jnp.array([0.25, -1.0])}
INT_GRADS = {'w': jnp.array([[3, -2], [1, 0]], jnp.int32), 'b': jnp.array([5, 7], jnp.int32)}

# (name, factory(module)) for transforms and aliases we share with optax.
SHARED = [
    ('sgd', lambda m: m.sgd(0.1)),
    ('sgd_momentum', lambda m: m.sgd(0.1, momentum=0.9, nesterov=True)),
    ('adam', lambda m: m.adam(0.1)),
    ('adamw', lambda m: m.adamw(0.1, weight_decay=0.01)),
    ('amsgrad', lambda m: m.amsgrad(0.1)),
    ('rmsprop', lambda m: m.rmsprop(0.1, centered=True, momentum=0.9)),
    ('lars', lambda m: m.lars(0.1)),
    ('lamb', lambda m: m.lamb(0.1)),
    ('lion', lambda m: m.lion(0.1)),
    ('adagrad', lambda m: m.adagrad(0.1)),
    ('clip', lambda m: m.clip(1.0)),
    ('clip_by_block_rms', lambda m: m.clip_by_block_rms(1.0)),
    ('trace', lambda m: m.trace(0.9)),
    ('ema', lambda m: m.ema(0.9)),
    ('scale', lambda m: m.scale(0.1)),
    ('scale_by_learning_rate', lambda m: m.scale_by_learning_rate(0.1)),
    ('scale_by_adam', lambda m: m.scale_by_adam()),
    ('scale_by_amsgrad', lambda m: m.scale_by_amsgrad()),
    ('scale_by_rms', lambda m: m.scale_by_rms()),
    ('scale_by_stddev', lambda m: m.scale_by_stddev()),
    ('scale_by_rss', lambda m: m.scale_by_rss()),
    ('scale_by_lion', lambda m: m.scale_by_lion()),
    ('scale_by_trust_ratio', lambda m: m.scale_by_trust_ratio()),
    ('add_decayed_weights', lambda m: m.add_decayed_weights(0.1)),
    ('masked', lambda m: m.masked(m.adam(0.1), {'w': True, 'b': False})),
    ('partition', lambda m: m.partition({'a': m.adam(0.1), 'z': m.sgd(0.1)}, {'w': 'a', 'b': 'z'})),
    ('MultiSteps', lambda m: m.MultiSteps(m.adam(0.1), 2).gradient_transformation()),
    ('inject_hyperparams', lambda m: m.inject_hyperparams(m.adam)(learning_rate=0.1)),
    ('flatten', lambda m: m.flatten(m.adam(0.1))),
    ('named_chain', lambda m: m.named_chain(('t', m.trace(0.9)), ('s', m.scale(-0.1)))),
]
IDS = [name for name, _ in SHARED]


def run(tx, grads, params, steps=2, **extra_args):
  state = tx.init(params)
  for _ in range(steps):
    updates, state = tx.update(grads, state, params, **extra_args)
  return updates, state


# --------------------------------------------------------------------------- integer gradients


@pytest.mark.parametrize('jit', [False, True])
@pytest.mark.parametrize('name,make', SHARED, ids=IDS)
def test_integer_gradients_give_optaxs_updates(name, make, jit):
  ours, theirs = make(ox), make(optax)
  if jit:
    ours = ours._replace(update=jax.jit(ours.update))
  u_ours, s_ours = run(ours, INT_GRADS, PARAMS)
  u_theirs, s_theirs = run(theirs, INT_GRADS, PARAMS)
  # Same dtypes (the default float, never the gradients' int32) and the same numbers.
  assert_trees_close(u_ours, u_theirs, rtol=2e-6, atol=1e-7)
  assert_trees_close(s_ours, s_theirs, rtol=2e-6, atol=1e-7)
  if name != 'masked':  # a masked-out leaf is passed through unchanged (int32), as in optax
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(u_ours))


@pytest.mark.parametrize('make', [
    lambda m: m.clip_by_global_norm(1.0),
    lambda m: m.clip_by_global_norm(100.0),
    lambda m: m.chain(m.clip_by_global_norm(1.0), m.adam(0.1)),
    lambda m: m.apply_if_finite(m.sgd(0.1), 2),
])
def test_integer_gradients_where_optax_raises_give_its_float_answer(make):
  # optax raises a dtype error here; ours gives optax's answer for the float32 gradients.
  u_ours, _ = run(make(ox), INT_GRADS, PARAMS)
  float_grads = jax.tree.map(lambda g: g.astype(jnp.float32), INT_GRADS)
  u_theirs, _ = run(make(optax), float_grads, PARAMS)
  assert_trees_close(u_ours, u_theirs, rtol=2e-6, atol=1e-7)


def test_integer_gradients_hand_computed():
  g = jnp.array([3, -4], jnp.int32)
  p = jnp.array([1.0, 1.0])
  sgd = ox.sgd(0.1)
  np.testing.assert_allclose(sgd.update(g, sgd.init(p))[0], [-0.3, 0.4], rtol=1e-6)
  clip = ox.clip(1.5)
  np.testing.assert_allclose(clip.update(g, clip.init(p))[0], [1.5, -1.5])
  rss = ox.scale_by_rss(initial_accumulator_value=0.0, eps=0.0)
  np.testing.assert_allclose(rss.update(g, rss.init(p))[0], [1.0, -1.0], rtol=1e-6)
  wd = ox.add_decayed_weights(0.5)
  np.testing.assert_allclose(wd.update(g, wd.init(p), p)[0], [3.5, -3.5])
  tr = ox.scale_by_trust_ratio()
  np.testing.assert_allclose(tr.update(g, tr.init(p), p)[0], [3 * np.sqrt(2) / 5, -4 * np.sqrt(2) / 5],
                             rtol=1e-6)
  cn = ox.clip_by_norm(1.0)
  np.testing.assert_allclose(cn.update(g, cn.init(p))[0], [0.6, -0.8], rtol=1e-6)


def test_integer_params_keep_float_moments():
  # optax truncates some moments of integer parameters back to int32; ours keeps them as
  # floats (and so gives the answer of the float parameters).
  p_int = {'w': jnp.array([1, 2], jnp.int32)}
  g = {'w': jnp.array([3, -5], jnp.int32)}
  u_int, s_int = run(ox.adam(0.1), g, p_int, steps=3)
  u_float, _ = run(ox.adam(0.1), g, {'w': jnp.array([1.0, 2.0])}, steps=3)
  assert_trees_close(u_int, u_float)
  assert s_int[0].nu['w'].dtype == jnp.float32


# --------------------------------------------------------------------------- booleans


@pytest.mark.parametrize('make,arg', [
    (lambda: ox.adam(0.1, b1=True), 'b1'),
    (lambda: ox.adam(0.1, b2=False), 'b2'),
    (lambda: ox.adam(0.1, eps=np.bool_(True)), 'eps'),
    (lambda: ox.adam(jnp.array(True)), 'learning_rate'),
    (lambda: ox.sgd(0.1, momentum=True), 'momentum'),
    (lambda: ox.rmsprop(0.1, decay=True), 'decay'),
    (lambda: ox.lion(0.1, b2=True), 'b2'),
    (lambda: ox.adagrad(0.1, initial_accumulator_value=True), 'initial_accumulator_value'),
    (lambda: ox.adamw(0.1, weight_decay=True), 'weight_decay'),
    (lambda: ox.clip(True), 'max_delta'),
    (lambda: ox.clip_by_global_norm(True), 'max_norm'),
    (lambda: ox.trace(decay=True), 'decay'),
    (lambda: ox.ema(decay=True), 'decay'),
    (lambda: ox.scale(True), 'step_size'),
    (lambda: ox.scale_by_trust_ratio(trust_coefficient=True), 'trust_coefficient'),
    (lambda: ox.scale_by_lion(smooth_beta=True), 'smooth_beta'),
    (lambda: ox.keras_adam(0.1, beta_1=True), 'beta_1'),
    (lambda: ox.keras_rmsprop(0.1, rho=True), 'rho'),
    (lambda: ox.linear_schedule(True, 0.0, 10), 'init_value'),
    (lambda: ox.cosine_decay_schedule(0.1, 10, alpha=True), 'alpha'),
    (lambda: ox.exponential_decay(0.1, 10, 0.5, end_value=True), 'end_value'),
])
def test_boolean_hyperparameters_are_rejected(make, arg):
  with pytest.raises(TypeError, match=f'`{arg}` must be a number, got the boolean'):
    make()


@pytest.mark.parametrize('name,kwargs', [
    ('adam', dict(learning_rate=1, b1=0, b2=0, eps=1, eps_root=0)),
    ('sgd', dict(learning_rate=1, momentum=1)),
    ('rmsprop', dict(learning_rate=1, decay=1, eps=0, momentum=0)),
    ('lion', dict(learning_rate=1, b1=0, b2=1)),
    ('lars', dict(learning_rate=1, weight_decay=0, trust_coefficient=1, eps=0, momentum=0)),
    ('adagrad', dict(learning_rate=1, initial_accumulator_value=1, eps=0)),
])
def test_integer_hyperparameters_are_numbers(name, kwargs):
  ours, theirs = getattr(ox, name)(**kwargs), getattr(optax, name)(**kwargs)
  g = jax.tree.map(lambda p: 0.5 * p + 0.25, PARAMS)
  u_ours, s_ours = run(ours, g, PARAMS, steps=3)
  u_theirs, s_theirs = run(theirs, g, PARAMS, steps=3)
  assert_trees_close(u_ours, u_theirs, rtol=2e-6, atol=1e-7)
  assert_trees_close(s_ours, s_theirs, rtol=2e-6, atol=1e-7)


def test_bias_corrected_decay_of_one_is_rejected_not_nan():
  # optax returns NaN (0/0 in the bias correction); the range is [0, 1).
  assert not np.all(np.isfinite(run(optax.adam(0.1, b1=1), PARAMS, PARAMS)[0]['w']))
  with pytest.raises(ValueError, match=r'`b1` must be in \[0.0, 1.0\), got 1'):
    ox.adam(0.1, b1=1)


# --------------------------------------------------------------------------- wrong-shape arrays


@pytest.mark.parametrize('make,arg', [
    (lambda: ox.adam(0.1, b1=jnp.array([0.9, 0.9])), 'b1'),
    (lambda: ox.adam(0.1, eps=jnp.ones((2, 3))), 'eps'),
    (lambda: ox.adam(jnp.ones(3)), 'learning_rate'),
    (lambda: ox.sgd(0.1, momentum=jnp.ones(5)), 'momentum'),
    (lambda: ox.adamw(0.1, weight_decay=np.ones(2)), 'weight_decay'),
    (lambda: ox.lars(0.1, trust_coefficient=jnp.ones(2)), 'trust_coefficient'),
    (lambda: ox.rmsprop(0.1, decay=jnp.ones(4)), 'decay'),
    (lambda: ox.clip_by_global_norm(jnp.ones(2)), 'max_norm'),
    (lambda: ox.scale_by_lion(smooth_beta=jnp.ones(2)), 'smooth_beta'),
])
def test_array_hyperparameter_of_wrong_shape_names_the_argument(make, arg):
  with pytest.raises(ValueError, match=f'`{arg}` must be a scalar'):
    make()


def test_scalar_array_hyperparameters_are_fine():
  def make(m):
    return m.adam(jnp.asarray(0.1), b1=jnp.asarray(0.9), b2=np.float32(0.999))
  assert_trees_close(run(make(ox), PARAMS, PARAMS)[0], run(make(optax), PARAMS, PARAMS)[0])


# --------------------------------------------------------------------------- another state


@pytest.mark.parametrize('make_ours,make_other,message', [
    (lambda: ox.adam(0.1), lambda: ox.sgd(0.1, momentum=0.9),
     r'scale_by_adam: `state` must be the ScaleByAdamState\(.*got TraceState'),
    (lambda: ox.sgd(0.1, momentum=0.9), lambda: ox.adam(0.1),
     r'trace: `state` must be the TraceState\(.*got ScaleByAdamState'),
    (lambda: ox.rmsprop(0.1), lambda: ox.lion(0.1),
     r'scale_by_rms: `state` must be the ScaleByRmsState'),
    (lambda: ox.lion(0.1), lambda: ox.adamw(0.1), r'scale_by_lion: `state` must be'),
    (lambda: ox.inject_hyperparams(ox.adam)(learning_rate=0.1), lambda: ox.adam(0.1),
     r'inject_hyperparams: `state` must be the InjectStatefulHyperparamsState'),
    (lambda: ox.apply_if_finite(ox.adam(0.1), 3), lambda: ox.adam(0.1),
     r'apply_if_finite: `state` must be'),
    (lambda: ox.MultiSteps(ox.adam(0.1), 2).gradient_transformation(), lambda: ox.adam(0.1),
     r'MultiSteps: `state` must be'),
    (lambda: ox.masked(ox.adam(0.1), {'w': True, 'b': False}), lambda: ox.adam(0.1),
     r'masked: `state` must be the MaskedState'),
    (lambda: ox.ema(0.9), lambda: ox.scale_by_schedule(lambda c: 0.1),
     r'ema: `state` must be the EmaState'),
    (lambda: ox.scale_by_schedule(lambda c: 0.1), lambda: ox.ema(0.9),
     r'scale_by_schedule: `state` must be'),
])
def test_another_optimizers_state_is_an_error_that_says_so(make_ours, make_other, message):
  tx, other = make_ours(), make_other()
  state = other.init(PARAMS)
  with pytest.raises(TypeError, match=message + '.*made by another optimizer'):
    tx.update(PARAMS, state, PARAMS)
  with pytest.raises(TypeError, match=message):
    jax.jit(tx.update)(PARAMS, state, PARAMS)


def test_optax_state_classes_of_the_same_name_are_accepted():
  # A state restored into optax's own classes (same names and fields) works with ours.
  theirs = optax.adam(0.1).init(PARAMS)
  u, _ = ox.adam(0.1).update(PARAMS, theirs, PARAMS)
  assert_trees_close(u, optax.adam(0.1).update(PARAMS, theirs, PARAMS)[0])


# --------------------------------------------------------------------------- accepted inputs


def _abstract(tree):
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), tree)


def _layout(state):
  flat = jax.tree_util.tree_flatten_with_path(state)[0]
  return str(jax.tree.structure(state)), [(jax.tree_util.keystr(k), jnp.shape(x), jnp.result_type(x))
                                          for k, x in flat]


@pytest.mark.parametrize('name,make', SHARED, ids=IDS)
def test_init_on_shape_dtype_structs(name, make):
  params = {'w': jnp.ones((3, 2)), 'b': jnp.ones(2, jnp.bfloat16)}
  tx = make(ox)
  concrete = tx.init(params)
  assert _layout(tx.init(_abstract(params))) == _layout(concrete)
  assert _layout(jax.eval_shape(tx.init, _abstract(params))) == _layout(concrete)
  assert _layout(jax.eval_shape(tx.init, params)) == _layout(concrete)
  if name not in ('inject_hyperparams', 'flatten'):  # optax's cannot init abstract params
    assert _layout(make(optax).init(_abstract(params))) == _layout(concrete)


@pytest.mark.parametrize('name,make', SHARED, ids=IDS)
def test_none_updates_and_none_leaves_as_optax(name, make):
  for updates, params in [(None, None), ({'a': None, 'b': jnp.ones(2)}, {'a': None, 'b': jnp.ones(2)})]:
    outcome = []
    for m in (ox, optax):
      try:
        tx = make(m)
        outcome.append(tx.update(updates, tx.init(params), params)[0])
      except Exception as e:  # pylint: disable=broad-except
        outcome.append(type(e))
    if not isinstance(outcome[1], type):  # optax accepts it: so do we, with the same result
      assert not isinstance(outcome[0], type), (name, outcome[0])
      assert_trees_close(outcome[0], outcome[1], rtol=2e-6)


def test_add_decayed_weights_of_none_updates_is_none():
  params = (jnp.ones(2), {'a': jnp.ones(2), 'b': jnp.ones(2)})
  for m in (ox, optax):
    assert m.add_decayed_weights(0.1, mask=None).update(None, 0, params)[0] is None


def test_incremental_update_and_apply_updates_of_none():
  x = jnp.array([1.0, 2.0, 3.0])
  for m in (ox, optax):
    assert m.incremental_update(None, x, 1) is None
    assert m.apply_updates(None, x) is None
  out = ox.incremental_update({'a': None, 'b': x}, {'a': x, 'b': 2 * x}, 0.5)
  assert out['a'] is None
  np.testing.assert_allclose(out['b'], 1.5 * x)


class CallableModel(NamedTuple):
  """A pytree that is itself callable (like a model object): as a mask it is a tree of bools."""
  w: object
  b: object

  def __call__(self, x):
    return x


def test_callable_pytree_is_a_mask_tree_not_a_function():
  params = CallableModel(w=jnp.array([1.0, 2.0]), b=jnp.array([3.0]))
  grads = CallableModel(w=jnp.array([1.0, 1.0]), b=jnp.array([1.0]))
  mask = CallableModel(w=True, b=False)
  for make in (lambda m: m.masked(m.scale(-2.0), mask),
               lambda m: m.add_decayed_weights(0.5, mask),
               lambda m: m.adamw(0.1, weight_decay=0.5, mask=mask)):
    u_ours, _ = run(make(ox), grads, params)
    u_theirs, _ = run(make(optax), grads, params)
    assert_trees_close(u_ours, u_theirs)
  u, _ = run(ox.masked(ox.scale(-2.0), mask), grads, params, steps=1)
  np.testing.assert_array_equal(u.w, [-2.0, -2.0])
  np.testing.assert_array_equal(u.b, [1.0])
  # A plain function still builds the mask from the params.
  u, _ = run(ox.masked(ox.scale(-2.0), lambda p: CallableModel(w=False, b=True)), grads, params, 1)
  np.testing.assert_array_equal(u.b, [-2.0])


@pytest.mark.parametrize('leaves', [{'a': 3, 'b': 1.5}, 2, 2.5], ids=['dict', 'int', 'float'])
@pytest.mark.parametrize('name,make', [s for s in SHARED if s[0] not in ('masked', 'partition')],
                         ids=[i for i in IDS if i not in ('masked', 'partition')])
def test_python_number_leaves_in_chains_with_extra_args(name, make, leaves):
  def chained(m):
    return m.chain(make(m), m.with_extra_args_support(m.identity()))
  try:
    u_theirs, _ = run(chained(optax), leaves, leaves, value=1.0)
  except (AttributeError, TypeError, ValueError):
    pytest.skip('optax does not accept these leaves here either')
  u_ours, _ = run(chained(ox), leaves, leaves, value=1.0)
  if name in ('adam', 'adamw', 'amsgrad', 'scale_by_adam', 'inject_hyperparams', 'flatten') and (
      jax.tree.leaves(leaves)[0] == 3 or leaves == 2):
    # Integer leaves: optax truncates the second moment of integer params to int32; ours
    # keeps floats and gives the float params' answer.
    u_theirs, _ = run(chained(optax), leaves, jax.tree.map(float, leaves), value=1.0)
  np.testing.assert_allclose(np.asarray(jax.tree.leaves(u_ours), np.float64),
                             np.asarray(jax.tree.leaves(u_theirs), np.float64), rtol=2e-6, atol=1e-7)


def test_report_option_is_keyword_only_everywhere():
  for fn in (ox.clip_by_global_norm, ox.clip_by_norm, ox.scale_by_trust_ratio):
    param = inspect.signature(fn).parameters['report']
    assert param.kind is inspect.Parameter.KEYWORD_ONLY and param.default is False

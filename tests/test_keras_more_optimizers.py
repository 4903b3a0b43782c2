"""Adagrad, Adadelta, Adamax, Nadam and Ftrl beyond the golden trajectories: names, configs,
weights layout, errors, set_weights/stateless_apply with Nadam's shared momentum cache."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from optax_like import keras as K
from optax_like.keras import optimizers as O

NEW = ['Adagrad', 'Adadelta', 'Adamax', 'Nadam', 'Ftrl']
SLOTS = {'Adagrad': ['accumulator'], 'Adadelta': ['accum_grad', 'accum_var'],
         'Adamax': ['m', 'v'], 'Nadam': ['m', 'v'], 'Ftrl': ['accumulator', 'linear']}


@pytest.mark.parametrize('name', NEW)
def test_public_names_config_round_trip_and_get(name):
  cls = getattr(K, name)
  assert cls is getattr(O, name) is getattr(O.legacy, name)
  assert type(O.get(name.lower())) is cls
  opt = cls(learning_rate=0.05, clipnorm=2.0)
  config = opt.get_config()
  assert config['name'] == name and config['learning_rate'] == 0.05 and config['clipnorm'] == 2.0
  again = O.deserialize(O.serialize(opt))
  assert type(again) is cls and again.get_config() == config


@pytest.mark.parametrize('name', NEW)
def test_slots_weights_order_and_hyperparameters_do_not_recompile(name):
  a, b = K.Variable(np.ones((2, 3), np.float32), name='a'), K.Variable(np.ones(3, np.float32))
  opt = getattr(K, name)(learning_rate=0.1)
  g = [(np.full((2, 3), 0.5, np.float32), a), (np.full(3, 0.5, np.float32), b)]
  opt.apply_gradients(g)
  assert opt.get_slot_names() == SLOTS[name]
  names = [w.name for w in opt.weights]
  assert names[0].endswith('iter:0')
  if name == 'Nadam':
    assert names[1].startswith('momentum_cache')
  if name == 'Ftrl':   # created per variable in turn
    assert names[1:] == ['a/accumulator:0', 'a/linear:0', 'Variable/accumulator:0',
                         'Variable/linear:0']
  before = O._STATS['traces']  # pylint: disable=protected-access
  opt.learning_rate = 0.01
  opt.apply_gradients(g)
  assert O._STATS['traces'] == before  # pylint: disable=protected-access
  restored = getattr(K, name)(learning_rate=0.01)
  a2, b2 = K.Variable(a.numpy()), K.Variable(b.numpy())
  restored.apply_gradients([(np.zeros((2, 3), np.float32), a2), (np.zeros(3, np.float32), b2)])
  restored.set_weights(opt.get_weights())
  for x, y in zip(restored.get_weights(), opt.get_weights()):
    np.testing.assert_array_equal(x, y)


def test_nadam_momentum_cache_is_a_weight_and_stateless_apply_updates_it():
  var = K.Variable(np.ones(2, np.float32))
  opt = K.Nadam(learning_rate=0.1)
  opt.build([var])
  values = [w.value() for w in opt.variables()]
  new_vars, new_opt = jax.jit(opt.stateless_apply)(values, [jnp.ones(2)], [var.value()])
  mu1 = np.float32(0.9) * (1 - 0.5 * np.float32(0.96) ** np.float32(0.004))
  np.testing.assert_allclose(new_opt[1], mu1, rtol=1e-6)
  opt.apply_gradients([(np.ones(2, np.float32), var)])
  np.testing.assert_allclose(opt.get_weights()[1], mu1, rtol=1e-6)
  np.testing.assert_allclose(var.numpy(), new_vars[0], rtol=1e-6)
  opt.set_weights([np.int64(1), np.float32(1.0)] + opt.get_weights()[2:])
  opt.apply_gradients([(np.ones(2, np.float32), var)])
  mu2 = np.float32(0.9) * (1 - 0.5 * np.float32(0.96) ** np.float32(0.008))
  np.testing.assert_allclose(opt.get_weights()[1], mu2, rtol=1e-6)   # from the set value


def test_nadam_decay_is_its_schedule_decay():
  assert K.Nadam().get_config()['decay'] == 0.004
  assert K.Nadam(decay=0.5).get_config()['decay'] == 0.004   # replaced, as in Keras
  assert K.Nadam(schedule_decay=0.01).get_config()['decay'] == 0.01


@pytest.mark.parametrize('make, message', [
    (lambda: K.Adagrad(initial_accumulator_value=-1.0), 'initial_accumulator_value'),
    (lambda: K.Ftrl(learning_rate_power=0.5), '`learning_rate_power`'),
    (lambda: K.Ftrl(l1_regularization_strength=-1.0), '`l1_regularization_strength`'),
    (lambda: K.Ftrl(l2_shrinkage_regularization_strength=-1.0),
     '`l2_shrinkage_regularization_strength`'),
    (lambda: K.Nadam(learning_rate=K.schedules.ExponentialDecay(0.1, 2, 0.5)),
     'does not support'),
    (lambda: K.Adamax(beta_1=np.array([0.9, 0.8])), '`beta_1` must be a scalar'),
    (lambda: K.Adadelta(decay=-1.0), 'decay'),
])
def test_bad_arguments_name_the_argument(make, message):
  with pytest.raises(ValueError, match=message):
    make()


def test_ftrl_lr_alias_is_ignored_as_in_keras():
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    assert K.Ftrl(learning_rate=0.2, lr=0.9).get_config()['learning_rate'] == 0.2
    assert K.Adagrad(learning_rate=0.2, lr=0.9).get_config()['learning_rate'] == 0.9


def test_sparse_with_constraint_raises_for_every_new_optimizer():
  for name in NEW:
    e = K.Variable(np.zeros((3, 2), np.float32), constraint=lambda x: x)
    with pytest.raises(RuntimeError, match='constraint'):
      getattr(K, name)().apply_gradients([(K.IndexedSlices(np.ones((1, 2), np.float32), [1]), e)])


KERAS_CHAINS = ['keras_sgd', 'keras_adam', 'keras_rmsprop', 'keras_lars', 'keras_adagrad',
                'keras_adadelta', 'keras_adamax', 'keras_nadam', 'keras_ftrl']


@pytest.mark.parametrize('name', KERAS_CHAINS)
def test_params_that_are_a_tuple_of_three_leaves_update_leaf_by_leaf(name):
  # keras_ftrl and keras_nadam once unzipped their per-leaf (update, slot, slot) results with
  # an is_leaf test that a params tuple (w, b, c) also passed: leaves got each other's values.
  import optax_like as ox  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  params = tuple(jnp.asarray(rng.normal(size=s), jnp.float32) for s in [(2,), (1,), (3,)])
  grads = tuple(jnp.asarray(rng.normal(size=p.shape), jnp.float32) for p in params)
  tx = getattr(ox, name)(0.1)
  state = tx.init(params)
  for _ in range(2):
    updates, state = tx.update(grads, state, params)
  for p, g, u in zip(params, grads, updates):
    one = getattr(ox, name)(0.1)
    one_state = one.init(p)
    for _ in range(2):
      expected, one_state = one.update(g, one_state, p)
    np.testing.assert_allclose(u, expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize('name, omits', [('RMSprop', True), ('Adagrad', True),
                                         ('Adadelta', True), ('Adam', False), ('Ftrl', False)])
def test_set_weights_without_iterations_only_where_tf_keras_accepts_it(name, omits):
  # tf.keras 2's RMSprop, Adagrad and Adadelta take the slots alone and restart iterations at 0.
  v = K.Variable(np.ones(3, np.float32))
  opt = getattr(K, name)(0.1)
  for _ in range(2):
    opt.apply_gradients([(jnp.full(3, 0.5, jnp.float32), v)])
  slots = [np.full(w.shape, 0.25, w.dtype) for w in opt.get_weights()[1:]]
  if omits:
    opt.set_weights(slots)
    assert int(opt.iterations.numpy()) == 0
    for w, s in zip(opt.get_weights()[1:], slots):
      np.testing.assert_array_equal(w, s)
  else:
    before = opt.get_weights()
    with pytest.raises(ValueError, match='weight list of length'):
      opt.set_weights(slots)
    for w, b in zip(opt.get_weights(), before):
      np.testing.assert_array_equal(w, b)

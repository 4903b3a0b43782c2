"""``optax_like.keras`` optimizers: the seed documents' examples, the API, recompilation, errors.

The seed documents (``shared/seeds/``: tf.keras SGD, Adam, RMSprop, the base Optimizer, tf-models
LARS) are translated to this API with their documented numbers; the remaining tests pin the
Keras 2 behaviours around them (hyperparameters, slots and weights, configs, the gradient
pipeline order, constraints, ``minimize``) and every error message.
"""

import inspect
import json
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from optax_like import keras as K
from optax_like.keras import optimizers as O
from optax_like.keras import schedules


def traces():
  return O._STATS['traces']  # pylint: disable=protected-access


# ------------------------------------------------------------------------------------------
# The seed documents, translated.
# ------------------------------------------------------------------------------------------

def test_seed_sgd_step_is_minus_learning_rate_times_grad():
  opt = K.SGD(learning_rate=0.1)
  var = K.Variable(1.0)
  loss = lambda: (var ** 2) / 2.0  # d(loss)/d(var1) = var1
  step_count = opt.minimize(loss, [var]).numpy()
  assert step_count == 1
  np.testing.assert_allclose(var.numpy(), 0.9, rtol=1e-7)


def test_seed_sgd_momentum_steps_grow():
  opt = K.SGD(learning_rate=0.1, momentum=0.9)
  var = K.Variable(1.0)
  val0 = var.value()
  loss = lambda: (var ** 2) / 2.0
  step_count = opt.minimize(loss, [var]).numpy()
  val1 = var.value()
  np.testing.assert_allclose(np.asarray(val0 - val1), 0.1, rtol=1e-6)  # first step: -lr * grad
  step_count = opt.minimize(loss, [var]).numpy()
  val2 = var.value()
  np.testing.assert_allclose(np.asarray(val1 - val2), 0.18, rtol=1e-6)  # momentum adds up
  assert step_count == 2


def dense_fit(opt, epochs=1):
  """The seed's ``Sequential([Dense(10)])`` fitted on ``arange(100).reshape(5, 20)``, mse."""
  kernel = K.Variable(np.random.default_rng(0).normal(size=(20, 10)).astype(np.float32) * 0.1,
                      name='dense/kernel')
  bias = K.Variable(np.zeros(10, np.float32), name='dense/bias')
  data = np.arange(100, dtype=np.float32).reshape(5, 20)
  labels = np.zeros((5, 1), np.float32)
  loss = lambda: jnp.mean((data @ kernel + bias - labels) ** 2)
  for _ in range(epochs):
    opt.minimize(loss, [kernel, bias])
  return kernel, bias


def test_seed_rmsprop_get_weights_and_set_weights():
  opt = K.RMSprop()
  dense_fit(opt)
  assert len(opt.get_weights()) == 3  # iterations, rms(kernel), rms(bias)
  new_weights = [np.array(10), np.ones([20, 10]), np.zeros([10])]
  opt.set_weights(new_weights)
  assert opt.iterations == 10
  assert repr(opt.iterations) == "<Variable 'RMSprop/iter:0' shape=() dtype=int32, numpy=10>"
  np.testing.assert_array_equal(opt.get_weights()[1], np.ones([20, 10]))
  assert opt.get_weights()[0].dtype == np.int64


def test_seed_optimizer_usage_and_learning_rate_override():
  var1, var2 = K.Variable(2.0), K.Variable(5.0)
  opt = K.SGD(learning_rate=0.1)
  loss = lambda: 3 * var1 * var1 + 2 * var2 * var2
  opt.minimize(loss, var_list=[var1, var2])
  np.testing.assert_allclose([float(var1), float(var2)], [2.0 - 0.1 * 12, 5.0 - 0.1 * 20],
                             rtol=1e-6)
  # "Hyperparameters can be overwritten by user code" (the linear loss of the base doc).
  var1, var2 = K.Variable(1.0), K.Variable(1.0)
  opt = K.SGD(learning_rate=0.1)
  loss = lambda: 3 * var1 + 2 * var2
  opt.minimize(loss, var_list=[var1, var2])
  opt.learning_rate = 0.05
  opt.minimize(loss, var_list=[var1, var2])
  np.testing.assert_allclose([float(var1), float(var2)], [1 - 0.3 - 0.15, 1 - 0.2 - 0.1],
                             rtol=1e-6)


def test_seed_callable_learning_rates():
  var = K.Variable(np.random.random(size=(1,)))
  start = var.numpy().copy()
  learning_rate = schedules.ExponentialDecay(initial_learning_rate=.01, decay_steps=20,
                                             decay_rate=.1)
  opt = K.SGD(learning_rate=learning_rate)
  loss = lambda: 3 * var
  assert isinstance(opt.minimize(loss, var_list=[var]), K.Variable)
  np.testing.assert_allclose(start - var.numpy(), [0.03], rtol=1e-5)

  var = K.Variable(np.random.random(size=(1,)))
  start = var.numpy().copy()

  def lr_callable():
    return .1
  opt = K.SGD(learning_rate=lr_callable)
  opt.minimize(lambda: 3 * var, var_list=[var])
  np.testing.assert_allclose(start - var.numpy(), [0.3], rtol=1e-5)


def test_seed_custom_training_loop_with_callable_var_list():
  """Variables created on the model's first call: pass ``var_list`` as a callable."""

  class Dense:
    def __init__(self, units, activation=None):
      self.units, self.activation, self.kernel = units, activation, None

    def __call__(self, x):
      if self.kernel is None:
        rng = np.random.default_rng(self.units)
        self.kernel = K.Variable(rng.normal(size=(x.shape[-1], self.units)) * 0.3, name='kernel')
        self.bias = K.Variable(np.zeros(self.units), name='bias')
      y = x @ self.kernel + self.bias
      return self.activation(y) if self.activation else y

  model = [Dense(8, jax.nn.relu), Dense(2, jax.nn.sigmoid)]
  run = lambda x: model[1](model[0](x))
  rng = np.random.default_rng(1)
  data = [(rng.normal(size=(16, 3)).astype(np.float32),
           rng.uniform(size=(16, 2)).astype(np.float32)) for _ in range(20)]
  opt = K.SGD(learning_rate=0.5)
  loss_fn = lambda: jnp.mean((run(inputs) - outputs) ** 2)
  var_list_fn = lambda: [v for layer in model if layer.kernel is not None
                         for v in (layer.kernel, layer.bias)]
  losses = []
  for inputs, outputs in data * 3:
    losses.append(float(loss_fn()) if model[0].kernel is not None else None)
    opt.minimize(loss_fn, var_list_fn)
  assert len(var_list_fn()) == 4 and int(opt.iterations) == 60
  first = np.mean([l for l in losses[1:21]])
  last = np.mean(losses[-20:])
  assert last < first  # it trains, with a fresh batch each step (nothing baked into the trace)


def test_seed_process_gradients_then_apply():
  var = K.Variable([3.0, -4.0])
  opt = K.SGD(learning_rate=0.1)
  loss = lambda w: jnp.sum(w ** 2)
  grads = [jax.grad(loss)(var.value())]
  processed = [jnp.clip(g, -1.0, 1.0) for g in grads]  # "cap them"
  opt.apply_gradients(zip(processed, [var]))
  np.testing.assert_allclose(var.numpy(), [2.9, -3.9], rtol=1e-6)


def test_seed_lars_apply_gradients_with_aggregated_gradients():
  kernel = K.Variable(np.ones((2, 2)), name='dense/kernel')
  opt = K.LARS(learning_rate=0.1, momentum=0.0)
  grads = [jnp.full((2, 2), 0.5)]
  opt.apply_gradients(zip(grads, [kernel]), experimental_aggregate_gradients=False)
  # classic momentum: w -= lr * eeta * ||w|| / ||g|| * g = 0.1 * 0.001 * 2 / 1 * 0.5
  np.testing.assert_allclose(kernel.numpy(), 1 - 1e-4, rtol=1e-6)
  assert opt.get_slot_names() == ['momentum'] and len(opt.get_weights()) == 2


def _params(fn):
  """``name=default`` strings of a function's parameters (no annotations, no ``self``)."""
  out = []
  for p in inspect.signature(fn).parameters.values():
    if p.name == 'self':
      continue
    if p.kind is p.VAR_KEYWORD:
      out.append('**' + p.name)
    else:
      out.append(p.name if p.default is p.empty else f'{p.name}={p.default!r}')
  return ', '.join(out)


def test_seed_signatures_and_defaults():
  expect = {
      K.SGD: "learning_rate=0.01, momentum=0.0, nesterov=False, name='SGD', **kwargs",
      K.Adam: "learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-07, amsgrad=False, "
              "name='Adam', **kwargs",
      K.RMSprop: "learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-07, centered=False, "
                 "name='RMSprop', **kwargs",
      K.LARS: "learning_rate=0.01, momentum=0.9, weight_decay_rate=0.0, eeta=0.001, "
              "nesterov=False, classic_momentum=True, exclude_from_weight_decay=None, "
              "exclude_from_layer_adaptation=None, name='LARS', **kwargs",
      K.Optimizer: 'name, gradient_aggregator=None, gradient_transformers=None, **kwargs',
  }
  for cls, sig in expect.items():
    assert _params(cls.__init__) == sig, cls
  for method, args in [('minimize', 'loss, var_list, grad_loss=None, name=None, tape=None'),
                       ('apply_gradients', 'grads_and_vars, name=None, '
                        'experimental_aggregate_gradients=True'),
                       ('add_slot', "var, slot_name, initializer='zeros', shape=None"),
                       ('add_weight', "name, shape, dtype=None, initializer='zeros', "
                        'trainable=None, synchronization=None, aggregation=None'),
                       ('get_slot', 'var, slot_name'), ('get_gradients', 'loss, params'),
                       ('get_updates', 'loss, params'), ('set_weights', 'weights'),
                       ('get_weights', ''), ('get_slot_names', ''), ('variables', ''),
                       ('get_config', '')]:
    assert _params(getattr(K.Optimizer, method)) == args, method
  assert _params(K.Optimizer.from_config.__func__) == 'cls, config, custom_objects=None'
  assert K.optimizers.legacy.SGD is K.SGD and K.optimizers.schedules is schedules


# ------------------------------------------------------------------------------------------
# Slots, weights, iterations.
# ------------------------------------------------------------------------------------------

def test_slot_names_order_and_late_variables():
  a = K.Variable(np.ones(3), name='a')
  b = K.Variable(np.ones(2), name='b')
  opt = K.RMSprop(momentum=0.5, centered=True)
  with pytest.warns(UserWarning, match=r"Gradients do not exist for variables \['b:0'\]"):
    opt.apply_gradients([(np.ones(3), a), (None, b)])
  assert opt.get_slot_names() == ['rms', 'momentum', 'mg']
  assert [w.name for w in opt.weights] == ['RMSprop/iter:0', 'a/rms:0', 'a/momentum:0', 'a/mg:0']
  opt.apply_gradients([(np.ones(3), a), (np.ones(2), b)])
  assert [w.name for w in opt.variables()] == [
      'RMSprop/iter:0', 'a/rms:0', 'a/momentum:0', 'a/mg:0', 'b/rms:0', 'b/momentum:0', 'b/mg:0']
  assert opt.get_slot(b, 'mg') is opt.weights[-1]
  assert [w.shape for w in opt.get_weights()] == [(), (3,), (3,), (3,), (2,), (2,), (2,)]
  with pytest.raises(KeyError, match="has no slot 'vhat' for variable a:0"):
    opt.get_slot(a, 'vhat')


def test_adam_slots_and_amsgrad():
  v = K.Variable(np.ones(2))
  opt = K.Adam(amsgrad=True)
  opt.build([v])
  assert opt.get_slot_names() == ['m', 'v', 'vhat'] and len(opt.get_weights()) == 4
  w = opt.add_weight('extra', [3], initializer='ones')
  assert w.shape == (3,) and all(x is not w for x in opt.weights) and len(opt.weights) == 4
  s = opt.add_slot(v, 'custom', initializer='ones')
  assert opt.get_slot(v, 'custom') is s and opt.weights[-1] is s and s.numpy().tolist() == [1, 1]
  assert opt.add_slot(v, 'custom') is s


def test_iterations_drive_bias_correction_and_set_weights_continues_exactly():
  rng = np.random.default_rng(0)
  grads = [rng.normal(size=(4,)).astype(np.float32) for _ in range(6)]
  a = K.Variable(np.ones(4, np.float32))
  opt_a = K.Adam(learning_rate=0.1, amsgrad=True)
  for g in grads[:3]:
    opt_a.apply_gradients([(g, a)])
  b = K.Variable(a.numpy())
  opt_b = K.Adam(learning_rate=0.1, amsgrad=True)
  opt_b.build([b])
  opt_b.set_weights(opt_a.get_weights())
  for g in grads[3:]:
    opt_a.apply_gradients([(g, a)])
    opt_b.apply_gradients([(g, b)])
  np.testing.assert_array_equal(a.numpy(), b.numpy())
  # Setting iterations changes the bias correction of the next step exactly like Keras.
  c = K.Variable(np.zeros(1, np.float32))
  opt = K.Adam(learning_rate=0.1)
  opt.iterations = 9
  opt.apply_gradients([(np.array([2.0], np.float32), c)])
  m, v = 0.2, 0.004
  alpha = 0.1 * np.sqrt(1 - 0.999 ** 10) / (1 - 0.9 ** 10)
  np.testing.assert_allclose(c.numpy(), [-alpha * m / (np.sqrt(v) + 1e-7)], rtol=1e-5)
  assert int(opt.iterations) == 10


def test_set_weights_shims_and_errors():
  v = K.Variable(np.ones(2))
  adam = K.Adam(amsgrad=False)
  adam.build([v])
  adam.set_weights([np.array(3), np.ones(2), np.ones(2), np.ones(2)])  # drops the v1 vhat
  assert int(adam.iterations) == 3
  rms = K.RMSprop()
  rms.build([v])
  rms.set_weights([np.full(2, 2.0)])  # one short: iterations 0 prepended
  assert int(rms.iterations) == 0 and rms.get_weights()[1].tolist() == [2, 2]
  with pytest.raises(ValueError, match=r'You called `set_weights\(weights\)` on optimizer SGD '
                     r'with a  weight list of length 3, but the optimizer was expecting 2 weights'):
    sgd = K.SGD(momentum=0.9)
    sgd.build([v])
    sgd.set_weights([np.array(0), np.ones(2), np.ones(2)])
  with pytest.raises(ValueError, match=r'Optimizer weight shape \(2,\) not compatible with '
                     r'provided weight shape \(3,\)'):
    sgd.set_weights([np.array(0), np.ones(3)])


def test_iterations_setter():
  opt = K.SGD()
  opt.iterations = K.Variable(np.int32(4))
  assert int(opt.iterations) == 4 and opt.weights[0] is opt.iterations
  opt.iterations = 7
  assert int(opt.iterations) == 7
  with pytest.raises(RuntimeError, match='Cannot set `iterations` to a new Variable after the '
                     'Optimizer weights have been created'):
    opt.iterations = K.Variable(np.int32(1))


# ------------------------------------------------------------------------------------------
# Hyperparameters.
# ------------------------------------------------------------------------------------------

def test_hyperparameters_read_and_set_as_attributes():
  opt = K.RMSprop(learning_rate=0.1, rho=0.8, momentum=0.5)
  assert isinstance(opt.learning_rate, K.Variable) and opt.learning_rate.dtype == jnp.float32
  assert opt.lr is opt.learning_rate
  np.testing.assert_allclose(float(opt.rho), np.float32(0.8))
  opt.lr = 0.2
  assert float(opt.learning_rate) == np.float32(0.2)
  opt.momentum = 0.25
  assert float(opt.momentum) == 0.25
  assert {'lr', 'learning_rate', 'rho', 'momentum', 'decay'} <= set(dir(opt))
  opt.learning_rate = schedules.ExponentialDecay(0.1, 10, 0.5)
  assert isinstance(opt.learning_rate, schedules.ExponentialDecay)
  opt.learning_rate = lambda: 0.3
  assert opt.learning_rate == 0.3
  with pytest.raises(AttributeError, match="'RMSprop' object has no attribute 'beta_1'"):
    _ = opt.beta_1


def test_float_hyperparameters_are_float32_for_float64_variables():
  with jax.enable_x64(True):
    w = K.Variable(np.zeros(1, np.float64))
    opt = K.SGD(learning_rate=0.1)
    opt.apply_gradients([(np.ones(1), w)])
    assert w.dtype == jnp.float64
    assert w.numpy()[0] == -np.float64(np.float32(0.1))  # lr rounded to float32, then cast


def test_lr_kwarg_alias_and_decay():
  with pytest.warns(UserWarning, match='The `lr` argument is deprecated, use `learning_rate`'):
    opt = K.SGD(learning_rate=0.05, lr=0.3)
  assert float(opt.learning_rate) == np.float32(0.3)  # `lr` wins
  with pytest.warns(UserWarning):
    lars = K.LARS(learning_rate=0.1, lr=0.5)
  assert float(lars.learning_rate) == np.float32(0.1)  # tf-models LARS ignores `lr`
  w = K.Variable(np.zeros(1))
  opt = K.SGD(learning_rate=1.0, decay=0.5)
  lrs = []
  for _ in range(3):
    lrs.append(float(opt._decayed_lr()))  # pylint: disable=protected-access
    opt.apply_gradients([(np.ones(1), w)])
  np.testing.assert_allclose(lrs, [1.0, 1 / 1.5, 1 / 2.0], rtol=1e-6)
  np.testing.assert_allclose(w.numpy(), [-sum(lrs)], rtol=1e-6)
  opt.decay = 10.0  # as in Keras, the `decay` hyperparameter is not read back by the math
  np.testing.assert_allclose(float(opt._decayed_lr()), 1 / 2.5, rtol=1e-6)  # pylint: disable=protected-access


def test_callable_and_variable_hyperparameters():
  w = K.Variable(np.zeros(1))
  momentum = [0.0]
  opt = K.SGD(learning_rate=0.1, momentum=lambda: momentum[0])
  assert opt.get_slot_names() == [] and opt._momentum  # pylint: disable=protected-access
  opt.apply_gradients([(np.ones(1), w)])
  momentum[0] = 0.5
  opt.apply_gradients([(np.ones(1), w)])
  np.testing.assert_allclose(w.numpy(), [-0.1 - 0.15], rtol=1e-6)
  lr = K.Variable(0.1)
  v = K.Variable(np.zeros(1))
  opt = K.SGD(learning_rate=lr)
  opt.apply_gradients([(np.ones(1), v)])
  opt.learning_rate = 0.2  # written into the user's variable, as Keras's set_value
  assert float(lr) == np.float32(0.2)
  opt.apply_gradients([(np.ones(1), v)])
  np.testing.assert_allclose(v.numpy(), [-0.3], rtol=1e-6)


def test_optax_style_schedule_as_learning_rate():
  import optax_like as ox  # pylint: disable=g-import-not-at-top
  w = K.Variable(np.zeros(1))
  opt = K.SGD(learning_rate=ox.piecewise_constant_schedule(1.0, {2: 0.1}))
  for _ in range(4):
    opt.apply_gradients([(np.ones(1), w)])
  np.testing.assert_allclose(w.numpy(), [-(1 + 1 + 0.1 + 0.1)], rtol=1e-6)


def test_epsilon_none_or_zero_becomes_1e_7():
  assert K.Adam(epsilon=None).epsilon == 1e-7 and K.RMSprop(epsilon=0).epsilon == 1e-7


# ------------------------------------------------------------------------------------------
# Compilation: hyperparameters are inputs.
# ------------------------------------------------------------------------------------------

def test_setting_hyperparameters_never_recompiles():
  rng = np.random.default_rng(0)
  k = K.Variable(rng.normal(size=(3, 2)).astype(np.float32), name='k')
  b = K.Variable(np.zeros(2, np.float32), name='b')
  grads = lambda: [(rng.normal(size=(3, 2)).astype(np.float32), k),
                   (rng.normal(size=(2,)).astype(np.float32), b)]
  opt = K.Adam(learning_rate=0.01)
  opt.apply_gradients(grads())
  before = traces()
  for lr in (0.05, 0.001, 0.2):
    opt.learning_rate = lr
    opt.beta_1 = 0.5
    opt.beta_2 = 0.9
    opt.apply_gradients(grads())
  opt.iterations = 100
  opt.set_weights(opt.get_weights())
  opt.apply_gradients(grads())
  other = K.Adam(learning_rate=0.3, beta_1=0.1)  # same configuration, other values
  k2, b2 = K.Variable(k.numpy()), K.Variable(b.numpy())
  other.apply_gradients([(np.ones((3, 2), np.float32), k2), (np.ones(2, np.float32), b2)])
  assert traces() == before

  # The new values are used, not baked in: one more step at lr=0 changes nothing.
  opt.learning_rate = 0.0
  kept = k.numpy()
  opt.apply_gradients(grads())
  np.testing.assert_array_equal(k.numpy(), kept)

  # A schedule stepping and momentum changes do not recompile either.
  w = K.Variable(np.ones(2, np.float32))
  sgd = K.SGD(learning_rate=schedules.PiecewiseConstantDecay([1], [0.5, 0.1]), momentum=0.9)
  sgd.apply_gradients([(np.ones(2, np.float32), w)])
  before = traces()
  for m in (0.5, 0.1, 0.0):
    sgd.momentum = m
    sgd.apply_gradients([(np.ones(2, np.float32), w)])
  assert traces() == before


def test_minimize_compiles_once_per_program():
  w = K.Variable(np.zeros(3, np.float32))
  opt = K.SGD(learning_rate=0.5, momentum=0.5)
  opt.minimize(lambda: jnp.sum(w * np.ones(3, np.float32)), [w])
  before = traces()
  for i in range(3):
    x = np.full(3, i + 1.0, np.float32)  # fresh data each call, same program
    opt.learning_rate = 0.1 * (i + 1)
    opt.minimize(lambda: jnp.sum(w * x), [w])
  assert traces() == before


def test_jit_and_eager_paths_agree():
  rng = np.random.default_rng(1)
  outs = []
  for jit in (True, False):
    v = K.Variable(np.linspace(-1, 1, 6).reshape(2, 3).astype(np.float32), name='dense/kernel')
    opt = K.RMSprop(learning_rate=0.01, momentum=0.9, centered=True, clipnorm=1.0)
    opt.jit_compile = jit
    for g in np.random.default_rng(1).normal(size=(4, 2, 3)).astype(np.float32):
      opt.apply_gradients([(g, v)])
    outs.append((v.numpy(), opt.get_weights()))
  np.testing.assert_allclose(outs[0][0], outs[1][0], rtol=1e-6, atol=1e-7)
  for a, b in zip(outs[0][1], outs[1][1]):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  del rng


# ------------------------------------------------------------------------------------------
# The gradient pipeline: aggregator -> clipping -> transformers -> update -> constraints.
# ------------------------------------------------------------------------------------------

def test_pipeline_order():
  calls = []

  def aggregator(grads_and_vars):
    calls.append('aggregate')
    return [(g * 4.0, v) for g, v in grads_and_vars]

  def add_one(grads_and_vars):
    calls.append('add_one')
    return [(g + 1.0, v) for g, v in grads_and_vars]

  def halve(grads_and_vars):
    calls.append('halve')
    assert [v.name for _, v in grads_and_vars] == ['w:0']
    return [(g / 2.0, v) for g, v in reversed(grads_and_vars)]

  w = K.Variable(np.zeros(2, np.float32), name='w')
  opt = K.SGD(learning_rate=1.0, gradient_aggregator=aggregator,
              gradient_transformers=[add_one, halve])
  opt.apply_gradients([(np.array([1.0, -3.0], np.float32), w)])
  # (g * 4 + 1) / 2 = [2.5, -5.5]: aggregator first, transformers in order.
  np.testing.assert_allclose(w.numpy(), [-2.5, 5.5])
  assert calls == ['aggregate', 'add_one', 'halve']
  opt.apply_gradients([(np.array([1.0, -3.0], np.float32), w)],
                      experimental_aggregate_gradients=False)
  np.testing.assert_allclose(w.numpy(), [-2.5 - 1.0, 5.5 + 1.0])  # (g + 1) / 2, no aggregator

  # Clipping sits between the aggregator and the transformers (clipvalue -> clipnorm).
  c = K.Variable(np.zeros(2, np.float32))
  clip = K.SGD(learning_rate=1.0, gradient_aggregator=aggregator, clipvalue=3.0, clipnorm=1.0)
  clip.apply_gradients([(np.array([1.0, -0.25], np.float32), c)])
  g = np.clip(np.array([4.0, -1.0]), -3, 3)
  np.testing.assert_allclose(c.numpy(), -g / np.linalg.norm(g), rtol=1e-6)


def test_global_clipnorm_over_all_variables():
  a = K.Variable(np.zeros(2, np.float32))
  b = K.Variable(np.zeros(1, np.float32))
  opt = K.SGD(learning_rate=1.0, global_clipnorm=1.0, clipvalue=10.0)
  opt.apply_gradients([(np.array([3.0, 0.0], np.float32), a), (np.array([4.0], np.float32), b)])
  np.testing.assert_allclose(np.concatenate([a.numpy(), b.numpy()]), [-0.6, 0, -0.8], rtol=1e-6)


def test_constraints_apply_after_the_update():
  w = K.Variable(np.array([0.5, 2.0], np.float32), constraint=lambda x: jnp.clip(x, 0.0, 1.0))
  free = K.Variable(np.array([0.5, 2.0], np.float32))
  opt = K.SGD(learning_rate=1.0, momentum=0.5)
  opt.apply_gradients([(np.array([1.0, 0.5], np.float32), w),
                       (np.array([1.0, 0.5], np.float32), free)])
  np.testing.assert_allclose(w.numpy(), [0.0, 1.0])
  np.testing.assert_allclose(free.numpy(), [-0.5, 1.5])
  # The slot is not constrained: the velocity keeps the unconstrained step.
  np.testing.assert_allclose(opt.get_slot(w, 'momentum').numpy(), [-1.0, -0.5])


# ------------------------------------------------------------------------------------------
# minimize, gradients.
# ------------------------------------------------------------------------------------------

def test_minimize_none_gradients_and_grad_loss():
  a, b = K.Variable(1.0, name='a'), K.Variable(2.0, name='b')
  opt = K.Adam(0.1)
  with pytest.warns(UserWarning, match=r"Gradients do not exist for variables \['b:0'\]"):
    opt.minimize(lambda: a * a, [a, b])
  assert float(b) == 2.0 and [w.name for w in opt.weights] == ['Adam/iter:0', 'a/m:0', 'a/v:0']
  c = K.Variable([1.0, 2.0])
  sgd = K.SGD(1.0)
  sgd.minimize(lambda: c * 2.0, [c], grad_loss=jnp.array([1.0, 0.5]))
  np.testing.assert_allclose(c.numpy(), [-1.0, 1.0])
  sgd.minimize(lambda: c * 2.0, [c])  # a vector loss without grad_loss: gradient of its sum
  np.testing.assert_allclose(c.numpy(), [-3.0, -1.0])


def test_minimize_reads_other_variables_fresh():
  w = K.Variable(np.ones(2, np.float32), name='w')
  scale = K.Variable(np.float32(1.0), name='scale', trainable=False)
  opt = K.SGD(learning_rate=0.1)
  loss = lambda: jnp.sum(w * scale)
  opt.minimize(loss, [w])
  scale.assign(3.0)
  opt.minimize(loss, [w])
  np.testing.assert_allclose(w.numpy(), [1 - 0.1 - 0.3] * 2, rtol=1e-6)
  assert float(scale) == 3.0


def test_get_gradients_compute_gradients_and_get_updates():
  a, b = K.Variable(2.0), K.Variable(3.0)
  opt = K.SGD(learning_rate=0.1)
  grads = opt.get_gradients(lambda: a * a * b, [a, b])
  np.testing.assert_allclose([float(g) for g in grads], [12.0, 4.0])
  pairs = opt.compute_gradients(lambda: a * a, [a, b])
  assert pairs[1] == (None, b) and float(pairs[0][0]) == 4.0
  [it] = opt.get_updates(lambda: a * b, [a, b])
  assert it is opt.iterations and int(it) == 1
  np.testing.assert_allclose([float(a), float(b)], [1.7, 2.8], rtol=1e-6)


def test_bfloat16_variables():
  w = K.Variable(np.ones(3), dtype=jnp.bfloat16)
  opt = K.Adam(learning_rate=0.1)
  opt.apply_gradients([(jnp.ones(3, jnp.bfloat16), w)])
  assert w.dtype == jnp.bfloat16 and opt.get_slot(w, 'm').dtype == jnp.bfloat16
  np.testing.assert_allclose(np.asarray(w.numpy(), np.float32), 0.9, rtol=1e-2)


# ------------------------------------------------------------------------------------------
# Configs.
# ------------------------------------------------------------------------------------------

CONFIG_CASES = [
    (K.SGD, dict(learning_rate=0.05, momentum=0.9, nesterov=True, clipnorm=1.0, decay=0.01)),
    (K.Adam, dict(learning_rate=schedules.CosineDecay(0.1, 100, warmup_target=0.2,
                                                      warmup_steps=10),
                  beta_1=0.8, amsgrad=True, global_clipnorm=2.0)),
    (K.RMSprop, dict(learning_rate=schedules.PiecewiseConstantDecay([10, 20], [0.1, 0.01, 1e-3]),
                     rho=0.5, momentum=0.1, centered=True, clipvalue=0.5, name='my_rms')),
    (K.LARS, dict(learning_rate=schedules.PolynomialDecay(0.1, 10), momentum=0.8,
                  weight_decay_rate=1e-4, eeta=0.01, nesterov=True, classic_momentum=False)),
]


@pytest.mark.parametrize('cls,kwargs', CONFIG_CASES, ids=lambda x: getattr(x, '__name__', ''))
def test_config_round_trip(cls, kwargs):
  opt = cls(**kwargs)
  config = opt.get_config()
  json.dumps(config)  # JSON-serializable
  again = cls.from_config(json.loads(json.dumps(config)))
  assert again.get_config() == config
  assert type(again) is cls
  if isinstance(kwargs['learning_rate'], schedules.LearningRateSchedule):
    lr = config['learning_rate']
    assert lr == schedules.serialize(kwargs['learning_rate'])
    assert lr['module'] == 'keras.optimizers.schedules' and lr['registered_name'] is None
  # After the first step the float hyperparameters are float32 variables; the config still
  # reads as the short decimal.
  v = K.Variable(np.ones(3, np.float32), name='v')
  opt.apply_gradients([(np.ones(3, np.float32), v)])
  assert opt.get_config() == config
  assert O.deserialize(O.serialize(opt)).get_config() == config


def test_config_keys_as_keras():
  assert K.SGD().get_config() == {'name': 'SGD', 'learning_rate': 0.01, 'decay': 0.0,
                                  'momentum': 0.0, 'nesterov': False}
  assert K.Adam().get_config() == {'name': 'Adam', 'learning_rate': 0.001, 'decay': 0.0,
                                   'beta_1': 0.9, 'beta_2': 0.999, 'epsilon': 1e-7,
                                   'amsgrad': False}
  assert K.RMSprop().get_config() == {'name': 'RMSprop', 'learning_rate': 0.001, 'decay': 0.0,
                                      'rho': 0.9, 'momentum': 0.0, 'epsilon': 1e-7,
                                      'centered': False}
  lars = K.LARS(exclude_from_weight_decay=['bias']).get_config()
  assert lars == {'name': 'LARS', 'learning_rate': 0.01, 'decay': 0.0, 'momentum': 0.9,
                  'classic_momentum': True, 'weight_decay_rate': 0.0, 'eeta': 0.001,
                  'nesterov': False}  # tf-models leaves the exclude lists out
  assert K.SGD.from_config({'lr': 0.3, 'name': 'x'}).get_config()['learning_rate'] == 0.3
  assert K.SGD(learning_rate=lambda: 0.25).get_config()['learning_rate'] == 0.25
  assert isinstance(O.get('adam'), K.Adam) and O.get({'class_name': 'SGD', 'config': {}})
  with pytest.raises(ValueError, match='Could not interpret optimizer identifier'):
    O.get('nope')
  assert K.SGD(name=None).name == 'sgd' or K.SGD(name=None).name.startswith('sgd')


# ------------------------------------------------------------------------------------------
# Errors, with their Keras 2 messages.
# ------------------------------------------------------------------------------------------

def test_constructor_errors():
  with pytest.raises(TypeError, match=r"Unexpected keyword argument passed to optimizer: "
                     r"beta\. Allowed kwargs are \{.*\}\."):
    K.SGD(beta=1.0)
  msg = None
  try:
    K.Adam(weight_decay=0.1)
  except TypeError as e:
    msg = str(e)
  for k in ('clipnorm', 'clipvalue', 'lr', 'decay', 'global_clipnorm'):
    assert f"'{k}'" in msg
  for k, v in [('clipnorm', -1.0), ('clipvalue', -0.5), ('global_clipnorm', -2), ('decay', -0.1),
               ('lr', -1)]:
    with pytest.raises(ValueError, match=re.escape(f'Expected {k} >= 0, received: {v}')):
      K.RMSprop(**{k: v})
  K.SGD(learning_rate=-0.1)  # the named learning_rate is not range-checked, as in Keras
  with pytest.raises(ValueError, match=re.escape(
      'Cannot accept both `clipnorm` and `global_clipnorm`. Received: `clipnorm`=1.0, '
      '`global_clipnorm`=2.0.')):
    K.Adam(clipnorm=1.0, global_clipnorm=2.0)
  K.Adam(clipvalue=1.0, global_clipnorm=2.0)  # clipvalue combines with either
  for arg in ('clipnorm', 'clipvalue', 'global_clipnorm'):
    with pytest.raises(ValueError, match=re.escape(
        f'`{arg}` cannot be set when `gradient_transformers` is set. Instead, use the '
        '`gradient_transformers` to specify clipping and other transformations.')):
      K.SGD(gradient_transformers=[lambda gv: gv], **{arg: 1.0})
  for cls in (K.SGD, K.RMSprop):
    for m in (-0.1, 1.5):
      with pytest.raises(ValueError, match=re.escape(
          f"`momentum` must be between [0, 1]. Received: momentum={m} (of type <class 'float'>).")):
        cls(momentum=m)
  K.Adam(beta_1=1.5)  # Keras does not validate Adam's betas
  with pytest.raises(TypeError, match='`learning_rate` must be a float, a LearningRateSchedule'):
    K.SGD(learning_rate='fast')
  with pytest.raises(ValueError, match='keras_lars: `weight_decay_rate` must be >= 0.0'):
    K.LARS(weight_decay_rate=-1.0)
  with pytest.raises(ValueError, match='keras_lars: `momentum` must be >= 0.0'):
    K.LARS(momentum=-0.5)


def test_clip_setter_errors_after_construction():
  opt = K.SGD(gradient_transformers=[lambda gv: gv])
  with pytest.raises(ValueError, match='`clipvalue` cannot be set when `gradient_transformers`'):
    opt.clipvalue = 1.0


def test_apply_gradients_errors():
  a, b = K.Variable(1.0, name='a'), K.Variable(np.ones(2), name='b')
  opt = K.SGD()
  with pytest.raises(ValueError, match=re.escape(
      "No gradients provided for any variable: (['a:0', 'b:0'],). Provided `grads_and_vars` "
      'is ((None, <Variable')):
    opt.apply_gradients([(None, a), (None, b)])
  with pytest.raises(TypeError, match=r'`grads_and_vars` must be an iterable of \(gradient, '
                     'variable\\) pairs; item 0 is'):
    opt.apply_gradients([1.0])
  with pytest.raises(TypeError, match='holds ArrayImpl where an optax_like.keras.Variable is '
                     'expected'):
    opt.apply_gradients([(1.0, jnp.ones(()))])
  with pytest.raises(ValueError, match=r'The gradient of b:0 has shape \(3,\), but the variable '
                     r'has shape \(2,\)'):
    opt.apply_gradients([(np.ones(3), b)])
  i = K.Variable(np.int32(3), name='i')
  with pytest.raises(ValueError, match=re.escape(
      "Invalid type int32 for i:0, expected: ['float16', 'bfloat16', 'float32', 'float64', "
      "'complex64', 'complex128'].")):
    opt.apply_gradients([(np.int32(1), i)])
  assert int(opt.apply_gradients([])) == 0  # empty: nothing to do, no step counted


def test_minimize_errors():
  a = K.Variable(1.0, name='a')
  opt = K.SGD()
  with pytest.raises(TypeError, match=r'`loss` must be a callable taking no arguments .* got '
                     r'ArrayImpl\. JAX differentiates functions, not recorded values'):
    opt.minimize(a * a, [a])
  with pytest.raises(ValueError, match=r"No gradients provided for any variable: \(\['a:0'\],\)"):
    opt.minimize(lambda: jnp.float32(3.0), [a])
  with pytest.raises(ValueError, match='`var_list` must contain only optax_like.keras.Variable '
                     'objects, got ArrayImpl'):
    opt.minimize(lambda: a * a, [jnp.ones(())])
  with pytest.raises(ValueError, match=r'Variable <Variable .b:0.* has `None` for gradient\. '
                     'Please make sure that all of your ops have a gradient defined'):
    b = K.Variable(2.0, name='b')
    opt.get_gradients(lambda: a * a, [a, b])
  with pytest.raises(TypeError, match='`gradient_transformers\\[0\\]` must return'):
    K.SGD(gradient_transformers=[lambda gv: 3]).minimize(lambda: a * a, [a])
  with pytest.raises(ValueError, match='`gradient_aggregator` dropped the variable a:0'):
    K.SGD(gradient_aggregator=lambda gv: []).minimize(lambda: a * a, [a])


def test_minimize_program_cache_is_value_based():
  """A changed Python constant in the loss gives a new program; an unchanged one reuses it."""
  w = K.Variable(np.ones(3, np.float32))
  opt = K.SGD(learning_rate=0.1)
  factor = 2.0
  loss = lambda: factor * jnp.sum(jax.nn.relu(w.value()) + jax.nn.gelu(w.value()))
  opt.minimize(loss, [w])
  before = traces()
  opt.minimize(loss, [w])
  assert traces() == before
  factor = 0.0  # baked into the trace as a literal: must not reuse the old program
  kept = w.numpy()
  opt.minimize(loss, [w])
  np.testing.assert_array_equal(w.numpy(), kept)
  assert traces() == before + 1
  fp = O._jaxpr_fingerprint  # pylint: disable=protected-access
  f = lambda v: jax.lax.cond(v[0] > 0, lambda: jnp.sum(v), lambda: jnp.sum(v * 2))
  assert fp(jax.make_jaxpr(f)(jnp.ones(2)).jaxpr) == fp(jax.make_jaxpr(f)(jnp.ones(2)).jaxpr)
  g = lambda v: jax.lax.cond(v[0] > 0, lambda: jnp.sum(v), lambda: jnp.sum(v * 3))
  assert fp(jax.make_jaxpr(f)(jnp.ones(2)).jaxpr) != fp(jax.make_jaxpr(g)(jnp.ones(2)).jaxpr)


def test_lars_matches_tensorflow_variable_names():
  """Exclusions are ``re.search``-ed in TF-style names, ``'dense/bias:0'``."""
  kernel = K.Variable(np.full((2, 2), 2.0, np.float32), name='dense/kernel')
  bias = K.Variable(np.full(2, 2.0, np.float32), name='dense/bias')
  opt = K.LARS(learning_rate=0.1, momentum=0.0, weight_decay_rate=0.5,
               exclude_from_weight_decay=['bias:0$'])
  opt.apply_gradients([(np.ones((2, 2), np.float32), kernel), (np.ones(2, np.float32), bias)])
  # kernel: d = 1 + 0.5 * 2 = 2, trust ratio 0.001 * 4 / 4 -> w = 2 - 0.1 * 0.001 * 2
  np.testing.assert_allclose(kernel.numpy(), 2 - 0.1 * 0.001 * 2, rtol=1e-6)
  # bias: excluded from decay and (by default) from adaptation: w = 2 - 0.1 * 1
  np.testing.assert_allclose(bias.numpy(), 1.9, rtol=1e-6)


def test_base_optimizer_is_abstract_and_public_docs():
  opt = K.Optimizer('base')
  with pytest.raises(NotImplementedError, match='_resource_apply_dense'):
    opt.apply_gradients([(np.ones(1, np.float32), K.Variable(np.zeros(1, np.float32)))])
  for obj in (K.Variable, K.IndexedSlices, K.Optimizer, K.SGD, K.Adam, K.RMSprop, K.LARS,
              K.Optimizer.minimize, K.Optimizer.apply_gradients, K.Optimizer.get_weights):
    assert obj.__doc__ and obj.__doc__.strip(), obj
  for cls in (K.SGD, K.Adam, K.RMSprop, K.LARS):
    assert '>>>' in cls.__doc__ and 'math::' in cls.__doc__ or 'tr(' in cls.__doc__


def test_repeated_variables_are_rejected():
  a = K.Variable(1.0, name='a')
  with pytest.raises(ValueError, match=r"The variables \['a:0'\] appear more than once"):
    K.SGD().apply_gradients([(1.0, a), (2.0, a)])
  with pytest.raises(ValueError, match=r"The variables \['a:0'\] appear more than once"):
    K.SGD().minimize(lambda: a * a, [a, a])

"""User-defined optimizers by tf.keras 2's recipe (issue 12, item 2).

A subclass of ``Optimizer`` that creates slots in ``_create_slots``, overrides
``_resource_apply_dense``/``_resource_apply_sparse`` and ``get_config``, and uses
``_set_hyper``/``_get_hyper``, ``add_slot``/``get_slot`` and ``assign``/``assign_sub``: its
methods run inside the compiled step, and it trains with the numbers its rule gives.
"""

import jax.numpy as jnp
import numpy as np
import pytest

from optax_like import keras as K
from optax_like.keras import optimizers as O


class HandMomentum(K.Optimizer):
  """``v = momentum * v - lr * g``; ``w += v`` written by the tf.keras 2 recipe."""

  def __init__(self, learning_rate=0.01, momentum=0.9, name='HandMomentum', **kwargs):
    super().__init__(name, **kwargs)
    self._set_hyper('learning_rate', kwargs.get('lr', learning_rate))
    self._set_hyper('decay', self._initial_decay)
    self._set_hyper('momentum', momentum)
    self.sparse_calls = []

  def _create_slots(self, var_list):
    for var in var_list:
      self.add_slot(var, 'velocity')

  def _resource_apply_dense(self, grad, var, apply_state=None):
    var_dtype = var.dtype
    coefficients = ((apply_state or {}).get((var.device, var_dtype))
                    or self._fallback_apply_state(var.device, var_dtype))
    velocity = self.get_slot(var, 'velocity')
    velocity.assign(self._get_hyper('momentum', var_dtype) * velocity
                    - coefficients['lr_t'] * grad)
    var.assign_add(velocity)

  def _resource_apply_sparse(self, grad, var, indices, apply_state=None):
    self.sparse_calls.append(tuple(indices.shape))
    var_dtype = var.dtype
    velocity = self.get_slot(var, 'velocity')
    rows = (self._get_hyper('momentum', var_dtype) * velocity[indices]
            - self._decayed_lr(var_dtype) * grad)
    self._resource_scatter_update(velocity, indices, rows)
    self._resource_scatter_add(var, indices, rows)

  def get_config(self):
    config = super().get_config()
    config.update({'learning_rate': self._serialize_hyperparameter('learning_rate'),
                   'decay': self._initial_decay,
                   'momentum': self._serialize_hyperparameter('momentum')})
    return config


class HandAdagradLike(K.Optimizer):
  """A second recipe: ``a += g^2``; ``w -= lr g / sqrt(a)`` with ``assign_sub`` (no apply_state)."""

  def __init__(self, learning_rate=0.1, name='HandAdagradLike', **kwargs):
    super().__init__(name, **kwargs)
    self._set_hyper('learning_rate', learning_rate)

  def _create_slots(self, var_list):
    for var in var_list:
      self.add_slot(var, 'acc', initializer='ones')

  def _resource_apply_dense(self, grad, var):
    acc = self.get_slot(var, 'acc')
    acc.assign_add(grad * grad)
    var.assign_sub(self._get_hyper('learning_rate', var.dtype) * grad / jnp.sqrt(acc.value()))


def _traces():
  return O._STATS['traces']  # pylint: disable=protected-access


@pytest.mark.parametrize('jit', [True, False])
def test_hand_momentum_dense_numbers(jit):
  w = K.Variable([1.0, 2.0], name='w')
  opt = HandMomentum(learning_rate=0.1, momentum=0.5)
  opt.jit_compile = jit
  for _ in range(3):
    opt.apply_gradients([(np.array([1.0, -2.0], np.float32), w)])
  # v: -0.1, -0.15, -0.175 (times -2 for the second entry); w: cumulative sums.
  np.testing.assert_allclose(w.numpy(), [1.0 - 0.425, 2.0 + 0.85], rtol=1e-6)
  np.testing.assert_allclose(opt.get_slot(w, 'velocity').numpy(), [-0.175, 0.35], rtol=1e-6)
  assert int(opt.iterations.numpy()) == 3
  assert opt.get_slot_names() == ['velocity']
  weights = opt.get_weights()
  assert weights[0].dtype == np.int64 and int(weights[0]) == 3
  assert len(weights) == 2


def test_hand_momentum_minimize_and_hyperparameters_are_inputs():
  v = K.Variable(2.0)
  opt = HandMomentum(learning_rate=0.1, momentum=0.5)
  opt.minimize(lambda: v * v, [v])            # g = 4: vel = -0.4, v = 1.6
  np.testing.assert_allclose(v.numpy(), 1.6, rtol=1e-6)
  before = _traces()
  opt.learning_rate = 0.2                      # g = 3.2: vel = -0.2 - 0.64, v = 0.76
  opt.momentum = 0.25                          # vel = -0.1 - 0.64 = -0.74, v = 0.86
  opt.minimize(lambda: v * v, [v])
  np.testing.assert_allclose(v.numpy(), 0.86, rtol=1e-6)
  assert _traces() == before, 'changing hyperparameters recompiled the step'


def test_schedule_and_decay_reach_decayed_lr():
  w = K.Variable([0.0])
  sched = K.schedules.PiecewiseConstantDecay([0], [0.1, 0.01])   # step <= 0: 0.1
  opt = HandMomentum(learning_rate=sched, momentum=0.0)
  opt.apply_gradients([(np.ones(1, np.float32), w)])   # lr 0.1 at iterations 0
  opt.apply_gradients([(np.ones(1, np.float32), w)])   # lr 0.01 at iterations 1
  np.testing.assert_allclose(w.numpy(), [-0.11], rtol=1e-6)
  w2 = K.Variable([0.0])
  opt2 = HandMomentum(learning_rate=0.1, momentum=0.0, decay=1.0)
  opt2.apply_gradients([(np.ones(1, np.float32), w2)])  # 0.1 / (1 + 0)
  opt2.apply_gradients([(np.ones(1, np.float32), w2)])  # 0.1 / (1 + 1)
  np.testing.assert_allclose(w2.numpy(), [-0.15], rtol=1e-6)


def test_sparse_gradients_reach_resource_apply_sparse_with_summed_duplicates():
  e = K.Variable(np.zeros((4, 2), np.float32), name='emb')
  opt = HandMomentum(learning_rate=0.1, momentum=0.5)
  g = K.IndexedSlices(np.ones((3, 2), np.float32), np.array([0, 2, 0]), dense_shape=(4, 2))
  opt.apply_gradients([(g, e)])
  assert opt.sparse_calls, '_resource_apply_sparse was not called'
  np.testing.assert_allclose(e.numpy(), [[-0.2, -0.2], [0, 0], [-0.1, -0.1], [0, 0]], rtol=1e-6)
  opt.apply_gradients([(K.IndexedSlices(np.ones((1, 2), np.float32), np.array([2])), e)])
  # row 2: vel = 0.5 * -0.1 - 0.1 = -0.15; rows 0 keep their velocity but are not touched.
  np.testing.assert_allclose(e.numpy()[:, 0], [-0.2, 0.0, -0.25, 0.0], rtol=1e-6)
  np.testing.assert_allclose(opt.get_slot(e, 'velocity').numpy()[:, 0], [-0.2, 0, -0.15, 0],
                             rtol=1e-6)


def test_recipe_without_apply_state_and_custom_initializer():
  w = K.Variable([3.0])
  opt = HandAdagradLike(learning_rate=0.1)
  opt.apply_gradients([(np.array([2.0], np.float32), w)])   # acc = 5: w = 3 - 0.2 / sqrt 5
  np.testing.assert_allclose(w.numpy(), [3.0 - 0.2 / np.sqrt(5.0)], rtol=1e-6)
  np.testing.assert_allclose(opt.get_slot(w, 'acc').numpy(), [5.0])


def test_recipe_matches_the_builtin_sgd_momentum():
  rng = np.random.default_rng(0)
  grads = [rng.standard_normal((3, 2)).astype(np.float32) for _ in range(4)]
  a, b = K.Variable(np.ones((3, 2), np.float32)), K.Variable(np.ones((3, 2), np.float32))
  ours, builtin = HandMomentum(0.05, 0.9), K.SGD(0.05, momentum=0.9)
  for g in grads:
    ours.apply_gradients([(g, a)])
    builtin.apply_gradients([(g, b)])
  np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)
  np.testing.assert_allclose(ours.get_weights()[1], builtin.get_weights()[1], rtol=1e-6)


def test_config_round_trip_and_deserialize():
  opt = HandMomentum(learning_rate=0.3, momentum=0.7, clipnorm=1.0)
  config = opt.get_config()
  assert config == {'name': 'HandMomentum', 'clipnorm': 1.0, 'learning_rate': 0.3,
                    'decay': 0.0, 'momentum': 0.7}
  again = HandMomentum.from_config(config)
  assert again.get_config() == config
  restored = O.deserialize(O.serialize(opt), custom_objects={'HandMomentum': HandMomentum})
  assert isinstance(restored, HandMomentum) and restored.get_config() == config


def test_clipping_and_constraints_apply_around_the_recipe():
  w = K.Variable([0.0, 0.0], constraint=lambda x: jnp.clip(x, -0.05, 1.0))
  opt = HandMomentum(learning_rate=0.1, momentum=0.0, clipvalue=0.3)
  opt.apply_gradients([(np.array([1.0, -0.1], np.float32), w)])
  np.testing.assert_allclose(w.numpy(), [-0.03, 0.01], rtol=1e-6)
  opt.apply_gradients([(np.array([1.0, 0.0], np.float32), w)])
  np.testing.assert_allclose(w.numpy(), [-0.05, 0.01], rtol=1e-6)   # constrained


def test_a_failing_method_leaves_everything_untouched():
  class Broken(HandMomentum):
    def _resource_apply_dense(self, grad, var, apply_state=None):
      self.get_slot(var, 'velocity').assign(grad)
      raise RuntimeError('user bug')

  w = K.Variable([1.0])
  opt = Broken(0.1)
  with pytest.raises(RuntimeError, match='user bug'):
    opt.apply_gradients([(np.ones(1, np.float32), w)])
  assert w.numpy().tolist() == [1.0]
  assert opt.get_slot(w, 'velocity').numpy().tolist() == [0.0]
  assert int(opt.iterations.numpy()) == 0
  assert not isinstance(opt.get_slot(w, 'velocity').value(), type(None))
  np.asarray(opt.get_slot(w, 'velocity').value())   # concrete again, not a leaked tracer


def test_missing_methods_say_what_to_override():
  class NoUpdate(K.Optimizer):
    def __init__(self):
      super().__init__('NoUpdate')
      self._set_hyper('learning_rate', 0.1)

  w = K.Variable([1.0])
  with pytest.raises(NotImplementedError, match='_resource_apply_dense') as info:
    NoUpdate().apply_gradients([(np.ones(1, np.float32), w)])
  assert '_build_chain' not in str(info.value)

  class DenseOnly(HandAdagradLike):
    pass

  e = K.Variable(np.zeros((2, 1), np.float32))
  with pytest.raises(NotImplementedError, match='_resource_apply_sparse'):
    DenseOnly().apply_gradients([(K.IndexedSlices(np.ones((1, 1), np.float32), [0]), e)])

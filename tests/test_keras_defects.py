"""Regression tests for defects of ``optax_like.keras`` (issue 12), one test per defect."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from optax_like import keras as K


@jax.custom_vjp
def clip_gradient(lo, hi, x):
  """The JAX documentation's example: identity forward, clipped cotangent backward."""
  return x


def _clip_fwd(lo, hi, x):
  return x, (lo, hi)


def _clip_bwd(res, g):
  lo, hi = res
  return (None, None, jnp.clip(g, lo, hi))


clip_gradient.defvjp(_clip_fwd, _clip_bwd)


def _scaled_sin(c):
  """``sin`` whose custom derivative is ``c * t``: two such rules differ only in a constant."""
  @jax.custom_jvp
  def f(x):
    return jnp.sin(x)

  @f.defjvp
  def f_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return f(x), c * t
  return f


@pytest.mark.parametrize('as_array', [False, True])
def test_custom_vjp_bounds_are_not_taken_from_an_earlier_program(as_array):
  wrap = jnp.float32 if as_array else float
  opt = K.SGD(learning_rate=1.0)
  a, b = K.Variable(np.float32(1.0)), K.Variable(np.float32(1.0))
  opt.minimize(lambda: 5.0 * clip_gradient(wrap(-1.0), wrap(1.0), a.value()), [a])
  opt.minimize(lambda: 5.0 * clip_gradient(wrap(-0.1), wrap(0.1), b.value()), [b])
  assert float(a.numpy()) == pytest.approx(1.0 - 1.0)   # cotangent 5, clipped to 1
  assert float(b.numpy()) == pytest.approx(1.0 - 0.1)   # clipped to 0.1


def test_custom_vjp_rule_closing_over_a_value_is_not_reused():
  def clipped(bound):
    @jax.custom_vjp
    def f(x):
      return x
    f.defvjp(lambda x: (x, None), lambda _, g: (jnp.clip(g, -bound, bound),))
    return f
  opt = K.SGD(learning_rate=1.0)
  a, b = K.Variable(np.float32(0.0)), K.Variable(np.float32(0.0))
  opt.minimize(lambda: 5.0 * clipped(1.0)(a.value()), [a])
  opt.minimize(lambda: 5.0 * clipped(0.1)(b.value()), [b])
  assert (float(a.numpy()), float(b.numpy())) == pytest.approx((-1.0, -0.1))


def test_custom_jvp_rules_differing_in_a_closed_over_constant():
  opt = K.SGD(learning_rate=1.0)
  v = K.Variable(np.float32(0.5))
  (g1,) = opt.get_gradients(lambda: _scaled_sin(1.0)(v.value()), [v])
  (g100,) = opt.get_gradients(lambda: _scaled_sin(100.0)(v.value()), [v])
  (g_array,) = opt.get_gradients(lambda: _scaled_sin(np.float32(7.0))(v.value()), [v])
  assert (float(g1), float(g100), float(g_array)) == (1.0, 100.0, 7.0)


def test_programs_are_still_reused_for_library_rules():
  # relu and gelu have custom derivative rules too: a repeated loss must not recompile.
  opt = K.SGD(learning_rate=0.1)
  w = K.Variable(np.linspace(-1, 1, 4).astype(np.float32))
  loss = lambda: jnp.sum(jax.nn.relu(w.value()) + jax.nn.gelu(w.value()))
  opt.minimize(loss, [w])
  before = K.optimizers._STATS['traces']  # pylint: disable=protected-access
  for _ in range(3):
    opt.minimize(loss, [w])
  assert K.optimizers._STATS['traces'] == before  # pylint: disable=protected-access


def test_a_python_callback_is_never_cached_across_functions():
  opt = K.SGD(learning_rate=1.0)
  v = K.Variable(np.float32(2.0))

  def with_callback(scale):
    def loss():
      host = jax.pure_callback(lambda x: np.float32(scale) * x,
                               jax.ShapeDtypeStruct((), jnp.float32),
                               jax.lax.stop_gradient(v.value()))
      return v.value() * jax.lax.stop_gradient(host)
    return loss
  (g1,) = opt.get_gradients(with_callback(1.0), [v])
  (g3,) = opt.get_gradients(with_callback(3.0), [v])
  assert (float(g1), float(g3)) == (2.0, 6.0)


@pytest.mark.parametrize('dtype', [jnp.int32, jnp.bool_])
def test_an_integer_or_boolean_loss_has_no_gradients(dtype):
  opt = K.Adam(learning_rate=0.1)
  v = K.Variable(np.ones(3, np.float32))
  opt.minimize(lambda: jnp.sum(v.value() ** 2), [v])   # builds the moments
  before = [np.array(w) for w in opt.get_weights()], v.numpy().copy()
  with pytest.raises(ValueError, match='No gradients provided for any variable'):
    opt.minimize(lambda: jnp.sum(v.value()).astype(dtype), [v])
  # The rejected call changed nothing: iterations, moments, the variable.
  for old, new in zip(before[0], opt.get_weights()):
    np.testing.assert_array_equal(old, new)
  np.testing.assert_array_equal(before[1], v.numpy())
  assert opt.compute_gradients(lambda: jnp.sum(v.value()).astype(dtype), [v]) == [(None, v)]
  with pytest.raises(ValueError, match='has `None` for gradient'):
    opt.get_gradients(lambda: jnp.sum(v.value()).astype(dtype), [v])


@pytest.mark.parametrize('how', ['Variable', 'assign', 'set_weights'])
def test_variables_do_not_alias_the_callers_numpy_buffer(how):
  source = np.ones(100_000, np.float32)   # large enough for jnp.asarray to alias it on CPU
  if how == 'Variable':
    v = K.Variable(source)
    read = v.numpy
  elif how == 'assign':
    v = K.Variable(np.zeros(100_000, np.float32))
    v.assign(source)
    read = v.numpy
  else:
    v = K.Variable(np.zeros(100_000, np.float32))
    opt = K.SGD(learning_rate=0.1, momentum=0.9)
    opt.apply_gradients([(np.ones(100_000, np.float32), v)])
    opt.set_weights([np.array(1, np.int64), source])
    read = lambda: np.asarray(opt.get_weights()[1])
  source[:] = 7.0
  assert float(read()[0]) == 1.0


def test_a_constraint_must_keep_the_shape():
  v = K.Variable(np.ones((2, 3), np.float32), name='kernel', constraint=lambda x: x[0])
  opt = K.SGD(learning_rate=0.1, momentum=0.9)
  with pytest.raises(ValueError, match=r'constraint of kernel.*shape \(3,\).*\(2, 3\)'):
    opt.apply_gradients([(np.ones((2, 3), np.float32), v)])
  np.testing.assert_array_equal(v.numpy(), np.ones((2, 3)))
  assert int(opt.iterations) == 0


@pytest.mark.parametrize('make', [
    lambda: K.SGD(momentum=np.array([0.1, 0.9])),
    lambda: K.Adam(beta_1=np.array([0.9, 0.8])),
    lambda: K.RMSprop(rho=[0.9, 0.99]),
    lambda: K.LARS(learning_rate=0.1, eeta=np.ones(2)),
    lambda: K.SGD(learning_rate=K.Variable(np.ones(2, np.float32))),
], ids=['sgd-momentum', 'adam-beta_1', 'rmsprop-rho', 'lars-eeta', 'lr-variable'])
def test_vector_hyperparameters_are_rejected(make):
  with pytest.raises(ValueError, match='must be a scalar'):
    make()


def test_a_vector_set_later_or_returned_by_a_callable_is_rejected_without_a_step():
  v = K.Variable(np.ones(2, np.float32))
  opt = K.SGD(learning_rate=0.1, momentum=0.5)
  with pytest.raises(ValueError, match='`momentum` must be a scalar'):
    opt.momentum = np.array([0.1, 0.2])
  opt.learning_rate = lambda: np.array([0.1, 0.2])
  with pytest.raises(ValueError, match='`learning_rate` must be a scalar'):
    opt.apply_gradients([(np.ones(2, np.float32), v)])
  np.testing.assert_array_equal(v.numpy(), [1.0, 1.0])
  assert int(opt.iterations) == 0


def test_set_weights_is_all_or_nothing():
  v = K.Variable(np.ones(3, np.float32))
  opt = K.Adam(learning_rate=0.1)
  opt.apply_gradients([(np.ones(3, np.float32), v)])
  before = [np.array(w) for w in opt.get_weights()]
  bad = [np.array(5), np.zeros(3, np.float32), np.array(['x', 'y', 'z'])]
  with pytest.raises((ValueError, TypeError)):
    opt.set_weights(bad)
  for old, new in zip(before, opt.get_weights()):
    np.testing.assert_array_equal(old, new)


def test_steps_from_several_threads_are_all_counted():
  import threading
  opt = K.SGD(learning_rate=0.01, momentum=0.9)
  variables = [K.Variable(np.zeros(4, np.float32)) for _ in range(2)]
  for v in variables:
    opt.apply_gradients([(np.ones(4, np.float32), v)])   # compile outside the threads
  steps = 150

  def train(v):
    for _ in range(steps):
      opt.apply_gradients([(np.ones(4, np.float32), v)])
  threads = [threading.Thread(target=train, args=(v,)) for v in variables]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  assert int(opt.iterations) == 2 + 2 * steps


class _LazyDense:
  """A layer that creates its variables the first time it is called (the Keras habit)."""

  def __init__(self, units, initial_from_jnp):
    self.units, self.initial_from_jnp, self.kernel, self.bias = units, initial_from_jnp, None, None

  def __call__(self, x):
    if self.kernel is None:
      make = jnp.ones if self.initial_from_jnp else np.ones
      self.kernel = K.Variable(make((x.shape[-1], self.units), np.float32), name='kernel')
      self.bias = K.Variable(np.zeros(self.units, np.float32), name='bias')
    return x @ self.kernel.value() + self.bias.value()

  @property
  def trainable_weights(self):
    return [w for w in (self.kernel, self.bias) if w is not None]


@pytest.mark.parametrize('initial_from_jnp', [False, True])
def test_a_callable_var_list_is_called_after_the_loss(initial_from_jnp):
  first, second = _LazyDense(2, initial_from_jnp), _LazyDense(1, initial_from_jnp)
  x = np.ones((4, 3), np.float32)
  second_input = np.ones((4, 2), np.float32)
  first(x)   # built already: var_list() before loss() would miss only `second`'s variables
  loss = lambda: jnp.mean(first(x)) + jnp.mean(second(second_input))
  opt = K.SGD(learning_rate=0.1)
  opt.minimize(loss, lambda: first.trainable_weights + second.trainable_weights)
  # Every variable moved, the lazily created ones included (d loss / d bias = 1 each step).
  np.testing.assert_allclose(second.bias.numpy(), [-0.1], rtol=1e-6)
  np.testing.assert_allclose(first.bias.numpy(), [-0.05, -0.05], rtol=1e-6)


@pytest.mark.parametrize('use', [lambda x, w: jnp.dot(x, w), lambda x, w: jax.nn.relu(w),
                                 lambda x, w: jnp.sum(w)], ids=['dot', 'relu', 'sum'])
def test_a_variable_passed_to_a_jax_function_says_what_to_write(use):
  w = K.Variable(np.ones((3, 2), np.float32))
  x = np.ones((4, 3), np.float32)
  opt = K.SGD(learning_rate=0.1)
  with pytest.raises(TypeError, match=r'w\.value\(\)|`x @ w`'):
    opt.minimize(lambda: jnp.sum(use(x, w)), [w])
  # What to write instead works, and gives the same numbers as operators.
  opt.minimize(lambda: jnp.sum(jnp.dot(x, w.value())), [w])
  np.testing.assert_allclose(w.numpy(), 1 - 0.1 * 4, rtol=1e-6)

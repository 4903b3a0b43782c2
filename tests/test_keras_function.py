"""``optax_like.keras.function``: a train step compiled once per signature (issue 12, item 4)."""

import jax.numpy as jnp
import numpy as np
import pytest

from optax_like import keras as K


def _mlp_problem(seed=0):
  rng = np.random.default_rng(seed)
  ws = [rng.normal(size=(4, 8)).astype(np.float32) / 2, np.zeros(8, np.float32),
        rng.normal(size=(8, 2)).astype(np.float32) / 3, np.zeros(2, np.float32)]
  batches = [(rng.normal(size=(5, 4)).astype(np.float32), rng.normal(size=(5, 2)).astype(np.float32))
             for _ in range(4)]
  return ws, batches


def _loss(vs, x, y):
  h = jnp.tanh(x @ vs[0] + vs[1])
  return jnp.mean((h @ vs[2] + vs[3] - y) ** 2)


@pytest.mark.parametrize('make', [lambda: K.Adam(0.01), lambda: K.SGD(0.1, momentum=0.9),
                                  lambda: K.Nadam(0.01)])
def test_compiled_step_equals_plain_minimize(make):
  ws, batches = _mlp_problem()
  plain_vars, fn_vars = [K.Variable(w) for w in ws], [K.Variable(w) for w in ws]
  plain, compiled = make(), make()

  @K.function
  def train_step(x, y):
    compiled.minimize(lambda: _loss(fn_vars, x, y), fn_vars)
    return compiled.iterations

  for x, y in batches * 2:
    plain.minimize(lambda: _loss(plain_vars, x, y), plain_vars)
    it = train_step(x, y)
  assert int(it) == 8 and train_step.trace_count == 1
  for a, b in zip(plain_vars, fn_vars):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=2e-6, atol=1e-7)
  for a, b in zip(plain.get_weights(), compiled.get_weights()):
    np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-7)


def test_hyperparameters_and_iterations_are_state_not_constants():
  w = K.Variable(np.float32(1.0))
  opt = K.SGD(learning_rate=0.1)

  @K.function
  def step(g):
    opt.apply_gradients([(g, w)])

  step(np.float32(1.0))
  opt.learning_rate = 0.5
  step(np.float32(1.0))
  np.testing.assert_allclose(w.numpy(), 1.0 - 0.1 - 0.5, rtol=1e-6)
  opt.iterations.assign(10)
  step(np.float32(0.0))
  assert int(opt.iterations.numpy()) == 11 and step.trace_count == 1


def test_signature_rules_python_values_retrace_arrays_do_not():
  v = K.Variable(np.zeros(3, np.float32))

  @K.function
  def add(x, scale):
    v.assign_add(x * scale)
    return v

  out = add(np.ones(3, np.float32), 2.0)
  assert isinstance(out, type(v.value())) and out.tolist() == [2.0, 2.0, 2.0]
  add(np.full(3, 2.0, np.float32), 2.0)             # new values, same signature
  assert add.trace_count == 1
  add(np.ones(3, np.float32), 1.0)                   # a new Python value: traced again
  assert add.trace_count == 2
  add(np.ones((3,), np.float64).astype(np.float32), 1.0)
  assert add.trace_count == 2
  np.testing.assert_allclose(v.numpy(), [8.0, 8.0, 8.0])   # 2 + 4 + 1 + 1


def test_variables_created_on_first_call_and_read_later_are_state():
  holder = {}

  @K.function
  def step(x):
    if 'w' not in holder:
      holder['w'] = K.Variable(np.ones(2, np.float32), name='lazy')
    holder['w'].assign(holder['w'] * x)
    return holder['w']

  np.testing.assert_allclose(step(np.float32(3.0)), [3.0, 3.0])
  np.testing.assert_allclose(step(np.float32(2.0)), [6.0, 6.0])
  np.testing.assert_allclose(holder['w'].numpy(), [6.0, 6.0])


def test_a_variable_unknown_to_the_first_trace_is_picked_up():
  a, b = K.Variable(1.0), K.Variable(10.0)
  use_b = {'on': False}

  @K.function
  def step(x):
    if use_b['on']:
      b.assign_add(x)
    a.assign_add(x)

  step(np.float32(1.0))
  use_b['on'] = True          # a captured Python value: rules say reset() to see it
  step.reset()
  step(np.float32(1.0))
  assert a.numpy() == 3.0 and b.numpy() == 11.0


def test_captured_python_values_are_constants_until_reset():
  w = K.Variable(0.0)
  factor = {'k': 1.0}

  @K.function
  def step():
    w.assign_add(factor['k'])

  step()
  factor['k'] = 5.0
  step()
  assert w.numpy() == 2.0
  step.reset()
  step()
  assert w.numpy() == 7.0


def test_eager_mode_and_errors_leave_state_untouched():
  w = K.Variable(np.ones(2, np.float32))
  opt = K.Adam(0.1)

  @K.function
  def bad(g):
    opt.apply_gradients([(g, w)])
    raise ValueError('user failure')

  with pytest.raises(ValueError, match='user failure'):
    bad(np.ones(2, np.float32))
  assert w.numpy().tolist() == [1.0, 1.0]
  assert int(opt.iterations.numpy()) == 0
  np.asarray(w.value())     # no tracer leaked into the Variable

  plain = K.function(lambda: w.assign_add(np.ones(2, np.float32)), jit_compile=False)
  plain()
  assert w.numpy().tolist() == [2.0, 2.0]

"""The hot paths of ``optax_like.keras``: a repeated ``apply_gradients`` and a compiled step's call.

``apply_gradients`` over the variables of the previous call reuses what it checked and built
then (``_RepeatedApply``); ``keras.function`` skips flattening arguments that are plain arrays
or lists of them. Each test checks that the short path gives exactly the full path's numbers and
that whatever would change the step (hyperparameters, configuration, other variables, a bad
gradient, a traced context) is seen.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from optax_like import keras as K

SHAPES = [(3, 4), (4,), (4, 2)]


def _problem(seed=0):
  rng = np.random.default_rng(seed)
  init = [rng.normal(size=s).astype(np.float32) for s in SHAPES]
  grads = [[rng.normal(size=s).astype(np.float32) for s in SHAPES] for _ in range(4)]
  return init, grads


OPTIMIZERS = {
    'sgd_momentum': lambda: K.SGD(0.1, momentum=0.9, nesterov=True),
    'adam_amsgrad': lambda: K.Adam(0.01, amsgrad=True),
    'rmsprop_centered': lambda: K.RMSprop(0.01, momentum=0.5, centered=True),
    'nadam': lambda: K.Nadam(0.01),       # a shared weight (momentum cache) changes each step
    'ftrl': lambda: K.Ftrl(0.1, l1_regularization_strength=0.01),
    'lars': lambda: K.LARS(0.1, momentum=0.9),
}


@pytest.mark.parametrize('name', sorted(OPTIMIZERS))
def test_repeated_apply_equals_the_full_path(name):
  init, grads = _problem()
  fast_vars = [K.Variable(x) for x in init]
  full_vars = [K.Variable(x) for x in init]
  fast, full = OPTIMIZERS[name](), OPTIMIZERS[name]()
  for step in grads:
    fast.apply_gradients(zip([jnp.asarray(g) for g in step], fast_vars))
    # NumPy gradients never take the short path: every call is checked in full.
    full.apply_gradients(zip(step, full_vars))
  assert '_repeat_apply' in fast.__dict__
  for a, b in zip(fast.get_weights() + [v.numpy() for v in fast_vars],
                  full.get_weights() + [v.numpy() for v in full_vars]):
    np.testing.assert_array_equal(a, b)


def _sgd_after_changes(change, fast):
  """SGD steps with ``change(opt, vars)`` before the last; gradients JAX arrays if ``fast``."""
  init, grads = _problem(1)
  variables = [K.Variable(x) for x in init]
  opt = K.SGD(0.1, momentum=0.5)
  as_input = (lambda g: jnp.asarray(g)) if fast else (lambda g: g)
  for g in grads[:3]:   # the second and third calls repeat the first
    opt.apply_gradients(zip(map(as_input, g), variables))
  change(opt, variables)
  opt.apply_gradients(zip(map(as_input, grads[3]), variables))
  return [v.numpy() for v in variables] + opt.get_weights()


CHANGES = {
    'assign_learning_rate': lambda opt, vs: opt.learning_rate.assign(0.5),
    'set_learning_rate': lambda opt, vs: setattr(opt, 'learning_rate', 0.25),
    'callable_learning_rate': lambda opt, vs: setattr(opt, 'learning_rate', lambda: 0.3),
    'assign_momentum': lambda opt, vs: setattr(opt, 'momentum', 0.1),
    'clipnorm': lambda opt, vs: setattr(opt, 'clipnorm', 0.01),
    'transformer_appended': lambda opt, vs: opt.gradient_transformers.append(
        lambda pairs: [(g * 0.0, v) for g, v in pairs]),
    'aggregator': lambda opt, vs: setattr(opt, 'gradient_aggregator',
                                          lambda pairs: [(2.0 * g, v) for g, v in pairs]),
    'iterations_assigned': lambda opt, vs: opt.iterations.assign(7),
    'variable_assigned': lambda opt, vs: vs[0].assign(np.ones(SHAPES[0], np.float32)),
    'slot_assigned': lambda opt, vs: opt.get_slot(vs[1], 'momentum').assign(
        np.full(SHAPES[1], 3.0, np.float32)),
}


@pytest.mark.parametrize('change', sorted(CHANGES))
def test_a_change_between_repeated_calls_takes_effect(change):
  fast = _sgd_after_changes(CHANGES[change], fast=True)
  full = _sgd_after_changes(CHANGES[change], fast=False)
  unchanged = _sgd_after_changes(lambda opt, vs: None, fast=False)
  for a, b in zip(fast, full):
    np.testing.assert_array_equal(a, b)
  assert any(not np.array_equal(a, b) for a, b in zip(fast, unchanged)), 'change had no effect'


def test_other_variables_order_or_none_gradients_are_checked_again():
  init, grads = _problem(2)
  variables = [K.Variable(x) for x in init]
  opt = K.Adam(0.01)
  g = [jnp.asarray(x) for x in grads[0]]
  opt.apply_gradients(zip(g, variables))
  opt.apply_gradients(zip(g, variables))
  # Reversed order: the same step, matched by variable, not by position.
  before = [v.numpy() for v in variables]
  opt.apply_gradients(reversed(list(zip(g, variables))))
  assert all(not np.array_equal(a, v.numpy()) for a, v in zip(before, variables))
  with pytest.warns(UserWarning, match='Gradients do not exist'):
    opt.apply_gradients([(None, variables[0])] + list(zip(g[1:], variables[1:])))
  with pytest.raises(ValueError, match='appear more than once'):
    opt.apply_gradients([(g[0], variables[0]), (g[0], variables[0]), (g[2], variables[2])])
  with pytest.raises(TypeError, match='pairs'):
    opt.apply_gradients([g[0], g[1], g[2]])
  assert int(opt.iterations.numpy()) == 4


def test_a_gradient_of_another_shape_is_rejected_and_nothing_changes():
  init, grads = _problem(3)
  variables = [K.Variable(x) for x in init]
  opt = K.RMSprop(0.01, momentum=0.9)
  g = [jnp.asarray(x) for x in grads[0]]
  opt.apply_gradients(zip(g, variables))
  opt.apply_gradients(zip(g, variables))
  snapshot = [v.numpy() for v in variables] + opt.get_weights()
  bad = [g[0], jnp.ones((5,), jnp.float32), g[2]]
  with pytest.raises(ValueError, match='has shape'):
    opt.apply_gradients(zip(bad, variables))
  for a, b in zip(snapshot, [v.numpy() for v in variables] + opt.get_weights()):
    np.testing.assert_array_equal(a, b)


def test_concrete_gradients_inside_a_compiled_step_update_the_traced_state():
  # Gradients closed over by a keras.function are concrete arrays: the short path must not
  # bypass the trace (it would read and write the Variables' values outside the program).
  init, grads = _problem(4)
  variables = [K.Variable(x) for x in init]
  reference = [K.Variable(x) for x in init]
  opt, ref_opt = K.SGD(0.1, momentum=0.9), K.SGD(0.1, momentum=0.9)
  g = [jnp.asarray(x) for x in grads[0]]
  opt.apply_gradients(zip(g, variables))      # builds the short path first

  @K.function
  def step():
    opt.apply_gradients(zip(g, variables))

  ref_opt.apply_gradients(zip(grads[0], reference))
  for _ in range(3):
    step()
    ref_opt.apply_gradients(zip(grads[0], reference))
  assert step.trace_count == 1
  for a, b in zip([v.numpy() for v in variables] + opt.get_weights(),
                  [v.numpy() for v in reference] + ref_opt.get_weights()):
    np.testing.assert_array_equal(a, b)


def test_counter_overflow_is_still_caught_on_the_short_path():
  if jax.config.jax_enable_x64:
    pytest.skip('iterations is int64 under x64')
  v = K.Variable(np.ones(2, np.float32))
  opt = K.SGD(0.1)
  g = jnp.ones(2, jnp.float32)
  opt.apply_gradients([(g, v)])
  opt.apply_gradients([(g, v)])
  opt.iterations.assign(2 ** 31 - 1)
  with pytest.raises(OverflowError):
    opt.apply_gradients([(g, v)])
  np.testing.assert_allclose(v.numpy(), [0.8, 0.8], rtol=1e-6)


# -- keras.function's argument handling ---------------------------------------------------

def _train_step_pair():
  w = K.Variable(np.ones(3, np.float32))
  opt = K.SGD(0.1, momentum=0.5)

  def body(x, ys):
    opt.minimize(lambda: jnp.sum((w * x - ys[0]) ** 2) + jnp.sum(ys[1] * w), [w])
    return opt.iterations
  return w, opt, body


@pytest.mark.parametrize('ys_kind', [list, tuple])
def test_function_with_plain_array_arguments_equals_the_eager_step(ys_kind):
  w, opt, body = _train_step_pair()
  w_ref, opt_ref, body_ref = _train_step_pair()
  step = K.function(body)
  rng = np.random.default_rng(0)
  for i in range(4):
    x = rng.normal(size=3).astype(np.float32)
    ys = ys_kind([jnp.asarray(rng.normal(size=3), jnp.float32),
                  rng.normal(size=3).astype(np.float32)])
    assert int(step(x if i % 2 else jnp.asarray(x), ys)) == i + 1
    body_ref(x, ys)
  assert step.trace_count == 1
  np.testing.assert_allclose(w.numpy(), w_ref.numpy(), rtol=1e-6)
  np.testing.assert_allclose(opt.get_weights()[1], opt_ref.get_weights()[1], rtol=1e-6)


def test_function_retraces_for_new_shapes_and_structures_not_for_new_values():
  @K.function
  def f(*args):
    return sum(jnp.sum(a) for a in jax.tree.leaves(args))

  assert float(f(jnp.ones(2))) == 2.0
  assert float(f(3 * jnp.ones(2))) == 6.0              # same shape and dtype: no new trace
  assert f.trace_count == 1
  assert float(f(jnp.ones(5))) == 5.0                  # new shape: traced again
  assert float(f([jnp.ones(2), jnp.ones(2)])) == 4.0   # a list: another signature
  assert float(f((jnp.ones(2), jnp.ones(2)))) == 4.0   # a tuple: another again
  assert float(f(jnp.ones(2), 2.0)) == 4.0             # a Python number: part of the signature
  assert float(f(jnp.ones(2), 3.0)) == 5.0
  assert f.trace_count == 6
  assert float(f(jnp.ones(2))) == 2.0
  assert float(f([jnp.ones(2), jnp.zeros(2)])) == 2.0
  assert f.trace_count == 6


@pytest.mark.parametrize('as_input', [jnp.asarray, np.asarray])   # short path, full path
@pytest.mark.parametrize('attribute', ['momentum', 'eeta'])
def test_a_lars_attribute_variable_assigned_between_calls_takes_effect(as_input, attribute):
  # LARS's momentum and eeta are plain attributes (tf-models), read by the step as inputs;
  # a Variable there, assigned later, must not leave the reused inputs stale.
  def run(change):
    knob = K.Variable(np.float32(0.9 if attribute == 'momentum' else 0.001))
    opt = K.LARS(0.1, momentum=0.9)
    v = K.Variable(np.ones(3, np.float32))
    g = as_input(np.ones(3, np.float32))
    setattr(opt, attribute, knob)
    for _ in range(3):
      opt.apply_gradients([(g, v)])
    change(opt, knob)
    opt.apply_gradients([(g, v)])
    return v.numpy()

  new = 0.0 if attribute == 'momentum' else 0.01
  assigned = run(lambda opt, knob: knob.assign(new))
  replaced = run(lambda opt, knob: setattr(opt, attribute, new))
  unchanged = run(lambda opt, knob: None)
  np.testing.assert_array_equal(assigned, replaced)
  assert not np.array_equal(assigned, unchanged)

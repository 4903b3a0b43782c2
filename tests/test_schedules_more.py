"""piecewise_interpolate_schedule, linear/cosine_onecycle_schedule and warmup_constant_schedule
against optax 0.2.8: bit-identical values, dtypes and weak types for int, float, NumPy and JAX
counts, eager, jitted and vmapped; hand-computed values; as an injected learning rate; and bad
arguments named in the error."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optax_like as ox

CASES = [
    ('piecewise_interpolate_schedule', ('linear', 200.0, {5: 1.5, 10: 0.25})),
    ('piecewise_interpolate_schedule', ('cosine', 400.0, {5: 1.2, 3: 0.6, 7: 1.0})),
    ('piecewise_interpolate_schedule', ('linear', 13.0, {0: 2.0, 5: 3.0})),
    ('piecewise_interpolate_schedule', ('cosine', 17.0)),
    ('piecewise_interpolate_schedule', ('linear', jnp.float32(3.0), {})),
    ('linear_onecycle_schedule', (10, 1000, 0.3, 0.7, 10.0, 100.0)),
    ('linear_onecycle_schedule', (100, 0.1)),
    ('cosine_onecycle_schedule', (5, 1000.0, 0.4, 10.0, 100.0)),
    ('cosine_onecycle_schedule', (1000, 3e-3)),
    ('warmup_constant_schedule', (0.0, 1.0, 7)),
    ('warmup_constant_schedule', (0.1, 1.0, 3)),
    ('warmup_constant_schedule', (0.5, 0.5, 0)),
]
COUNTS = [0, 3, 5, 10, 100, 1001, 2.5, np.int32(7), jnp.array(4), jnp.array(4.5)]


def _same(a, b):
  a, b = jnp.asarray(a), jnp.asarray(b)
  assert a.dtype == b.dtype and a.weak_type == b.weak_type, (a, b)
  np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize('name,args', CASES, ids=[f'{n}-{i}' for i, (n, _) in enumerate(CASES)])
def test_bit_identical_to_optax(name, args):
  ours, theirs = getattr(ox, name)(*args), getattr(optax, name)(*args)
  for count in COUNTS:
    _same(ours(count), theirs(count))
  counts = jnp.arange(0, 1100, 7)
  _same(jax.jit(jax.vmap(ours))(counts), jax.jit(jax.vmap(theirs))(counts))
  assert getattr(ox.schedules, name) is getattr(ox, name)


def test_hand_values():
  fn = ox.piecewise_interpolate_schedule('linear', 1.0, {4: 0.5, 6: 2.0})
  assert [float(fn(t)) for t in (0, 2, 4, 5, 6, 9)] == [1.0, 0.75, 0.5, 0.75, 1.0, 1.0]
  fn = ox.piecewise_interpolate_schedule('cosine', 2.0, {4: 0.5})
  assert [round(float(fn(t)), 6) for t in (0, 2, 4, 8)] == [2.0, 1.5, 1.0, 1.0]
  fn = ox.linear_onecycle_schedule(10, 1.0, pct_start=0.2, pct_final=0.6, div_factor=4.0,
                                   final_div_factor=5.0)
  assert [round(float(fn(t)), 6) for t in (0, 1, 2, 4, 6, 8, 10, 12)] == [
      0.25, 0.625, 1.0, 0.625, 0.25, 0.15, 0.05, 0.05]
  fn = ox.cosine_onecycle_schedule(6, 1.0, pct_start=1 / 3, div_factor=2.0,
                                   final_div_factor=5.0)
  assert [round(float(fn(t)), 6) for t in (0, 1, 2, 4, 6, 9)] == [0.5, 0.75, 1.0, 0.55, 0.1, 0.1]
  fn = ox.warmup_constant_schedule(0.0, 1.0, warmup_steps=4)
  assert [float(fn(t)) for t in (0, 1, 2, 4, 10)] == [0.0, 0.25, 0.5, 1.0, 1.0]


def test_as_injected_learning_rate_matches_optax():
  params = {'w': jnp.array([1.0, -2.0])}
  grads = {'w': jnp.array([0.5, 0.25])}
  for lib in (ox, optax):
    lr = lib.cosine_onecycle_schedule(8, 0.5, pct_start=0.25)
    tx = lib.inject_hyperparams(lib.sgd)(learning_rate=lr)
    state, out = tx.init(params), []
    for _ in range(10):
      u, state = jax.jit(tx.update)(grads, state, params)
      out.append(np.asarray(u['w']))
    if lib is ox:
      ours = np.stack(out)
  np.testing.assert_array_equal(ours, np.stack(out))


def test_bad_arguments_name_the_argument():
  with pytest.raises(ValueError, match='`interpolate_type`'):
    ox.piecewise_interpolate_schedule('linar', 1.0)
  with pytest.raises(ValueError, match='`interpolate_type`'):
    ox.piecewise_interpolate_schedule(None, 1.0, {})
  with pytest.raises(ValueError, match='non-negative, got scale -3'):
    ox.piecewise_interpolate_schedule('linear', 1.0, {5: -3})
  with pytest.raises(ValueError, match='boundary in `boundaries_and_scales`'):
    ox.piecewise_interpolate_schedule('linear', 1.0, {-2: 0.5})
  with pytest.raises(TypeError, match='`init_value`'):
    ox.piecewise_interpolate_schedule('linear', True)
  for fn in (ox.linear_onecycle_schedule, ox.cosine_onecycle_schedule):
    with pytest.raises(ValueError, match='`transition_steps`'):
      fn(transition_steps=0, peak_value=5.0)
    with pytest.raises(ValueError, match='`pct_start`'):
      fn(10, 1.0, pct_start=1.5)
    with pytest.raises(ValueError, match='`div_factor`'):
      fn(10, 1.0, div_factor=0.0)
    with pytest.raises(ValueError, match='`final_div_factor`'):
      fn(10, 1.0, final_div_factor=-1.0)
    with pytest.raises(TypeError, match='`peak_value`'):
      fn(10, True)
  with pytest.raises(ValueError, match='`pct_final`'):
    ox.linear_onecycle_schedule(10, 1.0, pct_start=0.5, pct_final=0.4)
  with pytest.raises(ValueError, match='`warmup_steps`'):
    ox.warmup_constant_schedule(0.0, 1.0, -1)
  with pytest.raises(ValueError, match='`warmup_steps`=0'):
    ox.warmup_constant_schedule(0.0, 1.0, 0)

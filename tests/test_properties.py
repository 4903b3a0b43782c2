"""Property tests over random pytrees: jit equals eager, state structure is stable, dtypes kept."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import optax_like as ox
from differential import lockstep

DTYPES = [jnp.float32, jnp.bfloat16, jnp.float16]

OPTIMIZERS = {
    'sgd': lambda: ox.sgd(0.1),
    'momentum': lambda: ox.sgd(0.1, momentum=0.9, nesterov=True),
    'adam': lambda: ox.adam(1e-2),
    'adamw': lambda: ox.adamw(1e-2, weight_decay=0.1),
    'amsgrad': lambda: ox.amsgrad(1e-2),
    'rmsprop': lambda: ox.rmsprop(1e-2, centered=True, momentum=0.9),
    'lars': lambda: ox.lars(0.1, weight_decay=1e-3),
    'lamb': lambda: ox.lamb(1e-2, weight_decay=1e-3),
    'lion': lambda: ox.lion(1e-3),
    'adagrad': lambda: ox.adagrad(0.1),
    'clip_adam': lambda: ox.chain(ox.clip_by_global_norm(1.0), ox.adam(1e-2)),
    'keras_adam': lambda: ox.keras_adam(1e-2, amsgrad=True),
    'keras_rmsprop': lambda: ox.keras_rmsprop(1e-2, momentum=0.5, centered=True),
    'keras_lars': lambda: ox.keras_lars(0.1, weight_decay_rate=1e-3,
                                         exclude_from_weight_decay=['bias']),
}


@st.composite
def leaves(draw, dtype):
  shape = draw(st.sampled_from([(), (1,), (3,), (2, 3)]))
  seed = draw(st.integers(0, 2**16))
  values = np.random.RandomState(seed).normal(size=shape)
  return jnp.asarray(values, dtype)


def trees(dtype):
  leaf = leaves(dtype)
  keys = st.sampled_from(['kernel', 'bias', 'w', 'scale', 'emb'])
  return st.recursive(
      leaf | st.none(),
      lambda children: (st.dictionaries(keys, children, max_size=3)
                        | st.lists(children, max_size=3)
                        | st.tuples(children, children)),
      max_leaves=6)


def _grads_like(params, seed):
  rng = np.random.RandomState(seed)
  return jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape), p.dtype), params)


def _check_step_properties(make, params, dtype):
  # The same optimizer eager (as "ours") and jitted (as "theirs"), side by side.
  opt = make()
  state = opt.init(params)
  init_struct = jax.tree.structure(state)
  init_avals = [(x.shape, x.dtype) for x in jax.tree.leaves(state)]
  tol = 1e-5 if dtype == jnp.float32 else 2e-2

  def check_updates(u_eager, u_jit):
    for a, b in zip(jax.tree.leaves(u_eager), jax.tree.leaves(u_jit)):
      np.testing.assert_allclose(np.asarray(a, np.float32), np.asarray(b, np.float32),
                                 rtol=tol, atol=tol)
    # Updates keep the params' tree and dtypes (the gradients are drawn like the params).
    assert jax.tree.structure(u_eager) == jax.tree.structure(params)
    for a, b in zip(jax.tree.leaves(u_eager), jax.tree.leaves(params)):
      assert a.dtype == b.dtype and a.shape == b.shape

  def check_states(s_eager, s_jit):
    # The state keeps its structure and avals, eager and jitted.
    assert jax.tree.structure(s_eager) == jax.tree.structure(s_jit) == init_struct
    assert [(x.shape, x.dtype) for x in jax.tree.leaves(s_eager)] == init_avals
    assert [(x.shape, x.dtype) for x in jax.tree.leaves(s_jit)] == init_avals

  grads = (_grads_like(params, step) for step in range(3))
  for step in lockstep(opt, opt, params, grads, jit=False, jit_theirs=True,
                       check=check_updates, check_state=check_states):
    for p in (step.params, step.their_params):
      assert [x.dtype for x in jax.tree.leaves(p)] == [x.dtype for x in jax.tree.leaves(params)]


@pytest.mark.parametrize('name', sorted(OPTIMIZERS))
@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_jit_equals_eager_and_state_is_stable(name, data):
  dtype = data.draw(st.sampled_from(DTYPES))
  # A top-level None is the API's "no params given" sentinel, not a tree.
  params = data.draw(trees(dtype).filter(lambda t: t is not None))
  _check_step_properties(OPTIMIZERS[name], params, dtype)


@pytest.mark.parametrize('name', sorted(OPTIMIZERS))
def test_empty_tree(name):
  opt = OPTIMIZERS[name]()
  for params in ({}, [], {'a': None}, ()):
    state = opt.init(params)
    updates, state2 = opt.update(params, state, params)
    assert jax.tree.leaves(updates) == []
    assert jax.tree.structure(state2) == jax.tree.structure(state)


@pytest.mark.parametrize('name', ['adam', 'rmsprop', 'lars', 'keras_adam', 'sgd'])
def test_float64_is_kept_under_x64(name):
  with jax.enable_x64(True):
    params = {'w': jnp.asarray(np.arange(4.0), jnp.float64), 'b': jnp.zeros((), jnp.float64)}
    opt = OPTIMIZERS[name]()
    state = opt.init(params)
    g = jax.tree.map(lambda p: p + 1.0, params)
    u, state = jax.jit(opt.update)(g, state, params)
    assert all(x.dtype == jnp.float64 for x in jax.tree.leaves(u))
    # Every float in the state (moments, accumulators) is float64.
    assert all(x.dtype == jnp.float64 for x in jax.tree.leaves(state)
               if jnp.issubdtype(x.dtype, jnp.floating))

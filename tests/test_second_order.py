"""optax_like.second_order against optax 0.2.8 (deprecated there, warning here too): a
Hessian-vector product, the Hessian diagonal and the Fisher diagonal of a small MLP's loss over
a parameter pytree, eager and jitted, and hand-computed values."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optax_like as ox

NAMES = ('hvp', 'hessian_diag', 'fisher_diag')


def _loss(params, inputs, targets):
  hidden = jnp.tanh(inputs @ params['w1'] + params['b1'])
  logits = hidden @ params['w2']
  return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, targets))


def _problem():
  rng = np.random.default_rng(0)
  params = {'w1': jnp.asarray(rng.normal(size=(3, 4)), jnp.float32),
            'b1': jnp.asarray(rng.normal(size=(4,)), jnp.float32),
            'w2': jnp.asarray(rng.normal(size=(4, 2)), jnp.float32)}
  inputs = jnp.asarray(rng.normal(size=(5, 3)), jnp.float32)
  targets = jnp.asarray(rng.integers(0, 2, size=5))
  v = jnp.asarray(rng.normal(size=(12 + 4 + 8,)), jnp.float32)
  return params, inputs, targets, v


def _call(lib, name, params, inputs, targets, v):
  fn = getattr(lib.second_order, name)
  if name == 'hvp':
    return fn(_loss, v, params, inputs, targets)
  return fn(_loss, params, inputs, targets)


@pytest.mark.parametrize('name', NAMES)
def test_matches_optax_eager_and_jitted(name):
  args = _problem()
  with warnings.catch_warnings():
    warnings.simplefilter('ignore', DeprecationWarning)
    theirs = _call(optax, name, *args)
    ours = _call(ox, name, *args)
    jitted = jax.jit(lambda *a: _call(ox, name, *a))(*args)
  for got in (ours, jitted):
    assert jax.tree.structure(got) == jax.tree.structure(theirs)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(theirs)):
      assert a.shape == b.shape and a.dtype == b.dtype
      np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('name', NAMES)
def test_warns_deprecated_as_optax(name):
  with pytest.warns(DeprecationWarning, match=f'{name} is deprecated.*0.2.9'):
    _call(ox, name, *_problem())


def test_hand_values():
  # loss = sum(a * w^2 / 2 + w^3 / 3): H = diag(a + 2 w), gradient a w + w^2.
  loss = lambda p, x, y: jnp.sum(x * p ** 2 / 2 + p ** 3 / 3)
  w, a = jnp.array([1.0, -2.0, 0.5]), jnp.array([1.0, 2.0, 3.0])
  with warnings.catch_warnings():
    warnings.simplefilter('ignore', DeprecationWarning)
    np.testing.assert_allclose(ox.second_order.hessian_diag(loss, w, a, None), [3.0, -2.0, 4.0])
    np.testing.assert_allclose(ox.second_order.hvp(loss, jnp.array([1.0, 0.0, 2.0]), w, a, None),
                               [3.0, 0.0, 8.0])
    np.testing.assert_allclose(ox.second_order.fisher_diag(loss, w, a, None),
                               np.square([2.0, 0.0, 1.75]))

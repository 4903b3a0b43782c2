"""power_iteration, matrix_inverse_pth_root, nnls and multi_normal against optax 0.2.8 (the same
numbers on random problems), hand-computed values, and the errors."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optax_like as ox
from differential import ErrorLog, assert_trees_close

ERRORS = ErrorLog('linear_algebra')


def _psd(rng, n):
  a = rng.normal(size=(n, n)).astype(np.float32)
  return jnp.asarray(a @ a.T / n + 0.1 * np.eye(n, dtype=np.float32))


@pytest.mark.parametrize('seed', range(2))
def test_power_iteration_equals_optax(seed):
  rng = np.random.RandomState(seed)
  matrix = _psd(rng, 5)
  # An array: the default start vector is drawn from the key, as optax's.
  for kwargs in (dict(), dict(key=jax.random.key(seed), num_iters=7, error_tolerance=1e-3)):
    ERRORS.add(assert_trees_close(ox.power_iteration(matrix, **kwargs),
                                  optax.power_iteration(matrix, **kwargs), rtol=1e-5, atol=1e-6))
  # A callable on a pytree, with its start vector.
  scales = {'a': jnp.array([3.0, 1.0]), 'b': jnp.array([0.5])}
  product = lambda v: jax.tree.map(lambda s, x: s * x, scales, v)
  v0 = {'a': jnp.array([1.0, 1.0]), 'b': jnp.array([1.0])}
  ours = ox.power_iteration(product, v0=v0, num_iters=50)
  ERRORS.add(assert_trees_close(ours, optax.power_iteration(product, v0=v0, num_iters=50),
                                rtol=1e-5, atol=1e-6))
  assert float(ours[0]) == pytest.approx(3.0, rel=1e-4)
  np.testing.assert_allclose(jnp.abs(ours[1]['a']), [1.0, 0.0], atol=1e-3)


@pytest.mark.parametrize('p', [1, 2, 4, 8])
def test_matrix_inverse_pth_root_equals_optax(p):
  matrix = _psd(np.random.RandomState(p), 4)
  ours = ox.matrix_inverse_pth_root(matrix, p)
  ERRORS.add(assert_trees_close(ours, optax.matrix_inverse_pth_root(matrix, p), rtol=1e-5,
                                atol=1e-6))
  # root^(-p) recovers the matrix.
  recovered = jnp.linalg.matrix_power(jnp.linalg.inv(ours[0]), p)
  np.testing.assert_allclose(recovered, matrix, rtol=2e-2, atol=2e-2)


def test_matrix_inverse_pth_root_hand_values():
  root, error = ox.matrix_inverse_pth_root(jnp.diag(jnp.array([4.0, 16.0])), 2, ridge_epsilon=0.0)
  np.testing.assert_allclose(jnp.diag(root), [0.5, 0.25], rtol=1e-4)
  assert float(error) < 1e-5
  one, _ = ox.matrix_inverse_pth_root(jnp.array([[9.0]]), 2, ridge_epsilon=0.0)   # 1x1: direct
  np.testing.assert_allclose(one, [[1 / 3]], rtol=1e-6)


@pytest.mark.parametrize('b_shape', [(6,), (6, 2)])
def test_nnls_equals_optax(b_shape):
  rng = np.random.RandomState(len(b_shape))
  a = jnp.asarray(rng.normal(size=(6, 3)).astype(np.float32))
  b = jnp.asarray(rng.normal(size=b_shape).astype(np.float32))
  for kwargs in (dict(), dict(L=50.0, unroll=2)):
    ours = ox.nnls(a, b, 200, **kwargs)
    ERRORS.add(assert_trees_close(ours, optax.nnls(a, b, 200, **kwargs), rtol=1e-5, atol=1e-6))
    assert ours.shape == (3,) + b_shape[1:] and bool(jnp.all(ours >= 0))


def test_nnls_hand_values():
  # Identity: the projection of b onto the nonnegative orthant.
  np.testing.assert_allclose(ox.nnls(jnp.eye(3), jnp.array([2.0, -1.0, 0.5]), 50),
                             [2.0, 0.0, 0.5], atol=1e-6)


def test_multi_normal_matches_optax():
  loc, log_scale = jnp.array([[1.0, -2.0, 0.5]]), jnp.array([0.1, -0.3, 0.0])
  ours, theirs = ox.multi_normal(loc, log_scale), optax.multi_normal(loc, log_scale)
  key = jax.random.key(3)
  ERRORS.add(assert_trees_close(ours.sample((4, 2), key), theirs.sample((4, 2), key)))
  x = jnp.array([[0.3, 0.2, -1.0]])
  ERRORS.add(assert_trees_close(ours.log_prob(x), theirs.log_prob(x)))
  assert_trees_close(ours.params, theirs.params)
  assert ours.sample([5], key).shape == (5, 1, 3)
  # Hand value: standard normal in 2-d at 0 is 2 * log(1 / sqrt(2 pi)).
  assert float(ox.multi_normal(jnp.zeros(2), jnp.zeros(2)).log_prob(jnp.zeros(2))) == (
      pytest.approx(-np.log(2 * np.pi), rel=1e-6))


def test_bad_inputs_name_the_argument():
  with pytest.raises(ValueError, match='v0'):
    ox.power_iteration(lambda v: v)
  with pytest.raises(ValueError, match='matrix'):
    ox.power_iteration(jnp.ones((2, 3)))
  with pytest.raises(ValueError, match='matrix'):
    ox.matrix_inverse_pth_root(jnp.ones(3), 2)
  with pytest.raises(TypeError, match='`p`'):
    ox.matrix_inverse_pth_root(jnp.eye(2), True)
  with pytest.raises(ValueError, match='`A`'):
    ox.nnls(jnp.ones(3), jnp.ones(3), 5)
  with pytest.raises(ValueError, match='`b`'):
    ox.nnls(jnp.ones((3, 2)), jnp.ones(4), 5)
  with pytest.raises(ValueError, match='Incompatible shapes for broadcasting'):
    ox.multi_normal(jnp.zeros(2), jnp.zeros(3))

"""optax_like.assignment against optax 0.2.8: the same pairs (in optax's order for each of the
two functions) on random cost matrices of every shape, optimal costs on integer matrices with
ties (checked by brute force), jit and vmap, and bad input."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optax_like as ox

NAMES = ('hungarian_algorithm', 'base_hungarian_algorithm')
SHAPES = [(1, 1), (4, 4), (3, 5), (5, 3)]   # square, wide, tall


def _brute_force_cost(cost):
  n, m = cost.shape
  if n <= m:
    return min(sum(cost[i, p[i]] for i in range(n)) for p in itertools.permutations(range(m), n))
  return _brute_force_cost(cost.T)


@pytest.mark.parametrize('name', NAMES)
def test_same_pairs_as_optax(name):
  ours = jax.jit(getattr(ox.assignment, name))
  theirs = jax.jit(getattr(optax.assignment, name))
  rng = np.random.default_rng(0)
  for shape in SHAPES:
    for _ in range(2):
      cost = jnp.asarray(rng.normal(size=shape).astype(np.float32))
      (i, j), (ti, tj) = ours(cost), theirs(cost)
      # A unique optimum: the very same pairs, in the same order, of the same dtype.
      np.testing.assert_array_equal(i, ti, err_msg=str(shape))
      np.testing.assert_array_equal(j, tj, err_msg=str(shape))
      assert i.dtype == ti.dtype and j.dtype == tj.dtype
      assert i.shape == (min(shape),) and len(set(i.tolist())) == len(set(j.tolist())) == min(shape)


@pytest.mark.parametrize('name', NAMES)
def test_optimal_on_matrices_with_ties(name):
  fn = jax.jit(getattr(ox.assignment, name))
  rng = np.random.default_rng(1)
  for shape in [(3, 3), (3, 4), (4, 3)]:
    for _ in range(3):
      cost = rng.integers(0, 3, size=shape)
      i, j = fn(jnp.asarray(cost))
      assert int(cost[np.asarray(i), np.asarray(j)].sum()) == _brute_force_cost(cost)


def test_hand_example():
  cost = jnp.array([[8, 4, 7], [5, 2, 3], [9, 6, 7], [9, 4, 8]])
  i, j = ox.assignment.base_hungarian_algorithm(cost)
  assert i.tolist() == [0, 1, 3] and j.tolist() == [0, 2, 1]    # cost 8 + 3 + 4 = 15
  i, j = ox.assignment.hungarian_algorithm(cost)
  assert int(cost[i, j].sum()) == 15


@pytest.mark.parametrize('name', NAMES)
def test_jit_vmap_and_empty(name):
  fn = getattr(ox.assignment, name)
  costs = jnp.asarray(np.random.default_rng(2).normal(size=(3, 4, 5)).astype(np.float32))
  i, j = jax.jit(jax.vmap(fn))(costs)
  ti, tj = jax.vmap(getattr(optax.assignment, name))(costs)
  np.testing.assert_array_equal(i, ti)
  np.testing.assert_array_equal(j, tj)
  for shape in [(0, 3), (3, 0), (0, 0)]:
    i, j = fn(jnp.zeros(shape))
    assert i.shape == j.shape == (0,)


@pytest.mark.parametrize('name', NAMES)
def test_bad_input_names_the_argument(name):
  with pytest.raises(ValueError, match='`cost_matrix`'):
    getattr(ox.assignment, name)(jnp.zeros((2, 2, 2)))

"""optax_like.projections against optax.projections 0.2.8 over random pytrees.

Values and vector-Jacobian products (of a random weighting of the output) equal optax's, eagerly
and under ``jit``; the projections land in their sets; hand-computed examples.
"""

import zlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optax_like as ox
from differential import ErrorLog, assert_trees_close, random_tree

LOG = ErrorLog('projections vs optax')
RTOL, ATOL = 2e-6, 1e-6
KINDS = ('nested', 'list')


def _args(name, rng, kind, tree):
  like = lambda: random_tree(rng, kind, scale=1.0)   # noqa: E731
  if name in ('projection_box',):   # optax needs tree bounds for a tree of several leaves
    return (tree, jax.tree.map(lambda x: jnp.full_like(x, -0.5), tree),
            random_tree(rng, kind, scale=0.2))
  if name == 'projection_hypercube':   # optax's only works on a one-leaf tree
    return (jax.tree.leaves(tree)[0], 0.7)
  if name in ('projection_simplex', 'projection_l1_sphere',
              'projection_l1_ball', 'projection_l2_sphere', 'projection_l2_ball',
              'projection_linf_ball'):
    return (tree, 0.7)
  if name == 'projection_vector':
    return (tree, like())
  if name in ('projection_hyperplane', 'projection_halfspace'):
    return (tree, like(), 0.3)
  return (tree,)


NAMES = sorted(n for n in dir(optax.projections) if not n.startswith('_'))


def test_every_optax_projection_is_here():
  assert NAMES == sorted(n for n in dir(ox.projections) if not n.startswith('_'))
  assert len(NAMES) == 12


# Jitted for every name on two tree layouts; eagerly for a few (lax.cond, custom JVP).
SWEEP = ([(name, 'nested', True) for name in NAMES] + [(name, 'list', True) for name in NAMES]
         + [(name, 'nested', False) for name in ('projection_simplex', 'projection_l1_ball',
                                                 'projection_halfspace')])


@pytest.mark.parametrize('name,kind,jit', SWEEP)
def test_values_and_vjps_equal_optax(name, kind, jit):
  rng = np.random.default_rng(zlib.crc32(f'{name} {kind}'.encode()))
  scale = 3.0 if name in ('projection_l1_ball', 'projection_l2_ball') else 1.0
  args = _args(name, rng, kind, random_tree(rng, kind, scale=scale))
  weights = random_tree(rng, kind)
  if name == 'projection_hypercube':
    weights = jax.tree.leaves(weights)[0]

  def side(fn, x, rest):
    # The projection, and the vector-Jacobian product with `weights` (through its gradient).
    def weighted(x):
      out = fn(x, *rest)
      return sum(jnp.vdot(w, o) for w, o in zip(jax.tree.leaves(weights), jax.tree.leaves(out)))
    return fn(x, *rest), jax.value_and_grad(weighted)(x)

  def both(x, rest):   # ours and optax's in one program (one compilation per test)
    return [side(getattr(module, name), x, rest) for module in (ox.projections,
                                                                 optax.projections)]
  ours, theirs = (jax.jit(both) if jit else both)(args[0], args[1:])
  assert_trees_close(ours, theirs, rtol=RTOL, atol=ATOL, err_msg=name, log=LOG)


def test_projections_land_in_their_sets():
  rng = np.random.default_rng(0)
  tree = random_tree(rng, 'nested', scale=2.0)
  flat = lambda t: np.concatenate([np.ravel(x) for x in jax.tree.leaves(t)])  # noqa: E731
  p = flat(ox.projections.projection_simplex(tree, 2.0))
  assert np.all(p >= 0) and np.isclose(p.sum(), 2.0, rtol=1e-5)
  np.testing.assert_allclose(np.abs(flat(ox.projections.projection_l1_sphere(tree, 1.5))).sum(),
                             1.5, rtol=1e-5)
  assert np.abs(flat(ox.projections.projection_l1_ball(tree, 1.5))).sum() <= 1.5 * (1 + 1e-5)
  np.testing.assert_allclose(np.linalg.norm(flat(ox.projections.projection_l2_sphere(tree, 3.0))),
                             3.0, rtol=1e-5)
  assert np.linalg.norm(flat(ox.projections.projection_l2_ball(tree, 0.5))) <= 0.5 * (1 + 1e-6)
  assert np.abs(flat(ox.projections.projection_linf_ball(tree, 0.25))).max() <= 0.25
  assert flat(ox.projections.projection_non_negative(tree)).min() >= 0
  a = random_tree(rng, 'nested')
  dot = lambda x, y: float(sum(jnp.vdot(u, v) for u, v in   # noqa: E731
                                zip(jax.tree.leaves(x), jax.tree.leaves(y))))
  assert np.isclose(dot(a, ox.projections.projection_hyperplane(tree, a, 0.4)), 0.4, atol=1e-5)
  assert dot(a, ox.projections.projection_halfspace(tree, a, -0.4)) <= -0.4 + 1e-5


def test_hand_computed():
  proj = ox.projections
  np.testing.assert_allclose(proj.projection_simplex(jnp.array([1.0, 0.5, -1.0])),
                             [0.75, 0.25, 0.0])
  # A tree: {'b': 0.5, 'w': [2.5, 3.2]} -> the largest entry takes all the unit mass.
  out = proj.projection_simplex({'w': jnp.array([2.5, 3.2]), 'b': jnp.array(0.5)})
  np.testing.assert_allclose(out['w'], [0.15, 0.85], rtol=1e-5)
  assert float(out['b']) == 0.0
  # Inside the l1 ball nothing moves (also under jit: a lax.cond).
  x = jnp.array([0.25, -0.5])
  np.testing.assert_array_equal(jax.jit(proj.projection_l1_ball)(x), x)
  np.testing.assert_allclose(proj.projection_l2_ball(jnp.array([3.0, 4.0]), 2.5), [1.5, 2.0])
  np.testing.assert_allclose(
      proj.projection_vector({'a': jnp.array([2.0, 1.0])}, {'a': jnp.array([0.0, 2.0])})['a'],
      [0.0, 1.0])
  # Already in the halfspace: unchanged.
  np.testing.assert_allclose(proj.projection_halfspace(jnp.array([0.0, 1.0]),
                                                       jnp.array([1.0, 0.0]), 0.5), [0.0, 1.0])


def test_simplex_jacobian_on_the_support():
  # On the support S the Jacobian is I - 1 1^T / |S|; zero off the support.
  jac = jax.jacobian(ox.projections.projection_simplex)(jnp.array([1.0, 0.5, -1.0]))
  np.testing.assert_allclose(jac, [[0.5, -0.5, 0.0], [-0.5, 0.5, 0.0], [0.0, 0.0, 0.0]])


def test_scalar_bounds_apply_to_every_leaf():
  # optax's projection_box/hypercube accept a scalar bound only for a one-leaf tree (their
  # tree.map fails otherwise); ours broadcast it, equal to optax with tree bounds.
  tree = {'a': jnp.array([-1.0, 2.0]), 'b': [jnp.array(0.5), jnp.array([3.0, -3.0])]}
  full = lambda v: jax.tree.map(lambda x: jnp.full_like(x, v), tree)  # noqa: E731
  assert_trees_close(ox.projections.projection_box(tree, -0.5, 1.0),
                     optax.projections.projection_box(tree, full(-0.5), full(1.0)))
  assert_trees_close(ox.projections.projection_hypercube(tree),
                     optax.projections.projection_box(tree, full(0.0), full(1.0)))
  with pytest.raises(ValueError):
    optax.projections.projection_box(tree, -0.5, 1.0)
  with pytest.raises(ValueError, match='`upper`'):
    ox.projections.projection_box(tree, -0.5, {'a': 1.0})


def test_sixteen_bit_leaves_keep_their_dtype():
  tree = {'a': jnp.array([-1.0, 2.0], jnp.bfloat16), 'b': jnp.array([0.5], jnp.float16)}
  for name in ('projection_non_negative', 'projection_linf_ball'):
    ours = getattr(ox.projections, name)(tree)
    theirs = getattr(optax.projections, name)(tree)
    assert_trees_close(ours, theirs, rtol=0, atol=0, err_msg=name)
  cube = ox.projections.projection_hypercube(tree)
  assert cube['a'].dtype == jnp.bfloat16 and cube['a'].tolist() == [0.0, 1.0]

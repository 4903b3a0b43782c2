"""lbfgs and scale_by_lbfgs against optax 0.2.8: trajectories step by step (params, updates and
every state leaf) over random pytrees and on Rosenbrock with each line search, eager and jitted,
with the memory wrapping around; hand-computed first steps; 16-bit leaves; the errors."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optax_like as ox
from differential import (DIFFERENTIAL_KINDS, ErrorLog, assert_same_layout, assert_trees_close,
                          lockstep, random_grads, random_tree, value_fn_trajectory)

ERRORS = ErrorLog('lbfgs')


def rosenbrock(x):
  return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def tree_rosenbrock(p):
  return rosenbrock(p['u']) + rosenbrock(p['v']['w'].ravel())


W_TREE = {'u': jnp.array([-1.2, 1.0, 0.3]), 'v': {'w': jnp.array([[0.5, -0.4], [1.1, 0.9]])},
          'none': None}


# Fixed-step L-BFGS on random gradients over random trees (nested dicts, lists, None leaves): the
# memory of 2 pairs wraps around within the 6 steps.
@pytest.mark.parametrize('seed,jit', [(0, True), (1, True), (2, True), (0, False)],
                         ids=['jit-0', 'jit-1', 'jit-2', 'eager-0'])
def test_fixed_step_lbfgs_equals_optax_on_random_trees(seed, jit):
  rng = np.random.RandomState(seed)
  kind = DIFFERENTIAL_KINDS[seed % 3]
  params = random_tree(rng, kind)
  kwargs = dict(learning_rate=0.05, memory_size=2, scale_init_precond=seed != 1, linesearch=None)
  ours, theirs = ox.lbfgs(**kwargs), optax.lbfgs(**kwargs)
  check = lambda a, b: ERRORS.add(assert_trees_close(a, b, rtol=2e-6, atol=1e-6))
  n = 6 if jit else 3   # eager: each update retraces its scans
  steps = list(lockstep(ours, theirs, params, random_grads(rng, kind, n), jit=jit, check=check))
  assert_same_layout(steps[-1].state, steps[-1].their_state, kind)
  assert int(steps[-1].state[0].count) == n


SEARCHES = {
    'zoom_default': lambda lib: lib.lbfgs(),
    'zoom_memory_3': lambda lib: lib.lbfgs(memory_size=3, scale_init_precond=False),
    'backtracking': lambda lib: lib.lbfgs(linesearch=lib.scale_by_backtracking_linesearch(
        max_backtracking_steps=20, store_grad=True)),
}


@pytest.mark.parametrize('search', sorted(SEARCHES))
def test_lbfgs_with_line_search_equals_optax(search):
  f, w = (tree_rosenbrock, W_TREE) if search != 'zoom_memory_3' else (
      rosenbrock, jnp.array([-1.2, 1.0, 0.5, -0.3]))
  # Jitted over 6 steps (the memory of 3 wraps). Eager runs are the fixed-step test's and, for
  # the line searches, test_linesearch's (an eager update retraces its loops: slow).
  for jit, steps in ((True, 6),):
    ours = value_fn_trajectory(ox, SEARCHES[search](ox), f, w, steps, jit)
    theirs = value_fn_trajectory(optax, SEARCHES[search](optax), f, w, steps, jit)
    for i, (a, b) in enumerate(zip(ours, theirs)):
      for x, y, what in zip(a, b, ('params', 'updates', 'state')):
        ERRORS.add(assert_trees_close(x, y, rtol=2e-6, atol=1e-6,
                                      err_msg=f'{search} jit={jit} step {i} {what}'))
      assert_same_layout(a[2], b[2], search)
  assert f(ours[-1][0]) < f(w)


def test_hand_computed_first_steps():
  tx = ox.scale_by_lbfgs(memory_size=3)
  w = jnp.zeros(2)
  # First step: no pair; gamma_0 = min(1, 1/|g|) = 1/5 for g = (3, 4).
  u, state = tx.update(jnp.array([3.0, 4.0]), tx.init(w), w)
  np.testing.assert_allclose(u, [0.6, 0.8], rtol=1e-6)
  # Small gradient: gamma_0 = 1, the update is g itself.
  u0, _ = tx.update(jnp.array([0.3, 0.4]), tx.init(w), w)
  np.testing.assert_allclose(u0, [0.3, 0.4], rtol=1e-6)
  # Second step from w1 = (1, 0) with g1 = (5, 4): dw = (1, 0), du = (2, 0), rho = 1/2,
  # gamma = 2/4. alpha = rho <dw, g1> = 5/2, q = g1 - alpha du = (0, 4), r = gamma q = (0, 2),
  # beta = rho <du, r> = 0, r += (alpha - beta) dw: (5/2, 2).
  u, state = tx.update(jnp.array([5.0, 4.0]), state, jnp.array([1.0, 0.0]))
  np.testing.assert_allclose(u, [2.5, 2.0], rtol=1e-6)
  np.testing.assert_allclose(state.weights_memory, [0.5, 0.0, 0.0])
  np.testing.assert_allclose(state.diff_params_memory[0], [1.0, 0.0])
  assert state.count.dtype == jnp.int32 and int(state.count) == 2


def test_bfloat16_leaves_keep_dtypes_and_state_layout():
  params = {'a': jnp.array([1.0, -2.0, 0.5], jnp.bfloat16), 'b': jnp.array([0.3, 0.7])}
  grads = [jax.tree.map(lambda p, s=s: (p * s + 0.1).astype(p.dtype), params)
           for s in (1.0, 0.5, -0.7, 0.2)]
  kwargs = dict(learning_rate=0.1, memory_size=2, linesearch=None)
  ours, theirs = ox.lbfgs(**kwargs), optax.lbfgs(**kwargs)
  # Our recursion runs in float32 and rounds once; optax's rounds inside: close, not equal.
  loose = lambda a, b: assert_trees_close(a, b, rtol=3e-2, atol=3e-2, check_dtype=False)
  for step in lockstep(ours, theirs, params, grads, jit=True, check=loose):
    assert step.updates['a'].dtype == jnp.bfloat16 and step.params['a'].dtype == jnp.bfloat16
    assert_same_layout(step.state, step.their_state, 'bf16')


def test_init_under_jit_and_abstract_params():
  params = {'w': jnp.ones((2, 3)), 'b': jnp.zeros(3)}
  tx = ox.lbfgs(memory_size=4)
  assert_same_layout(jax.jit(tx.init)(params), optax.lbfgs(memory_size=4).init(params), 'jit')
  abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), params)
  assert jax.eval_shape(tx.init, abstract)[0].diff_params_memory['w'].shape == (4, 2, 3)


def test_bad_inputs_name_the_argument():
  with pytest.raises(ValueError, match='memory_size'):
    ox.scale_by_lbfgs(memory_size=0)
  with pytest.raises(TypeError, match='memory_size'):
    ox.lbfgs(memory_size=2.5)
  with pytest.raises(TypeError, match='memory_size'):
    ox.lbfgs(memory_size=True)
  with pytest.raises(TypeError, match='scale_init_precond'):
    ox.scale_by_lbfgs(scale_init_precond=1)
  with pytest.raises(ValueError, match='learning_rate'):
    ox.lbfgs(learning_rate=jnp.ones(2))
  with pytest.raises(TypeError, match='linesearch'):
    ox.lbfgs(linesearch='zoom')
  tx = ox.scale_by_lbfgs()
  w = {'a': jnp.ones(2), 'b': jnp.ones(1)}
  with pytest.raises(ValueError, match='params'):
    tx.update(w, tx.init(w))
  with pytest.raises(ValueError, match=r"\['c'\]"):
    tx.update({'a': jnp.ones(2), 'c': jnp.ones(1)}, tx.init(w), w)

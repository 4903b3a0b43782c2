"""Line searches (backtracking, zoom) and value_and_grad_from_state against optax 0.2.8: whole
trajectories step by step (params, updates and every state leaf, the info included), eager and
jitted, on Rosenbrock and on a pytree objective; hand-computed steps; the errors."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optax_like as ox
from differential import ErrorLog, assert_same_layout, assert_trees_close, value_fn_trajectory

ERRORS = ErrorLog('linesearch')


def rosenbrock(x):
  return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def tree_objective(p):
  # A coupled, non-quadratic objective over a nested tree with a None leaf.
  a, b = p['a'], p['b']['c']
  return jnp.sum((a - 1.0) ** 2) + 0.5 * jnp.sum(b ** 4) + jnp.sum(a[:2] * b[0]) ** 2


W_VECTOR = jnp.array([-1.2, 1.0, 0.5, -0.3])
W_TREE = {'a': jnp.array([0.3, -1.0, 2.0]), 'b': {'c': jnp.array([[1.0, -0.5], [0.2, 0.7]])},
          'none': None}


def assert_same_trajectory(ours, theirs, rtol=1e-6, atol=1e-7):
  for i, (a, b) in enumerate(zip(ours, theirs)):
    for x, y, what in zip(a, b, ('params', 'updates', 'state')):
      ERRORS.add(assert_trees_close(x, y, rtol=rtol, atol=atol, err_msg=f'step {i} {what}'))
    assert_same_layout(a[2], b[2], f'step {i}')


def _chain(lib, search, direction_lr):
  return lib.chain(lib.sgd(direction_lr), search)


BACKTRACKING = {
    'default_store_grad': dict(max_backtracking_steps=15, store_grad=True),
    'inf_increase_tols': dict(max_backtracking_steps=10, increase_factor=float('inf'), atol=1e-4,
                              rtol=1e-4, slope_rtol=0.0, store_grad=True),
    'keep_guess': dict(max_backtracking_steps=20, increase_factor=1.0, decrease_factor=0.5,
                       max_learning_rate=2.0, store_grad=True),
}


@pytest.mark.parametrize('config', sorted(BACKTRACKING))
def test_backtracking_trajectory_equals_optax(config, jit=True):
  kwargs = BACKTRACKING[config]
  f, w, lr = (rosenbrock, W_VECTOR, 1e-3) if config != 'keep_guess' else (
      tree_objective, W_TREE, 1.0)
  ours, theirs = (
      value_fn_trajectory(lib, _chain(lib, lib.scale_by_backtracking_linesearch(**kwargs), lr),
                          f, w, 5, jit)
      for lib in (ox, optax))
  assert_same_trajectory(ours, theirs)
  # The searches did work: the objective went down and the info counts evaluations.
  assert f(ours[-1][0]) < f(w)
  assert int(ours[0][2][1].info.num_linesearch_steps) >= 1


def test_backtracking_without_stored_gradient_takes_value_and_grad_each_step():
  f, w = rosenbrock, W_VECTOR
  results = []
  for lib in (ox, optax):
    tx = _chain(lib, lib.scale_by_backtracking_linesearch(max_backtracking_steps=8), 1e-3)
    state, steps = tx.init(w), []
    p = w
    for _ in range(3):   # eager: each update traces its loop anew
      value, grad = jax.value_and_grad(f)(p)
      u, state = tx.update(grad, state, p, value=value, grad=grad, value_fn=f)
      p = lib.apply_updates(p, u)
      steps.append((p, u, state))
    results.append(steps)
  assert_same_trajectory(*results)
  assert results[0][-1][2][1].grad is None


ZOOM = {
    'default': dict(max_linesearch_steps=15),
    'one_capped': dict(max_linesearch_steps=10, initial_guess_strategy='one',
                       max_learning_rate=0.5),
    'armijo_only_tight_curvature': dict(max_linesearch_steps=20, approx_dec_rtol=None,
                                        curv_rtol=0.1, increase_factor=3.0),
}


@pytest.mark.parametrize('config', sorted(ZOOM))
def test_zoom_trajectory_equals_optax(config, jit=True):
  kwargs = ZOOM[config]
  f, w = (tree_objective, W_TREE) if config == 'default' else (rosenbrock, W_VECTOR)
  ours, theirs = (
      value_fn_trajectory(lib, _chain(lib, lib.scale_by_zoom_linesearch(**kwargs), 1e-2),
                          f, w, 5, jit)
      for lib in (ox, optax))
  assert_same_trajectory(ours, theirs)
  info = optax.tree.get(ours[-1][2], 'info')
  assert type(info).__name__ == 'ZoomLinesearchInfo'
  assert f(ours[-1][0]) < f(w)


def test_zoom_with_batch_arguments_and_failures_equals_optax():
  # Extra keyword arguments reach value_fn; a too small max_linesearch_steps makes the search
  # fail and fall back, a direction that is not a descent direction gives no safe step.
  def f(w, batch):
    return jnp.sum((batch @ w - 1.0) ** 2) + jnp.sum(w ** 4)

  batch = jnp.array([[1.0, 2.0], [0.5, -1.0], [3.0, 0.1]])
  w = jnp.array([2.0, -3.0])
  for direction_sign in (1.0, -1.0):
    outs = []
    for lib in (ox, optax):
      tx = lib.scale_by_zoom_linesearch(max_linesearch_steps=3)
      value, grad = jax.value_and_grad(f)(w, batch)
      u, state = tx.update(jax.tree.map(lambda g: direction_sign * -g, grad), tx.init(w), w,
                           value=value, grad=grad, value_fn=f, batch=batch)
      outs.append((u, state))
    assert_trees_close(outs[0], outs[1])


def test_hand_computed_steps():
  # f = |w|^2 from w = (1, 2), direction -grad = (-2, -4), f(w) = 5, slope = -20.
  f = lambda w: jnp.sum(w ** 2)
  w = jnp.array([1.0, 2.0])
  value, grad = jax.value_and_grad(f)(w)
  # Backtracking: eta = 1 lands on f = 5 (rejected: 5 > 5 - 1e-4 * 20), eta = 0.8 on 1.8.
  tx = ox.scale_by_backtracking_linesearch(max_backtracking_steps=5, store_grad=True)
  u, state = tx.update(-grad, tx.init(w), w, value=value, grad=grad, value_fn=f)
  np.testing.assert_allclose(u, [-1.6, -3.2], rtol=1e-6)
  assert float(state.learning_rate) == pytest.approx(0.8)
  assert float(state.value) == pytest.approx(1.8)
  np.testing.assert_allclose(state.grad, [-1.2, -2.4], rtol=1e-6)
  assert int(state.info.num_linesearch_steps) == 2 and float(state.info.decrease_error) == 0.0
  # Zoom: eta = 1 overshoots (f = 5, no decrease), the quadratic interpolation gives 1/2.
  tx = ox.scale_by_zoom_linesearch(max_linesearch_steps=5)
  u, state = tx.update(-grad, tx.init(w), w, value=value, grad=grad, value_fn=f)
  np.testing.assert_allclose(u, [-1.0, -2.0], rtol=1e-6)
  assert float(state.learning_rate) == 0.5 and float(state.value) == 0.0
  assert int(state.info.num_linesearch_steps) == 2


@pytest.mark.parametrize('name', ['scale_by_backtracking_linesearch', 'scale_by_zoom_linesearch'])
def test_bfloat16_params_keep_optax_state_dtypes(name):
  kwargs = dict(max_backtracking_steps=5) if 'backtracking' in name else dict(
      max_linesearch_steps=5)
  w = {'x': jnp.array([1.0, -2.0], jnp.bfloat16), 'y': jnp.array([0.5, 3.0], jnp.float32)}
  f = lambda p: jnp.sum(p['x'].astype(jnp.float32) ** 2) + jnp.sum(p['y'] ** 2)
  value, grad = jax.value_and_grad(f)(w)
  direction = jax.tree.map(lambda g: -g, grad)
  ours, theirs = getattr(ox, name)(**kwargs), getattr(optax, name)(**kwargs)
  u, state = jax.jit(ours.update, static_argnames='value_fn')(
      direction, ours.init(w), w, value=value, grad=grad, value_fn=f)
  tu, tstate = theirs.update(direction, theirs.init(w), w, value=value, grad=grad, value_fn=f)
  assert_same_layout(state, tstate, name)
  assert_same_layout(state, ours.init(w), name)
  assert_trees_close(u, tu, rtol=2e-2, atol=1e-2)


def test_value_and_grad_from_state():
  f = lambda w: jnp.sum(w ** 2)
  w = jnp.array([1.0, 2.0, 3.0])
  value_and_grad = jax.jit(ox.value_and_grad_from_state(f))
  with pytest.raises(ValueError, match='no value or gradient'):
    value_and_grad(w, state=ox.scale_by_adam().init(w))
  two = ox.chain(ox.scale_by_zoom_linesearch(5), ox.scale_by_zoom_linesearch(5))
  with pytest.raises(KeyError, match="'value'"):
    value_and_grad(w, state=two.init(w))
  # A backtracking search without store_grad keeps no gradient.
  with pytest.raises(ValueError, match='store_grad'):
    value_and_grad(w, state=ox.scale_by_backtracking_linesearch(5).init(w))
  # Once a search has run, the stored value is returned without calling value_fn.
  tx = ox.chain(ox.sgd(0.1), ox.scale_by_backtracking_linesearch(5, store_grad=True))
  state = tx.init(w)
  value, grad = value_and_grad(w, state=state)   # first call: computed
  assert float(value) == 14.0
  u, state = tx.update(grad, state, w, value=value, grad=grad, value_fn=f)
  w = ox.apply_updates(w, u)
  liar = jax.jit(ox.value_and_grad_from_state(lambda w: jnp.sum(w) * 0 + 123.0))
  cached_value, cached_grad = liar(w, state=state)
  assert float(cached_value) == pytest.approx(float(f(w)))
  np.testing.assert_allclose(cached_grad, 2 * w, rtol=1e-6)


def test_bad_inputs_name_the_argument():
  with pytest.raises(ValueError, match='max_backtracking_steps'):
    ox.scale_by_backtracking_linesearch(-1)
  with pytest.raises(ValueError, match='decrease_factor'):
    ox.scale_by_backtracking_linesearch(5, decrease_factor=1.5)
  with pytest.raises(TypeError, match='store_grad'):
    ox.scale_by_backtracking_linesearch(5, store_grad=1)
  with pytest.raises(TypeError, match='slope_rtol'):
    ox.scale_by_backtracking_linesearch(5, slope_rtol=True)
  with pytest.raises(ValueError, match='max_linesearch_steps'):
    ox.scale_by_zoom_linesearch(2.5)
  with pytest.raises(ValueError, match='initial_guess_strategy'):
    ox.scale_by_zoom_linesearch(5, initial_guess_strategy='two')
  with pytest.raises(ValueError, match='curv_rtol'):
    ox.scale_by_zoom_linesearch(5, curv_rtol=-0.5)
  with pytest.raises(TypeError, match='value_fn'):
    ox.value_and_grad_from_state(3.0)
  # Unused extra arguments, and a wrong state, are errors naming what is wrong.
  w = jnp.ones(2)
  tx = ox.scale_by_zoom_linesearch(5)
  f = lambda w, batch: jnp.sum(w * batch)
  with pytest.raises(TypeError, match=r"Unexpected keyword arguments.*\['unused'\]"):
    tx.update(-w, tx.init(w), w, value=f(w, w), grad=w, value_fn=f, batch=w, unused=1)
  with pytest.raises(TypeError, match='state'):
    tx.update(-w, ox.scale_by_adam().init(w), w, value=1.0, grad=w, value_fn=jnp.sum)
  tree = {'a': jnp.ones(2), 'b': jnp.ones(1)}
  bt = ox.scale_by_backtracking_linesearch(3)
  with pytest.raises(ValueError, match=r"\['c'\]"):
    bt.update({'a': jnp.ones(2), 'c': jnp.ones(1)}, bt.init(tree), tree, value=1.0, grad=tree,
              value_fn=lambda p: p['a'].sum())


def test_verbose_failure_prints_optax_diagnostics(capfd):
  # Not a descent direction: the search fails and says why.
  f = lambda w: jnp.dot(w, w)
  w = jnp.array([60.0, 0.0])
  tx = ox.scale_by_zoom_linesearch(max_linesearch_steps=6, curv_rtol=0.5, verbose=True)
  value, grad = jax.value_and_grad(f)(w)
  _, state = tx.update(jnp.array([1.0, 0.0]), tx.init(w), w, value=value, grad=grad, value_fn=f)
  jax.effects_barrier()
  out = capfd.readouterr().out
  assert optax._src.linesearch.FLAG_NO_STEPSIZE_FOUND in out
  assert optax._src.linesearch.FLAG_NOT_A_DESCENT_DIRECTION in out
  assert float(state.info.decrease_error) > 0

r"""Line searches: a step size :math:`\eta` along the update direction :math:`u` chosen by
evaluating the objective :math:`f` at :math:`w + \eta u`.

* ``scale_by_backtracking_linesearch``: shrink :math:`\eta` until the Armijo (sufficient
  decrease) criterion holds.
* ``scale_by_zoom_linesearch``: the two-phase search of Nocedal & Wright (Algorithms 3.5, 3.6)
  for a step meeting both strong Wolfe criteria, with Hager & Zhang's approximate decrease
  criterion near a minimum.
* ``value_and_grad_from_state``: ``jax.value_and_grad`` that reuses the value and gradient a line
  search left in the optimizer state.

Both transforms are drop-ins for optax's (signatures, states, the same iterations and numbers):
their ``update`` takes the keyword arguments ``value`` (of :math:`f` at the params), ``grad`` (its
gradient there), ``value_fn`` (:math:`f`) and any keyword argument of ``value_fn`` (a batch).
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp

from optax_like._src import base
from optax_like._src import state_utils
from optax_like._src import tree as tree_lib
from optax_like._src import validation
from optax_like._src.linear_algebra import (tree_add_scale, tree_cast_like, tree_scale,
                                            tree_vdot, tree_where)


# --------------------------------------------------------------------------- states


class BacktrackingLinesearchInfo(NamedTuple):
  """Diagnostics of the last backtracking search.

  ``num_linesearch_steps``: evaluations of the objective it made; ``decrease_error``: how far the
  accepted step misses the sufficient decrease criterion (0 when it meets it).
  """
  num_linesearch_steps: jax.typing.ArrayLike  # int
  decrease_error: jax.typing.ArrayLike  # float


class ScaleByBacktrackingLinesearchState(NamedTuple):
  """State of ``scale_by_backtracking_linesearch``.

  ``learning_rate``: the accepted step size; ``value``: the objective at the new params;
  ``grad``: its gradient there with ``store_grad=True``, else None; ``info``: diagnostics.
  """
  learning_rate: jax.typing.ArrayLike  # float
  value: jax.typing.ArrayLike  # float
  grad: Optional[base.Updates]
  info: BacktrackingLinesearchInfo


class ZoomLinesearchInfo(NamedTuple):
  """Diagnostics of the last zoom search: objective evaluations, and how far the accepted step
  misses the sufficient decrease and the small curvature criteria (0 where it meets them)."""
  num_linesearch_steps: jax.typing.ArrayLike  # int
  decrease_error: jax.typing.ArrayLike  # float
  curvature_error: jax.typing.ArrayLike  # float


class ScaleByZoomLinesearchState(NamedTuple):
  """State of ``scale_by_zoom_linesearch``: the accepted step size, the objective's value and
  gradient at the new params (reused by ``value_and_grad_from_state``), and diagnostics."""
  learning_rate: jax.typing.ArrayLike
  value: jax.typing.ArrayLike
  grad: base.Updates
  info: ZoomLinesearchInfo


# Messages of the verbose diagnostics (the same words as optax's, which tests look for).
FLAG_INTERVAL_NOT_FOUND = (
    'No interval satisfying curvature condition. '
    'Consider increasing maximal possible stepsize of the linesearch.')
FLAG_INTERVAL_TOO_SMALL = 'Length of searched interval has been reduced below threshold.'
FLAG_CURVATURE_COND_NOT_SATISFIED = (
    'Returning stepsize with sufficient decrease but curvature condition not satisfied.')
FLAG_NO_STEPSIZE_FOUND = 'Linesearch failed, no stepsize satisfying sufficient decrease found.'
FLAG_NOT_A_DESCENT_DIRECTION = (
    'The linesearch failed because the provided direction is not a descent direction. ')


# --------------------------------------------------------------------------- shared helpers


def _value_dtype(params: Any, fn: str) -> jnp.dtype:
  """The real dtype of the first parameter leaf: the dtype of step sizes and values."""
  leaves = jax.tree.leaves(params)
  if not leaves:
    raise ValueError(f'{fn}: `params` has no array leaf; a line search needs parameters.')
  return jnp.real(jnp.empty((), jnp.asarray(leaves[0]).dtype)).dtype


def _split_value_fn_kwargs(value_fn: Callable[..., Any], extra_args: dict, fn: str) -> dict:
  """The extra keyword arguments that ``value_fn`` takes; any other one is an error."""
  if not callable(value_fn):
    raise TypeError(f'{fn}.update: `value_fn` must be callable (the objective), got '
                    f'{type(value_fn).__name__}.')
  accepted = set(inspect.signature(value_fn).parameters)
  unused = sorted(k for k in extra_args if k not in accepted)
  if unused:
    raise TypeError(
        f'Unexpected keyword arguments passed to `{fn}.update`. These arguments were not '
        f'consumed by `value_fn`: {unused}. Ensure that all extra keyword arguments are '
        'accepted by `value_fn`.')
  return {k: v for k, v in extra_args.items() if k in accepted}


def _real(x: Any) -> Any:
  return jnp.real(x)


def _conj(tree: Any) -> Any:
  return jax.tree.map(jnp.conj, tree)


def _print_if(condition: Any, message: str, **values: Any) -> None:
  jax.lax.cond(condition, lambda _: jax.debug.print(message, **values, ordered=True),
               lambda _: None, None)


def _check_count(value: Any, name: str, fn: str) -> None:
  validation.check_range(value, name, low=0, fn=fn)
  v = validation._static_number(value)  # pylint: disable=protected-access
  if v is not None and v != int(v):
    raise ValueError(f'{fn}: `{name}` must be a whole number, got {value!r}.')


def _check_verbose(verbose: Any, name: str, fn: str) -> None:
  if not isinstance(verbose, (bool, jnp.bool_)):
    raise TypeError(f'{fn}: `{name}` must be a bool, got {verbose!r}.')


# --------------------------------------------------------------------------- backtracking


class _BacktrackCarry(NamedTuple):
  """The loop carry of one backtracking search."""
  learning_rate: Any
  new_value: Any
  new_grad: Any
  decrease_error: Any
  iter_num: Any


def scale_by_backtracking_linesearch(
    max_backtracking_steps: jax.typing.ArrayLike,
    slope_rtol: jax.typing.ArrayLike = 1e-4,
    decrease_factor: jax.typing.ArrayLike = 0.8,
    increase_factor: jax.typing.ArrayLike = 1.5,
    max_learning_rate: jax.typing.ArrayLike = 1.0,
    atol: jax.typing.ArrayLike = 0.0,
    rtol: jax.typing.ArrayLike = 0.0,
    store_grad: bool = False,
    verbose: bool = False,
) -> base.GradientTransformationExtraArgs:
  r"""Scales the update :math:`u` by a step size meeting the Armijo criterion.

  The search starts from :math:`\eta_0 = \min(\gamma_{inc}\,\eta_{prev}, \eta_{max})` and tries
  :math:`\eta_j = \gamma_{dec}^j \eta_0` until

  .. math::
    f(w + \eta u) \le (1 + \delta) f(w) + c\, \eta\, \mathrm{Re}\langle u, \overline{\nabla f(w)}
    \rangle + \epsilon

  (``c`` = ``slope_rtol``, :math:`\delta` = ``rtol``, :math:`\epsilon` = ``atol``) or
  ``max_backtracking_steps`` more tries are spent; the update is :math:`\eta u` (0 when every try
  gave inf or NaN). Armijo (1966); Vaswani et al., *Painless Stochastic Gradient*, 2019.
  :math:`u` must be a descent direction (e.g. chain after ``sgd``).

  Args:
    max_backtracking_steps: the most step size reductions.
    slope_rtol: ``c`` above.
    decrease_factor: :math:`\gamma_{dec}`, the reduction per try.
    increase_factor: :math:`\gamma_{inc}`, the growth of the first guess from the last step size.
    max_learning_rate: :math:`\eta_{max}`.
    atol: :math:`\epsilon` above.
    rtol: :math:`\delta` above.
    store_grad: also compute the gradient at the accepted point and keep it in the state, for
      ``value_and_grad_from_state``.
    verbose: print diagnostics when the search fails.

  Returns:
    A ``GradientTransformationExtraArgs`` whose ``update`` takes ``value``, ``grad``, ``value_fn``
    and the keyword arguments of ``value_fn``.

  Example:
    >>> import jax, jax.numpy as jnp, optax_like as ox
    >>> f = lambda w: jnp.sum(w ** 2)
    >>> w = jnp.array([1.0, 2.0])
    >>> tx = ox.chain(ox.sgd(1.0), ox.scale_by_backtracking_linesearch(max_backtracking_steps=15))
    >>> value, grad = jax.value_and_grad(f)(w)
    >>> u, state = tx.update(grad, tx.init(w), w, value=value, grad=grad, value_fn=f)
    >>> # eta = 1: f([-1, -2]) = 5 > 5 - 1e-4 * 20, rejected; eta = 0.8: f = 1.8, taken.
    >>> round(float(state[1].learning_rate), 4), [round(x, 4) for x in u.tolist()]
    (0.8, [-1.6, -3.2])
  """
  fn = 'scale_by_backtracking_linesearch'
  _check_count(max_backtracking_steps, 'max_backtracking_steps', fn)
  validation.check_range(slope_rtol, 'slope_rtol', low=0.0, fn=fn)
  validation.check_range(decrease_factor, 'decrease_factor', low=0.0, high=1.0,
                         low_inclusive=False, fn=fn)
  validation.check_range(increase_factor, 'increase_factor', low=0.0, low_inclusive=False, fn=fn)
  validation.check_range(max_learning_rate, 'max_learning_rate', low=0.0, low_inclusive=False,
                         fn=fn)
  validation.check_range(atol, 'atol', low=0.0, fn=fn)
  validation.check_range(rtol, 'rtol', low=0.0, fn=fn)
  _check_verbose(store_grad, 'store_grad', fn)
  _check_verbose(verbose, 'verbose', fn)

  def init_fn(params):
    dtype = _value_dtype(params, fn)
    return ScaleByBacktrackingLinesearchState(
        learning_rate=jnp.array(1.0, dtype=dtype),
        value=jnp.array(jnp.inf, dtype=dtype),
        grad=tree_lib.tree_zeros_like(params) if store_grad else None,
        info=BacktrackingLinesearchInfo(num_linesearch_steps=jnp.asarray(0),
                                        decrease_error=jnp.array(jnp.inf, dtype=dtype)))

  def armijo_error(stepsize, slope, value, new_value):
    # By how much f(w + eta u) exceeds the Armijo bound; NaN (a step outside the domain) is inf.
    error = new_value - (1.0 + rtol) * value - stepsize * slope_rtol * slope
    return jnp.maximum(jnp.where(jnp.isnan(error), jnp.inf, error), 0.0)

  def update_fn(updates, state, params, *, value, grad, value_fn, **extra_args):
    validation.check_state(state, ScaleByBacktrackingLinesearchState, fn)
    validation.require_params(params, fn)
    validation.check_same_structure(updates, params, 'updates', 'params', fn)
    validation.check_same_structure(grad, params, 'grad', 'params', fn)
    fn_kwargs = _split_value_fn_kwargs(value_fn, extra_args, fn)
    objective = functools.partial(value_fn, **fn_kwargs)
    # d/d eta f(w + eta u) at 0; negative for a descent direction.
    slope = _real(tree_vdot(updates, _conj(grad)))

    def searching(carry):
      return (~(carry.decrease_error <= atol)) & (carry.iter_num <= max_backtracking_steps)

    def try_step(carry):
      # The first try takes the initial guess; each later one shrinks it.
      stepsize = jnp.where(carry.iter_num > 0, decrease_factor * carry.learning_rate,
                           carry.learning_rate)
      trial = tree_add_scale(params, stepsize, updates)
      if store_grad:
        new_value, tangent_map = jax.linearize(objective, trial)
        error = armijo_error(stepsize, slope, value, new_value)
        last_try = (error <= atol) | (carry.iter_num == max_backtracking_steps)
        # The gradient is the transpose of the tangent map, needed only for the accepted point.
        new_grad = jax.lax.cond(
            last_try, lambda p: jax.linear_transpose(tangent_map, p)(1.0)[0],
            lambda *_: carry.new_grad, trial)
      else:
        new_value = objective(trial)
        error = armijo_error(stepsize, slope, value, new_value)
        new_grad = carry.new_grad
      new = _BacktrackCarry(stepsize, new_value, new_grad, error, carry.iter_num + 1)
      return tree_cast_like(new, carry)

    first = _BacktrackCarry(
        learning_rate=jnp.minimum(increase_factor * state.learning_rate, max_learning_rate),
        new_value=value, new_grad=tree_lib.tree_zeros_like(params),
        decrease_error=jnp.array(jnp.inf), iter_num=0)
    found = jax.lax.while_loop(searching, try_step, first)
    # No step at all when every try gave inf or NaN.
    stepsize = jnp.where(jnp.isinf(found.decrease_error), 0.0, found.learning_rate)
    if verbose:
      _print_if(found.decrease_error > atol,
                'INFO: optax.scale_by_backtracking_linesearch:\n'
                'Backtracking linesearch failed to find a stepsize ensuring sufficent decrease.\n'
                'Value at current params: {value},\nSlope along update direction: {slope}\n'
                'Stepsize: {stepsize}\nDecrease Error: {decrease_error}',
                stepsize=found.learning_rate, decrease_error=found.decrease_error,
                value=value, slope=slope)
      _print_if(jnp.isinf(found.decrease_error),
                'Using a stepsize of 0 to avoid infinite or nan values.')
    new_state = ScaleByBacktrackingLinesearchState(
        learning_rate=stepsize, value=found.new_value,
        grad=found.new_grad if store_grad else None,
        info=BacktrackingLinesearchInfo(num_linesearch_steps=found.iter_num,
                                        decrease_error=found.decrease_error))
    return tree_scale(stepsize, updates), tree_cast_like(new_state, state)

  return base.GradientTransformationExtraArgs(init_fn, update_fn)


# --------------------------------------------------------------------------- zoom


class _ZoomCarry(NamedTuple):
  """The loop carry of one zoom search."""
  count: Any
  # Fixed during the search.
  params: Any
  updates: Any
  stepsize_guess: Any
  # The last point tried: eta, f, grad f and the slope Re<grad f, u> there.
  stepsize: Any
  value: Any
  grad: Any
  slope: Any
  # At eta = 0.
  value_init: Any
  slope_init: Any
  # Criteria at the last point tried.
  decrease_error: Any
  curvature_error: Any
  error: Any
  # Phase flags: the bracketing interval is known; the search succeeded; it gave up.
  interval_found: Any
  done: Any
  failed: Any
  # The bracketing interval: value(high) >= value(low), not necessarily high > low.
  low: Any
  value_low: Any
  slope_low: Any
  high: Any
  value_high: Any
  slope_high: Any
  # The third point of the cubic interpolation.
  cubic_ref: Any
  value_cubic_ref: Any
  # The best point meeting sufficient decrease, returned if curvature is never met.
  safe_stepsize: Any
  safe_value: Any
  safe_grad: Any


# pylint: disable=invalid-name
def _cubic_minimizer(a, fa, fpa, b, fb, c, fc):
  """The critical point of the cubic through (a, fa), (b, fb), (c, fc) with slope fpa at a
  (NaN where there is none; such a point is then not used)."""
  db, dc = b - a, c - a
  denominator = (db * dc) ** 2 * (db - dc)
  system = jnp.array([[dc ** 2, -(db ** 2)], [-(dc ** 3), db ** 3]])
  A, B = jnp.dot(system, jnp.array([fb - fa - fpa * db, fc - fa - fpa * dc]),
                 precision=jax.lax.Precision.HIGHEST) / denominator
  return a + (-B + jnp.sqrt(B * B - 3.0 * A * fpa)) / (3.0 * A)


def _quadratic_minimizer(a, fa, fpa, b, fb):
  """The critical point of the quadratic through (a, fa), (b, fb) with slope fpa at a."""
  db = b - a
  B = (fb - fa - fpa * db) / (db ** 2)
  return a - fpa / (2.0 * B)
# pylint: enable=invalid-name


def scale_by_zoom_linesearch(
    max_linesearch_steps: jax.typing.ArrayLike,
    max_learning_rate: Optional[jax.typing.ArrayLike] = None,
    tol: jax.typing.ArrayLike = 0.0,
    increase_factor: jax.typing.ArrayLike = 2.0,
    slope_rtol: jax.typing.ArrayLike = 1e-4,
    curv_rtol: jax.typing.ArrayLike = 0.9,
    approx_dec_rtol: Optional[jax.typing.ArrayLike] = 1e-6,
    stepsize_precision: jax.typing.ArrayLike = 1e-5,
    initial_guess_strategy: str = 'keep',
    verbose: bool = False,
) -> base.GradientTransformationExtraArgs:
  r"""Scales the update :math:`u` by a step size meeting the strong Wolfe criteria.

  With :math:`\phi(\eta) = f(w + \eta u)` and :math:`\phi'(\eta) = \mathrm{Re}\langle
  \overline{\nabla f(w + \eta u)}, u\rangle`, it looks for :math:`\eta` with

  .. math::
    \phi(\eta) \le \phi(0) + c_1 \eta \phi'(0) + \epsilon, \qquad
    |\phi'(\eta)| \le c_2 |\phi'(0)| + \epsilon

  (:math:`c_1` = ``slope_rtol``, :math:`c_2` = ``curv_rtol``, :math:`\epsilon` = ``tol``). Near a
  minimum, where :math:`\phi(\eta) \le \phi(0) + c_3 |\phi(0)|` (:math:`c_3` =
  ``approx_dec_rtol``), the first criterion may be met instead by Hager & Zhang's approximate one,
  :math:`\phi'(\eta) \le (2 c_1 - 1) \phi'(0)`. The search (Nocedal & Wright, *Numerical
  Optimization*, Algorithms 3.5 and 3.6) grows :math:`\eta` by ``increase_factor`` from the
  initial guess (1, or the last step size with ``initial_guess_strategy='keep'``) until it
  brackets an acceptable step, then narrows the bracket by cubic, quadratic or bisection steps;
  after ``max_linesearch_steps`` evaluations, or once the bracket is shorter than
  ``stepsize_precision``, it returns the best step meeting sufficient decrease found. The state
  keeps the value and gradient at the new params (Hager & Zhang, *CG_DESCENT*, 2006).

  Args:
    max_linesearch_steps: the most evaluations of the objective.
    max_learning_rate: the largest step size (None: unbounded).
    tol: :math:`\epsilon` above.
    increase_factor: growth of the step size while bracketing.
    slope_rtol: :math:`c_1` above.
    curv_rtol: :math:`c_2` above.
    approx_dec_rtol: :math:`c_3` above; None uses the Armijo criterion only.
    stepsize_precision: the bracket length under which a step with sufficient decrease is taken.
    initial_guess_strategy: ``'one'`` (for quasi-Newton directions) or ``'keep'``.
    verbose: print diagnostics when the search fails.

  Returns:
    A ``GradientTransformationExtraArgs`` whose ``update`` takes ``value``, ``grad``, ``value_fn``
    and the keyword arguments of ``value_fn``.

  Example:
    >>> import jax, jax.numpy as jnp, optax_like as ox
    >>> f = lambda w: jnp.sum(w ** 2)
    >>> w = jnp.array([1.0, 2.0])
    >>> tx = ox.chain(ox.sgd(1.0), ox.scale_by_zoom_linesearch(max_linesearch_steps=15))
    >>> value, grad = jax.value_and_grad(f)(w)
    >>> u, state = tx.update(grad, tx.init(w), w, value=value, grad=grad, value_fn=f)
    >>> float(state[1].learning_rate)   # 1 overshoots; the quadratic model gives 1/2 exactly
    0.5
    >>> (w + u).tolist(), float(state[1].value)
    ([0.0, 0.0], 0.0)
  """
  fn = 'scale_by_zoom_linesearch'
  _check_count(max_linesearch_steps, 'max_linesearch_steps', fn)
  if max_learning_rate is not None:
    validation.check_range(max_learning_rate, 'max_learning_rate', low=0.0, low_inclusive=False,
                           fn=fn)
  validation.check_range(tol, 'tol', low=0.0, fn=fn)
  validation.check_range(increase_factor, 'increase_factor', low=0.0, low_inclusive=False, fn=fn)
  validation.check_range(slope_rtol, 'slope_rtol', low=0.0, fn=fn)
  validation.check_range(curv_rtol, 'curv_rtol', low=0.0, fn=fn)
  if approx_dec_rtol is not None:
    validation.check_range(approx_dec_rtol, 'approx_dec_rtol', low=0.0, fn=fn)
  validation.check_range(stepsize_precision, 'stepsize_precision', low=0.0, fn=fn)
  if initial_guess_strategy not in ('one', 'keep'):
    raise ValueError(f"{fn}: `initial_guess_strategy` must be 'one' or 'keep', got "
                     f'{initial_guess_strategy!r}.')
  _check_verbose(verbose, 'verbose', fn)

  def on_line(value_and_grad_fn, params, stepsize, updates):
    """phi(eta), grad f and phi'(eta) at w + eta u."""
    value, grad = value_and_grad_fn(tree_add_scale(params, stepsize, updates))
    return value, grad, _real(tree_vdot(_conj(grad), updates))

  def decrease_error_at(stepsize, value, slope, value_init, slope_init):
    armijo = value - value_init - slope_rtol * stepsize * slope_init
    if approx_dec_rtol is not None:
      # Hager-Zhang's criterion, used only once the values come within approx_dec_rtol * |f(w)|
      # of f(w): the Armijo test cannot resolve differences below sqrt(machine epsilon) there.
      approximate = jnp.maximum(
          slope - (2 * slope_rtol - 1.0) * slope_init,
          value - value_init - approx_dec_rtol * jnp.abs(value_init))
      armijo = jnp.minimum(approximate, armijo)
    error = jnp.maximum(armijo, 0.0)
    return jnp.where(jnp.isnan(error), jnp.inf, error)

  def curvature_error_at(slope, slope_init):
    error = jnp.maximum(jnp.abs(slope) - curv_rtol * jnp.abs(slope_init), 0.0)
    return jnp.where(jnp.isnan(error), jnp.inf, error)

  def start(updates, params, value, grad, prev_stepsize):
    guess = prev_stepsize if initial_guess_strategy == 'keep' else jnp.asarray(1.0)
    dtype = _value_dtype(params, fn)
    slope = _real(tree_vdot(updates, grad))
    zero, inf = jnp.asarray(0.0), jnp.asarray(jnp.inf)
    return _ZoomCarry(
        count=jnp.asarray(0), params=params, updates=updates, stepsize_guess=guess,
        stepsize=jnp.asarray(0.0, dtype=dtype), value=jnp.array(value, dtype=dtype), grad=grad,
        slope=slope, value_init=value, slope_init=slope,
        decrease_error=inf, curvature_error=inf, error=inf,
        interval_found=jnp.asarray(False), done=jnp.asarray(False), failed=jnp.asarray(False),
        low=zero, value_low=value, slope_low=slope, high=zero, value_high=value,
        slope_high=slope, cubic_ref=zero, value_cubic_ref=value,
        safe_stepsize=zero, safe_value=value, safe_grad=grad)

  def bracket(s, value_and_grad_fn):
    """Phase 1: grow the step until [low, high] brackets an acceptable one."""
    stepsize = jnp.where(s.count == 0, s.stepsize_guess, increase_factor * s.stepsize)
    if max_learning_rate is not None:
      at_max = stepsize >= max_learning_rate
      stepsize = jnp.minimum(stepsize, max_learning_rate)
    else:
      at_max = jnp.asarray(False)
    value, grad, slope = on_line(value_and_grad_fn, s.params, stepsize, s.updates)
    dec = decrease_error_at(stepsize, value, slope, s.value_init, s.slope_init)
    curv = curvature_error_at(slope, s.slope_init)
    error = jnp.maximum(dec, curv)
    safe_stepsize, safe_value, safe_grad = tree_where(
        dec <= tol, [stepsize, value, grad], [s.safe_stepsize, s.safe_value, s.safe_grad])
    # Algorithm 3.5: too far (no decrease, or rising again) -> [previous, new] brackets it;
    # going up-hill with decrease -> [new, previous] does.
    new_is_high = (dec > 0.0) | ((value >= s.value) & (s.count > 0))
    new_is_low = (slope >= 0.0) & ~new_is_high
    low, value_low, slope_low, high, value_high, slope_high = tree_where(
        new_is_low,
        [stepsize, value, slope, s.stepsize, s.value, s.slope],
        [s.stepsize, s.value, s.slope, stepsize, value, slope])
    interval_found = new_is_high | new_is_low | (error <= tol)
    # At the largest step without a bracket, the curvature criterion cannot be met below it:
    # take that step.
    done = (error <= tol) | (at_max & ~interval_found)
    if verbose:
      _print_if(at_max & ~interval_found,
                'INFO: optax.scale_by_zoom_linesearch:\n'
                'Value at current params: {value_init}\n'
                'Slope along update direction: {slope_init}\n'
                'Stepsize reached: {stepsize}\nDecrease Error: {decrease_error}\n'
                'Curvature Error: {curvature_error}' + FLAG_INTERVAL_NOT_FOUND + '\n'
                + FLAG_CURVATURE_COND_NOT_SATISFIED,
                value_init=s.value_init, slope_init=s.slope_init, stepsize=stepsize,
                decrease_error=dec, curvature_error=curv)
    failed = (s.count + 1 >= max_linesearch_steps) & ~done
    new = s._replace(
        count=tree_lib.safe_increment(s.count), stepsize=stepsize, value=value, grad=grad,
        slope=slope, decrease_error=dec, curvature_error=curv, error=error,
        interval_found=jnp.asarray(interval_found), done=jnp.asarray(done),
        failed=jnp.asarray(failed), low=low, value_low=value_low, slope_low=slope_low,
        high=high, value_high=value_high, slope_high=slope_high, cubic_ref=low,
        value_cubic_ref=value_low, safe_stepsize=safe_stepsize, safe_value=safe_value,
        safe_grad=safe_grad)
    return tree_cast_like(new, s)

  def zoom(s, value_and_grad_fn):
    """Phase 2 (Algorithm 3.6): a trial point inside the bracket, which then shrinks."""
    width = jnp.abs(s.high - s.low)
    left, right = jnp.minimum(s.high, s.low), jnp.maximum(s.high, s.low)
    too_narrow = width <= stepsize_precision
    # Cubic interpolation if its minimizer lies well inside, else quadratic, else bisection.
    cubic = _cubic_minimizer(s.low, s.value_low, s.slope_low, s.high, s.value_high, s.cubic_ref,
                             s.value_cubic_ref)
    use_cubic = (cubic > left + 0.2 * width) & (cubic < right - 0.2 * width)
    quadratic = _quadratic_minimizer(s.low, s.value_low, s.slope_low, s.high, s.value_high)
    use_quadratic = ~use_cubic & (quadratic > left + 0.1 * width) & (
        quadratic < right - 0.1 * width)
    use_bisection = ~use_cubic & ~use_quadratic
    middle = jnp.where(use_cubic, cubic, s.cubic_ref)
    middle = jnp.where(use_quadratic, quadratic, middle)
    middle = jnp.where(use_bisection, (s.low + s.high) / 2.0, middle)

    value, grad, slope = on_line(value_and_grad_fn, s.params, middle, s.updates)
    dec = decrease_error_at(middle, value, slope, s.value_init, s.slope_init)
    curv = curvature_error_at(slope, s.slope_init)
    error = jnp.maximum(dec, curv)
    # Keep the lowest point with sufficient decrease as the fallback.
    better_safe = (dec <= tol) & (value < s.safe_value)
    safe_stepsize, safe_value, safe_grad = tree_where(
        better_safe, [middle, value, grad], [s.safe_stepsize, s.safe_value, s.safe_grad])
    done = error <= tol

    middle_is_high = (dec > 0.0) | (value >= s.value_low)
    low_becomes_high = (slope * (s.high - s.low) >= 0.0) & ~middle_is_high
    middle_is_low = ~middle_is_high
    point = [middle, value, slope]
    high = tree_where(middle_is_high, point, [s.high, s.value_high, s.slope_high])
    high = tree_where(low_becomes_high, [s.low, s.value_low, s.slope_low], high)
    low = tree_where(middle_is_low, point, [s.low, s.value_low, s.slope_low])
    # The end point just dropped from the bracket is the next cubic's third point.
    cubic_ref, value_cubic_ref = tree_where(
        middle_is_high | low_becomes_high, [s.high, s.value_high], [s.low, s.value_low])
    # Give up at the last evaluation, or once the bracket is too narrow and a step with
    # sufficient decrease is known (very steep objectives may still need tiny steps).
    out_of_steps = (s.count + 1) >= max_linesearch_steps
    failed = (jnp.asarray(out_of_steps) | (too_narrow & (safe_stepsize > 0.0))) & ~done
    new = s._replace(
        count=tree_lib.safe_increment(s.count), stepsize=middle, value=value, grad=grad,
        slope=slope, decrease_error=dec, curvature_error=curv, error=error, done=done,
        failed=failed, low=low[0], value_low=low[1], slope_low=low[2], high=high[0],
        value_high=high[1], slope_high=high[2], cubic_ref=cubic_ref,
        value_cubic_ref=value_cubic_ref, safe_stepsize=safe_stepsize, safe_value=safe_value,
        safe_grad=safe_grad)
    return tree_cast_like(new, s)

  def failure_report(s):
    jax.debug.print(FLAG_NO_STEPSIZE_FOUND)
    descent = s.slope_init < 0.0
    _print_if(~descent, FLAG_NOT_A_DESCENT_DIRECTION
              + 'The slope (={slope_init}) at stepsize=0 should be negative',
              slope_init=s.slope_init)
    _print_if(descent, 'Consider augmenting the maximal number of linesearch iterations.')
    eps = jnp.finfo(jnp.float32).eps
    _print_if((s.stepsize < eps) & descent,
              'Computed stepsize (={stepsize}) is below machine precision (={eps}), consider '
              "passing to higher precision like x64, using jax.config.update('jax_enable_x64', "
              'True).', stepsize=s.stepsize, eps=eps)
    abs_slope_init = jnp.abs(s.slope_init)
    _print_if((abs_slope_init > 1e16) & descent,
              'Very large absolute slope at stepsize=0. (|slope|={abs_slope_init}). The '
              'objective is badly conditioned. Consider reparameterizing objective (e.g., '
              'normalizing parameters) or finding a better guess for the initial parameters '
              'for the solver.', abs_slope_init=abs_slope_init)
    outside_domain = jnp.isinf(s.decrease_error)
    _print_if(outside_domain, 'Cannot even make a step without getting Inf or Nan. The '
              "linesearch won't make a step and the optimizer is stuck.")
    _print_if(~outside_domain, 'Making an unsafe step, not decreasing enough the objective. '
              'Convergence of the solver is compromised as it does not reduce values.')

  def fall_back(s):
    """After a failed search: the best step with sufficient decrease if any (or when the last
    point is outside the domain), else the last point tried."""
    outside_domain = jnp.isinf(s.decrease_error)
    stepsize, value, grad = tree_where(
        (s.safe_stepsize > 0.0) | outside_domain,
        [s.safe_stepsize, s.safe_value, s.safe_grad], [s.stepsize, s.value, s.grad])
    if verbose:
      jax.debug.print('INFO: optax.scale_by_zoom_linesearch:\n'
                      'Value at current params: {value_init}\n'
                      'Slope along update direction: {slope_init}\n'
                      'Stepsize reached: {stepsize}\nDecrease Error: {decrease_error}\n'
                      'Curvature Error: {curvature_error}', value_init=s.value_init,
                      slope_init=s.slope_init, stepsize=s.stepsize,
                      decrease_error=s.decrease_error, curvature_error=s.curvature_error,
                      ordered=True)
      width = jnp.abs(s.low - s.high)
      _print_if(width <= stepsize_precision,
                FLAG_INTERVAL_TOO_SMALL + ' Interval length: {interval_length}.',
                interval_length=width)
      jax.lax.cond(s.safe_stepsize > 0.0,
                   lambda _: jax.debug.print(FLAG_CURVATURE_COND_NOT_SATISFIED
                                             + ' Stepsize ensuring sufficient decrease: '
                                             '{safe_stepsize}.', safe_stepsize=s.safe_stepsize),
                   failure_report, s)
    return tree_cast_like(s._replace(stepsize=stepsize, grad=grad, value=value), s)

  def init_fn(params):
    dtype = _value_dtype(params, fn)
    return ScaleByZoomLinesearchState(
        learning_rate=jnp.asarray(1.0, dtype=dtype), value=jnp.asarray(jnp.inf, dtype=dtype),
        grad=tree_lib.tree_zeros_like(params),
        info=ZoomLinesearchInfo(num_linesearch_steps=jnp.asarray(0),
                                decrease_error=jnp.asarray(jnp.inf),
                                curvature_error=jnp.asarray(jnp.inf)))

  def update_fn(updates, state, params, *, value, grad, value_fn, **extra_args):
    validation.check_state(state, ScaleByZoomLinesearchState, fn)
    validation.require_params(params, fn)
    validation.check_same_structure(updates, params, 'updates', 'params', fn)
    validation.check_same_structure(grad, params, 'grad', 'params', fn)
    fn_kwargs = _split_value_fn_kwargs(value_fn, extra_args, fn)
    value_and_grad_fn = functools.partial(jax.value_and_grad(value_fn), **fn_kwargs)

    def step(s):
      s2 = jax.lax.cond(s.interval_found, functools.partial(zoom, value_and_grad_fn=value_and_grad_fn),
                        functools.partial(bracket, value_and_grad_fn=value_and_grad_fn), s)
      s2 = jax.lax.cond(s2.failed, fall_back, lambda x: x, s2)
      return tree_cast_like(s2, s)

    final = jax.lax.while_loop(lambda s: ~(s.done | s.failed), step,
                               start(updates, params, value, grad, state.learning_rate))
    new_state = ScaleByZoomLinesearchState(
        learning_rate=final.stepsize, value=final.value, grad=final.grad,
        info=ZoomLinesearchInfo(num_linesearch_steps=final.count,
                                decrease_error=final.decrease_error,
                                curvature_error=final.curvature_error))
    return tree_scale(final.stepsize, updates), tree_cast_like(new_state, state)

  return base.GradientTransformationExtraArgs(init_fn, update_fn)


# --------------------------------------------------------------------------- reuse from state


def value_and_grad_from_state(
    value_fn: Callable[..., jax.typing.ArrayLike],
) -> Callable[..., tuple[jax.typing.ArrayLike, base.Updates]]:
  r"""``jax.value_and_grad(value_fn)`` that returns the value and gradient a line search stored
  in the optimizer state instead of recomputing them.

  .. math::
    (f, \nabla f)(w) = \begin{cases} (\texttt{state.value}, \texttt{state.grad}) &
    \texttt{state.value} \text{ finite} \\ \texttt{jax.value\_and\_grad}(f)(w) &
    \text{otherwise (the first step)} \end{cases}

  The returned function is called as ``value_and_grad(params, *args, state=state, **kwargs)``.
  The state must hold exactly one ``value`` and one ``grad`` (ValueError if none or a None
  gradient: use ``store_grad=True`` with the backtracking search; KeyError if several).
  Exact only for a deterministic objective, evaluated at the params the line search moved to.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> f = lambda w: jnp.sum(w ** 2)
    >>> tx = ox.scale_by_zoom_linesearch(max_linesearch_steps=10)
    >>> value_and_grad = ox.value_and_grad_from_state(f)
    >>> w = jnp.array([1.0, 2.0])
    >>> value, grad = value_and_grad(w, state=tx.init(w))   # nothing stored yet: computed
    >>> float(value), grad.tolist()
    (5.0, [2.0, 4.0])
  """
  if not callable(value_fn):
    raise TypeError(f'value_and_grad_from_state: `value_fn` must be callable, got '
                    f'{type(value_fn).__name__}.')

  def value_and_grad(params, *fn_args, state, **fn_kwargs):
    # optax.tree.get's lookup: None when absent, KeyError when several entries match.
    value, grad = state_utils.tree_get(state, 'value'), state_utils.tree_get(state, 'grad')
    if value is None or grad is None:
      raise ValueError(
          'value_and_grad_from_state: no value or gradient found in the state; the optimizer '
          'must store them (a zoom line search, or a backtracking one with store_grad=True).')
    return jax.lax.cond(
        ~jnp.isinf(value) & ~jnp.isnan(value),
        lambda *_: (value, grad),
        lambda p, a, kw: jax.value_and_grad(value_fn)(p, *a, **kw),
        params, fn_args, fn_kwargs)

  return value_and_grad

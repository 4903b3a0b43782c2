r"""Step sizes computed from the run itself: Polyak's step and distance over gradients (DoG).

``scale_by_polyak`` reads the loss through the extra ``update`` argument ``value`` (a
``GradientTransformationExtraArgs``); ``scale_by_distance_over_gradients`` keeps the initial
parameters and per-leaf statistics. Norms are computed in float32 for 16-bit leaves and the
updates returned in their own dtype.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from optax_like._src import base
from optax_like._src import tree
from optax_like._src import validation

_POLYAK_VARIANTS = ('sps', 'sps+')


def _squared_norm(updates: Any) -> jax.Array:
  """``sum_i ||u_i||^2`` over all leaves (float32 accumulation for 16-bit leaves)."""
  leaves = [tree.upcast(x) for x in jax.tree.leaves(updates)]
  if not leaves:
    return jnp.zeros([], jnp.float32)
  return sum(jnp.sum(tree.abs_sq(x)) for x in leaves)


def scale_by_polyak(
    f_min: Any = 0.0,
    max_learning_rate: Any = 1.0,
    eps: Any = 0.0,
    variant: str = 'sps',
) -> base.GradientTransformationExtraArgs:
  r"""Scales the updates by Polyak's step size, read from the loss ``value``.

  .. math::
    \gamma = \begin{cases} 0 & \|g\|^2 + \epsilon \le \epsilon_{mach} \\
      \min\left(\frac{f(x) - f^\star}{\|g\|^2 + \epsilon}, \gamma_{max}\right) & \text{else}
    \end{cases}, \qquad u = \gamma\, g

  with :math:`\|g\|` the global L2 norm of the updates; ``variant='sps+'`` uses
  :math:`\max(f(x) - f^\star, 0)` (Garrigos et al., 2023, arXiv:2307.14528). Loizou et al.,
  "Stochastic Polyak Step-size for SGD", 2021 (arXiv:2002.10542).

  Args:
    f_min: a lower bound :math:`f^\star` of the loss.
    max_learning_rate: the largest step :math:`\gamma_{max}`, ``>= 0``.
    eps: added to the squared norm, ``>= 0``.
    variant: ``'sps'`` or ``'sps+'``.

  Returns:
    A stateless ``GradientTransformationExtraArgs`` whose ``update`` takes the keyword
    argument ``value`` (the loss at the current parameters).

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like._src import parameter_free
    >>> tx = parameter_free.scale_by_polyak(max_learning_rate=10.0)
    >>> g = jnp.array([3.0, 4.0])   # |g|^2 = 25, step = 5 / 25
    >>> tx.update(g, tx.init(g), value=jnp.array(5.0))[0].tolist()
    [0.6000000238418579, 0.800000011920929]
  """
  fn = 'scale_by_polyak'
  validation.check_range(f_min, 'f_min', fn=fn)
  validation.check_range(max_learning_rate, 'max_learning_rate', low=0.0, fn=fn)
  validation.check_range(eps, 'eps', low=0.0, fn=fn)

  def update_fn(updates, state, params=None, *, value: Optional[Any] = None, **extra_args):
    del params, extra_args
    # Checked here, where optax raises (a test may build the transform first).
    if variant not in _POLYAK_VARIANTS:
      raise ValueError(f'Invalid argument value for Polyak SGD: {variant=} ({fn}: `variant` '
                       f'must be one of {list(_POLYAK_VARIANTS)}).')
    if value is None:
      raise TypeError(f'{fn}: `update` needs the keyword argument `value` (the loss at the '
                      'current parameters).')
    sq_norm = _squared_norm(updates)
    gap = jnp.asarray(value - f_min).astype(sq_norm.dtype)
    if variant == 'sps+':
      gap = jnp.maximum(gap, 0)
    step = jnp.where(sq_norm + eps <= np.finfo(float).eps, jnp.zeros([], sq_norm.dtype),
                     jnp.minimum(gap / (sq_norm + eps), max_learning_rate))

    def leaf(g):
      return tree.cast(step.astype(tree.compute_dtype(g.dtype)) * tree.upcast(g),
                       tree.result_dtype(g))

    return jax.tree.map(leaf, updates), state

  return base.grouping_free(base.GradientTransformationExtraArgs(base.init_empty_state,
                                                                 update_fn))


class ScaleByDistanceOverGradientsState(NamedTuple):
  """State of ``scale_by_distance_over_gradients``.

  Attributes:
    max_dist: per leaf, a scalar: the largest distance of the parameters from where they
      started (initially ``reps_rel * (1 + ||p_0||)``).
    grad_sum_of_squares: per leaf, a ``(1,)`` array: the running sum of squared gradients.
    init_params: the initial parameters, in ``param_dtype``.
  """
  max_dist: base.OptState
  grad_sum_of_squares: base.OptState
  init_params: base.OptState


def scale_by_distance_over_gradients(reps_rel=1e-6, eps=1e-8, param_dtype=jnp.float32,
                                     global_scale=1.0) -> base.GradientTransformation:
  r"""Layer-wise DoG: each leaf's step is its distance travelled over its root sum of squares.

  For each leaf, with :math:`x_0` its initial value:

  .. math::
    \bar r_t = \max\left(\bar r_{t-1}, \|x_t - x_0\|\right), \qquad
    G_t = G_{t-1} + \|g_t\|^2, \qquad
    u_t = s\, \frac{\bar r_t}{\sqrt{G_t + \epsilon}}\, g_t

  with :math:`\bar r_0 = r_\epsilon (1 + \|x_0\|)`, :math:`G_0 = 0` and :math:`s` =
  ``global_scale`` (-1 for descent when not followed by a sign flip). Ivgi et al., "DoG is
  SGD's Best Friend: A Parameter-Free Dynamic Step Size Schedule", 2023 (arXiv:2302.12022).

  Args:
    reps_rel: :math:`r_\epsilon`, the relative size of the first step (1e-4 with batch norm,
      1e-6 otherwise).
    eps: added to the sum of squares, ``>= 0``.
    param_dtype: dtype in which the initial parameters are stored.
    global_scale: :math:`s`, a factor on every update.

  Returns:
    A ``GradientTransformation`` whose ``update`` needs ``params``, with state
    ``ScaleByDistanceOverGradientsState(max_dist, grad_sum_of_squares, init_params)``.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like._src import parameter_free
    >>> tx = parameter_free.scale_by_distance_over_gradients(reps_rel=0.5, eps=0.0)
    >>> p = jnp.array([3.0, 4.0])       # r = 0.5 * (1 + 5) = 3
    >>> u, state = tx.update(jnp.array([0.0, 2.0]), tx.init(p), p)   # G = 4: step 3 / 2
    >>> u.tolist(), float(state.max_dist), state.grad_sum_of_squares.tolist()
    ([0.0, 3.0], 3.0, [4.0])
  """
  fn = 'scale_by_distance_over_gradients'
  validation.check_range(reps_rel, 'reps_rel', low=0.0, fn=fn)
  validation.check_range(eps, 'eps', low=0.0, fn=fn)
  validation.check_range(global_scale, 'global_scale', fn=fn)
  param_dtype = tree.canonicalize_dtype(param_dtype)

  def distance(x, y=None):
    d = tree.upcast(x) if y is None else tree.upcast(x) - tree.upcast(y)
    return jnp.sqrt(jnp.sum(tree.abs_sq(d)))

  def init_fn(params):
    def first_distance(p):
      return (reps_rel * (1 + distance(p))).astype(tree.result_dtype(p))
    return ScaleByDistanceOverGradientsState(
        max_dist=jax.tree.map(first_distance, params),
        grad_sum_of_squares=jax.tree.map(lambda p: jnp.zeros(1), params),
        init_params=params if param_dtype is None else jax.tree.map(
            lambda p: jnp.asarray(p).astype(param_dtype), params))

  def leaf(g, d, sos, p, p0):
    gc = tree.upcast(g)
    # The distance's dtype follows the promotion of its inputs, as in optax (a bfloat16 leaf
    # with float32 initial parameters has a float32 distance from the first update on).
    dist_dtype = jnp.result_type(d, jnp.result_type(p, p0))
    new_d = jnp.maximum(tree.upcast(d), distance(p, p0))
    new_sos = tree.upcast(sos) + jnp.sum(tree.abs_sq(gc))
    eta = global_scale * (new_d / jnp.sqrt(new_sos + eps))
    # A scalar leaf keeps its shape (optax's product with the (1,) sum would give shape (1,)).
    u = jnp.reshape(eta * gc, jnp.shape(g))
    return (tree.cast(u, tree.result_dtype(g)), new_d.astype(dist_dtype),
            new_sos.astype(jnp.result_type(sos, g)))

  def dog_update(updates, state, params=None):
    validation.require_params(params, fn)
    validation.check_state(state, ScaleByDistanceOverGradientsState, fn)
    new_updates, max_dist, sos = tree.tree_map_split(
        leaf, updates, state.max_dist, state.grad_sum_of_squares, params,
        state.init_params, n_out=3,
        names=('updates', 'state.max_dist', 'state.grad_sum_of_squares', 'params',
               'state.init_params'), fn_name=fn)
    return new_updates, ScaleByDistanceOverGradientsState(max_dist, sos, state.init_params)

  return base.GradientTransformation(init_fn, dog_update)

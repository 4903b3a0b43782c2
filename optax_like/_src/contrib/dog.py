r"""DoG and DoWG: step sizes from the distance travelled over the accumulated gradient norms.

Both scale the whole update tree by one global scalar step size (unlike the per-leaf
``scale_by_distance_over_gradients`` of the top level, which is layer-wise DoG with a state of
its own).

* DoG: Ivgi et al., `DoG is SGD's Best Friend: A Parameter-Free Dynamic Step Size Schedule
  <https://arxiv.org/abs/2302.12022>`_, 2023.
* DoWG: Khaled et al., `DoWG Unleashed: An Efficient Universal Parameter-Free Gradient Descent
  Method <https://arxiv.org/abs/2305.16284>`_, 2023.
"""

from typing import Any, Callable, Literal, NamedTuple, Optional, Union

import chex
import jax
import jax.numpy as jnp

from optax_like._src import alias
from optax_like._src import base
from optax_like._src import scaling
from optax_like._src import tree
from optax_like._src import validation
from optax_like._src.contrib import _scalars
from optax_like._src.weight_decay import add_decayed_weights

_INIT_STEP_KINDS = ('distance', 'learning_rate', 'heuristic')


class DoGState(NamedTuple):
  """State of DoG (optax's fields)."""
  is_init_step: jax.Array       # bool: no update done yet
  init_params: base.Params      # x_0
  max_dist: jax.Array           # max_k ||x_k - x_0|| (started at r_eps)
  sum_sq_norm_grads: jax.Array  # sum_k ||g_k||^2


class DoWGState(NamedTuple):
  """State of DoWG (optax's fields)."""
  init_params: base.Params            # x_0
  weighted_sq_norm_grads: jax.Array   # sum_k r_k^2 ||g_k||^2
  estim_sq_dist: jax.Array            # max_k ||x_k - x_0||^2 (started at the initial guess)


def _scaled(step: jax.Array, updates: Any) -> Any:
  return jax.tree.map(lambda g: _scalars.as_leaf(step * tree.upcast(g), g), updates)


def _distance_sq(params: Any, init_params: Any, fn: str) -> jax.Array:
  validation.check_same_structure(params, init_params, 'params', 'state.init_params', fn)
  diffs = jax.tree.map(lambda x0, x: tree.upcast(x0) - tree.upcast(x), init_params, params)
  return _scalars.sq_norm(diffs)


def _check_init_step(init_step: Any, fn: str) -> tuple:
  if not (isinstance(init_step, (tuple, list)) and len(init_step) == 2):
    raise ValueError(f'{fn}: `init_step` must be a pair (kind, value) with kind one of '
                     f'{_INIT_STEP_KINDS}, got {init_step!r}.')
  kind, value = init_step
  if kind not in _INIT_STEP_KINDS:
    raise ValueError(f'{fn}: the kind of `init_step` must be one of {_INIT_STEP_KINDS}, '
                     f'got {kind!r}.')
  validation.check_range(value, 'init_step value', low=0.0, fn=fn)
  return kind, value


def _scale_by_dog(init_step: tuple, eps: chex.Numeric) -> base.GradientTransformation:
  r"""DoG's global step size (the transform ``dog`` chains; optax's ``scale_by_dog``).

  .. math::
    \bar r_t = \max(\bar r_{t-1}, \|x_t - x_0\|), \quad G_t = G_{t-1} + \|g_t\|^2, \quad
    u_t = \frac{\bar r_t}{\sqrt{G_t + \epsilon}}\, g_t
  """
  fn = 'dog'
  kind, value = _check_init_step(init_step, fn)
  validation.check_range(eps, 'eps', low=0.0, fn=fn)

  def init_fn(params):
    dtype = _scalars.params_dtype(params, 'lowest', fn)
    if kind == 'distance':
      r_eps = value
    elif kind == 'heuristic':
      r_eps = value * (1 + _scalars.norm(params))
    else:
      r_eps = 0.0
    return DoGState(is_init_step=jnp.asarray(True), init_params=params,
                    max_dist=jnp.asarray(r_eps, dtype),
                    sum_sq_norm_grads=jnp.asarray(0.0, dtype))

  def update_fn(updates, state, params=None):
    validation.require_params(params, fn)
    validation.check_state(state, DoGState, fn)
    dist = jnp.sqrt(_distance_sq(params, state.init_params, fn))
    max_dist = jnp.maximum(state.max_dist, dist)
    sum_sq = state.sum_sq_norm_grads + _scalars.sq_norm(updates)
    step = max_dist / jnp.sqrt(sum_sq + eps)
    if kind == 'learning_rate':
      step = jnp.where(state.is_init_step, value, step)
    return _scaled(step, updates), DoGState(
        is_init_step=jnp.asarray(False), init_params=state.init_params,
        max_dist=max_dist.astype(state.max_dist.dtype),
        sum_sq_norm_grads=sum_sq.astype(state.sum_sq_norm_grads.dtype))

  return base.grouping_free(base.GradientTransformation(init_fn, update_fn))


def _scale_by_dowg(init_estim_sq_dist: Optional[chex.Numeric],
                   eps: chex.Numeric) -> base.GradientTransformation:
  r"""DoWG's global step size (the transform ``dowg`` chains; optax's ``scale_by_dowg``).

  .. math::
    \bar r^2_t = \max(\bar r^2_{t-1}, \|x_t - x_0\|^2), \quad
    v_t = v_{t-1} + \bar r^2_t \|g_t\|^2, \quad
    u_t = \frac{\bar r^2_t}{\sqrt{v_t} + \epsilon}\, g_t
  """
  fn = 'dowg'
  validation.check_range(eps, 'eps', low=0.0, fn=fn)
  if init_estim_sq_dist is not None:
    validation.check_range(init_estim_sq_dist, 'init_estim_sq_dist', low=0.0, fn=fn)

  def init_fn(params):
    dtype = _scalars.params_dtype(params, 'lowest', fn)
    first = eps if init_estim_sq_dist is None else init_estim_sq_dist
    return DoWGState(init_params=params,
                     weighted_sq_norm_grads=jnp.asarray(0.0, dtype),
                     estim_sq_dist=jnp.asarray(first, dtype))

  def update_fn(updates, state, params=None):
    validation.require_params(params, fn)
    validation.check_state(state, DoWGState, fn)
    sq_dist = jnp.maximum(state.estim_sq_dist,
                          _distance_sq(params, state.init_params, fn))
    weighted = sq_dist * _scalars.sq_norm(updates) + state.weighted_sq_norm_grads
    step = sq_dist / (jnp.sqrt(weighted) + eps)
    return _scaled(step, updates), state._replace(
        estim_sq_dist=sq_dist.astype(state.estim_sq_dist.dtype),
        weighted_sq_norm_grads=weighted.astype(state.weighted_sq_norm_grads.dtype))

  return base.grouping_free(base.GradientTransformation(init_fn, update_fn))


def _decay(weight_decay, mask):
  if weight_decay is None:
    return base.identity()
  return add_decayed_weights(weight_decay, mask)


def dog(learning_rate: base.ScalarOrSchedule = 1.0,
        init_step: tuple[Literal['distance', 'learning_rate', 'heuristic'],
                         chex.Numeric] = ('heuristic', 1e-6),
        eps: chex.Numeric = 1e-8,
        weight_decay: Optional[chex.Numeric] = None,
        mask: Optional[Union[Any, Callable[[base.Params], Any]]] = None):
  r"""Distance over Gradients (DoG): SGD whose step is the distance travelled over the root
  of the summed squared gradient norms.

  .. math::
    \bar r_t = \max_{k \le t} \|x_k - x_0\|, \quad G_t = \sum_{k \le t} \|g_k\|^2, \quad
    x_{t+1} = x_t - \eta\, \frac{\bar r_t}{\sqrt{G_t + \epsilon}}\, g_t

  ``init_step`` fixes the first step: ``('distance', r)`` starts :math:`\bar r` at ``r``,
  ``('heuristic', a)`` at :math:`a (1 + \|x_0\|)` (``init`` must get the real parameters),
  ``('learning_rate', s)`` takes ``s`` as the first step size. Norms are over the whole tree.
  Reference: Ivgi et al., `DoG is SGD's Best Friend <https://arxiv.org/abs/2302.12022>`_, 2023.

  Args:
    learning_rate: multiplier :math:`\eta` of the step (a number or a schedule).
    init_step: ``(kind, value)``, kind one of ``'distance'``, ``'learning_rate'``,
      ``'heuristic'``; value ``>= 0``.
    eps: added to :math:`G_t`, ``>= 0``.
    weight_decay: optional L2 coefficient added to the gradients first.
    mask: tree of bools (or callable of the params) selecting the leaves to decay.

  Returns:
    A ``chain`` whose middle state is ``DoGState``.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like import contrib
    >>> opt = contrib.dog(init_step=('distance', 2.0), eps=0.0)
    >>> p = jnp.zeros(2)
    >>> u, _ = opt.update(jnp.array([3.0, 4.0]), opt.init(p), p)
    >>> u.tolist()   # step 2 / ||g|| = 2 / 5
    [-1.2000000476837158, -1.600000023841858]
  """
  validation.check_schedule_or_scalar(learning_rate, 'learning_rate', 'dog')
  inner = _scale_by_dog(init_step, eps)

  def make(decay_mask):
    return base.chain(_decay(weight_decay, decay_mask), inner,
                      scaling.scale_by_learning_rate(learning_rate))
  return alias._fusable(make(mask), make, (mask,))  # pylint: disable=protected-access


def dowg(learning_rate: base.ScalarOrSchedule = 1.0,
         init_estim_sq_dist: Optional[chex.Numeric] = None,
         eps: chex.Numeric = 1e-4,
         weight_decay: Optional[chex.Numeric] = None,
         mask: Optional[Union[Any, Callable[[base.Params], Any]]] = None):
  r"""Distance over Weighted Gradients (DoWG): DoG whose gradient norms are weighted by the
  squared distance estimate.

  .. math::
    \bar r^2_t = \max_{k \le t} \|x_k - x_0\|^2, \quad
    v_t = \sum_{k \le t} \bar r^2_k \|g_k\|^2, \quad
    x_{t+1} = x_t - \eta\, \frac{\bar r^2_t}{\sqrt{v_t} + \epsilon}\, g_t

  with :math:`\bar r^2_0` = ``init_estim_sq_dist`` (``eps`` when None). Reference: Khaled et
  al., `DoWG Unleashed <https://arxiv.org/abs/2305.16284>`_, 2023.

  Args:
    learning_rate: multiplier :math:`\eta` of the step (a number or a schedule).
    init_estim_sq_dist: initial squared distance estimate, ``>= 0`` (None: ``eps``).
    eps: added to the denominator, ``>= 0``.
    weight_decay: optional L2 coefficient added to the gradients first.
    mask: tree of bools (or callable of the params) selecting the leaves to decay.

  Returns:
    A ``chain`` whose middle state is ``DoWGState``.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like import contrib
    >>> opt = contrib.dowg(init_estim_sq_dist=4.0, eps=0.0)
    >>> p = jnp.zeros(2)
    >>> u, _ = opt.update(jnp.array([3.0, 4.0]), opt.init(p), p)
    >>> u.tolist()   # v = 4 * 25, step 4 / sqrt(100) = 0.4
    [-1.2000000476837158, -1.600000023841858]
  """
  validation.check_schedule_or_scalar(learning_rate, 'learning_rate', 'dowg')
  inner = _scale_by_dowg(init_estim_sq_dist, eps)

  def make(decay_mask):
    return base.chain(_decay(weight_decay, decay_mask), inner,
                      scaling.scale_by_learning_rate(learning_rate))
  return alias._fusable(make(mask), make, (mask,))  # pylint: disable=protected-access

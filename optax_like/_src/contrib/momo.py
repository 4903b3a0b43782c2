r"""MoMo: momentum models with a Polyak-type adaptive step size (and its Adam variant).

Schaipp, Ohana, Eickenberg, Defazio and Gower, "MoMo: Momentum Models for Adaptive Learning
Rates" (ICML 2024, https://arxiv.org/abs/2305.07583). The loss of the current batch is
passed to ``update`` as the keyword argument ``value``.
"""

from typing import Any, NamedTuple, Optional

import chex
import jax
import jax.numpy as jnp

from optax_like._src import adaptive
from optax_like._src import base
from optax_like._src import tree
from optax_like._src import tree_math
from optax_like._src import validation
from optax_like._src.contrib import _scalars

# pylint: disable=protected-access
_flatten_with_state = adaptive._flatten_with_state
_flatten_state = adaptive._flatten_state
_lmap = adaptive._lmap
_store = adaptive._store
_upcast_all = adaptive._upcast_all
# pylint: enable=protected-access

# Below this squared norm of the momentum the Polyak step is taken as 0 (optax's bound, the
# float64 machine epsilon).
_TINY = float(jnp.finfo(float).eps)


class MomoState(NamedTuple):
  """State of ``momo``: the momentum ``exp_avg``; scalars (in the parameters' lowest dtype)
  ``barf`` (average loss), ``gamma`` (average of :math:`\\langle g, p\\rangle`), ``lb``
  (lower bound of the loss); int32 ``count``."""
  exp_avg: base.Updates
  barf: chex.Array
  gamma: chex.Array
  lb: chex.Array
  count: chex.Array


class MomoAdamState(NamedTuple):
  """State of ``momo_adam``: as ``MomoState`` with the second moment ``exp_avg_sq``."""
  exp_avg: base.Updates
  exp_avg_sq: base.Updates
  barf: chex.Array
  gamma: chex.Array
  lb: chex.Array
  count: chex.Array


def _vdot(xs: list, ys: list) -> jax.Array:
  r""":math:`\sum_i \langle \bar x_i, y_i\rangle` over the leaves where ``xs`` has one (optax's
  ``tree.vdot``: added from 0 in leaf order, so float32 trees give optax's bits)."""
  pairs = [(x, y) for x, y in zip(xs, ys) if x is not None]
  return jnp.asarray(tree_math.tree_vdot([x for x, _ in pairs], [y for _, y in pairs]))


def _check_args(fn: str, learning_rate: Any, lower_bound: Any, weight_decay: Any,
                adapt_lower_bound: Any, **decays: Any) -> None:
  validation.check_schedule_or_scalar(learning_rate, 'learning_rate', fn)
  if not callable(learning_rate):
    validation.check_range(learning_rate, 'learning_rate', low=0.0, fn=fn)
  for name, value in decays.items():
    validation.check_range(value, name, low=0.0, high=1.0, fn=fn)
  validation.check_range(lower_bound, 'lower_bound', fn=fn)
  validation.check_range(weight_decay, 'weight_decay', low=0.0, fn=fn)
  if not isinstance(adapt_lower_bound, bool):
    raise TypeError(f'{fn}: `adapt_lower_bound` must be a bool, got {adapt_lower_bound!r}.')


def _check_call(fn: str, params: Any, value: Any) -> None:
  validation.require_params(params, fn)
  if value is None:
    raise ValueError(f'{fn}: pass the loss of the current batch as `update(..., value=loss)` '
                     '(e.g. from `jax.value_and_grad`).')


def _scalar_state(params: Any, lower_bound: Any, fn: str) -> tuple:
  dtype = _scalars.params_dtype(params, 'lowest', fn)
  return jnp.zeros([], dtype), jnp.zeros([], dtype), jnp.array(lower_bound, dtype=dtype)


def momo(
    learning_rate: base.ScalarOrSchedule = 1.0,
    beta: chex.Numeric = 0.9,
    lower_bound: chex.Numeric = 0.0,
    weight_decay: chex.Numeric = 0.0,
    adapt_lower_bound: bool = False,
) -> base.GradientTransformationExtraArgs:
  r"""MoMo: SGD with momentum and step :math:`\min(\alpha_k, \text{Polyak step})`.

  With :math:`\beta_0 = 0` at the first step and :math:`\beta` afterwards, :math:`f_k` the
  loss (``value``), :math:`\alpha_k` the learning rate, :math:`\lambda` the weight decay and
  :math:`\ell` the lower bound:

  .. math::
    d_k = \beta_k d_{k-1} + (1-\beta_k) g_k, \quad
    \bar f_k = \beta_k \bar f_{k-1} + (1-\beta_k) f_k, \quad
    \gamma_k = \beta_k \gamma_{k-1} + (1-\beta_k) \langle g_k, p_k\rangle

  .. math::
    \tau_k = \min\left(\alpha_k, \frac{\left[(1 + \alpha_k\lambda)(\bar f_k - \ell - \gamma_k)
    + \langle d_k, p_k\rangle\right]_+}{\|d_k\|^2}\right), \qquad
    u_k = -\frac{\alpha_k \lambda}{1 + \alpha_k\lambda} p_k - \tau_k d_k

  (the fraction is 0 when :math:`\|d_k\|^2 \le` float64 epsilon). With
  ``adapt_lower_bound`` the bound :math:`\ell` is re-estimated from the model at every step,
  never below ``lower_bound``.

  Args:
    learning_rate: :math:`\alpha`, the largest step; a number or a schedule.
    beta: momentum coefficient in ``[0, 1]``.
    lower_bound: a lower bound of the loss (0 for most losses).
    weight_decay: :math:`\lambda`, ``>= 0``.
    adapt_lower_bound: estimate the lower bound on the fly.

  Returns:
    A ``GradientTransformationExtraArgs``; ``update(grads, state, params, value=loss)``.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like import contrib
    >>> opt = contrib.momo(learning_rate=10.0)
    >>> p = jnp.array([1.0, 2.0])
    >>> u, state = opt.update(jnp.array([1.0, 1.0]), opt.init(p), p, value=4.0)
    >>> u.tolist()   # Polyak step (4 - 0 - 3 + 3) / 2 = 2 < 10
    [-2.0, -2.0]
  """
  fn = 'momo'
  _check_args(fn, learning_rate, lower_bound, weight_decay, adapt_lower_bound, beta=beta)

  def init_fn(params):
    barf, gamma, lb = _scalar_state(params, lower_bound, fn)
    return MomoState(exp_avg=tree.tree_zeros_like(params), barf=barf, gamma=gamma, lb=lb,
                     count=jnp.zeros([], jnp.int32))

  def update_fn(updates, state, params=None, *, value=None, **extra_args):
    del extra_args
    _check_call(fn, params, value)
    validation.check_state(state, MomoState, fn)
    treedef, gs, eas = _flatten_with_state(updates, state, ('exp_avg',), fn)
    ps = _upcast_all(_flatten_state(treedef, updates, params, 'params', fn))
    gcs = _upcast_all(gs)
    dtype = tree.compute_dtype(state.barf.dtype)
    bt = jnp.where(state.count == 0, 0.0, beta)
    barf = bt * state.barf.astype(dtype) + (1 - bt) * jnp.asarray(value, state.barf.dtype)
    exp_avg = _lmap(lambda g, d: bt * tree.upcast(d) + (1 - bt) * g, gcs, eas)
    gamma = bt * state.gamma.astype(dtype) + (1 - bt) * _vdot(gcs, ps)
    sq_norm = _scalars.sq_norm([d for d in exp_avg if d is not None])
    iprod = _vdot(exp_avg, ps)
    alpha = learning_rate(state.count) if callable(learning_rate) else learning_rate
    shrink = 1 + alpha * weight_decay
    lb_old = state.lb.astype(dtype)
    if adapt_lower_bound:
      cap = shrink * (barf - gamma) + iprod
      lb = jnp.where(cap < shrink * lb_old, jnp.maximum(cap / (2 * shrink), lower_bound),
                     lb_old)
    else:
      lb = lb_old
    polyak = jnp.maximum(shrink * (barf - lb - gamma) + iprod, 0.0) / sq_norm
    polyak = jnp.where(sq_norm <= _TINY, 0.0, polyak)
    tau = jnp.minimum(alpha, polyak)
    decay = -(alpha * weight_decay) / shrink
    new_updates = _lmap(lambda g, d, p: tree.cast(decay * p - tau * d, tree.result_dtype(g)),
                        gs, exp_avg, ps)
    if adapt_lower_bound:
      new_lb = jnp.maximum((barf + iprod - gamma) - (1 / 2) * tau * sq_norm, lower_bound)
    else:
      new_lb = state.lb
    sdtype = state.barf.dtype
    return treedef.unflatten(new_updates), MomoState(
        exp_avg=treedef.unflatten(_store(exp_avg, eas)), barf=barf.astype(sdtype),
        gamma=gamma.astype(sdtype), lb=jnp.asarray(new_lb).astype(state.lb.dtype),
        count=tree.safe_increment(state.count))

  return base.GradientTransformationExtraArgs(init_fn, update_fn)


def momo_adam(
    learning_rate: base.ScalarOrSchedule = 1e-2,
    b1: chex.Numeric = 0.9,
    b2: chex.Numeric = 0.999,
    eps: chex.Numeric = 1e-8,
    lower_bound: chex.Numeric = 0.0,
    weight_decay: chex.Numeric = 0.0,
    adapt_lower_bound: bool = False,
) -> base.GradientTransformationExtraArgs:
  r"""MoMo-Adam: MoMo's adaptive step on Adam's preconditioned momentum.

  With :math:`t` the 1-based step, :math:`c_i = 1 - \beta_i^t` and :math:`f_t` the loss:

  .. math::
    d_t = \beta_1 d_{t-1} + (1-\beta_1) g_t, \quad
    v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \quad
    D_t = \epsilon + \sqrt{v_t / c_2}

  .. math::
    \bar f_t = \beta_1 \bar f_{t-1} + (1-\beta_1) f_t, \quad
    \gamma_t = \beta_1 \gamma_{t-1} + (1-\beta_1) \langle g_t, p_t\rangle

  .. math::
    \tau_t = \min\left(\frac{\alpha_t}{c_1}, \frac{\left[(1+\alpha_t\lambda)(\bar f_t -
    c_1\ell - \gamma_t) + \langle d_t, p_t\rangle\right]_+}{\langle d_t, d_t / D_t\rangle}
    \right), \qquad
    u_t = -\frac{\alpha_t\lambda}{1+\alpha_t\lambda} p_t - \tau_t \frac{d_t}{D_t}

  Args:
    learning_rate: :math:`\alpha`, a number or a schedule.
    b1: decay of the momentum (and of the loss averages), in ``[0, 1]``.
    b2: decay of the second moment, in ``[0, 1)``.
    eps: added to the preconditioner, ``>= 0``.
    lower_bound: a lower bound of the loss.
    weight_decay: :math:`\lambda`, ``>= 0``.
    adapt_lower_bound: estimate the lower bound on the fly.

  Returns:
    A ``GradientTransformationExtraArgs``; ``update(grads, state, params, value=loss)``.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like import contrib
    >>> opt = contrib.momo_adam(learning_rate=0.1, b1=0.5, b2=0.5, eps=0.0)
    >>> p = jnp.array([1.0])
    >>> u, state = opt.update(jnp.array([2.0]), opt.init(p), p, value=4.0)
    >>> u.tolist()   # tau = min(0.1 / 0.5, 4) = 0.2, d / D = 1 / 2
    [-0.10000000149011612]
  """
  fn = 'momo_adam'
  _check_args(fn, learning_rate, lower_bound, weight_decay, adapt_lower_bound, b1=b1)
  validation.check_range(b2, 'b2', low=0.0, high=1.0, high_inclusive=False, fn=fn)
  validation.check_range(eps, 'eps', low=0.0, fn=fn)

  def init_fn(params):
    barf, gamma, lb = _scalar_state(params, lower_bound, fn)
    return MomoAdamState(exp_avg=tree.tree_zeros_like(params),
                         exp_avg_sq=tree.tree_zeros_like(params), barf=barf, gamma=gamma,
                         lb=lb, count=jnp.zeros([], jnp.int32))

  def update_fn(updates, state, params=None, *, value=None, **extra_args):
    del extra_args
    _check_call(fn, params, value)
    validation.check_state(state, MomoAdamState, fn)
    treedef, gs, eas, vs = _flatten_with_state(updates, state, ('exp_avg', 'exp_avg_sq'), fn)
    ps = _upcast_all(_flatten_state(treedef, updates, params, 'params', fn))
    gcs = _upcast_all(gs)
    dtype = tree.compute_dtype(state.barf.dtype)
    count_inc = tree.safe_increment(state.count)
    barf = b1 * state.barf.astype(dtype) + (1 - b1) * jnp.asarray(value, state.barf.dtype)
    exp_avg = _lmap(lambda g, d: b1 * tree.upcast(d) + (1 - b1) * g, gcs, eas)
    exp_avg_sq = _lmap(lambda g, v: b2 * tree.upcast(v) + (1 - b2) * g * g, gcs, vs)
    bc2 = jnp.asarray(1 - b2**count_inc, dtype=state.barf.dtype).astype(dtype)
    precond = _lmap(lambda v: eps + jnp.sqrt(v / bc2), exp_avg_sq)
    weighted = _lmap(lambda d, pc: d / pc, exp_avg, precond)
    sq_norm = _vdot(exp_avg, weighted)
    gamma = b1 * state.gamma.astype(dtype) + (1 - b1) * _vdot(gcs, ps)
    iprod = _vdot(exp_avg, ps)
    alpha = learning_rate(state.count) if callable(learning_rate) else learning_rate
    bc1 = jnp.asarray(1 - b1**count_inc, dtype=state.barf.dtype).astype(dtype)
    shrink = 1 + alpha * weight_decay
    lb_old = state.lb.astype(dtype)
    if adapt_lower_bound:
      cap = shrink * (barf - gamma) + iprod
      lb = jnp.where(cap < shrink * bc1 * lb_old,
                     jnp.maximum(cap / (2 * bc1 * shrink), lower_bound), lb_old)
    else:
      lb = lb_old
    polyak = jnp.maximum(shrink * (barf - bc1 * lb - gamma) + iprod, 0.0) / sq_norm
    polyak = jnp.where(sq_norm <= _TINY, 0.0, polyak)
    tau = jnp.minimum(alpha / bc1, polyak)
    decay = -(alpha * weight_decay) / shrink
    new_updates = _lmap(
        lambda g, d, pc, p: tree.cast(decay * p - tau * d / pc, tree.result_dtype(g)),
        gs, exp_avg, precond, ps)
    if adapt_lower_bound:
      new_lb = jnp.maximum(((barf + iprod - gamma) - (1 / 2) * tau * sq_norm) / bc1,
                           lower_bound)
    else:
      new_lb = state.lb
    sdtype = state.barf.dtype
    return treedef.unflatten(new_updates), MomoAdamState(
        exp_avg=treedef.unflatten(_store(exp_avg, eas)),
        exp_avg_sq=treedef.unflatten(_store(exp_avg_sq, vs)), barf=barf.astype(sdtype),
        gamma=gamma.astype(sdtype), lb=jnp.asarray(new_lb).astype(state.lb.dtype),
        count=count_inc)

  return base.GradientTransformationExtraArgs(init_fn, update_fn)

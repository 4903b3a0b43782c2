r"""Mechanic: learns the scale of any base optimizer's updates by online betting.

Cutkosky, Defazio & Mehta, `Mechanic: A Learning Rate Tuner
<https://arxiv.org/abs/2306.00144>`_, 2023 (the memory-saving form that recomputes
:math:`\Delta` from the parameters each step).
"""

from typing import Any, NamedTuple, Union

import chex
import jax
import jax.numpy as jnp

from optax_like._src import base
from optax_like._src import tree
from optax_like._src import validation
from optax_like._src.contrib import _scalars


class MechanicState(NamedTuple):
  """State of ``mechanize`` (optax's fields and order)."""
  base_optimizer_state: base.OptState
  count: chex.Array  # int32
  r: chex.Array      # per-beta wealth, shape [num_betas]
  m: chex.Array      # per-beta running max of |h|
  v: chex.Array      # per-beta running sum of h^2
  s: chex.Array      # per-beta scale
  x0: base.Updates   # the reference point (the parameters of the first update)


def mechanize(
    base_optimizer: Union[base.GradientTransformation, base.GradientTransformationExtraArgs],
    weight_decay: chex.Numeric = 1e-2,
    eps: chex.Numeric = 1e-8,
    s_init: chex.Numeric = 1e-6,
    num_betas: int = 6,
) -> base.GradientTransformationExtraArgs:
  r"""Wraps ``base_optimizer`` so that the scale of its updates is learned (Mechanic).

  With :math:`\Delta_t` the base optimizer's accumulated direction, :math:`x_t = x_0 +
  (\sum_j s_j)\,\Delta_t`, :math:`\beta_j = 1 - 10^{-j}` (:math:`j = 1..n`) and the decayed
  gradient :math:`\tilde g_t = g_t + \lambda (\sum_j s_j) \frac{\|g_t\|}{\|x_t\| + \epsilon}
  x_t`:

  .. math::
    h_t = \langle \tilde g_t, \Delta_{t-1} \rangle, \quad
    m_j \leftarrow \max(\beta_j m_j, |h_t| + \epsilon), \quad
    v_j \leftarrow \beta_j^2 v_j + h_t^2

  .. math::
    r_j \leftarrow \beta_j r_j + \mathrm{clip}(h_t, -m_j^{old}, m_j^{old})\, s_j, \quad
    s_j \leftarrow \frac{\tfrac{s_{init}}{n} m_j + \max(r_j, 0)}{\sqrt{v_j} + \epsilon}

  and the new parameters are :math:`x_0 - (\sum_j s_j)(\Delta_{t-1} - u^{base}_t)`;
  :math:`x_0` is taken from the parameters of the first update. Norms and inner products are
  over the whole tree. Reference: Cutkosky et al., `Mechanic: A Learning Rate Tuner
  <https://arxiv.org/abs/2306.00144>`_, 2023.

  Args:
    base_optimizer: the optimizer whose updates are scaled (its learning rate as base 1.0).
    weight_decay: :math:`\lambda` of Mechanic's own decay, ``>= 0``.
    eps: stabilising term, ``>= 0``.
    s_init: initial scale of each beta, ``> 0``.
    num_betas: :math:`n`, how many :math:`\beta_j` are run at once (an int ``>= 1``).

  Returns:
    A ``GradientTransformationExtraArgs`` (extra arguments reach ``base_optimizer``) that
    needs ``params``.

  Example:
    >>> import jax.numpy as jnp
    >>> import optax_like as ox
    >>> from optax_like import contrib
    >>> opt = contrib.mechanize(ox.sgd(1.0), weight_decay=0.0, num_betas=1)
    >>> p = jnp.ones(1)
    >>> u, state = opt.update(jnp.array([2.0]), opt.init(p), p)
    >>> # h = 0 on the first step: m = eps, v = 0, r = 0, so s = s_init * eps / eps = 1e-6,
    >>> # and the step is s times sgd's update -2
    >>> round(float(u[0]), 7), round(float(state.s[0]), 9)   # u rounded as 1 - 2e-6 in float32
    (-2e-06, 1e-06)
  """
  fn = 'mechanize'
  validation.check_transformation(base_optimizer, 'base_optimizer')
  validation.check_range(weight_decay, 'weight_decay', low=0.0, fn=fn)
  validation.check_range(eps, 'eps', low=0.0, fn=fn)
  validation.check_range(s_init, 's_init', low=0.0, low_inclusive=False, fn=fn)
  validation.check_not_bool(num_betas, 'num_betas', fn)
  if not isinstance(num_betas, int) or num_betas < 1:
    raise ValueError(f'{fn}: `num_betas` must be an int >= 1, got {num_betas!r}.')
  inner = base.with_extra_args_support(base_optimizer)

  def init_fn(params):
    dtype = _scalars.params_dtype(params, 'lowest', fn)
    return MechanicState(
        base_optimizer_state=inner.init(params),
        count=jnp.zeros([], jnp.int32),
        r=jnp.zeros([num_betas], dtype),
        m=jnp.zeros([num_betas], dtype),
        v=jnp.zeros([num_betas], dtype),
        s=jnp.ones([num_betas], dtype) * s_init,
        x0=params)

  def update_fn(updates, state, params=None, **extra_args: Any):
    validation.require_params(params, fn)
    validation.check_state(state, MechanicState, fn)
    _scalars.check_like(updates, params, 'params', fn)
    _scalars.check_like(updates, state.x0, 'state.x0', fn)
    count_inc = tree.safe_increment(state.count)
    base_updates, base_state = inner.update(updates, state.base_optimizer_state, params,
                                            **extra_args)
    # Training loops often load pre-trained weights after ``init``: the reference point is
    # the parameters of the first update.
    x0 = jax.lax.cond(state.count == 0, lambda: params, lambda: state.x0)
    s_sum = jnp.sum(state.s)
    ratio = weight_decay * s_sum * _scalars.norm(updates) / (_scalars.norm(params) + eps)
    decayed = jax.tree.map(lambda g, p: tree.upcast(g) + ratio * tree.upcast(p),
                           updates, params)
    delta_prev = jax.tree.map(
        lambda x, a: (tree.upcast(a) - tree.upcast(x)) / (s_sum + eps), params, x0)
    delta = jax.tree.map(lambda d, u: d - tree.upcast(u), delta_prev, base_updates)
    h = _scalars.vdot(decayed, delta_prev)
    dtype = state.s.dtype
    h_s = h.astype(dtype) if jnp.issubdtype(dtype, jnp.floating) else h
    clipped = jax.lax.clamp(-state.m, jnp.ones_like(state.m) * h_s, state.m)
    betas = jnp.array([1.0 - 0.1 ** j for j in range(1, num_betas + 1)], dtype=dtype)
    m = jnp.maximum(betas * state.m, jnp.abs(h) + eps)
    v = (betas ** 2) * state.v + h ** 2
    r = betas * state.r + clipped * state.s
    wealth = (s_init / jnp.size(betas)) * m + jnp.maximum(0.0, r)
    s = wealth / (jnp.sqrt(v) + eps)
    s_total = jnp.sum(s)
    new_updates = jax.tree.map(
        lambda a, d, p: _scalars.as_leaf((tree.upcast(a) - s_total * d) - tree.upcast(p), p),
        x0, delta, params)
    return new_updates, MechanicState(
        base_optimizer_state=base_state,
        count=count_inc,
        r=r.astype(state.r.dtype),
        m=m.astype(state.m.dtype),
        v=v.astype(state.v.dtype),
        s=s.astype(dtype),
        x0=x0)

  return base.GradientTransformationExtraArgs(init_fn, update_fn)

r"""Prodigy: learning-rate-free AdamW that estimates the distance to the solution.

A D-Adaptation variant whose estimate :math:`d` of the distance grows faster, by weighting
recent gradients more (Mishchenko & Defazio, `Prodigy: An Expeditiously Adaptive Parameter-Free
Learner <https://arxiv.org/abs/2306.06101>`_, 2023).
"""

from typing import NamedTuple, Optional

import chex
import jax
import jax.numpy as jnp

from optax_like._src import base
from optax_like._src import tree
from optax_like._src import validation
from optax_like._src.contrib import _scalars


class ProdigyState(NamedTuple):
  """State of ``prodigy`` (optax's fields and order)."""
  exp_avg: base.Updates       # first moment of d * g
  exp_avg_sq: base.Updates    # second moment of d * g
  grad_sum: base.Updates      # weighted sum of d * g, s in the paper
  params0: base.Updates       # the parameters at ``init``
  estim_lr: chex.Array        # d, the distance estimate (lowest dtype of the params)
  numerator_weighted: chex.Array
  count: chex.Array           # int32


def check_betas(betas, fn):
  if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
    raise ValueError(f'{fn}: `betas` must be a pair (beta1, beta2), got {betas!r}.')
  validation.check_range(betas[0], 'betas[0]', low=0.0, high=1.0, high_inclusive=False, fn=fn)
  validation.check_range(betas[1], 'betas[1]', low=0.0, high=1.0, high_inclusive=False, fn=fn)
  return betas


def prodigy(
    learning_rate: base.ScalarOrSchedule = 1.0,
    betas: tuple[chex.Numeric, chex.Numeric] = (0.9, 0.999),
    beta3: Optional[chex.Numeric] = None,
    eps: chex.Numeric = 1e-8,
    estim_lr0: chex.Numeric = 1e-6,
    estim_lr_coef: chex.Numeric = 1.0,
    weight_decay: chex.Numeric = 0.0,
    safeguard_warmup: bool = False,
) -> base.GradientTransformationExtraArgs:
  r"""Prodigy: AdamW whose step size :math:`d_t \eta_t` is learned.

  With :math:`\beta_3` = ``beta3`` (default :math:`\sqrt{\beta_2}`), :math:`\eta_t` the
  learning rate (schedule read at the count before the step) and
  :math:`\gamma_t = d_t \eta_t \sqrt{1 - \beta_2^t} / (1 - \beta_1^t)`:

  .. math::
    m_t = \beta_1 m_{t-1} + (1 - \beta_1) d_t g_t, \quad
    v_t = \beta_2 v_{t-1} + (1 - \beta_2) d_t^2 g_t^2

  .. math::
    s_t = \beta_3 s_{t-1} + \tfrac{\gamma_t}{d_0} d_t g_t, \quad
    r_t = \beta_3 r_{t-1} + \tfrac{d_t}{d_0} \gamma_t \langle g_t, x_0 - x_t \rangle, \quad
    d_{t+1} = \max\Big(d_t, c\, \frac{r_t}{\|s_t\|_1}\Big)

  .. math::
    u_t = -\lambda \gamma_t x_t - \gamma_t \frac{m_t}{\sqrt{v_t} + d_{t+1} \epsilon}

  (with ``safeguard_warmup`` the :math:`\gamma_t` of :math:`s_t` is :math:`d_t`). Sums are
  over the whole tree. Reference: Mishchenko & Defazio, `Prodigy
  <https://arxiv.org/abs/2306.06101>`_, 2023.

  Args:
    learning_rate: :math:`\eta`, a number or a schedule (1.0 as the peak is typical).
    betas: :math:`(\beta_1, \beta_2)`, each in ``[0, 1)``.
    beta3: momentum of the estimate, in ``[0, 1]``; None for :math:`\sqrt{\beta_2}`.
    eps: added to the denominator (times :math:`d`), ``>= 0``.
    estim_lr0: :math:`d_0`, the initial under-estimate, ``> 0``.
    estim_lr_coef: :math:`c`, multiplies each new estimate, ``>= 0``.
    weight_decay: decoupled weight decay :math:`\lambda`, ``>= 0``.
    safeguard_warmup: leave :math:`\eta_t` out of :math:`s_t` (helps during warm-up).

  Returns:
    A ``GradientTransformationExtraArgs`` (extra arguments ignored) that needs ``params``.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like import contrib
    >>> opt = contrib.prodigy(estim_lr0=1.0, eps=0.0)
    >>> p = jnp.ones(1)
    >>> u, state = opt.update(jnp.array([2.0]), opt.init(p), p)
    >>> # gamma = 1 * sqrt(0.001) / 0.1; m = 0.2, v = 0.004: u = -gamma * m / sqrt(v)
    >>> round(float(u[0]), 3), float(state.estim_lr)
    (-1.0, 1.0)
  """
  fn = 'prodigy'
  validation.check_schedule_or_scalar(learning_rate, 'learning_rate', fn)
  beta1, beta2 = check_betas(betas, fn)
  if beta3 is None:
    beta3 = beta2 ** 0.5
  else:
    validation.check_range(beta3, 'beta3', low=0.0, high=1.0, fn=fn)
  validation.check_range(eps, 'eps', low=0.0, fn=fn)
  validation.check_range(estim_lr0, 'estim_lr0', low=0.0, low_inclusive=False, fn=fn)
  validation.check_range(estim_lr_coef, 'estim_lr_coef', low=0.0, fn=fn)
  validation.check_range(weight_decay, 'weight_decay', low=0.0, fn=fn)
  if not isinstance(safeguard_warmup, (bool,)) and not validation.is_bool(safeguard_warmup):
    raise TypeError(f'{fn}: `safeguard_warmup` must be a bool, got {safeguard_warmup!r}.')

  def init_fn(params):
    dtype = _scalars.params_dtype(params, 'lowest', fn)
    return ProdigyState(
        exp_avg=tree.tree_zeros_like(params),
        exp_avg_sq=tree.tree_zeros_like(params),
        grad_sum=tree.tree_zeros_like(params),
        params0=params,
        estim_lr=jnp.asarray(estim_lr0, dtype),
        numerator_weighted=jnp.zeros([], dtype),
        count=jnp.zeros([], jnp.int32))

  def update_fn(updates, state, params=None, **extra_args):
    del extra_args
    validation.require_params(params, fn)
    validation.check_state(state, ProdigyState, fn)
    for field in ('exp_avg', 'exp_avg_sq', 'grad_sum', 'params0'):
      _scalars.check_like(updates, getattr(state, field), f'state.{field}', fn)
    _scalars.check_like(updates, params, 'params', fn)
    count_inc = tree.safe_increment(state.count)
    sched = learning_rate(state.count) if callable(learning_rate) else learning_rate
    d = state.estim_lr
    bc = ((1 - beta2 ** count_inc) ** 0.5) / (1 - beta1 ** count_inc)
    dlr = jnp.asarray(d * sched * bc, dtype=d.dtype)
    dc, dlrc = tree.upcast(d), tree.upcast(dlr)
    numerator_acum = _scalars.vdot(
        updates, jax.tree.map(lambda p0, p: tree.upcast(p0) - tree.upcast(p),
                              state.params0, params))
    s_scale = dc if safeguard_warmup else dlrc

    def moments(g, ea, eas, s):
      dg = dc * tree.upcast(g)
      ea = beta1 * tree.upcast(ea) + (1 - beta1) * dg
      eas = beta2 * tree.upcast(eas) + (1 - beta2) * dg * dg
      s = beta3 * tree.upcast(s) + s_scale * dg / estim_lr0
      return ea, eas, s

    ea, eas, s = tree.tree_map_split(moments, updates, state.exp_avg, state.exp_avg_sq,
                                     state.grad_sum, n_out=3)
    numerator = beta3 * tree.upcast(state.numerator_weighted)
    numerator += (dc / estim_lr0) * dlrc * numerator_acum
    d_new = jnp.maximum(dc, estim_lr_coef * numerator / _scalars.abs_sum(s))

    def step(g, m, v, p):
      u = (-weight_decay * dlrc * tree.upcast(p)
           - dlrc * m / (jnp.sqrt(v) + d_new * eps))
      return _scalars.as_leaf(u, g)

    new_updates = jax.tree.map(step, updates, ea, eas, params)
    store = lambda new, old: jax.tree.map(
        lambda n, o: tree.cast(n, tree.result_dtype(o.dtype)), new, old)
    return new_updates, ProdigyState(
        exp_avg=store(ea, state.exp_avg),
        exp_avg_sq=store(eas, state.exp_avg_sq),
        grad_sum=store(s, state.grad_sum),
        params0=state.params0,
        estim_lr=d_new.astype(d.dtype),
        numerator_weighted=numerator.astype(state.numerator_weighted.dtype),
        count=count_inc)

  return base.grouping_free(base.GradientTransformationExtraArgs(init_fn, update_fn))

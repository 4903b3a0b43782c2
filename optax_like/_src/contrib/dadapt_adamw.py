r"""D-Adaptation AdamW: AdamW whose base step size estimates the distance to the solution.

Defazio & Mishchenko, `Learning-Rate-Free Learning by D-Adaptation
<https://arxiv.org/abs/2301.07733>`_, 2023.
"""

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp

from optax_like._src import base
from optax_like._src import tree
from optax_like._src import validation
from optax_like._src.contrib import _scalars
from optax_like._src.contrib.prodigy import check_betas


class DAdaptAdamWState(NamedTuple):
  """State of ``dadapt_adamw`` (optax's fields and order)."""
  exp_avg: base.Updates       # first moment of the step-scaled gradients
  exp_avg_sq: base.Updates    # second moment of the gradients
  grad_sum: base.Updates      # s: EMA of the step-scaled gradients
  estim_lr: chex.Array        # d, the distance estimate (lowest dtype of the params)
  numerator_weighted: chex.Array
  count: chex.Array           # int32


def dadapt_adamw(
    learning_rate: base.ScalarOrSchedule = 1.0,
    betas: tuple[chex.Numeric, chex.Numeric] = (0.9, 0.999),
    eps: chex.Numeric = 1e-8,
    estim_lr0: chex.Numeric = 1e-6,
    weight_decay: chex.Numeric = 0.0,
) -> base.GradientTransformationExtraArgs:
  r"""D-Adapt AdamW: the distance estimate :math:`d` (infinity-norm form) sets the step.

  With :math:`\sqrt{\beta_2} = b`, :math:`\eta_t` the learning rate (schedule read at the count
  before the step) and :math:`\gamma_t = d_t \eta_t \sqrt{1 - \beta_2^t} / (1 - \beta_1^t)`:

  .. math::
    r_t = b\, r_{t-1} + (1 - b)\, \gamma_t \Big\langle g_t, \frac{s_{t-1}}{\sqrt{v_{t-1}}
    + \epsilon} \Big\rangle, \quad
    m_t = \beta_1 m_{t-1} + (1 - \beta_1) \gamma_t g_t, \quad
    v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2

  .. math::
    s_t = b\, s_{t-1} + (1 - b)\, \gamma_t g_t, \quad
    d_{t+1} = \max\Big(d_t, \frac{r_t}{(1 - b) \|s_t\|_1}\Big), \quad
    u_t = -\lambda \gamma_t x_t - \frac{m_t}{\sqrt{v_t} + \epsilon}

  Sums and norms are over the whole tree. Reference: Defazio & Mishchenko, `Learning-Rate-Free
  Learning by D-Adaptation <https://arxiv.org/abs/2301.07733>`_, 2023.

  Args:
    learning_rate: :math:`\eta`, a number or a schedule (1.0 as the peak is typical).
    betas: :math:`(\beta_1, \beta_2)`, each in ``[0, 1)``.
    eps: added to the denominators, ``>= 0``.
    estim_lr0: :math:`d_0`, the initial under-estimate, ``> 0``.
    weight_decay: decoupled weight decay :math:`\lambda`, ``>= 0``.

  Returns:
    A ``GradientTransformationExtraArgs`` (extra arguments ignored) that needs ``params``.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like import contrib
    >>> opt = contrib.dadapt_adamw(estim_lr0=1.0)
    >>> p = jnp.ones(1)
    >>> u, state = opt.update(jnp.array([2.0]), opt.init(p), p)
    >>> # gamma = sqrt(0.001) / 0.1; m = 0.1 * gamma * 2, v = 0.004: u = -m / sqrt(v)
    >>> round(float(u[0]), 3), float(state.estim_lr)
    (-1.0, 1.0)
  """
  fn = 'dadapt_adamw'
  validation.check_schedule_or_scalar(learning_rate, 'learning_rate', fn)
  beta1, beta2 = check_betas(betas, fn)
  validation.check_range(eps, 'eps', low=0.0, fn=fn)
  validation.check_range(estim_lr0, 'estim_lr0', low=0.0, low_inclusive=False, fn=fn)
  validation.check_range(weight_decay, 'weight_decay', low=0.0, fn=fn)

  def init_fn(params):
    dtype = _scalars.params_dtype(params, 'lowest', fn)
    return DAdaptAdamWState(
        exp_avg=tree.tree_zeros_like(params),
        exp_avg_sq=tree.tree_zeros_like(params),
        grad_sum=tree.tree_zeros_like(params),
        estim_lr=jnp.asarray(estim_lr0, dtype),
        numerator_weighted=jnp.zeros([], dtype),
        count=jnp.zeros([], jnp.int32))

  def update_fn(updates, state, params=None, **extra_args):
    del extra_args
    validation.require_params(params, fn)
    validation.check_state(state, DAdaptAdamWState, fn)
    for field in ('exp_avg', 'exp_avg_sq', 'grad_sum'):
      _scalars.check_like(updates, getattr(state, field), f'state.{field}', fn)
    _scalars.check_like(updates, params, 'params', fn)
    sb2 = beta2 ** 0.5
    sched = learning_rate(state.count) if callable(learning_rate) else learning_rate
    count_inc = tree.safe_increment(state.count)
    bc = ((1 - beta2 ** count_inc) ** 0.5) / (1 - beta1 ** count_inc)
    dlr = (state.estim_lr * sched * bc).astype(state.numerator_weighted.dtype)
    dlrc = tree.upcast(dlr)
    s_weighted = jax.tree.map(
        lambda s, v: tree.upcast(s) / (jnp.sqrt(tree.upcast(v)) + eps),
        state.grad_sum, state.exp_avg_sq)
    numerator_acum = _scalars.vdot(updates, s_weighted)

    def moments(g, ea, eas, s):
      gc = tree.upcast(g)
      ea = beta1 * tree.upcast(ea) + (1 - beta1) * dlrc * gc
      eas = beta2 * tree.upcast(eas) + (1 - beta2) * gc * gc
      s = sb2 * tree.upcast(s) + (1 - sb2) * dlrc * gc
      return ea, eas, s

    ea, eas, s = tree.tree_map_split(moments, updates, state.exp_avg, state.exp_avg_sq,
                                     state.grad_sum, n_out=3)
    numerator = (sb2 * tree.upcast(state.numerator_weighted)
                 + (1 - sb2) * dlrc * numerator_acum)
    d_new = jnp.maximum(tree.upcast(state.estim_lr),
                        numerator / ((1 - sb2) * _scalars.abs_sum(s)))

    def step(g, m, v, p):
      u = -weight_decay * dlrc * tree.upcast(p) - m / (jnp.sqrt(v) + eps)
      return _scalars.as_leaf(u, g)

    new_updates = jax.tree.map(step, updates, ea, eas, params)
    store = lambda new, old: jax.tree.map(
        lambda n, o: tree.cast(n, tree.result_dtype(o.dtype)), new, old)
    return new_updates, DAdaptAdamWState(
        exp_avg=store(ea, state.exp_avg),
        exp_avg_sq=store(eas, state.exp_avg_sq),
        grad_sum=store(s, state.grad_sum),
        estim_lr=d_new.astype(state.estim_lr.dtype),
        numerator_weighted=numerator.astype(state.numerator_weighted.dtype),
        count=count_inc)

  return base.grouping_free(base.GradientTransformationExtraArgs(init_fn, update_fn))

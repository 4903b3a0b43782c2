r"""Optimizers built on the Adam variants of ``adaptive_variants``, with optax's names,
signatures and defaults.

As in ``alias``, each optimizer only chains transforms and returns optax's plain chain (so its
state is optax's), registered through ``alias._fusable`` so that ``fused(optimizer)`` runs it
bucketed. ``novograd`` is the exception: its second moment is a norm per leaf, so it is
returned unregistered and ``fused`` refuses it with an error naming ``scale_by_novograd``.
"""

from typing import Any, Optional

import chex

from optax_like._src import adaptive
from optax_like._src import adaptive_variants as variants
from optax_like._src import base
from optax_like._src import scaling
from optax_like._src.alias import MaskOrFn
from optax_like._src.alias import ScalarOrSchedule
from optax_like._src.alias import _fusable
from optax_like._src.alias import _lr
from optax_like._src.weight_decay import add_decayed_weights


def adabelief(learning_rate: ScalarOrSchedule, b1: chex.Numeric = 0.9,
              b2: chex.Numeric = 0.999, eps: chex.Numeric = 1e-16,
              eps_root: chex.Numeric = 1e-16, *,
              nesterov: bool = False) -> base.GradientTransformationExtraArgs:
  r"""AdaBelief: Adam whose denominator tracks the variance of the gradient around its mean.

  .. math::
    m_t = (1 - \beta_1) g_t + \beta_1 m_{t-1}, \quad
    s_t = (1 - \beta_2)(g_t - m_t)^2 + \beta_2 s_{t-1} + \bar\epsilon, \quad
    u_t = -\eta_t \frac{m_t / (1 - \beta_1^t)}{\sqrt{s_t / (1 - \beta_2^t)} + \epsilon}

  (``scale_by_belief``; Zhuang et al., 2020, https://arxiv.org/abs/2010.07468). The paper's
  defaults are ``eps=1e-8, eps_root=0``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> opt = ox.adabelief(0.1, b1=0.5, b2=0.5, eps=0.0, eps_root=0.0)
    >>> u, _ = opt.update(jnp.array([2.0]), opt.init(jnp.zeros(1)))   # m^ = 2, s^ = 1
    >>> u.tolist()
    [-0.20000000298023224]
  """
  return _fusable(base.chain(
      variants.scale_by_belief(b1=b1, b2=b2, eps=eps, eps_root=eps_root, nesterov=nesterov),
      _lr(learning_rate, 'adabelief')))


def adadelta(learning_rate: Optional[ScalarOrSchedule] = None, rho: chex.Numeric = 0.9,
             eps: chex.Numeric = 1e-6, weight_decay: ScalarOrSchedule = 0.0,
             weight_decay_mask: MaskOrFn = None) -> base.GradientTransformationExtraArgs:
  r"""AdaDelta: steps scaled by the ratio of the RMS of past steps to the RMS of gradients.

  .. math::
    d_t = g_t + \lambda w_t, \quad E[d^2]_t = (1 - \rho) d_t^2 + \rho E[d^2]_{t-1}, \quad
    \Delta_t = \frac{\sqrt{E[\Delta^2]_{t-1} + \epsilon}}{\sqrt{E[d^2]_t + \epsilon}}\, d_t,
    \quad u_t = -\eta_t \Delta_t

  (``add_decayed_weights`` then ``scale_by_adadelta``; Zeiler, 2012,
  https://arxiv.org/abs/1212.5701). As in optax, ``learning_rate=None`` applies no scaling
  at all, so the update is :math:`+\Delta_t`, not its negative.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> opt = ox.adadelta(1.0, rho=0.5, eps=1.0)
    >>> p = jnp.zeros(1)
    >>> u, _ = opt.update(jnp.array([4.0]), opt.init(p), p)   # -4 * 1 / sqrt(9)
    >>> round(u.item(), 6)
    -1.333333
  """
  def make(decay_mask):
    lr = (scaling.scale_by_learning_rate(None) if learning_rate is None
          else _lr(learning_rate, 'adadelta'))
    return base.chain(add_decayed_weights(weight_decay, mask=decay_mask),
                      variants.scale_by_adadelta(rho=rho, eps=eps), lr)
  return _fusable(make(weight_decay_mask), make, (weight_decay_mask,))


def adamax(learning_rate: ScalarOrSchedule, b1: chex.Numeric = 0.9, b2: chex.Numeric = 0.999,
           eps: chex.Numeric = 1e-8) -> base.GradientTransformationExtraArgs:
  r"""Adamax: Adam with the infinity norm in place of the root of the second moment.

  .. math::
    m_t = (1 - \beta_1) g_t + \beta_1 m_{t-1}, \quad
    v_t = \max(|g_t| + \epsilon, \beta_2 v_{t-1}), \quad
    u_t = -\eta_t \frac{m_t}{(1 - \beta_1^t)\, v_t}

  (``scale_by_adamax``; Kingma & Ba, 2014, https://arxiv.org/abs/1412.6980).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> opt = ox.adamax(0.1, eps=0.0)
    >>> u, _ = opt.update(jnp.array([2.0]), opt.init(jnp.zeros(1)))   # m^ / v = 2 / 2
    >>> round(u.item(), 6)
    -0.1
  """
  return _fusable(base.chain(variants.scale_by_adamax(b1=b1, b2=b2, eps=eps),
                             _lr(learning_rate, 'adamax')))


def adamaxw(learning_rate: ScalarOrSchedule, b1: chex.Numeric = 0.9, b2: chex.Numeric = 0.999,
            eps: chex.Numeric = 1e-8, weight_decay: ScalarOrSchedule = 1e-4,
            mask: Optional[MaskOrFn] = None) -> base.GradientTransformationExtraArgs:
  r"""AdamaxW: Adamax with decoupled weight decay.

  .. math::
    u_t = -\eta_t \left(\frac{m_t}{(1 - \beta_1^t)\, v_t} + \lambda w_t\right)

  with Adamax's :math:`m_t, v_t` (``scale_by_adamax``, then ``add_decayed_weights``;
  Loshchilov & Hutter, 2019, https://arxiv.org/abs/1711.05101).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> opt = ox.adamaxw(0.1, weight_decay=0.5)
    >>> p = jnp.ones(1)
    >>> u, _ = opt.update(jnp.zeros(1), opt.init(p), p)   # -0.1 * (0 + 0.5 * 1)
    >>> round(u.item(), 6)
    -0.05
  """
  def make(decay_mask):
    return base.chain(variants.scale_by_adamax(b1=b1, b2=b2, eps=eps),
                      add_decayed_weights(weight_decay, decay_mask),
                      _lr(learning_rate, 'adamaxw'))
  return _fusable(make(mask), make, (mask,))


def adan(learning_rate: ScalarOrSchedule, b1: chex.Numeric = 0.98, b2: chex.Numeric = 0.92,
         b3: chex.Numeric = 0.99, eps: chex.Numeric = 1e-8, eps_root: chex.Numeric = 1e-8,
         weight_decay: ScalarOrSchedule = 0.0,
         mask: Optional[MaskOrFn] = None) -> base.GradientTransformationExtraArgs:
  r"""Adan: adaptive Nesterov momentum from averages of gradients and of their differences.

  .. math::
    u_t = -\eta_t \left(\frac{\hat m_t + (1 - \beta_2)\hat v_t}
      {\sqrt{\hat n_t + \epsilon_{root}} + \epsilon} + \lambda w_t\right)

  with the bias-corrected averages of ``scale_by_adan`` (Xie et al., 2022,
  https://arxiv.org/abs/2208.06677), then ``add_decayed_weights``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> opt = ox.adan(0.1, eps=0.0, eps_root=0.0)
    >>> p = jnp.zeros(1)
    >>> u, _ = opt.update(jnp.array([2.0]), opt.init(p), p)   # m^ = 2, n^ = 4
    >>> round(u.item(), 6)
    -0.1
  """
  def make(decay_mask):
    return base.chain(variants.scale_by_adan(b1=b1, b2=b2, b3=b3, eps=eps, eps_root=eps_root),
                      add_decayed_weights(weight_decay, decay_mask),
                      _lr(learning_rate, 'adan'))
  return _fusable(make(mask), make, (mask,))


def nadamw(learning_rate: ScalarOrSchedule, b1: chex.Numeric = 0.9, b2: chex.Numeric = 0.999,
           eps: chex.Numeric = 1e-8, eps_root: chex.Numeric = 0.0,
           mu_dtype: Optional[Any] = None, weight_decay: ScalarOrSchedule = 1e-4,
           mask: Optional[MaskOrFn] = None, *,
           nesterov: bool = True) -> base.GradientTransformationExtraArgs:
  r"""NAdamW: AdamW with Nesterov momentum (``adamw(..., nesterov=True)``).

  .. math::
    \hat m_t = \beta_1 \frac{m_t}{1 - \beta_1^{t+1}} + (1 - \beta_1)\frac{g_t}{1 - \beta_1^t},
    \quad u_t = -\eta_t\left(\frac{\hat m_t}{\sqrt{\hat v_t + \epsilon_{root}} + \epsilon}
      + \lambda w_t\right)

  (Dozat, 2016, "Incorporating Nesterov Momentum into Adam"; Loshchilov & Hutter, 2019).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> opt = ox.nadamw(0.1, b1=0.5, weight_decay=0.0)
    >>> p = jnp.zeros(1)
    >>> u, _ = opt.update(jnp.array([2.0]), opt.init(p), p)   # m^ = 4/3 g, v^ = g^2
    >>> round(u.item(), 5)   # -0.1 * 4/3, up to float32 bias-correction rounding
    -0.13333
  """
  def make(decay_mask):
    return base.chain(
        adaptive.scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype,
                               nesterov=nesterov),
        add_decayed_weights(weight_decay, decay_mask),
        _lr(learning_rate, 'nadamw'))
  return _fusable(make(mask), make, (mask,))


def radam(learning_rate: ScalarOrSchedule, b1: chex.Numeric = 0.9, b2: chex.Numeric = 0.999,
          eps: chex.Numeric = 1e-8, eps_root: chex.Numeric = 0.0,
          threshold: chex.Numeric = 5.0, *,
          nesterov: bool = False) -> base.GradientTransformationExtraArgs:
  r"""RAdam: Adam with the adaptive step rectified (and skipped while its variance is unknown).

  .. math::
    u_t = -\eta_t \begin{cases} r_t\,\hat m_t / (\sqrt{\hat v_t + \epsilon_{root}} + \epsilon)
      & \rho_t \ge \text{threshold} \\ \hat m_t & \text{otherwise} \end{cases}

  with :math:`\rho_t, r_t` of ``scale_by_radam`` (Liu et al., 2020,
  https://arxiv.org/abs/1908.03265).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> opt = ox.radam(0.1)
    >>> u, _ = opt.update(jnp.array([2.0]), opt.init(jnp.zeros(1)))   # rho_1 < 5: -lr * m^
    >>> round(u.item(), 6)
    -0.2
  """
  return _fusable(base.chain(
      variants.scale_by_radam(b1=b1, b2=b2, eps=eps, eps_root=eps_root, threshold=threshold,
                              nesterov=nesterov),
      _lr(learning_rate, 'radam')))


def yogi(learning_rate: ScalarOrSchedule, b1: chex.Numeric = 0.9, b2: chex.Numeric = 0.999,
         eps: chex.Numeric = 1e-3) -> base.GradientTransformationExtraArgs:
  r"""Yogi: Adam whose second moment moves toward :math:`g^2` by a bounded, additive step.

  .. math::
    v_t = v_{t-1} - (1 - \beta_2)\operatorname{sign}(v_{t-1} - g_t^2)\, g_t^2, \quad
    u_t = -\eta_t \frac{m_t / (1 - \beta_1^t)}{\sqrt{v_t / (1 - \beta_2^t)} + \epsilon}

  (``scale_by_yogi`` with moments starting at 1e-6; Zaheer et al., NeurIPS 2018).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> opt = ox.yogi(0.1, b1=0.0, b2=0.5, eps=0.0)
    >>> u, _ = opt.update(jnp.array([2.0]), opt.init(jnp.zeros(1)))   # v^ = 4 (+ 2e-6)
    >>> round(u.item(), 5)
    -0.1
  """
  return _fusable(base.chain(variants.scale_by_yogi(b1=b1, b2=b2, eps=eps),
                             _lr(learning_rate, 'yogi')))


def novograd(learning_rate: ScalarOrSchedule, b1: chex.Numeric = 0.9, b2: chex.Numeric = 0.25,
             eps: chex.Numeric = 1e-6, eps_root: chex.Numeric = 0.0,
             weight_decay: ScalarOrSchedule = 0.0) -> base.GradientTransformationExtraArgs:
  r"""NovoGrad: momentum over gradients normalised by a per-layer second moment.

  .. math::
    v^l_t = (1 - \beta_2)\|g^l_t\|^2 + \beta_2 v^l_{t-1}, \quad
    m^l_t = \beta_1 m^l_{t-1} + \frac{g^l_t}{\sqrt{v^l_t + \epsilon_{root}} + \epsilon}
      + \lambda w^l_t, \quad u_t = -\eta_t m_t

  (``scale_by_novograd``, where the first step sets :math:`v^l_1 = \|g^l_1\|^2`; Ginsburg et
  al., 2019, https://arxiv.org/abs/1905.11286). ``weight_decay`` is a number. Not supported by
  ``fused`` (per-leaf norms).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> opt = ox.novograd(0.1, eps=0.0)
    >>> p = jnp.zeros(2)
    >>> u, _ = opt.update(jnp.array([3.0, 4.0]), opt.init(p), p)   # -0.1 * g / ||g||
    >>> [round(x, 6) for x in u.tolist()]
    [-0.06, -0.08]
  """
  return base.chain(
      variants.scale_by_novograd(b1=b1, b2=b2, eps=eps, eps_root=eps_root,
                                 weight_decay=weight_decay),
      _lr(learning_rate, 'novograd'))

"""Optimizers as chains of transforms, with optax's names, signatures and defaults.

Each alias only composes transforms (the math lives in the transform modules) and returns
optax's plain chain, whose state is optax's. ``fused(alias(...))`` runs it bucketed: each alias
records how it is built (``fused.recipe``), masks included.
"""

from typing import Any, Optional

import chex

from optax_like._src import (accumulation, adaptive, base, fused as fused_lib, masking, scaling,
                             trust_ratio, validation)
from optax_like._src.weight_decay import add_decayed_weights

ScalarOrSchedule = base.ScalarOrSchedule
MaskOrFn = base.MaskOrFn


def _lr(learning_rate: ScalarOrSchedule, fn: str) -> base.GradientTransformation:
  validation.check_schedule_or_scalar(learning_rate, 'learning_rate', fn)
  return scaling.scale_by_learning_rate(learning_rate)


def _fusable(chain: base.GradientTransformationExtraArgs, make: Any = None,
             masks: tuple = ()) -> base.GradientTransformationExtraArgs:
  """The alias's plain chain, recorded as ``make(*masks)`` for ``fused``.

  With masks that select leaves, ``fused`` buckets leaves by their mask values and builds
  ``make`` with one bool per bucket. Per-leaf trust ratios (``lars``, ``lamb``) reduce over each
  leaf's segment of its bucket.
  """
  return fused_lib.recipe(chain, make or (lambda: chain), masks)


def sgd(learning_rate: ScalarOrSchedule, momentum: Optional[float] = None,
        nesterov: bool = False,
        accumulator_dtype: Optional[Any] = None) -> base.GradientTransformationExtraArgs:
  r"""Stochastic gradient descent, optionally with (Nesterov) momentum.

  .. math::
    t_k = g_k + \mu t_{k-1}, \quad u_k = -\eta\, t_k \;(\text{nesterov: } -\eta (g_k + \mu t_k))

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> opt = ox.sgd(0.1)
    >>> u, _ = opt.update(jnp.array([1.0]), opt.init(jnp.zeros(1)))
    >>> u.tolist()
    [-0.10000000149011612]
  """
  if momentum is not None:
    validation.check_range(momentum, 'momentum', low=0.0, fn='sgd')
    mom = accumulation.trace(decay=momentum, nesterov=nesterov,
                             accumulator_dtype=accumulator_dtype)
  else:
    mom = base.identity()
  return _fusable(base.chain(mom, _lr(learning_rate, 'sgd')))


def adam(learning_rate: ScalarOrSchedule, b1: float = 0.9, b2: float = 0.999,
         eps: float = 1e-8, eps_root: float = 0.0, mu_dtype: Optional[Any] = None, *,
         nesterov: bool = False) -> base.GradientTransformationExtraArgs:
  r"""Adam: ``u = -lr * m_hat / (sqrt(v_hat + eps_root) + eps)`` with bias-corrected moments.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> opt = ox.adam(0.1)
    >>> u, _ = opt.update(jnp.array([2.0]), opt.init(jnp.zeros(1)))
    >>> round(u.item(), 4)   # first step: -lr * sign(g), up to float32 bias-correction rounding
    -0.1
  """
  return _fusable(base.chain(
      adaptive.scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype,
                             nesterov=nesterov),
      _lr(learning_rate, 'adam')))


def nadam(learning_rate: ScalarOrSchedule, b1: float = 0.9, b2: float = 0.999,
          eps: float = 1e-8, eps_root: float = 0.0, mu_dtype: Optional[Any] = None, *,
          nesterov: bool = True) -> base.GradientTransformationExtraArgs:
  r"""NAdam: Adam with Nesterov momentum (``adam(..., nesterov=True)``).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> opt = ox.nadam(0.1)
    >>> u, _ = opt.update(jnp.array([2.0]), opt.init(jnp.zeros(1)))
    >>> u.shape
    (1,)
  """
  return adam(learning_rate, b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov)


def adamw(learning_rate: ScalarOrSchedule, b1: float = 0.9, b2: float = 0.999,
          eps: float = 1e-8, eps_root: float = 0.0, mu_dtype: Optional[Any] = None,
          weight_decay: ScalarOrSchedule = 1e-4, mask: Optional[MaskOrFn] = None, *,
          nesterov: bool = False) -> base.GradientTransformationExtraArgs:
  r"""AdamW: ``u = -lr * (m_hat / (sqrt(v_hat + eps_root) + eps) + wd * p)`` (decoupled decay).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> opt = ox.adamw(0.1, weight_decay=0.5)
    >>> p = jnp.ones(1)
    >>> u, _ = opt.update(jnp.zeros(1), opt.init(p), p)
    >>> round(u.item(), 6)
    -0.05
  """
  def make(decay_mask):
    return base.chain(
        adaptive.scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype,
                               nesterov=nesterov),
        add_decayed_weights(weight_decay, decay_mask),
        _lr(learning_rate, 'adamw'))
  return _fusable(make(mask), make, (mask,))


def amsgrad(learning_rate: ScalarOrSchedule, b1: float = 0.9, b2: float = 0.999,
            eps: float = 1e-8, eps_root: float = 0.0, mu_dtype: Optional[Any] = None,
            bias_correction_mu: bool = True,
            bias_correction_nu: bool = True) -> base.GradientTransformationExtraArgs:
  r"""AMSGrad: Adam whose denominator uses the running maximum of the second moment.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> opt = ox.amsgrad(0.1)
    >>> u, _ = opt.update(jnp.array([2.0]), opt.init(jnp.zeros(1)))
    >>> round(u.item(), 4)
    -0.1
  """
  return _fusable(base.chain(
      adaptive.scale_by_amsgrad(b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype,
                                bias_correction_mu=bias_correction_mu,
                                bias_correction_nu=bias_correction_nu),
      _lr(learning_rate, 'amsgrad')))


def rmsprop(learning_rate: ScalarOrSchedule, decay: float = 0.9, eps: float = 1e-8,
            initial_scale: float = 0.0, eps_in_sqrt: bool = True, centered: bool = False,
            momentum: Optional[float] = None, nesterov: bool = False,
            bias_correction: bool = False) -> base.GradientTransformationExtraArgs:
  r"""RMSprop: ``u = -lr * g / sqrt(nu + eps)`` (centered: ``nu - mu^2``), then optional momentum.

  The learning rate is applied before the momentum trace, so the velocity holds ``-lr * ...``
  as in TF's kernels.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> opt = ox.rmsprop(0.1, decay=0.0, eps=0.0)
    >>> u, _ = opt.update(jnp.array([2.0]), opt.init(jnp.zeros(1)))
    >>> round(u.item(), 6)
    -0.1
  """
  scaler = adaptive.scale_by_stddev if centered else adaptive.scale_by_rms
  if momentum is not None:
    validation.check_range(momentum, 'momentum', low=0.0, fn='rmsprop')
  return _fusable(base.chain(
      scaler(decay=decay, eps=eps, initial_scale=initial_scale, eps_in_sqrt=eps_in_sqrt,
             bias_correction=bias_correction),
      _lr(learning_rate, 'rmsprop'),
      accumulation.trace(decay=momentum, nesterov=nesterov)
      if momentum is not None else base.identity()))


def lars(learning_rate: ScalarOrSchedule, weight_decay: ScalarOrSchedule = 0.0,
         weight_decay_mask: MaskOrFn = True, trust_coefficient: float = 0.001,
         eps: float = 0.0, trust_ratio_mask: MaskOrFn = True, momentum: float = 0.9,
         nesterov: bool = False) -> base.GradientTransformationExtraArgs:
  r"""LARS: layer-wise trust ratio on ``g + wd * p``, then SGD with momentum.

  .. math::
    d = g + \lambda p, \quad r = \text{tc}\,\|p\| / (\|d\| + \epsilon)\ (1 \text{ if a norm is } 0),
    \quad t = -\eta r d + \mu t

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> opt = ox.lars(0.1, momentum=0.0)
    >>> p = jnp.zeros(2)
    >>> u, _ = opt.update(jnp.ones(2), opt.init(p), p)
    >>> u.tolist()   # zero params: trust ratio falls back to 1
    [-0.10000000149011612, -0.10000000149011612]
  """
  validation.check_range(momentum, 'momentum', low=0.0, fn='lars')

  def make(decay_mask, ratio_mask):
    return base.chain(
        add_decayed_weights(weight_decay, mask=decay_mask),
        masking.masked(trust_ratio.scale_by_trust_ratio(trust_coefficient=trust_coefficient,
                                                        eps=eps), mask=ratio_mask),
        _lr(learning_rate, 'lars'),
        accumulation.trace(decay=momentum, nesterov=nesterov))
  masks = (weight_decay_mask, trust_ratio_mask)
  return _fusable(make(*masks), make, masks)


def lamb(learning_rate: ScalarOrSchedule, b1: float = 0.9, b2: float = 0.999,
         eps: float = 1e-6, eps_root: float = 0.0, weight_decay: float = 0.0,
         mask: Optional[MaskOrFn] = None) -> base.GradientTransformationExtraArgs:
  r"""LAMB: Adam direction plus decoupled weight decay, rescaled by a per-layer trust ratio.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> opt = ox.lamb(0.1)
    >>> p = jnp.ones(2)
    >>> u, _ = opt.update(jnp.ones(2), opt.init(p), p)
    >>> u.shape
    (2,)
  """
  def make(decay_mask):
    return base.chain(
        adaptive.scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root),
        add_decayed_weights(weight_decay=weight_decay, mask=decay_mask),
        trust_ratio.scale_by_trust_ratio(),
        _lr(learning_rate, 'lamb'))
  return _fusable(make(mask), make, (mask,))


def lion(learning_rate: ScalarOrSchedule, b1: float = 0.9, b2: float = 0.99,
         mu_dtype: Optional[Any] = None, weight_decay: ScalarOrSchedule = 1e-3,
         mask: Optional[MaskOrFn] = None) -> base.GradientTransformationExtraArgs:
  r"""Lion: ``u = -lr * (sign(b1 m + (1-b1) g) + wd p)``, then ``m = b2 m + (1-b2) g``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> opt = ox.lion(0.1, weight_decay=0.0)
    >>> p = jnp.zeros(2)
    >>> u, _ = opt.update(jnp.array([3.0, -2.0]), opt.init(p), p)
    >>> u.tolist()
    [-0.10000000149011612, 0.10000000149011612]
  """
  def make(decay_mask):
    return base.chain(
        adaptive.scale_by_lion(b1=b1, b2=b2, mu_dtype=mu_dtype),
        add_decayed_weights(weight_decay, decay_mask),
        _lr(learning_rate, 'lion'))
  return _fusable(make(mask), make, (mask,))


def adagrad(learning_rate: ScalarOrSchedule, initial_accumulator_value: float = 0.1,
            eps: float = 1e-7) -> base.GradientTransformationExtraArgs:
  r"""Adagrad: ``s += g^2``, ``u = -lr * g / sqrt(s + eps)`` (optax's form).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> opt = ox.adagrad(0.1)
    >>> u, _ = opt.update(jnp.array([1.0]), opt.init(jnp.zeros(1)))
    >>> u.shape
    (1,)
  """
  return _fusable(base.chain(
      adaptive.scale_by_rss(initial_accumulator_value=initial_accumulator_value, eps=eps),
      _lr(learning_rate, 'adagrad')))

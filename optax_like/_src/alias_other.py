r"""More optimizers as chains of transforms, with optax's names, signatures and defaults.

Adafactor, SM3, Rprop, signSGD / Signum, Fromage, noisy SGD, optimistic gradient descent and
optimistic Adam, and SGD with Polyak's step size. Each returns optax's plain chain (optax's
state). The elementwise ones are registered for ``fused``; Adafactor, SM3 and noisy SGD depend
on how elements are grouped into leaves (factored moments, per-axis accumulators, one random
key per leaf), so ``fused`` rejects them with a clear error.
"""


import warnings
from typing import Any, Optional

import jax.numpy as jnp

from optax_like._src import accumulation
from optax_like._src import adaptive
from optax_like._src import base
from optax_like._src import clipping
from optax_like._src import factorized
from optax_like._src import noise
from optax_like._src import optimistic
from optax_like._src import param_scaling
from optax_like._src import parameter_free
from optax_like._src import scaling
from optax_like._src import sign
from optax_like._src import sm3 as sm3_lib
from optax_like._src import trust_ratio
from optax_like._src import validation
from optax_like._src.alias import _fusable, _lr, sgd
from optax_like._src.weight_decay import add_decayed_weights

ScalarOrSchedule = base.ScalarOrSchedule
MaskOrFn = Any


def adafactor(
    learning_rate: Optional[ScalarOrSchedule] = None,
    min_dim_size_to_factor: int = 128,
    decay_rate: Any = 0.8,
    decay_offset: Any = 0,
    multiply_by_parameter_scale: bool = True,
    clipping_threshold: Optional[Any] = 1.0,
    momentum: Optional[Any] = None,
    dtype_momentum: Any = jnp.float32,
    weight_decay_rate: Optional[ScalarOrSchedule] = None,
    eps: Any = 1e-30,
    factored: bool = True,
    weight_decay_mask: MaskOrFn = None,
) -> base.GradientTransformationExtraArgs:
  r"""Adafactor: factored second moments, update clipping and a relative step size.

  The chain, each stage optional as in optax:

  .. math::
    \hat u = \texttt{scale\_by\_factored\_rms}(g), \quad
    \hat u \leftarrow \hat u / \max(1, \mathrm{RMS}(\hat u) / d), \quad
    \hat u \leftarrow \eta_t\, \max(\mathrm{RMS}(p), 10^{-3})\, \hat u

  then an (undebiased) EMA of momentum ``momentum``, plus ``weight_decay_rate * p``, and the
  sign flip :math:`u = -\hat u`. Here :math:`d` = ``clipping_threshold`` (None: no clipping),
  :math:`\eta_t` = ``learning_rate`` (None: 1) and the parameter RMS factor is applied when
  ``multiply_by_parameter_scale``. Shazeer & Stern, "Adafactor: Adaptive Learning Rates with
  Sublinear Memory Cost", 2018 (arXiv:1804.04235).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> opt = ox.adafactor(0.1, multiply_by_parameter_scale=False)
    >>> p = jnp.zeros(2)
    >>> u, _ = opt.update(jnp.array([3.0, -4.0]), opt.init(p), p)
    >>> [round(x, 6) for x in u.tolist()]   # first step: -lr * sign(g)
    [-0.1, 0.1]
  """
  fn = 'adafactor'
  if learning_rate is not None:
    validation.check_schedule_or_scalar(learning_rate, 'learning_rate', fn)
  if clipping_threshold is not None:
    validation.check_range(clipping_threshold, 'clipping_threshold', low=0.0, fn=fn)
  if momentum is not None:
    validation.check_range(momentum, 'momentum', low=0.0, high=1.0, fn=fn)
  if weight_decay_rate is not None:
    validation.check_schedule_or_scalar(weight_decay_rate, 'weight_decay_rate', fn)
  txs = [factorized.scale_by_factored_rms(factored, decay_rate, decay_offset,
                                          min_dim_size_to_factor, eps)]
  if clipping_threshold is not None:
    txs.append(clipping.clip_by_block_rms(clipping_threshold))
  if learning_rate is not None:
    txs.append(scaling.scale_by_learning_rate(learning_rate, flip_sign=False))
  if multiply_by_parameter_scale:
    txs.append(param_scaling.scale_by_param_block_rms())
  if momentum is not None:
    txs.append(accumulation.ema(momentum, debias=False, accumulator_dtype=dtype_momentum))
  if weight_decay_rate is not None:
    txs.append(add_decayed_weights(weight_decay_rate, mask=weight_decay_mask))
  txs.append(scaling.scale(-1))
  return base.chain(*txs)


def sm3(learning_rate: Any, momentum: Any = 0.9) -> base.GradientTransformationExtraArgs:
  r"""SM3: ``u = -lr * momentum_b1(g / sqrt(a))`` with per-axis accumulators ``a`` (Adagrad-like).

  See ``scale_by_sm3``; ``learning_rate`` is a number (optax's SM3 takes no schedule).
  Anil et al., "Memory-Efficient Adaptive Optimization", 2019 (arXiv:1901.11150).

  .. math:: u_t = -\eta\, \nu_t

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> opt = ox.sm3(0.1, momentum=0.0)
    >>> p = jnp.zeros(2)
    >>> opt.update(jnp.array([2.0, -0.5]), opt.init(p), p)[0].tolist()
    [-0.10000000149011612, 0.10000000149011612]
  """
  fn = 'sm3'
  validation.check_range(learning_rate, 'learning_rate', low=0.0, fn=fn)
  validation.check_range(momentum, 'momentum', low=0.0, high=1.0, fn=fn)
  return base.chain(sm3_lib.scale_by_sm3(momentum), scaling.scale(-learning_rate))


def rprop(learning_rate: Any, eta_minus: Any = 0.5, eta_plus: Any = 1.2,
          min_step_size: Any = 1e-6,
          max_step_size: Any = 50.0) -> base.GradientTransformationExtraArgs:
  r"""Rprop: per-element step sizes adapted to the sign agreement of successive gradients.

  .. math:: u_t = -p_{t-1}\ (0 \text{ after a sign change}), \qquad
     p_t = \eta_t \operatorname{sign}(g_t)

  with optax's one-step delay (see ``scale_by_rprop``); ``learning_rate`` is the initial step
  size. Riedmiller & Braun, 1993.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> opt = ox.rprop(0.5)
    >>> p = jnp.zeros(2)
    >>> s = opt.init(p)
    >>> u, s = opt.update(jnp.array([3.0, -1.0]), s, p)   # stores p = [0.5, -0.5]
    >>> u, s = opt.update(jnp.array([1.0, -2.0]), s, p)
    >>> u.tolist()
    [-0.5, 0.5]
  """
  return _fusable(base.chain(
      sign.scale_by_rprop(learning_rate=learning_rate, eta_minus=eta_minus, eta_plus=eta_plus,
                          min_step_size=min_step_size, max_step_size=max_step_size),
      scaling.scale(-1.0)))


def sign_sgd(learning_rate: ScalarOrSchedule) -> base.GradientTransformationExtraArgs:
  r"""signSGD: :math:`u_t = -\eta_t \operatorname{sign}(g_t)`.

  Bernstein et al., "signSGD: Compressed Optimisation for Non-Convex Problems", 2018
  (arXiv:1802.04434).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> opt = ox.sign_sgd(0.5)
    >>> opt.update(jnp.array([3.0, -0.1, 0.0]), opt.init(jnp.zeros(3)))[0].tolist()
    [-0.5, 0.5, -0.0]
  """
  return _fusable(base.chain(sign.scale_by_sign(), _lr(learning_rate, 'sign_sgd')))


def signum(learning_rate: ScalarOrSchedule, beta: Any = 0.9,
           accumulator_dtype: Optional[Any] = None) -> base.GradientTransformationExtraArgs:
  r"""Signum: the sign of an exponential moving average of the gradients.

  .. math::
    m_t = \beta m_{t-1} + (1 - \beta) g_t, \qquad u_t = -\eta_t \operatorname{sign}(m_t)

  (not debiased: the sign does not change). Bernstein et al., 2018 (arXiv:1802.04434).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> opt = ox.signum(0.5, beta=0.5)
    >>> s = opt.init(jnp.zeros(1))
    >>> u, s = opt.update(jnp.array([4.0]), s)    # m = 2
    >>> u, s = opt.update(jnp.array([-1.0]), s)   # m = 0.5: still positive
    >>> u.tolist()
    [-0.5]
  """
  validation.check_range(beta, 'beta', low=0.0, high=1.0, fn='signum')
  return _fusable(base.chain(
      accumulation.ema(beta, debias=False, accumulator_dtype=accumulator_dtype),
      sign.scale_by_sign(),
      _lr(learning_rate, 'signum')))


def fromage(learning_rate: ScalarOrSchedule,
            min_norm: Any = 1e-6) -> base.GradientTransformationExtraArgs:
  r"""Fromage: trust-ratio steps followed by a shrink of the parameters.

  With :math:`c_t = 1 / \sqrt{1 + \eta_t^2}`, per leaf

  .. math:: u_t = -\eta_t c_t \frac{\|p\|}{\|g\|} g + (c_t - 1)\, p

  so that :math:`p + u = c_t (p - \eta_t \frac{\|p\|}{\|g\|} g)` (norms floored at
  ``min_norm``). Bernstein et al., "On the distance between two neural networks and the
  stability of learning", 2020 (arXiv:2002.03432).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> opt = ox.fromage(0.75)         # c = 0.8
    >>> p = jnp.array([0.0, 2.0])
    >>> opt.update(jnp.array([1.0, 0.0]), opt.init(p), p)[0].tolist()   # |p| / |g| = 2
    [-1.2000000476837158, -0.4000000059604645]
  """
  fn = 'fromage'
  validation.check_schedule_or_scalar(learning_rate, 'learning_rate', fn)
  validation.check_range(min_norm, 'min_norm', low=0.0, fn=fn)
  if callable(learning_rate):
    def shrink(count):
      return 1 / (1 + learning_rate(count) ** 2) ** 0.5
    return _fusable(base.chain(
        trust_ratio.scale_by_trust_ratio(min_norm),
        scaling.scale_by_learning_rate(lambda count: shrink(count) * learning_rate(count)),
        add_decayed_weights(lambda count: shrink(count) - 1)))
  shrink = 1 / (1 + learning_rate ** 2) ** 0.5
  return _fusable(base.chain(
      trust_ratio.scale_by_trust_ratio(min_norm),
      scaling.scale_by_learning_rate(learning_rate * shrink),
      add_decayed_weights(shrink - 1)))


def noisy_sgd(learning_rate: ScalarOrSchedule, eta: Any = 0.01, gamma: Any = 0.55,
              key: Optional[Any] = None, *,
              seed: Optional[int] = None) -> base.GradientTransformationExtraArgs:
  r"""SGD on gradients with annealed Gaussian noise.

  .. math:: u_t = -\eta_t \left(g_t + \sqrt{\eta / t^{\gamma}}\; \xi_t\right), \qquad
     \xi_t \sim \mathcal N(0, I)

  with optax's random numbers for the same ``key`` (see ``add_noise``). Neelakantan et al.,
  "Adding Gradient Noise Improves Learning for Very Deep Networks", 2015 (arXiv:1511.06807).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> opt = ox.noisy_sgd(0.1, eta=0.0, key=0)    # no noise: plain SGD
    >>> opt.update(jnp.array([2.0]), opt.init(jnp.zeros(1)))[0].tolist()
    [-0.20000000298023224]
  """
  return base.chain(noise.add_noise(eta, gamma, key, seed=seed),
                    _lr(learning_rate, 'noisy_sgd'))


def optimistic_gradient_descent(
    learning_rate: ScalarOrSchedule, alpha: ScalarOrSchedule = 1.0,
    beta: ScalarOrSchedule = 1.0) -> base.GradientTransformationExtraArgs:
  r"""Optimistic gradient descent: :math:`u_t = -\eta_t((\alpha + \beta) g_t - \beta g_{t-1})`.

  Mokhtari et al., "A Unified Analysis of Extra-gradient and Optimistic Gradient Methods for
  Saddle Point Problems", 2019 (arXiv:1901.08511).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> opt = ox.optimistic_gradient_descent(0.1)
    >>> s = opt.init(jnp.zeros(1))
    >>> u, s = opt.update(jnp.array([1.0]), s)
    >>> u, s = opt.update(jnp.array([3.0]), s)   # -0.1 * (2 * 3 - 1)
    >>> round(u.item(), 6)
    -0.5
  """
  return _fusable(base.chain(
      optimistic.scale_by_optimistic_gradient(alpha=alpha, beta=beta),
      _lr(learning_rate, 'optimistic_gradient_descent')))


def optimistic_adam(learning_rate: Any, optimism: Optional[Any] = None, b1: Any = 0.9,
                    b2: Any = 0.999, eps: Any = 1e-08, eps_root: Any = 0.0,
                    mu_dtype: Optional[Any] = None, *,
                    nesterov: bool = True) -> base.GradientTransformationExtraArgs:
  r"""Optimistic Adam (deprecated form; use ``optimistic_adam_v2``).

  With Adam's direction :math:`r_t` and :math:`o` = ``optimism`` (default: the learning rate):

  .. math:: u_t = -\eta\, r_t - o\, (r_t - r_{t-1})

  ``learning_rate`` must be a number. Daskalakis et al., "Training GANs with Optimism", 2017
  (arXiv:1711.00141).

  Example:
    >>> import warnings, jax.numpy as jnp, optax_like as ox
    >>> with warnings.catch_warnings():
    ...   warnings.simplefilter('ignore', DeprecationWarning)
    ...   opt = ox.optimistic_adam(0.1, nesterov=False)
    >>> u, _ = opt.update(jnp.array([2.0]), opt.init(jnp.zeros(1)))
    >>> round(u.item(), 4)   # first step: r = sign(g), u = -lr * r
    -0.1
  """
  warnings.warn('`optimistic_adam` is deprecated, please use `optimistic_adam_v2` instead.',
                category=DeprecationWarning)
  if callable(learning_rate):
    raise ValueError('This version of `optimistic_adam` does not support learning rate '
                     'schedules but `optimistic_adam_v2` does.')
  validation.check_range(learning_rate, 'learning_rate', fn='optimistic_adam')
  if optimism is None:
    optimism = learning_rate
  return _fusable(base.chain(
      adaptive.scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype,
                             nesterov=nesterov),
      optimistic.scale_by_optimistic_gradient(alpha=learning_rate, beta=optimism),
      scaling.scale_by_learning_rate(1.0)))


def optimistic_adam_v2(learning_rate: ScalarOrSchedule, *, alpha: Any = 1.0, beta: Any = 1.0,
                       b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-08, eps_root: Any = 0.0,
                       mu_dtype: Optional[Any] = None,
                       nesterov: bool = True) -> base.GradientTransformationExtraArgs:
  r"""Optimistic Adam: Adam's direction :math:`r_t`, extrapolated, times the learning rate.

  .. math:: u_t = -\eta_t \left((\alpha + \beta) r_t - \beta r_{t-1}\right)

  (:math:`r_t = \hat m_t / (\sqrt{\hat v_t + \bar\epsilon} + \epsilon)`, NAdam's by default).
  Daskalakis et al., "Training GANs with Optimism", 2017 (arXiv:1711.00141).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> opt = ox.optimistic_adam_v2(0.1, nesterov=False)
    >>> u, _ = opt.update(jnp.array([2.0]), opt.init(jnp.zeros(1)))
    >>> round(u.item(), 4)   # first step: r = sign(g), u = -lr * alpha * r
    -0.1
  """
  return _fusable(base.chain(
      adaptive.scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype,
                             nesterov=nesterov),
      optimistic.scale_by_optimistic_gradient(alpha=alpha, beta=beta),
      _lr(learning_rate, 'optimistic_adam_v2')))


def polyak_sgd(max_learning_rate: Any = 1.0, scaling: ScalarOrSchedule = 1.0,
               f_min: Any = 0.0, eps: Any = 0.0,
               variant: str = 'sps') -> base.GradientTransformationExtraArgs:
  r"""SGD with Polyak's step size, read from the loss passed as ``update(..., value=loss)``.

  .. math:: u = -s_t \min\left(\frac{f(x) - f^\star}{\|g\|^2 + \epsilon},
     \gamma_{max}\right) g

  (0 where :math:`\|g\|^2 + \epsilon` vanishes; ``variant='sps+'`` clips the gap at 0), with
  :math:`s_t` = ``scaling``. Loizou et al., "Stochastic Polyak Step-size for SGD", 2021
  (arXiv:2002.10542).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> opt = ox.polyak_sgd(max_learning_rate=10.0)
    >>> g = jnp.array([3.0, 4.0])    # step = (5 - 0) / 25
    >>> opt.update(g, opt.init(g), value=jnp.array(5.0))[0].tolist()
    [-0.6000000238418579, -0.800000011920929]
  """
  return _fusable(base.chain(
      sgd(learning_rate=scaling),
      parameter_free.scale_by_polyak(max_learning_rate=max_learning_rate, f_min=f_min, eps=eps,
                                     variant=variant)))

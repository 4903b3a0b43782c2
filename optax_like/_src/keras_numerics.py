"""tf.keras 2 (legacy ``OptimizerV2``) and tf-models LARS numerics, as chains of our transforms.

These are the functional forms behind ``optax_like.keras``: each returns a plain
``GradientTransformation`` whose trajectory matches the TF kernels step for step.
The differences from the optax-style aliases are options of the same transforms:

* Adam: epsilon-hat (``eps`` added to ``sqrt(v)`` before bias correction), lerp-form moments;
  AMSGrad takes the max over the raw second moment.
* RMSprop: with momentum, ``eps`` inside the root and the learning rate folded into the
  velocity; without momentum, ``eps`` outside the root.
* SGD momentum: the velocity holds ``-lr * g`` (learning rate applied before the trace).
* Learning rates: a schedule sees the iteration count *before* the increment, and ``decay``
  divides it by ``1 + decay * iterations``.
* LARS: tf-models' classic or "popular" momentum, trust-ratio fallback 1.0, weight decay and
  layer adaptation masked by regexes over parameter paths.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import jax.numpy as jnp

from optax_like._src import (accumulation, adaptive, base, clipping, masking, scaling, trust_ratio,
                             validation)
from optax_like._src.weight_decay import add_decayed_weights


def _enabled(value) -> bool:
  """Keras 2's test for an optional term (``_momentum``, LARS's ``use_wd``): a tensor or
  callable is always on; a Python number only when it is > 0. So a traced value is on."""
  static = validation._static_number(value)  # pylint: disable=protected-access
  return static is None or static > 0


def keras_learning_rate(learning_rate: base.ScalarOrSchedule,
                        decay: float = 0.0) -> base.ScalarOrSchedule:
  r"""Keras 2's ``_decayed_lr``: ``lr(it) / (1 + decay * it)``, ``it`` = updates done so far.

  Example:
    >>> import optax_like as ox
    >>> float(ox.keras_learning_rate(1.0, decay=0.5)(2))
    0.5
  """
  validation.check_schedule_or_scalar(learning_rate, 'learning_rate', 'keras_learning_rate')
  validation.check_range(decay, 'decay', low=0.0, fn='keras_learning_rate')
  if not decay and not callable(learning_rate):
    return learning_rate

  def schedule(count):
    step = jnp.asarray(count, jnp.float32)
    lr = learning_rate(step) if callable(learning_rate) else learning_rate
    lr = jnp.asarray(lr, jnp.float32)
    return lr / (1.0 + decay * step) if decay else lr

  return schedule


def keras_gradient_clipping(clipvalue: Optional[float] = None, clipnorm: Optional[float] = None,
                            global_clipnorm: Optional[float] = None, *,
                            axis_name: Any = None) -> base.GradientTransformationExtraArgs:
  r"""Keras 2's gradient clipping, in its order: ``clipvalue`` → ``clipnorm`` → ``global_clipnorm``.

  ``clipnorm`` clips each tensor to norm ``c`` (``g c / max(||g||, c)``); ``global_clipnorm``
  follows ``tf.clip_by_global_norm`` (a non-finite global norm makes every gradient NaN).

  ``axis_name`` (keyword-only, default ``None``: no collective) is passed to ``clip_by_norm``
  and ``clip_by_global_norm``: inside ``jax.shard_map`` it names the mesh axes the leaves are
  split over (an axis name, tuple of names, ``PartitionSpec``, or a pytree of those matching
  the updates), so that norms are those of the whole, unsplit tensors.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> tx = ox.keras_gradient_clipping(clipnorm=1.0)
    >>> tx.update(jnp.array([3.0, 4.0]), tx.init(jnp.zeros(2)))[0].tolist()
    [0.6000000238418579, 0.800000011920929]
  """
  if clipnorm is not None and global_clipnorm is not None:
    raise ValueError('Cannot accept both `clipnorm` and `global_clipnorm`; set only one.')
  for name, value in (('clipvalue', clipvalue), ('clipnorm', clipnorm),
                      ('global_clipnorm', global_clipnorm)):
    if value is not None:
      validation.check_range(value, name, low=0.0, fn='keras_gradient_clipping')
  return base.chain(
      clipping.clip(clipvalue) if clipvalue is not None else base.identity(),
      clipping.clip_by_norm(clipnorm, axis_name=axis_name)
      if clipnorm is not None else base.identity(),
      clipping.clip_by_global_norm(global_clipnorm, nonfinite='nan', axis_name=axis_name)
      if global_clipnorm is not None else base.identity())


def keras_sgd(learning_rate: base.ScalarOrSchedule = 0.01, momentum: float = 0.0,
              nesterov: bool = False) -> base.GradientTransformationExtraArgs:
  r"""tf.keras SGD: ``v = momentum * v - lr * g``; ``w += v`` (nesterov: ``momentum * v - lr * g``).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> opt = ox.keras_sgd(0.1, momentum=0.9)
    >>> s = opt.init(jnp.ones(1))
    >>> u1, s = opt.update(jnp.ones(1), s)
    >>> u2, s = opt.update(jnp.ones(1), s)
    >>> [round(u1.item(), 6), round(u2.item(), 6)]
    [-0.1, -0.19]
  """
  validation.check_range(momentum, 'momentum', low=0.0, high=1.0, fn='keras_sgd')
  lr = scaling.scale_by_learning_rate(learning_rate)
  if _enabled(momentum):
    return base.chain(lr, accumulation.trace(decay=momentum, nesterov=nesterov))
  return base.chain(lr)


def keras_adam(learning_rate: base.ScalarOrSchedule = 0.001, beta_1: float = 0.9,
               beta_2: float = 0.999, epsilon: float = 1e-7,
               amsgrad: bool = False) -> base.GradientTransformationExtraArgs:
  r"""tf.keras Adam (``ResourceApplyAdam``): ``w -= lr sqrt(1-b2^t)/(1-b1^t) m / (sqrt(v) + eps)``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> opt = ox.keras_adam(0.1)
    >>> u, _ = opt.update(jnp.array([2.0]), opt.init(jnp.zeros(1)))
    >>> round(u.item(), 6)
    -0.1
  """
  for name, value in (('beta_1', beta_1), ('beta_2', beta_2), ('epsilon', epsilon)):
    validation.check_not_bool(value, name, 'keras_adam')
  scaler = adaptive.scale_by_amsgrad if amsgrad else adaptive.scale_by_adam
  return base.chain(scaler(b1=beta_1, b2=beta_2, eps=epsilon, eps_hat=True),
                    scaling.scale_by_learning_rate(learning_rate))


def keras_rmsprop(learning_rate: base.ScalarOrSchedule = 0.001, rho: float = 0.9,
                  momentum: float = 0.0, epsilon: float = 1e-7,
                  centered: bool = False) -> base.GradientTransformationExtraArgs:
  r"""tf.keras RMSprop, with the epsilon placement of its two code paths.

  With momentum (``ResourceApplyRMSProp``): ``mom = momentum * mom + lr g / sqrt(ms + eps)``,
  ``w -= mom``. Without: ``w -= lr g / (sqrt(ms) + eps)``. Centered uses ``ms - mg^2``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> opt = ox.keras_rmsprop(0.1, rho=0.0, epsilon=0.0)
    >>> u, _ = opt.update(jnp.array([2.0]), opt.init(jnp.zeros(1)))
    >>> round(u.item(), 6)
    -0.1
  """
  validation.check_range(momentum, 'momentum', low=0.0, high=1.0, fn='keras_rmsprop')
  validation.check_not_bool(rho, 'rho', 'keras_rmsprop')
  validation.check_not_bool(epsilon, 'epsilon', 'keras_rmsprop')
  scaler = adaptive.scale_by_stddev if centered else adaptive.scale_by_rms
  lr = scaling.scale_by_learning_rate(learning_rate)
  if _enabled(momentum):
    return base.chain(scaler(decay=rho, eps=epsilon, eps_in_sqrt=True, lerp=True), lr,
                      accumulation.trace(decay=momentum))
  return base.chain(scaler(decay=rho, eps=epsilon, eps_in_sqrt=False), lr)


def keras_lars(learning_rate: base.ScalarOrSchedule = 0.01, momentum: float = 0.9,
               weight_decay_rate: float = 0.0, eeta: float = 0.001, nesterov: bool = False,
               classic_momentum: bool = True,
               exclude_from_weight_decay: Optional[Sequence[str]] = None,
               exclude_from_layer_adaptation: Optional[Sequence[str]] = None, *,
               axis_name: Any = None) -> base.GradientTransformationExtraArgs:
  r"""tf-models LARS (``official/modeling/optimization/lars.py``).

  With ``d = g + wd p`` (unless excluded) and ``tr(x, y) = eeta ||x|| / ||y||`` (1.0 if a norm
  is 0, or if the parameter is excluded from layer adaptation):

  * classic: ``v = momentum v + lr tr(p, d) d``; ``p -= v`` (nesterov: ``momentum v + lr tr d``);
  * popular: ``v = momentum v + d``; ``p -= lr tr(p, v) v`` (nesterov: ``momentum v + d``).

  Exclusions are regexes searched in parameter paths such as ``'dense/bias'``;
  ``exclude_from_layer_adaptation`` defaults to ``exclude_from_weight_decay``.
  ``axis_name`` (keyword-only, default ``None``) is the trust ratio's: inside
  ``jax.shard_map``, the mesh axes the parameters are split over (see
  ``scale_by_trust_ratio``), so that ``||p||`` and ``||d||`` are norms of whole parameters.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> opt = ox.keras_lars(0.1, momentum=0.0)
    >>> p = {'kernel': jnp.ones(4), 'bias': jnp.zeros(4)}
    >>> u, _ = opt.update({'kernel': jnp.ones(4), 'bias': jnp.ones(4)}, opt.init(p), p)
    >>> [round(u['kernel'][0].item(), 6), round(u['bias'][0].item(), 6)]
    [-0.0001, -0.1]
  """
  validation.check_range(momentum, 'momentum', low=0.0, fn='keras_lars')
  validation.check_range(eeta, 'eeta', low=0.0, fn='keras_lars')
  validation.check_range(weight_decay_rate, 'weight_decay_rate', low=0.0, fn='keras_lars')
  exclude_from_layer_adaptation = exclude_from_layer_adaptation or exclude_from_weight_decay
  decay = (add_decayed_weights(weight_decay_rate,
                               mask=masking.regex_mask(exclude_from_weight_decay or [], match=False))
           if _enabled(weight_decay_rate) else base.identity())
  adapt = masking.masked(trust_ratio.scale_by_trust_ratio(trust_coefficient=eeta,
                                                         axis_name=axis_name),
                         mask=masking.regex_mask(exclude_from_layer_adaptation or [], match=False))
  lr = scaling.scale_by_learning_rate(learning_rate)
  velocity = accumulation.trace(decay=momentum, nesterov=nesterov)
  if classic_momentum:
    return base.chain(decay, adapt, lr, velocity)
  return base.chain(decay, velocity, adapt, lr)

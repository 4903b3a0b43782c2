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

from typing import Any, Callable, NamedTuple, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from optax_like._src import (accumulation, adaptive, base, clipping, masking, moments, numerics,
                             scaling, trust_ratio,
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


# ----------------------------------------------------------------------------------------
# Adagrad, Adadelta, Adamax, Nadam and Ftrl (tf.keras 2 legacy optimizers, TF's kernels).
# ----------------------------------------------------------------------------------------

def _count_inc(count):
  return numerics.safe_increment(count)


def _map_unzip(fn: Callable, n: int, tree: Any, *rest: Any) -> Tuple[Any, ...]:
  """``jax.tree.map(fn, tree, *rest)`` for an ``fn`` returning ``n`` values, as ``n`` trees.

  Unzipped by ``tree``'s structure: a tree whose node is itself a tuple of ``n`` leaves (the
  parameters ``(w, b, c)``, or ``fused``'s buckets) is never mistaken for one result.
  """
  leaves, treedef = jax.tree.flatten(tree)
  others = [treedef.flatten_up_to(r) for r in rest]
  out = [fn(*xs) for xs in zip(leaves, *others)]
  return tuple(treedef.unflatten([o[k] for o in out]) for k in range(n))


def scale_by_keras_adagrad(initial_accumulator_value: float = 0.1,
                           epsilon: float = 1e-7) -> base.GradientTransformation:
  r"""TF's ``ApplyAdagradV2`` scaling: ``s += g^2``; ``u = g / (sqrt(s) + eps)`` (eps outside the root).

  ``scale_by_rss`` (optax's form) puts ``eps`` inside the root and gives 0 where ``s = 0``;
  Keras adds it to the root. The state is ``ScaleByRssState(sum_of_squares)``.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like._src import keras_numerics as kn
    >>> tx = kn.scale_by_keras_adagrad(initial_accumulator_value=0.0, epsilon=0.0)
    >>> tx.update(jnp.array([3.0]), tx.init(jnp.zeros(1)))[0].tolist()
    [1.0]
  """
  validation.check_range(initial_accumulator_value, 'initial_accumulator_value', low=0.0,
                         fn='scale_by_keras_adagrad')
  validation.check_not_bool(epsilon, 'epsilon', 'scale_by_keras_adagrad')

  def init_fn(params):
    return adaptive.ScaleByRssState(sum_of_squares=jax.tree.map(
        lambda p: jnp.full_like(p, initial_accumulator_value), params))

  def update_fn(updates, state, params=None):
    del params
    acc = jax.tree.map(lambda g, s: s + g * g, updates, state.sum_of_squares)
    updates = jax.tree.map(lambda g, s: g / (jnp.sqrt(s) + jnp.asarray(epsilon, g.dtype)),
                           updates, acc)
    return updates, adaptive.ScaleByRssState(sum_of_squares=acc)

  return base.grouping_free(base.GradientTransformation(init_fn, update_fn))


def keras_adagrad(learning_rate: base.ScalarOrSchedule = 0.001,
                  initial_accumulator_value: float = 0.1,
                  epsilon: float = 1e-7) -> base.GradientTransformationExtraArgs:
  r"""tf.keras Adagrad (``ResourceApplyAdagradV2``): ``s += g^2``; ``w -= lr g / (sqrt(s) + eps)``.

  Duchi et al., 2011 (https://jmlr.org/papers/v12/duchi11a.html).

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like._src import keras_numerics as kn
    >>> opt = kn.keras_adagrad(0.1, initial_accumulator_value=0.0, epsilon=0.0)
    >>> u, _ = opt.update(jnp.array([2.0]), opt.init(jnp.zeros(1)))
    >>> round(u.item(), 6)
    -0.1
  """
  return base.chain(scale_by_keras_adagrad(initial_accumulator_value, epsilon),
                    scaling.scale_by_learning_rate(learning_rate))


def keras_adadelta(learning_rate: base.ScalarOrSchedule = 0.001, rho: float = 0.95,
                   epsilon: float = 1e-7) -> base.GradientTransformationExtraArgs:
  r"""tf.keras Adadelta (``ResourceApplyAdadelta``): ``scale_by_adadelta`` then ``-lr``.

  .. math::
    a_g \leftarrow \rho a_g + (1-\rho) g^2; \quad
    u = \frac{\sqrt{a_x + \epsilon}}{\sqrt{a_g + \epsilon}} g; \quad
    a_x \leftarrow \rho a_x + (1-\rho) u^2; \quad w \leftarrow w - \eta u

  Zeiler, 2012 (https://arxiv.org/abs/1212.5701). TF's kernel is optax's AdaDelta with the
  learning rate applied after the accumulators (the slots are ``e_g`` and ``e_x``).

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like._src import keras_numerics as kn
    >>> opt = kn.keras_adadelta(1.0, rho=0.0, epsilon=1.0)
    >>> u, _ = opt.update(jnp.array([0.0]), opt.init(jnp.zeros(1)))
    >>> u.tolist()
    [-0.0]
  """
  from optax_like._src import adaptive_variants  # pylint: disable=g-import-not-at-top
  validation.check_not_bool(rho, 'rho', 'keras_adadelta')
  validation.check_not_bool(epsilon, 'epsilon', 'keras_adadelta')
  return base.chain(adaptive_variants.scale_by_adadelta(rho=rho, eps=epsilon),
                    scaling.scale_by_learning_rate(learning_rate))


def scale_by_keras_adamax(beta_1: float = 0.9, beta_2: float = 0.999,
                          epsilon: float = 1e-7) -> base.GradientTransformation:
  r"""TF's ``ApplyAdaMax`` scaling: ``eps`` added to the infinity norm, not inside the max.

  .. math::
    m \leftarrow m + (g - m)(1 - \beta_1); \quad v \leftarrow \max(\beta_2 v, |g|); \quad
    u = \frac{m}{(1 - \beta_1^t)(v + \epsilon)}

  (optax's ``scale_by_adamax`` takes ``max(beta_2 v, |g| + eps)``). State
  ``ScaleByAdamState(count, mu, nu)``.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like._src import keras_numerics as kn
    >>> tx = kn.scale_by_keras_adamax(epsilon=0.0)
    >>> tx.update(jnp.array([-2.0]), tx.init(jnp.zeros(1)))[0].tolist()
    [-1.0]
  """
  for name, value in (('beta_1', beta_1), ('beta_2', beta_2), ('epsilon', epsilon)):
    validation.check_not_bool(value, name, 'scale_by_keras_adamax')

  def init_fn(params):
    return adaptive.ScaleByAdamState(count=jnp.zeros([], jnp.int32),
                                     mu=jax.tree.map(jnp.zeros_like, params),
                                     nu=jax.tree.map(jnp.zeros_like, params))

  def update_fn(updates, state, params=None):
    del params
    count = _count_inc(state.count)
    mu = jax.tree.map(lambda g, m: moments.update_moment(g, m, jnp.asarray(beta_1, g.dtype),
                                                         lerp=True), updates, state.mu)
    nu = jax.tree.map(lambda g, v: jnp.maximum(jnp.asarray(beta_2, g.dtype) * v, jnp.abs(g)),
                      updates, state.nu)

    def scale(m, v):
      b1 = jnp.asarray(beta_1, m.dtype)
      correction = 1 - b1 ** count.astype(m.dtype)
      return m / (v + jnp.asarray(epsilon, m.dtype)) / correction

    return (jax.tree.map(scale, mu, nu),
            adaptive.ScaleByAdamState(count=count, mu=mu, nu=nu))

  return base.grouping_free(base.GradientTransformation(init_fn, update_fn))


def keras_adamax(learning_rate: base.ScalarOrSchedule = 0.001, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7) -> base.GradientTransformationExtraArgs:
  r"""tf.keras Adamax (``ResourceApplyAdaMax``): ``w -= lr / (1 - b1^t) m / (v + eps)``.

  Kingma & Ba, 2014 (https://arxiv.org/abs/1412.6980), section 7.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like._src import keras_numerics as kn
    >>> opt = kn.keras_adamax(0.1, epsilon=0.0)
    >>> u, _ = opt.update(jnp.array([2.0]), opt.init(jnp.zeros(1)))
    >>> round(u.item(), 6)
    -0.1
  """
  return base.chain(scale_by_keras_adamax(beta_1, beta_2, epsilon),
                    scaling.scale_by_learning_rate(learning_rate))


class ScaleByKerasNadamState(NamedTuple):
  """State of ``scale_by_keras_nadam``: step count, moments and the momentum schedule product."""
  count: Any  # int32 scalar
  mu: base.Updates
  nu: base.Updates
  m_cache: Any  # scalar: prod over steps of beta_1 (1 - 0.5 * 0.96^(schedule_decay t))


# TF computes ``tf.cast(0.96, var_dtype)``: the Python float becomes a float32 constant first,
# so float64 variables see 0.9599999785423279 (tools/gen_keras_golden.py --verify-only).
_DECAY_BASE = np.float32(0.96)


def scale_by_keras_nadam(beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7,
                         schedule_decay: float = 0.004) -> base.GradientTransformation:
  r"""tf.keras 2's (legacy) Nadam scaling, with Dozat's momentum schedule.

  With ``t = count + 1``, :math:`\mu_t = \beta_1 (1 - 0.5 \cdot 0.96^{d t})` (``d`` =
  ``schedule_decay``), :math:`\Pi_t = \Pi_{t-1} \mu_t` (``m_cache``):

  .. math::
    m \leftarrow \beta_1 m + (1-\beta_1) g; \quad v \leftarrow \beta_2 v + (1-\beta_2) g^2;
    \quad \bar m = (1-\mu_t)\frac{g}{1-\Pi_t} + \mu_{t+1} \frac{m}{1-\Pi_t \mu_{t+1}};
    \quad u = \frac{\bar m}{\sqrt{v / (1-\beta_2^t)} + \epsilon}

  Dozat, 2016 (https://openreview.net/pdf?id=OM0jvwB8jIp57ZJjtNEZ).

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like._src import keras_numerics as kn
    >>> tx = kn.scale_by_keras_nadam(beta_1=0.0, beta_2=0.0, epsilon=0.0)
    >>> tx.update(jnp.array([-2.0]), tx.init(jnp.zeros(1)))[0].tolist()
    [-1.0]
  """
  for name, value in (('beta_1', beta_1), ('beta_2', beta_2), ('epsilon', epsilon),
                      ('schedule_decay', schedule_decay)):
    validation.check_not_bool(value, name, 'scale_by_keras_nadam')

  def init_fn(params):
    leaves = jax.tree.leaves(params)
    dtype = leaves[0].dtype if leaves else jnp.float32
    return ScaleByKerasNadamState(count=jnp.zeros([], jnp.int32),
                                  mu=jax.tree.map(jnp.zeros_like, params),
                                  nu=jax.tree.map(jnp.zeros_like, params),
                                  m_cache=jnp.ones([], dtype))

  def update_fn(updates, state, params=None):
    del params
    count = _count_inc(state.count)
    cache_dtype = jnp.asarray(state.m_cache).dtype

    def schedule(dtype):
      b1 = jnp.asarray(beta_1, dtype)
      step = count.astype(dtype)
      base_ = jnp.asarray(_DECAY_BASE, dtype)
      m_t = b1 * (1.0 - 0.5 * base_ ** (schedule_decay * step))
      m_t_1 = b1 * (1.0 - 0.5 * base_ ** (schedule_decay * (step + 1)))
      m_new = state.m_cache.astype(dtype) * m_t
      return b1, m_t, m_t_1, m_new, m_new * m_t_1

    def leaf(g, m, v):
      dtype = g.dtype
      b1, m_t, m_t_1, m_new, m_next = schedule(dtype)
      b2 = jnp.asarray(beta_2, dtype)
      g_prime = g / (1.0 - m_new)
      m = b1 * m + (1 - b1) * g
      v = b2 * v + (1 - b2) * (g * g)
      v_prime = v / (1.0 - b2 ** count.astype(dtype))
      m_bar = (1.0 - m_t) * g_prime + m_t_1 * (m / (1.0 - m_next))
      return m_bar / (jnp.sqrt(v_prime) + jnp.asarray(epsilon, dtype)), m, v

    new_updates, mu, nu = _map_unzip(leaf, 3, updates, state.mu, state.nu)
    new_cache = schedule(cache_dtype)[3]
    return new_updates, ScaleByKerasNadamState(count=count, mu=mu, nu=nu, m_cache=new_cache)

  return base.GradientTransformation(init_fn, update_fn)


def keras_nadam(learning_rate: base.ScalarOrSchedule = 0.001, beta_1: float = 0.9,
                beta_2: float = 0.999, epsilon: float = 1e-7,
                schedule_decay: float = 0.004) -> base.GradientTransformationExtraArgs:
  r"""tf.keras 2's legacy Nadam: ``scale_by_keras_nadam`` then ``-lr`` (the rate is not decayed).

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like._src import keras_numerics as kn
    >>> opt = kn.keras_nadam(0.1, beta_1=0.0, beta_2=0.0, epsilon=0.0)
    >>> u, _ = opt.update(jnp.array([2.0]), opt.init(jnp.zeros(1)))
    >>> round(u.item(), 6)
    -0.1
  """
  return base.chain(scale_by_keras_nadam(beta_1, beta_2, epsilon, schedule_decay),
                    scaling.scale_by_learning_rate(learning_rate))


class KerasFtrlState(NamedTuple):
  """State of ``keras_ftrl``: step count, ``accumulator`` (sum of ``g^2``) and ``linear``."""
  count: Any  # int32 scalar
  accumulator: base.Updates
  linear: base.Updates


def keras_ftrl(learning_rate: base.ScalarOrSchedule = 0.001, learning_rate_power: float = -0.5,
               initial_accumulator_value: float = 0.1, l1_regularization_strength: float = 0.0,
               l2_regularization_strength: float = 0.0,
               l2_shrinkage_regularization_strength: float = 0.0,
               beta: float = 0.0, *, updates_are_values: bool = False
               ) -> base.GradientTransformation:
  r"""tf.keras FTRL-Proximal (``ResourceApplyFtrl``/``FtrlV2``); the update is ``w_new - w``.

  With ``n`` the accumulator, :math:`\lambda_2' = \lambda_2 + \beta / (2 \eta)` and
  :math:`\tilde g = g + 2 \lambda_s w` (``l2_shrinkage``):

  .. math::
    n' = n + g^2; \quad z \leftarrow z + \tilde g - \frac{n'^{-p} - n^{-p}}{\eta} w; \quad
    w' = \begin{cases} \frac{\lambda_1 \mathrm{sign}(z) - z}{n'^{-p} / \eta + 2 \lambda_2'}
    & |z| > \lambda_1 \\ 0 & \text{else} \end{cases}

  with ``p`` = ``learning_rate_power``. McMahan et al., 2013
  (https://research.google.com/pubs/archive/41159.pdf).

  ``updates_are_values`` (keyword-only, default False) returns ``w'`` itself instead of
  ``w' - w``: a stateful layer that assigns it (as TF's kernel does) avoids the rounding of
  ``w + (w' - w)``, which the next step's ``z`` update would carry.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like._src import keras_numerics as kn
    >>> opt = kn.keras_ftrl(1.0, initial_accumulator_value=0.0)
    >>> u, _ = opt.update(jnp.array([2.0]), opt.init(jnp.zeros(1)), jnp.zeros(1))
    >>> u.tolist()
    [-1.0]
  """
  validation.check_schedule_or_scalar(learning_rate, 'learning_rate', 'keras_ftrl')
  validation.check_range(initial_accumulator_value, 'initial_accumulator_value', low=0.0,
                         fn='keras_ftrl')
  validation.check_range(learning_rate_power, 'learning_rate_power', high=0.0, fn='keras_ftrl')
  for name, value in (('l1_regularization_strength', l1_regularization_strength),
                      ('l2_regularization_strength', l2_regularization_strength),
                      ('l2_shrinkage_regularization_strength',
                       l2_shrinkage_regularization_strength), ('beta', beta)):
    validation.check_range(value, name, low=0.0, fn='keras_ftrl')
  shrink = l2_shrinkage_regularization_strength

  def init_fn(params):
    return KerasFtrlState(count=jnp.zeros([], jnp.int32),
                          accumulator=jax.tree.map(
                              lambda p: jnp.full_like(p, initial_accumulator_value), params),
                          linear=jax.tree.map(jnp.zeros_like, params))

  def update_fn(updates, state, params=None):
    if params is None:
      raise ValueError('keras_ftrl needs `params` in update (the new value depends on them).')
    lr_value = learning_rate(state.count) if callable(learning_rate) else learning_rate

    def leaf(g, w, n, z):
      dtype = g.dtype
      lr = jnp.asarray(lr_value).astype(dtype)
      power = jnp.asarray(learning_rate_power, dtype)
      l1 = jnp.asarray(l1_regularization_strength, dtype)
      l2 = jnp.asarray(l2_regularization_strength, dtype) + jnp.asarray(beta, dtype) / (2.0 * lr)
      g_shrunk = g + 2.0 * jnp.asarray(shrink, dtype) * w if shrink > 0 else g
      n_new = n + g * g
      root = lambda x: jnp.where(power == -0.5, jnp.sqrt(x), x ** -power)  # TF's branch
      z = z + (g_shrunk - (root(n_new) - root(n)) / lr * w)   # TF's association
      quadratic = root(n_new) / lr + 2.0 * l2
      w_new = jnp.where(jnp.abs(z) > l1, (l1 * jnp.sign(z) - z) / quadratic, jnp.zeros_like(w))
      return (w_new if updates_are_values else w_new - w), n_new, z

    new_updates, accumulator, linear = _map_unzip(leaf, 3, updates, params, state.accumulator,
                                                  state.linear)
    return new_updates, KerasFtrlState(count=_count_inc(state.count), accumulator=accumulator,
                                       linear=linear)

  # Elementwise: ``fused`` may run it over flat buckets.
  return base.grouping_free(base.GradientTransformation(init_fn, update_fn))

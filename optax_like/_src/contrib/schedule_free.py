r"""Schedule-Free: momentum replaced by interpolation and averaging, no decaying schedule needed.

Defazio et al., `The Road Less Scheduled <https://arxiv.org/abs/2405.15682>`_, 2024. The
parameters the model is trained at are :math:`y`; the base optimizer moves :math:`z`; the
average :math:`x` (for evaluation) is recovered from :math:`y` and :math:`z` with
``schedule_free_eval_params``.
"""

from typing import Any, NamedTuple, Optional

import chex
import jax
import jax.numpy as jnp

from optax_like._src import adaptive
from optax_like._src import alias
from optax_like._src import base
from optax_like._src import scaling
from optax_like._src import schedules
from optax_like._src import tree
from optax_like._src import validation
from optax_like._src.contrib import _scalars
from optax_like._src.weight_decay import add_decayed_weights


class ScheduleFreeState(NamedTuple):
  """State of ``schedule_free`` (optax's fields and order)."""
  b1: chex.Array           # the interpolation weight, in the lowest dtype of the params
  weight_sum: chex.Array   # sum of the averaging weights so far
  step_count: chex.Array   # int32, starts at 1
  max_lr: chex.Array       # largest learning rate seen
  base_optimizer_state: base.OptState
  z: base.Params           # the base optimizer's iterate


def schedule_free_eval_params(state: base.OptState, params: base.Params):
  r"""The averaged parameters :math:`x` to evaluate the model at.

  .. math::
    x = \frac{y - (1 - \beta_1)\, z}{\beta_1}

  ``state`` is the ``ScheduleFreeState`` of ``schedule_free`` (or of its aliases), ``params``
  the trained parameters :math:`y`; :math:`\beta_1` is read from the state.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like import contrib
    >>> opt = contrib.schedule_free_sgd(learning_rate=1.0, b1=0.5)
    >>> y = jnp.array([2.0])
    >>> state = opt.init(y)
    >>> contrib.schedule_free_eval_params(state._replace(z=jnp.array([1.0])), y).tolist()
    [3.0]
  """
  b1 = getattr(state, 'b1', None)
  z = getattr(state, 'z', None)
  if b1 is None or z is None:
    raise ValueError('schedule_free_eval_params: `state` must be the ScheduleFreeState of '
                     f'schedule_free (with fields b1 and z), got {type(state).__name__}.')
  _scalars.check_like(params, z, 'state.z', 'schedule_free_eval_params')
  b1c = tree.upcast(jnp.asarray(b1))

  def leaf(y, zi):
    x = (tree.upcast(y) - (1.0 - b1c) * tree.upcast(zi)) / b1c
    return x.astype(jnp.result_type(jnp.asarray(y).dtype, zi.dtype, jnp.asarray(b1).dtype))

  return jax.tree.map(leaf, params, z)


def schedule_free(
    base_optimizer: base.GradientTransformation,
    learning_rate: base.ScalarOrSchedule,
    b1: chex.Numeric = 0.9,
    weight_lr_power: chex.Numeric = 2.0,
    state_dtype: Optional[Any] = None,
) -> base.GradientTransformationExtraArgs:
  r"""Makes ``base_optimizer`` schedule-free (its own momentum should be off).

  With :math:`u_t` the base optimizer's update at :math:`y_t`, :math:`\gamma_t` the learning
  rate and :math:`c_t = \max_{k \le t}\gamma_k^{p} / \sum_{k \le t} \max_{j \le k}\gamma_j^p`
  (:math:`p` = ``weight_lr_power``):

  .. math::
    z_{t+1} = z_t + u_t, \quad
    x_{t+1} = (1 - c_t)\, x_t + c_t\, z_{t+1}, \quad
    y_{t+1} = \beta_1 x_{t+1} + (1 - \beta_1)\, z_{t+1}

  where :math:`x_t = (y_t - (1-\beta_1) z_t)/\beta_1` is recomputed from the parameters; the
  update returned is :math:`y_{t+1} - y_t`. Evaluate the model at
  ``schedule_free_eval_params(state, params)``. Reference: Defazio et al., `The Road Less
  Scheduled <https://arxiv.org/abs/2405.15682>`_, 2024.

  Args:
    base_optimizer: the optimizer computing :math:`u_t` (e.g. ``sgd`` or Adam with ``b1=0``).
    learning_rate: :math:`\gamma`, a number or a schedule (warm-up, no decay), read at the
      step count (which starts at 1).
    b1: the interpolation :math:`\beta_1`, in ``(0, 1]``.
    weight_lr_power: :math:`p`, ``>= 0``.
    state_dtype: dtype of :math:`z` (default: the parameters').

  Returns:
    A ``GradientTransformationExtraArgs`` (extra arguments reach ``base_optimizer``) that
    needs ``params``.

  Example:
    >>> import jax.numpy as jnp
    >>> import optax_like as ox
    >>> from optax_like import contrib
    >>> opt = contrib.schedule_free(ox.sgd(1.0), learning_rate=1.0, b1=0.5)
    >>> y = jnp.array([2.0])
    >>> u, state = opt.update(jnp.array([1.0]), opt.init(y), y)
    >>> # z = 2 - 1 = 1, c = 1 so x = z = 1, y = 0.5 * 1 + 0.5 * 1 = 1
    >>> u.tolist(), state.z.tolist()
    ([-1.0], [1.0])
  """
  fn = 'schedule_free'
  validation.check_transformation(base_optimizer, 'base_optimizer')
  validation.check_schedule_or_scalar(learning_rate, 'learning_rate', fn)
  validation.check_range(b1, 'b1', low=0.0, high=1.0, low_inclusive=False, fn=fn)
  validation.check_range(weight_lr_power, 'weight_lr_power', low=0.0, fn=fn)
  z_dtype = adaptive._storage_dtype(state_dtype, 'state_dtype', fn)  # pylint: disable=protected-access
  inner = base.with_extra_args_support(base_optimizer)

  def init_fn(params):
    dtype = _scalars.params_dtype(params, 'lowest', fn)
    z = params if z_dtype is None else jax.tree.map(lambda p: jnp.asarray(p, z_dtype), params)
    # A distinct buffer, so that params and state can both be donated to a jitted step.
    z = jax.tree.map(lambda t: jnp.array(t, copy=True), z)
    return ScheduleFreeState(
        b1=jnp.asarray(b1, dtype),
        weight_sum=jnp.zeros([], dtype),
        step_count=jnp.ones([], jnp.int32),
        max_lr=jnp.zeros([], dtype),
        base_optimizer_state=inner.init(params),
        z=z)

  def update_fn(updates, state, params=None, **extra_args):
    validation.require_params(params, fn)
    validation.check_state(state, ScheduleFreeState, fn)
    _scalars.check_like(updates, state.z, 'state.z', fn)
    _scalars.check_like(updates, params, 'params', fn)
    lr = learning_rate
    if callable(learning_rate):
      lr = jnp.asarray(learning_rate(state.step_count), dtype=state.max_lr.dtype)
    max_lr = jnp.maximum(state.max_lr, lr)
    weight = tree.upcast(max_lr) ** weight_lr_power
    total = tree.upcast(state.weight_sum) + weight
    # A tiny learning rate can make weight / total 0 / 0: read it as 0, unless a NaN came in.
    ck = jnp.where(jnp.isnan(weight) | jnp.isnan(total), jnp.full(weight.shape, jnp.nan),
                   jnp.nan_to_num(weight / total, nan=0.0, posinf=jnp.inf))
    base_updates, base_state = inner.update(updates, state.base_optimizer_state, params,
                                            **extra_args)
    z = jax.tree.map(
        lambda zi, u: tree.cast(tree.upcast(zi) + tree.upcast(u), zi.dtype),
        state.z, base_updates)

    def step(y, z_old, z_new):
      yc, zc = tree.upcast(y), tree.upcast(z_new)
      x_prev = (yc - (1.0 - b1) * tree.upcast(z_old)) / b1
      x = (1.0 - ck) * x_prev + ck * zc
      new_y = b1 * x + (1.0 - b1) * zc
      return (new_y - yc).astype(jnp.result_type(jnp.asarray(y).dtype, z_new.dtype))

    new_updates = jax.tree.map(step, params, state.z, z)
    return new_updates, ScheduleFreeState(
        b1=state.b1,
        weight_sum=total.astype(state.weight_sum.dtype),
        step_count=tree.safe_increment(state.step_count),
        max_lr=jnp.asarray(max_lr).astype(state.max_lr.dtype),
        base_optimizer_state=base_state,
        z=z)

  return base.GradientTransformationExtraArgs(init_fn, update_fn)


def _warmup(learning_rate, warmup_steps, fn):
  if warmup_steps is None:
    return learning_rate
  validation.check_not_bool(warmup_steps, 'warmup_steps', fn)
  if not isinstance(warmup_steps, int) or warmup_steps < 0:
    raise ValueError(f'{fn}: `warmup_steps` must be None or an int >= 0, '
                     f'got {warmup_steps!r}.')
  # Linear warm-up from 0, then constant (optax's warmup_constant_schedule).
  return schedules.linear_schedule(init_value=0, end_value=learning_rate,
                                   transition_steps=warmup_steps)


def schedule_free_sgd(
    learning_rate: chex.Numeric = 1.0,
    warmup_steps: Optional[int] = None,
    b1: chex.Numeric = 0.9,
    weight_decay: Optional[chex.Numeric] = None,
    weight_lr_power: chex.Numeric = 2.0,
    state_dtype: Optional[Any] = None,
) -> base.GradientTransformationExtraArgs:
  r"""Schedule-free SGD: ``schedule_free(sgd(lr))``, with optional warm-up and weight decay.

  .. math::
    z_{t+1} = z_t - \gamma_t (g_t + \lambda y_t), \quad
    x_{t+1} = (1 - c_t) x_t + c_t z_{t+1}, \quad y_{t+1} = \beta_1 x_{t+1} + (1-\beta_1) z_{t+1}

  with :math:`\gamma_t` rising linearly from 0 over ``warmup_steps`` (when given). Reference:
  Defazio et al., `The Road Less Scheduled <https://arxiv.org/abs/2405.15682>`_, 2024.

  Args:
    learning_rate: peak SGD learning rate.
    warmup_steps: length of the linear warm-up (None: no warm-up).
    b1: the interpolation :math:`\beta_1`, in ``(0, 1]``.
    weight_decay: optional L2 coefficient :math:`\lambda` added to the gradients.
    weight_lr_power: exponent of the averaging weights, ``>= 0``.
    state_dtype: dtype of :math:`z` (default: the parameters').

  Returns:
    A ``GradientTransformationExtraArgs`` that needs ``params``.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like import contrib
    >>> opt = contrib.schedule_free_sgd(learning_rate=0.5, b1=0.5)
    >>> y = jnp.array([2.0])
    >>> u, state = opt.update(jnp.array([2.0]), opt.init(y), y)
    >>> u.tolist()   # z = 1, x = z, y = 1
    [-1.0]
  """
  fn = 'schedule_free_sgd'
  learning_rate = _warmup(learning_rate, warmup_steps, fn)
  optimizer = alias.sgd(learning_rate)
  if weight_decay is not None:
    optimizer = base.chain(add_decayed_weights(weight_decay), optimizer)
  return schedule_free(optimizer, learning_rate=learning_rate, b1=b1,
                       weight_lr_power=weight_lr_power, state_dtype=state_dtype)


def schedule_free_adamw(
    learning_rate: chex.Numeric = 0.0025,
    warmup_steps: Optional[int] = None,
    b1: chex.Numeric = 0.9,
    b2: chex.Numeric = 0.999,
    eps: chex.Numeric = 1e-8,
    weight_decay: chex.Numeric = 0.0,
    weight_lr_power: chex.Numeric = 2.0,
    state_dtype: Optional[Any] = None,
) -> base.GradientTransformationExtraArgs:
  r"""Schedule-free AdamW: AdamW without momentum as the base of ``schedule_free``.

  The base step is RMS scaling with bias correction and ``eps`` outside the root, then
  decoupled weight decay:

  .. math::
    v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \quad
    u_t = -\gamma_t \Big(\frac{g_t}{\sqrt{v_t / (1 - \beta_2^t)} + \epsilon}
    + \lambda y_t\Big)

  and ``schedule_free`` interpolates with :math:`\beta_1` = ``b1``. Reference: Defazio et al.,
  `The Road Less Scheduled <https://arxiv.org/abs/2405.15682>`_, 2024.

  Args:
    learning_rate: peak learning rate.
    warmup_steps: length of the linear warm-up (None: no warm-up).
    b1: the interpolation :math:`\beta_1`, in ``(0, 1]``.
    b2: decay of the second moment, in ``[0, 1)``.
    eps: added to the root, ``>= 0``.
    weight_decay: decoupled weight decay :math:`\lambda`.
    weight_lr_power: exponent of the averaging weights, ``>= 0``.
    state_dtype: dtype of :math:`z` (default: the parameters').

  Returns:
    A ``GradientTransformationExtraArgs`` that needs ``params``.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like import contrib
    >>> opt = contrib.schedule_free_adamw(learning_rate=1.0, b1=0.5, eps=0.0)
    >>> y = jnp.array([2.0])
    >>> u, state = opt.update(jnp.array([3.0]), opt.init(y), y)
    >>> round(float(u[0]), 4)   # first step: z = 2 - sign(g) = 1, y = 1
    -1.0
  """
  fn = 'schedule_free_adamw'
  validation.check_range(b2, 'b2', low=0.0, high=1.0, high_inclusive=False, fn=fn)
  validation.check_range(eps, 'eps', low=0.0, fn=fn)
  learning_rate = _warmup(learning_rate, warmup_steps, fn)
  optimizer = base.chain(
      adaptive.scale_by_rms(decay=b2, eps=eps, eps_in_sqrt=False, bias_correction=True),
      add_decayed_weights(weight_decay),
      scaling.scale_by_learning_rate(learning_rate))
  return schedule_free(optimizer, learning_rate=learning_rate, b1=b1,
                       weight_lr_power=weight_lr_power, state_dtype=state_dtype)

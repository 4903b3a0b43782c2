r"""Reduce-on-plateau: scale the updates down when a monitored value stops improving.

The value (a loss, a validation metric) comes in through ``update(..., value=v)``. It is
averaged over ``accumulation_size`` calls; each full average :math:`\bar v` is compared with the
best one so far :math:`b`:

.. math::
  \text{improved} \iff \bar v < (1 - \text{rtol})\, b - \text{atol}

Without improvement for ``patience`` averages the scale is multiplied by ``factor`` (never below
``min_scale``), after which ``cooldown`` averages are ignored. Every update is multiplied by the
current scale. This is the ``ReduceLROnPlateau`` callback of Keras and PyTorch as a transform.
"""

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp

from optax_like._src import base
from optax_like._src import tree
from optax_like._src import validation
from optax_like._src.contrib import _scalars


class ReduceLROnPlateauState(NamedTuple):
  """State of ``reduce_on_plateau`` (optax's fields and order)."""
  scale: chex.Array          # the factor the updates are multiplied by
  best_value: chex.Array     # best averaged value so far
  plateau_count: chex.Array  # int32: averages without improvement
  cooldown_count: chex.Array  # int32: averages still to ignore after a reduction
  count: chex.Array          # int32: values in the current average
  avg_value: chex.Array      # running mean of the values of the current average


def _check_count(value, name, fn, low):
  validation.check_not_bool(value, name, fn)
  if isinstance(value, float) and not value.is_integer():
    raise TypeError(f'{fn}: `{name}` must be an integer, got {value!r}.')
  validation.check_range(value, name, low=low, fn=fn)


def reduce_on_plateau(
    factor: float = 0.1,
    patience: chex.Numeric = 10,
    rtol: float = 1e-4,
    atol: float = 0.0,
    cooldown: chex.Numeric = 0,
    accumulation_size: chex.Numeric = 1,
    min_scale: chex.Numeric = 0.0,
) -> base.GradientTransformationExtraArgs:
  r"""Multiplies updates by a scale that drops by ``factor`` once ``value`` plateaus.

  With :math:`\bar v` the mean of the last ``accumulation_size`` values passed as ``value=``,
  on each full average:

  .. math::
    b \leftarrow \bar v \text{ if } \bar v < (1-\text{rtol})\,b - \text{atol}, \qquad
    s \leftarrow \max(\text{factor}\cdot s,\ \text{min\_scale})
    \text{ after ``patience'' averages without improvement,}

  followed by ``cooldown`` averages during which nothing is counted. The updates are
  :math:`s\, u`. The state is ``ReduceLROnPlateauState``; its ``scale`` has the lowest dtype of
  the parameters, ``best_value`` and ``avg_value`` the highest.

  Reference: the ``ReduceLROnPlateau`` callbacks of Keras and PyTorch.

  Args:
    factor: multiplier of the scale on a plateau, in ``(0, 1)``.
    patience: averages without improvement before the scale drops, ``>= 0``.
    rtol: relative improvement needed, in ``[0, 1]``.
    atol: absolute improvement needed, ``>= 0`` (``rtol`` and ``atol`` not both 0).
    cooldown: averages ignored after a drop, ``>= 0``.
    accumulation_size: values averaged before each comparison, ``>= 1``.
    min_scale: the scale never drops below this, ``>= 0``.

  Returns:
    A ``GradientTransformationExtraArgs`` whose ``update`` needs ``value=``.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like import contrib
    >>> tx = contrib.reduce_on_plateau(factor=0.5, patience=1)
    >>> state = tx.init(jnp.zeros(1))
    >>> for loss in [1.0, 1.0]:   # the second 1.0 is no improvement: patience 1 is used up
    ...   u, state = tx.update(jnp.ones(1), state, value=loss)
    >>> u.tolist(), float(state.scale)
    ([0.5], 0.5)
  """
  fn = 'reduce_on_plateau'
  validation.check_range(factor, 'factor', low=0.0, high=1.0, low_inclusive=False,
                         high_inclusive=False, fn=fn)
  validation.check_range(rtol, 'rtol', low=0.0, high=1.0, fn=fn)
  validation.check_range(atol, 'atol', low=0.0, fn=fn)
  if validation._static_number(rtol) == 0.0 and validation._static_number(atol) == 0.0:  # pylint: disable=protected-access
    raise ValueError(f'{fn}: at least one of `rtol` and `atol` must be positive, '
                     f'got rtol = {rtol} and atol = {atol}.')
  _check_count(patience, 'patience', fn, 0)
  _check_count(cooldown, 'cooldown', fn, 0)
  _check_count(accumulation_size, 'accumulation_size', fn, 1)
  validation.check_range(min_scale, 'min_scale', low=0.0, fn=fn)

  def init_fn(params):
    low = _scalars.params_dtype(params, 'lowest', fn)
    high = _scalars.params_dtype(params, 'highest', fn)
    return ReduceLROnPlateauState(
        scale=jnp.asarray(1.0, low),
        best_value=jnp.asarray(float('inf'), high),
        plateau_count=jnp.asarray(0, jnp.int32),
        cooldown_count=jnp.asarray(0, jnp.int32),
        count=jnp.asarray(0, jnp.int32),
        avg_value=jnp.asarray(0.0, high))

  def compare(state):
    avg = state.avg_value
    improved = avg < (1 - rtol) * state.best_value - atol
    best = jnp.where(improved, avg.astype(state.best_value.dtype), state.best_value)
    plateau = jnp.where(improved, 0, tree.safe_increment(state.plateau_count))
    exhausted = plateau == patience
    cooling = state.cooldown_count > 0
    # During a cooldown nothing is counted; otherwise a used-up patience drops the scale.
    new_plateau = jnp.where(cooling | exhausted, 0, plateau).astype(jnp.int32)
    dropped = jnp.maximum(jnp.where(exhausted, state.scale * factor, state.scale), min_scale)
    new_scale = jnp.where(cooling, state.scale, dropped.astype(state.scale.dtype))
    new_cooldown = jnp.where(cooling, state.cooldown_count - 1,
                             jnp.where(exhausted, cooldown, 0)).astype(jnp.int32)
    return ReduceLROnPlateauState(
        scale=new_scale.astype(state.scale.dtype),
        best_value=best.astype(state.best_value.dtype),
        plateau_count=new_plateau,
        cooldown_count=new_cooldown,
        count=jnp.asarray(0, jnp.int32),
        avg_value=jnp.asarray(0.0, avg.dtype))

  def update_fn(updates, state, params=None, *, value=None, **extra_args):
    del params, extra_args
    if value is None:
      raise TypeError(f'{fn}: `update` needs the monitored value: call '
                      '`update(updates, state, params, value=loss)`.')
    validation.check_state(state, ReduceLROnPlateauState, fn)
    count = tree.safe_increment(state.count)
    avg = (state.count * state.avg_value
           + jnp.asarray(value).astype(state.avg_value.dtype)) / count
    state = state._replace(avg_value=avg.astype(state.avg_value.dtype), count=count)
    state = jax.lax.cond(count == accumulation_size, compare, lambda s: s, state)
    new_updates = jax.tree.map(
        lambda g: _scalars.as_leaf(state.scale * tree.upcast(g), g), updates)
    return new_updates, state

  return base.grouping_free(base.GradientTransformationExtraArgs(init_fn, update_fn))

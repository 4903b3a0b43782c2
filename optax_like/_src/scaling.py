"""Multiplying updates by a constant, a learning rate, or a schedule of the step count."""

from __future__ import annotations

from typing import NamedTuple, Optional

import chex
import jax
import jax.numpy as jnp

from optax_like._src import base, tree, validation


class ScaleByScheduleState(NamedTuple):
  count: chex.Array  # int32 scalar


def _times(step_size, g):
  # The factor stays in float32 (or wider) even for 16-bit updates. Integer updates promote as
  # in optax (``g * step_size``): to a float for a float step size, never truncated back.
  g = g if isinstance(g, jax.Array) else jnp.asarray(g)
  if not jnp.issubdtype(g.dtype, jnp.inexact):
    return g * step_size
  return tree.cast(tree.cast(step_size, tree.compute_dtype(g.dtype)) * tree.upcast(g), g.dtype)


def _times_tree(step_size, updates):
  """``_times`` on every leaf, with one factor array per dtype rather than one per leaf.

  (Eagerly, each ``jnp.asarray`` of a Python step size is a host-to-device transfer; per leaf it
  made an eager ``scale`` several times slower than optax's. Traced, the program is the same.)
  """
  factors = {}

  def leaf(g):
    if not isinstance(g, jax.Array):  # a Python number leaf (optax accepts them) becomes a
      g = jnp.asarray(g)              # weakly typed array
    if not jnp.issubdtype(g.dtype, jnp.inexact):
      return _times(step_size, g)
    dtype = tree.compute_dtype(g.dtype)
    if dtype not in factors:
      factors[dtype] = jnp.asarray(step_size, dtype)
    return _times(factors[dtype], g)

  return jax.tree.map(leaf, updates)


def scale(step_size: chex.Numeric) -> base.GradientTransformation:
  r"""Multiplies every update by a constant: :math:`u \mapsto \alpha u`.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.scale(0.5).update(jnp.array([2.0]), ox.EmptyState())[0].tolist()
    [1.0]
  """
  validation.check_schedule_or_scalar(step_size, 'step_size', 'scale')
  if callable(step_size):
    raise TypeError('scale: `step_size` must be a number; use scale_by_schedule for a schedule.')

  def update_fn(updates, state, params=None):
    del params
    return _times_tree(step_size, updates), state

  return base.grouping_free(base.GradientTransformation(base.init_empty_state, update_fn))


def scale_by_schedule(step_size_fn: base.Schedule) -> base.GradientTransformation:
  r"""Multiplies updates by ``step_size_fn(count)``, count starting at 0 and incremented per update.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> tx = ox.scale_by_schedule(lambda count: 1.0 / (count + 1))
    >>> s = tx.init(None)
    >>> _, s = tx.update(jnp.ones(1), s)
    >>> tx.update(jnp.ones(1), s)[0].tolist()
    [0.5]
  """
  if not callable(step_size_fn):
    raise TypeError(
        'scale_by_schedule: `step_size_fn` must be a callable of the step count, '
        f'got {type(step_size_fn).__name__}: {step_size_fn!r:.80}')

  def init_fn(params):
    del params
    return ScaleByScheduleState(count=jnp.zeros([], jnp.int32))

  def update_fn(updates, state, params=None):
    del params
    validation.check_state(state, ScaleByScheduleState, 'scale_by_schedule')
    step_size = step_size_fn(state.count)
    if jnp.ndim(step_size) != 0:
      raise ValueError(
          'scale_by_schedule: the schedule must return a scalar, got shape '
          f'{jnp.shape(step_size)} at count {state.count}.')
    updates = _times_tree(step_size, updates)
    return updates, ScaleByScheduleState(count=tree.safe_increment(state.count))

  return base.grouping_free(base.GradientTransformation(init_fn, update_fn))


def scale_by_learning_rate(learning_rate: Optional[base.ScalarOrSchedule] = None, *,
                           flip_sign: bool = True) -> base.GradientTransformation:
  r"""Multiplies updates by ``-learning_rate`` (``+learning_rate`` if ``flip_sign=False``).

  ``learning_rate`` is a number or a schedule of the step count; None means no scaling.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.scale_by_learning_rate(0.1).update(jnp.array([2.0]), ox.EmptyState())[0].tolist()
    [-0.20000000298023224]
  """
  if learning_rate is None:
    return base.identity()
  validation.check_schedule_or_scalar(learning_rate, 'learning_rate', 'scale_by_learning_rate')
  sign = -1 if flip_sign else 1
  if callable(learning_rate):
    return scale_by_schedule(lambda count: sign * learning_rate(count))
  return scale(sign * learning_rate)

"""Coupled weight decay: adds ``weight_decay * params`` to the updates.

Placed before the learning-rate scaling this is L2 regularisation (tf-models LARS adds it to
the gradient before the trust ratio); placed after ``scale_by_adam`` it is AdamW's decoupled
decay.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp

from optax_like._src import base
from optax_like._src import masking
from optax_like._src import tree as tree_lib
from optax_like._src import validation


AddDecayedWeightsState = base.EmptyState  # optax's name for the state with a constant decay.


class WeightDecaySchedule(NamedTuple):
  """State of ``add_decayed_weights`` with a scheduled ``weight_decay``.

  Attributes:
    count: int32 scalar, the number of updates so far (the schedule is read at this
      pre-increment count).
  """
  count: jax.Array


def add_decayed_weights(
    weight_decay: base.ScalarOrSchedule = 0.0,
    mask: Optional[Union[Any, Callable[[base.Params], Any]]] = None,
) -> base.GradientTransformation:
  r"""Adds the parameters scaled by ``weight_decay`` to the updates.

  .. math:: u \leftarrow u + \lambda_t\, p

  where :math:`\lambda_t` is ``weight_decay``, or ``weight_decay(count)`` for a schedule
  read at the count of updates done before this one. With a constant ``weight_decay`` the
  state is ``EmptyState()``; with a schedule it is ``WeightDecaySchedule(count)``. A constant
  0 returns the updates untouched. For 16-bit leaves the sum is computed in float32 (so
  :math:`\lambda` is not rounded to bfloat16) and cast back to the update's dtype.

  Args:
    weight_decay: :math:`\lambda`, a number or a schedule (callable of the step count).
    mask: optional tree of bools (or a callable returning one from the params) selecting the
      leaves to decay, as in ``masked``; e.g. ``regex_mask(['bias'], match=False)`` to skip
      biases. With a mask the transform is ``masked(add_decayed_weights(weight_decay), mask)``
      and its state a ``MaskedState``.

  Returns:
    A ``GradientTransformation`` that needs ``params`` in ``update``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> tx = ox.add_decayed_weights(0.1)
    >>> params = jnp.array([1.0, -2.0])
    >>> tx.update(jnp.array([0.5, 0.5]), tx.init(params), params)[0].tolist()
    [0.6000000238418579, 0.30000001192092896]
  """
  fn = 'add_decayed_weights'
  validation.check_schedule_or_scalar(weight_decay, 'weight_decay', fn)
  scheduled = callable(weight_decay)

  def init_fn(params):
    del params
    if scheduled:
      return WeightDecaySchedule(count=jnp.zeros([], jnp.int32))
    return base.EmptyState()

  def decay_leaf(g, p, s):
    if g is None:
      return None
    gc, pc = tree_lib.upcast(g), tree_lib.upcast(p)
    return (gc + s * pc).astype(tree_lib.result_dtype(g))

  def update_fn(updates, state, params=None):
    validation.require_params(params, fn)
    if scheduled:
      validation.check_state(state, WeightDecaySchedule, fn)
      new_state = WeightDecaySchedule(count=tree_lib.safe_increment(state.count))
    else:
      new_state = state
    if isinstance(weight_decay, (int, float)) and weight_decay == 0.0:
      return updates, new_state
    if updates is None:  # no updates at all (optax maps None over the params to None)
      return None, new_state
    validation.check_same_structure(updates, params, 'updates', 'params', fn)
    s = weight_decay(state.count) if scheduled else weight_decay
    new_updates = jax.tree.map(lambda g, p: decay_leaf(g, p, s), updates, params,
                               is_leaf=tree_lib.is_none)
    return new_updates, new_state

  tx = base.GradientTransformation(init_fn, update_fn)
  if mask is not None:
    return masking.masked(tx, mask)
  return base.grouping_free(tx)

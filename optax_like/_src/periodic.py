r"""Things that happen every ``k`` steps: ``apply_every`` (sum the updates of ``k`` steps and
emit them on the last) and ``periodic_update`` (refresh a slow copy of the parameters, as a
target network)."""

from __future__ import annotations

import numbers
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from optax_like._src import base
from optax_like._src import conditionality
from optax_like._src import tree as tree_lib
from optax_like._src import validation


def _check_positive_int(value, name: str, fn: str) -> None:
  """``value`` is an integer >= 1 when it is concrete (traced values are checked at run time
  by nobody, as in optax)."""
  validation.check_not_bool(value, name, fn)
  if isinstance(value, jax.core.Tracer):
    return
  if callable(value) or np.ndim(value) != 0:
    raise ValueError(f'{fn}: `{name}` must be an integer scalar, got {value!r:.60}.')
  if not isinstance(value, (numbers.Number, np.generic, np.ndarray, jax.Array)):
    raise TypeError(f'{fn}: `{name}` must be an integer, got {type(value).__name__}.')
  v = np.asarray(value)
  if not np.issubdtype(v.dtype, np.integer) and not (float(v) == int(v)):
    raise ValueError(f'{fn}: `{name}` must be an integer, got {value!r}.')
  if v < 1:
    raise ValueError(f'{fn}: `{name}` must be >= 1, got {value!r}.')


def periodic_update(new_tensors: base.Params, old_tensors: base.Params,
                    steps: jax.typing.ArrayLike,
                    update_period: jax.typing.ArrayLike) -> base.Params:
  r"""``new_tensors`` at every ``update_period``-th step, ``old_tensors`` otherwise.

  .. math:: \theta^{-} \leftarrow \begin{cases} \theta & t \bmod K = 0 \\
                                                \theta^{-} & \text{otherwise} \end{cases}

  A slow copy of the parameters refreshed every :math:`K` steps: the target network of
  DQN (Mnih et al., 2015, https://doi.org/10.1038/nature14236) or BYOL
  (Grill et al., 2020, https://arxiv.org/abs/2006.07733). Under ``jit`` the choice is a
  ``lax.cond``; with a concrete step it is made in Python.

  Args:
    new_tensors: the latest values.
    old_tensors: the slow copy (same tree structure).
    steps: the step count :math:`t`.
    update_period: :math:`K` (``>= 1``).

  Returns:
    ``new_tensors`` or ``old_tensors``.

  Raises:
    ValueError: if the two trees differ in structure (naming the path) or ``update_period``
      is not a positive integer.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> [ox.periodic_update(jnp.ones(1), jnp.zeros(1), t, 2).tolist() for t in (1, 2)]
    [[0.0], [1.0]]
  """
  fn = 'periodic_update'
  _check_positive_int(update_period, 'update_period', fn)
  validation.check_not_bool(steps, 'steps', fn)
  validation.check_same_structure(new_tensors, old_tensors, 'new_tensors', 'old_tensors', fn)
  refresh = jnp.mod(steps, update_period) == 0
  return conditionality._cond(refresh, lambda _: new_tensors, lambda _: old_tensors)  # pylint: disable=protected-access


class ApplyEvery(NamedTuple):
  """State of ``apply_every``: the step count modulo ``k`` (int32) and the running sum of the
  updates of the current period (``grad_acc``, like the parameters)."""
  count: jax.typing.ArrayLike
  grad_acc: base.Updates


def apply_every(k: jax.typing.ArrayLike = 1) -> base.GradientTransformation:
  r"""Sums the updates of ``k`` consecutive steps and emits the sum on the last of them;
  the other steps emit zeros.

  .. math::
    c = t \bmod k, \qquad
    A \leftarrow [c \neq 0]\, A + u, \qquad
    u \leftarrow [c = k - 1]\, A

  The transformations chained around it still update their state at every step, so this is
  not the same as a ``k`` times larger batch; ``MultiSteps`` is. The brackets select (rather
  than multiply, as optax does), so a NaN or inf of one period never leaks into the next one
  or into the zero updates; for finite values the numbers are optax's.

  Args:
    k: the period (``>= 1``).

  Returns:
    A ``GradientTransformation`` with state ``ApplyEvery(count, grad_acc)``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> tx = ox.apply_every(2)
    >>> state = tx.init(jnp.zeros(1))
    >>> out = []
    >>> for g in (1.0, 2.0, 3.0, 4.0):
    ...   u, state = tx.update(jnp.array([g]), state)
    ...   out.append(u.tolist())
    >>> out
    [[0.0], [3.0], [0.0], [7.0]]
  """
  fn = 'apply_every'
  _check_positive_int(k, 'k', fn)

  def init_fn(params):
    return ApplyEvery(count=jnp.zeros([], jnp.int32), grad_acc=tree_lib.tree_zeros_like(params))

  def update_fn(updates, state, params=None):
    del params
    validation.check_state(state, ApplyEvery, fn)
    c = state.count % k
    keep = c != 0
    emit = c == (k - 1)

    def leaf(g, acc):
      total = jnp.where(keep, tree_lib.upcast(acc), 0) + tree_lib.upcast(g)
      stored = total.astype(jnp.result_type(keep, acc, g))
      return jnp.where(emit, stored, jnp.zeros_like(stored)), stored

    new_updates, grad_acc = tree_lib.tree_map_split(
        leaf, updates, state.grad_acc, names=('updates', 'state.grad_acc'), fn_name=fn)
    count = tree_lib.safe_increment(state.count) % k
    return new_updates, ApplyEvery(count=count.astype(jnp.int32), grad_acc=grad_acc)

  return base.grouping_free(base.GradientTransformation(init_fn, update_fn))

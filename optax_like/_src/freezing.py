r"""Freezing parameters: ``freeze`` zeroes the updates of chosen leaves, ``selective_transform``
runs an optimizer on the others only (so it keeps no state for the frozen ones).

Both are built on ``masked`` / ``partition`` with optax's state layout:
``freeze(mask)`` is ``masked(set_to_zero(), mask)`` and ``selective_transform`` is
``partition({'train': optimizer, 'freeze': set_to_zero()}, labels)``.
"""

from __future__ import annotations

from typing import Any, Union

import chex
import jax

from optax_like._src import base
from optax_like._src import masking
from optax_like._src import validation


def _check_static_mask(mask: Any, name: str, fn: str) -> None:
  """The mask is a bool, or a tree of bools (Python or concrete 0-d arrays)."""
  if masking.mask_is_callable(mask):
    # Labels are read from the leaves of the mask itself: a function would count as True.
    raise TypeError(f'{fn}: `{name}` must be a bool or a tree of bools (static), got the '
                    f'callable {mask!r:.60}.')
  for path, m in jax.tree_util.tree_flatten_with_path(mask)[0]:
    masking._bool_leaf(m, path, f'`{name}`', fn)  # pylint: disable=protected-access


def freeze(mask: Union[bool, chex.ArrayTree]) -> base.GradientTransformation:
  r"""Zeroes the updates of the leaves where ``mask`` is True; the others pass unchanged.

  .. math:: u_i \leftarrow \begin{cases} 0 & m_i \\ u_i & \text{otherwise} \end{cases}

  This holds the masked parameters constant. It is ``masked(set_to_zero(), mask)``, so its
  state is ``MaskedState(inner_state=EmptyState())``.

  Args:
    mask: a bool (freeze everything or nothing) or a tree of bools with the structure of the
      parameters, or a prefix of it; static (not computed from array values).

  Returns:
    A ``GradientTransformation``.

  Raises:
    TypeError: if a leaf of ``mask`` is not a bool (naming its path).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> tx = ox.freeze({'a': True, 'b': False})
    >>> grads = {'a': jnp.array([1.0]), 'b': jnp.array([2.0])}
    >>> updates, _ = tx.update(grads, tx.init(grads))
    >>> updates['a'].tolist(), updates['b'].tolist()
    ([0.0], [2.0])
  """
  if not masking.mask_is_callable(mask):  # a function building the mask: checked by masked
    _check_static_mask(mask, 'mask', 'freeze')
  return masking.masked(base.set_to_zero(), mask)


def selective_transform(optimizer: base.GradientTransformation, *,
                        freeze_mask: Union[bool, chex.ArrayTree]
                        ) -> base.GradientTransformation:
  r"""Runs ``optimizer`` on the leaves where ``freeze_mask`` is False and zeroes the updates of
  the others.

  .. math:: u_i \leftarrow \begin{cases} 0 & m_i \\
                                          \mathrm{optimizer}(u)_i & \text{otherwise} \end{cases}

  The optimizer keeps state only for the trainable leaves. It is
  ``partition({'train': optimizer, 'freeze': set_to_zero()}, labels)`` with label
  ``'freeze'`` where the mask is True, so the state is
  ``PartitionState({'train': MaskedState(...), 'freeze': MaskedState(EmptyState())})``.

  Args:
    optimizer: the transformation for the trainable leaves.
    freeze_mask: a bool or a static tree of bools (True: frozen), the parameters' structure
      or a prefix of it.

  Returns:
    A ``GradientTransformation``.

  Raises:
    TypeError: if a leaf of ``freeze_mask`` is not a bool (naming its path).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> tx = ox.selective_transform(ox.sgd(0.5), freeze_mask={'a': True, 'b': False})
    >>> grads = {'a': jnp.array([1.0]), 'b': jnp.array([2.0])}
    >>> updates, _ = tx.update(grads, tx.init(grads))
    >>> updates['a'].tolist(), updates['b'].tolist()
    ([0.0], [-1.0])
  """
  fn = 'selective_transform'
  validation.check_transformation(optimizer, f'{fn}: `optimizer`')
  _check_static_mask(freeze_mask, 'freeze_mask', fn)

  def labels(params):
    del params
    return jax.tree.map(lambda m: 'freeze' if m else 'train', freeze_mask)

  return masking.partition({'train': optimizer, 'freeze': base.set_to_zero()},
                           param_labels=labels)

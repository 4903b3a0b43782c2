r"""``stateless_with_tree_map``: a stateless transformation from a function of one leaf."""

from __future__ import annotations

from typing import Callable, Optional

import jax

from optax_like._src import base
from optax_like._src import validation


def stateless_with_tree_map(
    f: Callable[[jax.typing.ArrayLike, Optional[jax.typing.ArrayLike]], jax.typing.ArrayLike],
) -> base.GradientTransformation:
  r"""A stateless transformation that applies ``f(update, param)`` to every leaf.

  .. math:: u_i \leftarrow f(u_i, p_i) \quad (p_i = \mathrm{None} \text{ without params})

  Like ``stateless``, but ``f`` sees one leaf at a time; the state is ``EmptyState()``.

  Args:
    f: a function of an update leaf and its parameter leaf (None when ``update`` gets no
      params) returning the new update leaf.

  Returns:
    A ``GradientTransformation``.

  Raises:
    TypeError: if ``f`` is not callable. ValueError in ``update`` if the updates and params
      differ in structure (naming the path).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> tx = ox.stateless_with_tree_map(lambda u, p: u * p)
    >>> tx.update(jnp.array([2.0]), tx.init(None), jnp.array([3.0]))[0].tolist()
    [6.0]
  """
  fn = 'stateless_with_tree_map'
  if not callable(f):
    raise TypeError(f'{fn}: `f` must be callable, got {type(f).__name__}.')

  def update_fn(updates, state, params=None):
    del state
    if params is None:
      return jax.tree.map(lambda u: f(u, None), updates), base.EmptyState()
    try:
      return jax.tree.map(f, updates, params), base.EmptyState()
    except (ValueError, TypeError):
      if jax.tree.structure(updates) != jax.tree.structure(params):
        validation.check_same_structure(updates, params, 'updates', 'params', fn)
      raise

  return base.GradientTransformation(base.init_empty_state, update_fn)

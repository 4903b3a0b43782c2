"""Wrappers that change the layout of the arrays an inner transformation sees."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from optax_like._src import base, tree, validation


def _concat(tree_: Any) -> jax.Array:
  """All leaves of ``tree_``, raveled in ``jax.tree.leaves`` order and concatenated."""
  leaves = jax.tree.leaves(tree_)
  if not leaves:
    return jnp.zeros([0], jnp.float32)
  if any(isinstance(x, jax.ShapeDtypeStruct) for x in leaves):  # abstract params, in ``init``
    return jax.ShapeDtypeStruct((sum(int(np.prod(x.shape)) for x in leaves),),
                                jnp.result_type(*[x.dtype for x in leaves]))
  return jnp.concatenate([jnp.reshape(x, [-1]) for x in leaves])


def _split_like(flat: jax.Array, like: Any) -> Any:
  """Inverse of ``_concat``: cuts ``flat`` into the shapes (and dtypes) of ``like``'s leaves."""
  leaves, treedef = jax.tree.flatten(like)
  pieces, start = [], 0
  for x in leaves:
    size = int(np.size(x))
    piece = jnp.reshape(flat[start:start + size], np.shape(x))
    pieces.append(piece.astype(tree.result_dtype(jnp.result_type(x))))
    start += size
  return jax.tree.unflatten(treedef, pieces)


def flatten(inner: base.GradientTransformation) -> base.GradientTransformationExtraArgs:
  r"""Runs ``inner`` on one 1-D vector: all leaves raveled and concatenated.

  .. math::
    v = [\mathrm{vec}(x_1); \dots; \mathrm{vec}(x_n)], \qquad
    (u_{\mathrm{flat}}, s) = \mathrm{inner}(v(g), s, v(p)), \qquad
    u = \mathrm{unvec}(u_{\mathrm{flat}})

  with the leaves in ``jax.tree.leaves`` order (None leaves are skipped and stay None). The
  inner state is the state of that single vector, as in optax (e.g. ``mu`` of ``adam`` is
  one 1-D array). Fewer, larger arrays can be cheaper than many small ones, at the cost of a
  copy of each tree per step.

  Beyond optax: each update leaf is returned in the dtype of the incoming update leaf (optax
  returns the promoted dtype of the concatenation, e.g. float32 for a bfloat16 leaf next to a
  float32 one; an integer leaf comes back as a float, as in optax), and an empty tree is accepted (the inner transformation sees an empty float32
  vector).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> tx = ox.flatten(ox.sgd(0.5))
    >>> p = {'a': jnp.ones((2, 2)), 'b': jnp.ones(3)}
    >>> s = tx.init(p)
    >>> u, s = tx.update(p, s)
    >>> u['a'].shape, u['b'].tolist()
    ((2, 2), [-0.5, -0.5, -0.5])
  """
  validation.check_transformation(inner, 'flatten: `inner`')
  inner = base.with_extra_args_support(inner)

  def init_fn(params):
    return inner.init(_concat(params))

  def update_fn(updates, state, params=None, **extra_args):
    flat_updates = _concat(updates)
    flat_params = None
    if params is not None:
      flat_params = _concat(params)
      if flat_params.shape != flat_updates.shape:
        raise ValueError(
            f'flatten: the updates have {flat_updates.shape[0]} elements in total but the '
            f'params have {flat_params.shape[0]}; they must describe the same parameters.')
    new_flat, state = inner.update(flat_updates, state, flat_params, **extra_args)
    return _split_like(new_flat, updates), state

  return base.GradientTransformationExtraArgs(init_fn, update_fn)

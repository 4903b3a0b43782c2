"""Whole-tree reductions and scalar-state dtypes shared by the parameter-free contrib methods.

Prodigy, D-Adaptation, Mechanic, DoG/DoWG, schedule-free and reduce-on-plateau keep a few scalars
next to (or instead of) per-leaf state and read the tree through global sums. The helpers here:

* compute every sum in float32 for 16-bit leaves (``tree.upcast``), adding leaf by leaf in
  flattening order from ``0`` as optax does, so float32 trees give optax's bits;
* give the dtype of scalar state as optax chooses it (the lowest or highest dtype of the
  parameters), so states restore across the two libraries;
* check that an update tree and a state tree have the same structure, naming the tree path.
"""

from typing import Any

import jax
import jax.numpy as jnp

from optax_like._src import tree
from optax_like._src import validation


def _leaves(x: Any) -> list:
  return [leaf for leaf in jax.tree.leaves(x)]


def _lower(a: Any, b: Any, fn: str) -> Any:
  promoted = jnp.promote_types(a, b)
  if promoted == a:
    return b
  if promoted == b:
    return a
  raise ValueError(f'{fn}: the parameters mix the dtypes {a} and {b}, neither of which '
                   'promotes to the other; the scalar state needs one dtype for both.')


def params_dtype(params: Any, which: str, fn: str) -> jnp.dtype:
  """The ``'lowest'`` or ``'highest'`` dtype among the leaves of ``params`` (optax's choice
  for scalar state); the default float dtype's array type for an empty tree."""
  leaves = _leaves(params)
  if not leaves:
    return jnp.asarray([]).dtype
  dtypes = [jnp.asarray(x).dtype for x in leaves]
  out = dtypes[0]
  for d in dtypes[1:]:
    low = _lower(out, d, fn)
    out = low if which == 'lowest' else (d if low == out else out)
  return out


def check_like(updates: Any, other: Any, name: str, fn: str) -> None:
  """Raises ValueError naming the tree paths where ``other`` differs from ``updates``."""
  validation.check_same_structure(updates, other, 'updates', name, fn)


def tree_sum(xs: Any) -> jax.Array:
  """``0 + sum(x_1) + sum(x_2) + ...`` over the leaves, 16-bit leaves summed in float32."""
  total = 0
  for x in _leaves(xs):
    total = total + jnp.sum(tree.upcast(x))
  return jnp.asarray(total)


def sq_norm(xs: Any) -> jax.Array:
  r""":math:`\sum_i |x_i|^2` over every element of every leaf (float32 for 16-bit leaves)."""
  total = 0
  for x in _leaves(xs):
    total = total + jnp.sum(tree.abs_sq(tree.upcast(x)))
  return jnp.asarray(total)


def norm(xs: Any) -> jax.Array:
  """The Euclidean norm of the whole tree."""
  return jnp.sqrt(sq_norm(xs))


def abs_sum(xs: Any) -> jax.Array:
  """:math:`\\sum_i |x_i|` over every element of every leaf."""
  total = 0
  for x in _leaves(xs):
    total = total + jnp.sum(jnp.abs(tree.upcast(x)))
  return jnp.asarray(total)


def vdot(xs: Any, ys: Any) -> jax.Array:
  r""":math:`\sum_i \bar x_i y_i` over matching leaves, at the highest matmul precision."""
  total = 0
  for x, y in zip(_leaves(xs), _leaves(ys)):
    total = total + jnp.vdot(tree.upcast(x), tree.upcast(y),
                             precision=jax.lax.Precision.HIGHEST)
  return jnp.asarray(total)


def scalar(value: Any, dtype: Any) -> jax.Array:
  """A scalar state entry of ``dtype``."""
  return jnp.asarray(value, dtype=dtype)


def as_leaf(x: jax.Array, like: Any) -> jax.Array:
  """``x`` rounded to the dtype an update of the leaf ``like`` has."""
  return tree.cast(x, tree.result_dtype(like))

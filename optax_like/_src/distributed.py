"""Gradient aggregation and cross-device reductions for code under ``shard_map`` or ``pmap``.

Under ``jax.jit`` with sharded arrays (GSPMD) nothing here is needed: XLA inserts the
collectives, and every transform gives the single-device numbers. Inside ``jax.shard_map`` or
``jax.pmap`` each device sees only its block of every array, so two things must be said
explicitly, and this module says them with JAX's own collectives (``jax.lax.psum``):

* data parallelism: gradients computed from each device's slice of the batch are summed or
  averaged over the data axes (``aggregate_gradients``);
* parameters split over mesh axes (tensor/model parallelism, FSDP): a norm of a leaf is the
  square root of its squared norm *summed over the axes the leaf is split on*. ``axis_name``
  of ``clip_by_global_norm`` and ``scale_by_trust_ratio`` (and ``sharded_global_norm`` here)
  says which axes those are.

``axis_name`` forms (``AxisSpec``):

* ``None``: no cross-device reduction (the single-device behaviour).
* an axis name ``'model'``, a tuple of names ``('data', 'model')`` or a ``PartitionSpec``:
  every leaf is split over these axes.
* a pytree that is a prefix of the updates' tree (typically the ``in_specs`` given to
  ``shard_map`` for the parameters) whose leaves are ``PartitionSpec`` / axis name / tuple of
  names / ``None``: each leaf is reduced over the axes named in its own entry, so a replicated
  bias (``P()``) is counted once and a kernel split over ``'model'`` is summed over ``'model'``.
"""

from __future__ import annotations

from typing import Any, Hashable, Optional, Union

import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec

from optax_like._src import base
from optax_like._src import tree as tree_lib

AxisName = Hashable
AxisSpec = Any  # None | str | tuple[str, ...] | PartitionSpec | pytree of those (see module doc)

_OPS = ('sum', 'mean')


def _is_name_tuple(x: Any) -> bool:
  return type(x) is tuple and bool(x) and all(isinstance(a, str) for a in x)


def _is_spec_leaf(x: Any) -> bool:
  return x is None or isinstance(x, (str, PartitionSpec)) or _is_name_tuple(x)


def axes_of(spec: Any, fn: str = 'axes_of') -> tuple:
  """The mesh axes a ``PartitionSpec`` / axis name / tuple of names / ``None`` splits over.

  Example:
    >>> from jax.sharding import PartitionSpec as P
    >>> from optax_like._src.distributed import axes_of
    >>> axes_of(P(('data', 'model'), None, 'pipe'))
    ('data', 'model', 'pipe')
  """
  if spec is None:
    return ()
  if isinstance(spec, str):
    return (spec,)
  if _is_name_tuple(spec):
    return tuple(dict.fromkeys(spec))
  if isinstance(spec, PartitionSpec):
    names = []
    for entry in spec:
      if entry is None or entry is PartitionSpec.UNCONSTRAINED:
        continue
      for name in (entry if isinstance(entry, tuple) else (entry,)):
        if not isinstance(name, str):
          raise TypeError(f'{fn}: `axis_name` entries must be None, an axis name (str), a '
                          f'tuple of axis names or a PartitionSpec of axis names, got {spec!r}.')
        names.append(name)
    return tuple(dict.fromkeys(names))
  raise TypeError(f'{fn}: `axis_name` entries must be None, an axis name (str), a tuple of '
                  f'axis names or a PartitionSpec, got {spec!r}.')


def check_axis_spec(axis_name: AxisSpec, fn: str) -> None:
  """Raises TypeError at construction for an ``axis_name`` that no form above accepts."""
  if _is_spec_leaf(axis_name):
    axes_of(axis_name, fn)
    return
  leaves = jax.tree.leaves(axis_name, is_leaf=_is_spec_leaf)
  bad = [leaf for leaf in leaves if not _is_spec_leaf(leaf)]
  if bad:
    raise TypeError(f'{fn}: `axis_name` must be None, an axis name (str), a tuple of axis '
                    f'names, a PartitionSpec, or a pytree of those; found {bad[0]!r}.')


def entries_by_path(prefix_tree: Any, tree: Any, is_leaf, fn: str, arg: str) -> list:
  """For every leaf of ``tree`` (``jax.tree.leaves`` order), its entry in ``prefix_tree``.

  Leaves are matched by key paths: each leaf takes the entry of the longest ``prefix_tree``
  path that is a prefix of its own path (so ``prefix_tree`` may stop above the leaves, and
  subtrees that ``masked`` replaced by ``MaskedNode`` are fine).
  """
  spec_paths = {tuple(path): entry for path, entry in
                jax.tree_util.tree_flatten_with_path(prefix_tree, is_leaf=is_leaf)[0]}
  out = []
  for path, _ in jax.tree_util.tree_flatten_with_path(tree)[0]:
    path = tuple(path)
    for depth in range(len(path), -1, -1):
      if path[:depth] in spec_paths:
        out.append(spec_paths[path[:depth]])
        break
    else:
      raise ValueError(f'{fn}: `{arg}` has no entry for the leaf at '
                       f'{jax.tree_util.keystr(path)}; give a PartitionSpec (or None) for '
                       f'every leaf, e.g. the specs used for the parameters.')
  return out


def leaf_axes(axis_name: AxisSpec, tree: Any, fn: str = 'leaf_axes') -> list:
  """``(path, axes)`` for every leaf of ``tree`` (``jax.tree.leaves`` order): the mesh axes
  it is split over, and its key path (for error messages).

  A pytree ``axis_name`` is matched to ``tree`` by key paths (see ``entries_by_path``).
  """
  paths = [jax.tree_util.keystr(path)
           for path, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]
  if _is_spec_leaf(axis_name):
    return [(path, axes_of(axis_name, fn)) for path in paths]
  entries = entries_by_path(axis_name, tree, _is_spec_leaf, fn, 'axis_name')
  return [(path, axes_of(entry, fn)) for path, entry in zip(paths, entries)]


def _unbound(fn: str, axes: tuple, e: Exception) -> NameError:
  return NameError(f'{fn}: axis name(s) {axes} are not bound here; call `update` inside '
                   f'`jax.shard_map` (or `jax.pmap`) over a mesh with those axes. ({e})')


def psum(x: Any, axes: tuple, fn: str) -> Any:
  """``jax.lax.psum(x, axes)`` (identity for no axes), with an error that names ``fn``."""
  if not axes:
    return x
  try:
    return jax.lax.psum(x, axes)
  except NameError as e:
    raise _unbound(fn, axes, e) from e


def varying_axes(x: Any) -> Optional[frozenset]:
  """The manual axes over which JAX knows ``x`` varies (``shard_map(check_vma=True)``).

  ``None`` where this JAX version does not expose it.
  """
  aval = jax.typeof(x)
  vma = getattr(aval, 'vma', None)
  if vma is None:
    vma = getattr(getattr(aval, 'manual_axis_type', None), 'varying', None)
  return None if vma is None else frozenset(vma)


def tracks_varying(axes: tuple, fn: str) -> bool:
  """Whether JAX tracks which values vary over ``axes`` here.

  True inside ``jax.shard_map`` with ``check_vma=True`` (the default); False with
  ``check_vma=False`` and under ``jax.pmap``. Probed with ``axis_index``, which varies over
  its axis exactly when tracking is on.
  """
  try:
    index = jax.lax.axis_index(axes[0])
  except NameError as e:
    raise _unbound(fn, axes, e) from e
  varying = varying_axes(index)
  return bool(varying) and axes[0] in varying


def _check_split(x: jax.Array, axes: tuple, tracking: bool, fn: str, where: str) -> None:
  """Under tracking, a leaf the same on every device along a declared axis is not split there."""
  if not tracking:
    return
  varying = varying_axes(x) or frozenset()
  replicated = [a for a in axes if a not in varying]
  if replicated:
    raise ValueError(f'{fn}: `axis_name` says the leaf at {where or "<root>"} is split over '
                     f'{tuple(replicated)}, but it is the same on every device along them '
                     f'(replicated), so its norm would be counted {"/".join(replicated)}-size '
                     f'times; drop those axes from its entry.')


def leaf_sq_norm(x: jax.Array, axes: tuple, fn: str, where: str = '',
                 tracking: Optional[bool] = None) -> jax.Array:
  """``||x||^2`` of a whole leaf whose block ``x`` is split over ``axes`` (float32 for 16-bit)."""
  sq = jnp.sum(tree_lib.abs_sq(tree_lib.upcast(x)))
  if not axes:
    return sq
  tracking = tracks_varying(axes, fn) if tracking is None else tracking
  _check_split(x, axes, tracking, fn, where)
  return psum(sq, axes, fn)


def tree_sq_norm(tree: Any, axis_name: AxisSpec, fn: str) -> jax.Array:
  """``sum_i ||x_i||^2`` over whole (split) leaves: local sums psum-ed per group of axes.

  Leaves are grouped by the set of axes they are split over, so the number of collectives
  is the number of distinct groups, not the number of leaves. 16-bit leaves accumulate in
  float32.
  """
  leaves = jax.tree.leaves(tree)
  pairs = leaf_axes(axis_name, tree, fn)
  all_axes = tuple(dict.fromkeys(a for _, axes in pairs for a in axes))
  tracking = tracks_varying(all_axes, fn) if all_axes else False
  groups: dict = {}
  for x, (where, axes) in zip(leaves, pairs):
    _check_split(x, axes, tracking, fn, where)
    key = tuple(sorted(axes))
    sq = jnp.sum(tree_lib.abs_sq(tree_lib.upcast(x)))
    groups[key] = sq if key not in groups else groups[key] + sq
  total = None
  for key, partial in groups.items():
    reduced = psum(partial, key, fn)
    total = reduced if total is None else total + reduced
  return jnp.zeros([], jnp.float32) if total is None else total


def safe_sqrt(sq: jax.Array) -> jax.Array:
  """``sqrt(sq)`` with gradient 0 (not NaN) at ``sq == 0``."""
  positive = sq > 0
  return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, jnp.ones_like(sq))), sq)


def sharded_global_norm(updates: Any, axis_name: AxisSpec = None) -> jax.Array:
  r"""Global L2 norm of a tree whose leaves may be split over mesh axes (inside ``shard_map``).

  .. math:: N = \sqrt{\textstyle\sum_i \mathrm{psum}_{A_i}\big(\|u_i^{\mathrm{local}}\|_2^2\big)}

  where :math:`A_i` are the axes leaf :math:`i` is split over (see the module doc for the
  forms of ``axis_name``). With ``axis_name=None`` this is ``global_norm(updates)``. Every
  device gets the same :math:`N`, equal (up to summation order) to the unsharded norm.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> from optax_like._src.distributed import sharded_global_norm
    >>> mesh = jax.make_mesh((1,), ('model',), axis_types=(jax.sharding.AxisType.Auto,))
    >>> norm = jax.shard_map(lambda u: sharded_global_norm(u, 'model'), mesh=mesh,
    ...                      in_specs=jax.P('model'), out_specs=jax.P())
    >>> float(norm(jnp.array([3.0, 4.0])))
    5.0
  """
  fn = 'sharded_global_norm'
  if axis_name is None:
    return tree_lib.global_norm(updates)
  check_axis_spec(axis_name, fn)
  return jnp.sqrt(tree_sq_norm(updates, axis_name, fn))


def _check_axis_names(axis_name: Any, fn: str) -> tuple:
  if isinstance(axis_name, str):
    return (axis_name,)
  if _is_name_tuple(axis_name):
    return tuple(axis_name)
  raise TypeError(f'{fn}: `axis_name` must be an axis name (str) or a non-empty tuple of axis '
                  f'names, got {axis_name!r}.')


def _widen(x: jax.Array, op: str) -> jax.Array:
  """The dtype a leaf is reduced in: float32 for 16-bit floats; integers stay exact for a sum."""
  if op == 'sum' and not jnp.issubdtype(x.dtype, jnp.inexact):
    return x
  return tree_lib.upcast(x)


def aggregate_gradients(axis_name: Union[str, tuple], op: str = 'mean'
                        ) -> base.GradientTransformation:
  r"""Sums or averages the updates over named mesh axes (data parallelism under ``shard_map``/``pmap``).

  With :math:`g^{(r)}` the updates on replica :math:`r` of the :math:`R` replicas along
  ``axis_name``:

  .. math::
    \text{sum: } u = \sum_r g^{(r)} \qquad \text{mean: } u = \frac{1}{R}\sum_r g^{(r)}

  with one ``jax.lax.psum`` per group of leaves (XLA combines them into few all-reduces).

  Inside ``jax.shard_map`` with ``check_vma=True`` (the default), ``jax.grad`` with respect to
  a parameter replicated over an axis already returns the gradient *summed* over that axis
  (JAX inserts the ``psum`` when transposing the implicit broadcast). Such leaves, which JAX
  marks as not varying over the axis, are taken as already summed there: they are not
  summed again, and ``'mean'`` divides them by :math:`R`. Leaves that vary over the axis
  (``check_vma=False``, ``jax.pmap``, or gradients of per-device values) are summed. Either
  way the result is the sum (or mean) of the per-replica gradients. Pass gradients as
  ``jax.grad`` gives them, not gradients already averaged with ``pmean``.
  Use ``'mean'`` when each replica's loss is the mean over its local batch (the result is
  the gradient of the global-batch mean for equal local batches), ``'sum'`` when each
  replica's loss is already divided by the global batch size (Keras' convention).
  16-bit leaves are reduced in float32 and returned in their own dtype. Place it first in a
  ``chain`` so that everything after it sees the same gradients on every replica.

  ``update`` must run where ``axis_name`` is bound (inside ``jax.shard_map`` or ``jax.pmap``);
  under plain ``jax.jit`` with sharded arrays no aggregation transform is needed.

  Args:
    axis_name: the data-parallel axis name, or a tuple of names (e.g. ``('replica', 'data')``).
    op: ``'mean'`` (default) or ``'sum'``.

  Returns:
    A stateless ``GradientTransformation``.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> from optax_like._src.distributed import aggregate_gradients
    >>> tx = aggregate_gradients('data', op='sum')
    >>> mesh = jax.make_mesh((1,), ('data',), axis_types=(jax.sharding.AxisType.Auto,))
    >>> step = jax.shard_map(lambda g: tx.update(g, tx.init(None))[0], mesh=mesh,
    ...                      in_specs=jax.P('data'), out_specs=jax.P())
    >>> step(jnp.array([2.0])).tolist()
    [2.0]
  """
  fn = 'aggregate_gradients'
  axes = _check_axis_names(axis_name, fn)
  if op not in _OPS:
    raise ValueError(f'{fn}: `op` must be one of {_OPS}, got {op!r}.')

  def update_fn(updates, state, params=None):
    del params
    leaves, treedef = jax.tree.flatten(updates)
    if not leaves:
      return updates, state
    tracking = tracks_varying(axes, fn)
    groups: dict = {}
    for i, u in enumerate(leaves):
      # With check_vma, JAX already summed the gradient of a replicated parameter over the
      # axes it is replicated on (the transpose of the implicit `pvary`): sum only the rest.
      varying = varying_axes(u) or frozenset()
      todo = tuple(a for a in axes if a in varying) if tracking else axes
      groups.setdefault(todo, []).append(i)
    out = [None] * len(leaves)
    for todo, idx in groups.items():
      reduced = psum([_widen(leaves[i], op) for i in idx], todo, fn)
      for i, r in zip(idx, reduced):
        out[i] = r
    if op == 'mean':
      size = jax.lax.axis_size(axes)
      out = [t / jnp.asarray(size, t.dtype) for t in out]
    # A mean of integer gradients is a float (never truncated); a sum keeps their dtype.
    return treedef.unflatten([t.astype(u.dtype if op == 'sum' else tree_lib.result_dtype(u.dtype))
                              for t, u in zip(out, leaves)]), state

  return base.GradientTransformation(base.init_empty_state, update_fn)


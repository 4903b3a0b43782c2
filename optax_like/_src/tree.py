"""Tree and numerics helpers shared by the transforms.

Two policies live here so that every transform follows them the same way:

* Low-precision math: leaves in bfloat16/float16 are computed in float32 and only the stored
  result is cast back, so hyperparameters such as ``b2=0.999`` never round to 1.0.
* State follows parameters: state leaves are created with the sharding of their parameter,
  eagerly and under ``jax.jit`` (where a plain ``zeros_like`` would come out unsharded).
"""

from __future__ import annotations

from typing import Any, Optional

import chex
import jax
import jax.numpy as jnp
import numpy as np

from optax_like._src import validation


def is_none(x: Any) -> bool:
  return x is None


# The usual float dtypes, whose answers below need no call into JAX's type promotion (~20 us each,
# several per leaf and step, which dominated an eager step); all are canonical whatever x64 says.
_KEEPS_DTYPE = frozenset(np.dtype(d) for d in (jnp.float32, jnp.bfloat16, jnp.float16,
                                               jnp.complex64))
_COMPUTE_DTYPE = {np.dtype(jnp.float32): np.dtype(jnp.float32),
                  np.dtype(jnp.complex64): np.dtype(jnp.complex64),
                  np.dtype(jnp.bfloat16): np.dtype(jnp.float32),
                  np.dtype(jnp.float16): np.dtype(jnp.float32)}


def result_dtype(x: Any) -> jnp.dtype:
  """The dtype of an update computed from a leaf ``x`` (or a leaf of dtype ``x``): what JAX's
  promotion gives optax.

  A float or complex leaf keeps its dtype (16-bit included); an integer or bool leaf (a Python
  int included), combined with a float hyperparameter, gives the default float dtype (float32,
  float64 under x64), so integer gradients are never truncated back to integers.
  """
  if isinstance(x, np.dtype) and x in _KEEPS_DTYPE:
    return x
  if isinstance(x, jax.Array) and x.dtype in _KEEPS_DTYPE:
    return x.dtype
  dtype = jnp.result_type(x)
  if jnp.issubdtype(dtype, jnp.inexact):
    return dtype
  return jnp.result_type(dtype, float)


def compute_dtype(dtype: Any) -> jnp.dtype:
  """The dtype arithmetic runs in: float32 for 16-bit floats, the default float dtype for
  integer and bool leaves (``result_dtype``), else ``dtype`` itself."""
  if isinstance(dtype, np.dtype) and dtype in _COMPUTE_DTYPE:
    return _COMPUTE_DTYPE[dtype]
  dtype = jnp.dtype(dtype)
  if jnp.issubdtype(dtype, jnp.floating) and dtype.itemsize < 4:
    return jnp.dtype(jnp.float32)
  return result_dtype(dtype)


def upcast(x: jax.Array) -> jax.Array:
  """``x`` in its compute dtype (``compute_dtype``); ``x`` itself when it is already there.

  Returning early skips ``asarray`` and a same-dtype ``astype``, which are no-ops but cost a
  trip through JAX's Python dispatch per leaf per call in an eager step (traced, the jaxpr is
  the same: JAX drops a same-dtype cast of a strongly typed array).
  """
  if not isinstance(x, jax.Array):
    x = jnp.asarray(x)
  dtype = compute_dtype(x.dtype)
  if x.dtype == dtype and not x.weak_type:
    return x
  return x.astype(dtype)


def cast(x: Any, dtype: Any) -> jax.Array:
  """``jnp.asarray(x).astype(dtype)``; ``x`` itself when it already is a strongly typed array of
  ``dtype`` (that cast is a no-op, but eagerly each one costs a trip through JAX's dispatch path,
  per leaf and step; traced, the jaxpr is the same)."""
  if isinstance(x, jax.Array):
    if x.dtype == dtype and not x.weak_type:
      return x
    return x.astype(dtype)
  return jnp.asarray(x).astype(dtype)


def canonicalize_dtype(dtype: Optional[Any]) -> Optional[jnp.dtype]:
  return None if dtype is None else jax.dtypes.canonicalize_dtype(dtype)


def full_like(x: chex.Array, value: Any, dtype: Optional[Any] = None) -> jax.Array:
  """``full_like`` that keeps ``x``'s sharding also when traced under ``jit``.

  Under ``jit`` a constant has no sharding of its own and comes out on one device, so the
  value is derived from ``x`` elementwise (``where(isfinite(x), |x|*0, 0) + value``), which
  GSPMD shards like ``x``. This reads ``x`` once; it only runs in ``init``.
  """
  if isinstance(x, jax.ShapeDtypeStruct):  # abstract params (optax accepts them in ``init``)
    return jnp.full_like(x, value, dtype=x.dtype if dtype is None else dtype)
  x = jnp.asarray(x) if not isinstance(x, jax.Array) else x
  dtype = x.dtype if dtype is None else dtype
  if isinstance(x, jax.core.Tracer) and x.ndim > 0:
    zero = jnp.where(jnp.isfinite(x), jnp.abs(x) * 0, 0).astype(dtype)
    if isinstance(value, (int, float)) and value == 0:
      return zero
    return zero + jnp.asarray(value, dtype)
  return jnp.full_like(x, value, dtype=dtype)


def tree_zeros_like(tree: Any, dtype: Optional[Any] = None) -> Any:
  return jax.tree.map(lambda x: full_like(x, 0, dtype), tree)


def tree_full_like(tree: Any, value: Any, dtype: Optional[Any] = None) -> Any:
  return jax.tree.map(lambda x: full_like(x, value, dtype), tree)


def tree_cast(tree: Any, dtype: Optional[Any]) -> Any:
  if dtype is None:
    return tree
  return jax.tree.map(lambda x: x.astype(dtype), tree)


def safe_increment(count: chex.Numeric) -> jax.Array:
  """``count + 1`` that saturates at the dtype's maximum instead of wrapping around."""
  count = jnp.asarray(count)
  max_value = jnp.iinfo(count.dtype).max
  return jnp.where(count < max_value, count + 1, max_value).astype(count.dtype)


def abs_sq(x: jax.Array) -> jax.Array:
  """``|x|^2``, real-valued also for complex ``x``."""
  if jnp.iscomplexobj(x):
    return (x.conj() * x).real
  return x * x


# A "small" leaf: up to this many elements. ``global_norm`` sums the squares of small leaves in
# one reduction over their concatenation, and the fused path (``fused.bucketed``) concatenates
# small leaves into one vector per dtype; larger leaves keep kernels of their own. Measured on
# 2 CPU cores with `python -m benchmarks.bucket_threshold` (adam and clip+adam over n equal
# leaves, side by side with optax; table in docs/fused.md): concatenating
# wins for leaves of a few hundred elements, ties at 2k-4k, and loses from 8k on, where the
# concatenation costs more than the kernel launches it saves.
SMALL_LEAF = 4096


def replicated_alike(leaves: list, *, trust_traced: bool = False) -> bool:
  """True when every leaf provably holds its whole value on each device of one common device set.

  Then concatenating the leaves is local on every device: it never gathers or reshards. That
  holds for concrete arrays on one device, or replicated over the same devices. Traced leaves
  (under ``jit`` without explicit mesh axes) say nothing about their placement, so they count
  only in a process with a single device (or when ``trust_traced``, the caller's promise). A
  leaf split over named mesh axes never counts.
  """
  devices = None
  for x in leaves:
    if x is None:
      continue
    try:
      spec = getattr(getattr(jax.typeof(x), 'sharding', None), 'spec', None)
    except TypeError:  # not an array-like leaf: it has no placement
      continue
    if spec is not None and any(entry is not None for entry in spec):
      return False
    if isinstance(x, jax.core.Tracer):
      if jax.device_count() > 1 and not trust_traced:
        return False
    elif isinstance(x, jax.Array):
      if len(x.sharding.device_set) > 1 and not x.sharding.is_fully_replicated:
        return False
      here = frozenset(x.sharding.device_set)
      if devices is not None and here != devices:
        return False
      devices = here
  return True


def global_norm(updates: Any) -> jax.Array:
  """``sqrt(sum_i ||u_i||^2)`` over all leaves; accumulated in float32 for 16-bit leaves.

  When ``replicated_alike(leaves)``, the leaves of up to ``SMALL_LEAF`` (4096) elements are
  summed in one reduction over their concatenation (per dtype), so the compiled step has one
  reduction kernel instead of one per leaf; the result differs from optax's leaf-by-leaf sum
  only in float rounding.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> float(ox.global_norm({'a': jnp.array([3.0]), 'b': jnp.array([4.0])}))
    5.0
  """
  leaves = [upcast(x) for x in jax.tree.leaves(updates)]
  if not leaves:
    return jnp.zeros([], jnp.float32)
  if len(leaves) == 1 or not replicated_alike(leaves):
    return jnp.sqrt(sum(jnp.sum(abs_sq(x)) for x in leaves))
  # Many small leaves: one reduction over their concatenation (fused, never materialized)
  # instead of one kernel per leaf, which is what makes compile time grow with the leaf count.
  small: dict = {}
  large = []
  for x in leaves:
    if np.size(x) <= SMALL_LEAF:
      small.setdefault(x.dtype, []).append(jnp.ravel(x))
    else:
      large.append(x)
  parts = [jnp.sum(abs_sq(jnp.concatenate(xs))) for xs in small.values()]
  return jnp.sqrt(sum(parts + [jnp.sum(abs_sq(x)) for x in large]))


def apply_updates(params: Any, updates: Any) -> Any:
  """``p + u`` for every leaf, keeping each parameter's dtype; None parameters stay None.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.apply_updates(jnp.array([1.0]), jnp.array([-0.25])).tolist()
    [0.75]
  """
  validation.check_same_structure(params, updates, 'params', 'updates', 'apply_updates')

  def leaf(p, u):
    if p is None:
      return None
    return cast(p + u, p.dtype if isinstance(p, jax.Array) else jnp.asarray(p).dtype)

  return jax.tree.map(leaf, params, updates, is_leaf=is_none)


def incremental_update(new_tensors: Any, old_tensors: Any, step_size: chex.Numeric) -> Any:
  """Polyak averaging: ``step_size * new + (1 - step_size) * old`` for every leaf (a None leaf of
  ``new_tensors`` stays None, as in optax).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.incremental_update(jnp.array([1.0]), jnp.array([0.0]), 0.25).tolist()
    [0.25]
  """
  validation.check_same_structure(new_tensors, old_tensors, 'new_tensors', 'old_tensors',
                                  'incremental_update')
  return jax.tree.map(
      lambda new, old: None if new is None else step_size * new + (1.0 - step_size) * old,
      new_tensors, old_tensors, is_leaf=is_none)


def path_names(tree: Any, separator: str = '/') -> Any:
  """A tree of the same structure whose leaves are their path as a string, e.g. ``'dense/kernel'``.

  Dict keys, attribute names and sequence indices are joined by ``separator``.
  """

  def name(path, _):
    parts = []
    for key in path:
      if isinstance(key, jax.tree_util.DictKey):
        parts.append(str(key.key))
      elif isinstance(key, jax.tree_util.GetAttrKey):
        parts.append(key.name)
      elif isinstance(key, jax.tree_util.SequenceKey):
        parts.append(str(key.idx))
      elif isinstance(key, jax.tree_util.FlattenedIndexKey):
        parts.append(str(key.key))
      else:
        parts.append(str(key))
    return separator.join(parts)

  return jax.tree_util.tree_map_with_path(name, tree)


def numpy_scalar(x: Any) -> Any:
  return np.asarray(x).item()


def tree_map_split(fn, first: Any, *rest: Any, n_out: int = 2, is_leaf=is_none,
                   names: tuple = (), fn_name: str = '') -> tuple:
  """Maps ``fn`` returning an ``n_out``-tuple per leaf and returns ``n_out`` trees.

  Leaves of ``first`` that are None map to None in every output (they carry no update).
  ``names`` (one per tree, e.g. ``('updates', 'state.trace')``) and ``fn_name`` label the
  ValueError raised when the trees' structures differ.
  """
  outer = jax.tree.structure(first, is_leaf=is_leaf)

  def leaf(x, *ys):
    return (None,) * n_out if x is None else tuple(fn(x, *ys))

  try:
    pairs = jax.tree.map(leaf, first, *rest, is_leaf=is_leaf)
  except (ValueError, TypeError):
    labels = list(names) + [f'tree {i}' for i in range(len(names), len(rest) + 1)]
    for other, label in zip(rest, labels[1:]):
      validation.check_same_structure(first, other, labels[0], label, fn_name)
    raise
  flat = outer.flatten_up_to(pairs)
  return tuple(outer.unflatten([p[i] for p in flat]) for i in range(n_out))


def per_leaf_scalars(params: Any, value: float) -> Any:
  """A float32 scalar per parameter leaf (None leaves stay None), for per-leaf reports.

  For optax's ``tree_map_params`` placeholder a single scalar is returned instead, so that
  these per-leaf statistics are not mistaken for parameter-shaped state.
  """
  if type(params).__name__ == '_ParamsPlaceholder':
    return jnp.full([], value, jnp.float32)
  return jax.tree.map(lambda _: jnp.full([], value, jnp.float32), params)

"""Clipping transforms: by value, by per-leaf RMS, by per-leaf L2 norm and by global L2 norm.

Norms are accumulated in float32 for bfloat16/float16 leaves and the clipped update is cast
back to the dtype of the incoming update. For float32/float64 leaves the arithmetic is the
same, in the same order, as optax 0.2.8 (``clip``, ``clip_by_block_rms``,
``clip_by_global_norm``) or as ``tf.clip_by_norm`` / ``tf.clip_by_global_norm`` (the Keras
``clipnorm`` / ``global_clipnorm`` options).

Every state is optax's by default (``EmptyState``). Two transforms can report what they saw, so
that logging the gradient norm needs no second pass over the gradients: with ``report=True``
``clip_by_global_norm``'s state holds the pre-clip global norm of the last update
(``GlobalNormReport``) and ``clip_by_norm``'s state holds every leaf's pre-clip norm
(``ClipByNormState``).
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

import chex
import jax
import jax.numpy as jnp

from optax_like._src import base
from optax_like._src import distributed
from optax_like._src import tree as tree_lib
from optax_like._src import validation

_NONFINITE_MODES = ('optax', 'nan')

ClipState = base.EmptyState  # optax's name for the (empty) state of `clip`.



def _leaf_sq_norm(x: jax.Array) -> jax.Array:
  """``sum |x|^2`` of one leaf, in float32 for 16-bit leaves."""
  return jnp.sum(tree_lib.abs_sq(tree_lib.upcast(x)))


def _safe_sqrt(sq: jax.Array) -> jax.Array:
  """``sqrt(sq)`` whose gradient at ``sq == 0`` is 0 rather than NaN (TF's two-``where`` trick)."""
  positive = sq > 0
  return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, jnp.ones_like(sq))), sq)


def _true_divide(x: jax.Array, scalar: jax.Array) -> jax.Array:
  """``x / scalar``, correctly rounded per element as TF's ``RealDiv`` computes it.

  XLA rewrites a division by a broadcast scalar into a multiplication by its reciprocal, which
  is off by one rounding step for some elements. A divisor that depends on ``x`` elementwise
  defeats the rewrite while staying fused (no extra memory traffic); NaN elements of ``x``
  give NaN either way. (On the CPU; a GPU's float32 division is itself within one unit in the
  last place, not correctly rounded: seen on an H200.)
  """
  return x / jnp.where(x == x, scalar, jnp.ones_like(scalar))


def clip(max_delta: chex.Numeric) -> base.GradientTransformation:
  r"""Clips every element of the updates to ``[-max_delta, max_delta]``.

  .. math:: u \leftarrow \min(\max(u, -\delta), \delta)

  This is Keras' ``clipvalue``.

  Args:
    max_delta: the largest absolute value an element may keep (``>= 0``).

  Returns:
    A stateless ``GradientTransformation``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> tx = ox.clip(1.0)
    >>> tx.update(jnp.array([-3.0, 0.5, 2.0]), tx.init(None))[0].tolist()
    [-1.0, 0.5, 1.0]
  """
  validation.check_range(max_delta, 'max_delta', low=0.0, fn='clip')

  def clip_leaf(u):
    clipped = jnp.clip(tree_lib.upcast(u), -max_delta, max_delta)
    return clipped.astype(tree_lib.result_dtype(u))

  def update_fn(updates, state, params=None):
    del params
    return jax.tree.map(clip_leaf, updates), state

  return base.grouping_free(base.GradientTransformation(base.init_empty_state, update_fn))


def clip_by_block_rms(threshold: chex.Numeric) -> base.GradientTransformation:
  r"""Rescales each leaf ("block": a weight vector or matrix) so its RMS is at most ``threshold``.

  .. math:: u \leftarrow u / \max\left(1, \sqrt{\mathrm{mean}(|u|^2)} / \tau\right)

  Args:
    threshold: the largest root-mean-square a leaf may keep (``>= 0``).

  Returns:
    A stateless ``GradientTransformation``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> tx = ox.clip_by_block_rms(1.0)
    >>> tx.update(jnp.array([3.0, 4.0]), tx.init(None))[0].tolist()  # rms = sqrt(12.5)
    [0.8485281467437744, 1.1313709020614624]
  """
  validation.check_range(threshold, 'threshold', low=0.0, fn='clip_by_block_rms')

  def clip_leaf(u):
    uc = tree_lib.upcast(u)
    denom = jnp.maximum(1.0, jnp.sqrt(jnp.mean(tree_lib.abs_sq(uc))) / threshold)
    return (uc / denom).astype(tree_lib.result_dtype(u))

  def update_fn(updates, state, params=None):
    del params
    return jax.tree.map(clip_leaf, updates), state

  return base.GradientTransformation(base.init_empty_state, update_fn)


ClipByGlobalNormState = base.EmptyState  # optax's name for the state of `clip_by_global_norm`.


class GlobalNormReport(NamedTuple):
  """State of ``clip_by_global_norm(..., report=True)`` (ours alone; optax has no such state).

  Attributes:
    global_norm: float32 scalar, the global L2 norm of the updates received by the last
      ``update`` (before clipping); 0 after ``init``.
  """
  global_norm: jax.Array


def clip_by_global_norm(max_norm: chex.Numeric, *,
                        nonfinite: str = 'optax',
                        axis_name: distributed.AxisSpec = None,
                        report: bool = False) -> base.GradientTransformation:
  r"""Rescales all updates together so that their global L2 norm is at most ``max_norm``.

  With :math:`N = \sqrt{\sum_i \|u_i\|_2^2}` over all leaves and :math:`c` = ``max_norm``:

  * ``nonfinite='optax'`` (default, optax's numbers):
    :math:`u_i \leftarrow u_i` if :math:`N < c`, else :math:`(u_i / N)\, c`.
    A NaN norm gives NaN updates; an infinite norm zeroes the finite elements.
  * ``nonfinite='nan'`` (``tf.clip_by_global_norm``, the Keras ``global_clipnorm``):
    :math:`u_i \leftarrow u_i \cdot s` with
    :math:`s = c \cdot \min(1/N, 1/c) + (N - N)`, so a non-finite :math:`N`
    (inf or NaN) makes **every** update NaN, which Keras relies on to surface divergence.

  The state is optax's ``ClipByGlobalNormState`` (``EmptyState``). With ``report=True`` it is
  ``GlobalNormReport(global_norm)`` instead, which records :math:`N` (pre-clip, float32) of
  the last update, so the gradient norm can be logged without computing it again.
  The norm is accumulated in float32 for 16-bit leaves.

  Inside ``jax.shard_map``, where each device holds only a block of a leaf split over mesh
  axes, ``axis_name`` names those axes so that :math:`N` is the norm of the whole tree:
  each leaf's local :math:`\|u_i\|^2` is ``psum``-ed over the axes it is split on
  (an axis name or tuple of names for every leaf, or a pytree of ``PartitionSpec`` such as
  the parameters' ``in_specs``; see ``optax_like._src.distributed``). Every device then
  clips by the same factor and the result equals the unsharded one. ``None`` (default):
  no collective, optax's behaviour. Under plain ``jax.jit`` with sharded arrays leave it
  ``None``; XLA reduces across devices by itself.

  Args:
    max_norm: the largest global norm the updates may keep (``>= 0``).
    nonfinite: ``'optax'`` or ``'nan'``, see above.
    axis_name: mesh axes the leaves are split over inside ``shard_map``; ``None`` for none.
    report: keep the pre-clip global norm in the state (``GlobalNormReport``); ``False``
      (default): optax's empty state.

  Returns:
    A ``GradientTransformation`` whose state is ``EmptyState()`` (``ClipByGlobalNormState``),
    or a ``GlobalNormReport`` with ``report=True``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> tx = ox.clip_by_global_norm(1.0, report=True)
    >>> updates, state = tx.update({'a': jnp.array([3.0]), 'b': jnp.array([4.0])},
    ...                            tx.init(None))
    >>> [updates['a'].tolist(), updates['b'].tolist(), float(state.global_norm)]
    [[0.6000000238418579], [0.800000011920929], 5.0]
  """
  fn = 'clip_by_global_norm'
  validation.check_range(max_norm, 'max_norm', low=0.0, fn=fn)
  if nonfinite not in _NONFINITE_MODES:
    raise ValueError(f"{fn}: `nonfinite` must be one of {_NONFINITE_MODES}, got {nonfinite!r}.")
  if axis_name is not None:
    distributed.check_axis_spec(axis_name, fn)

  def init_fn(params):
    del params
    if report:
      return GlobalNormReport(global_norm=jnp.zeros([], jnp.float32))
    return base.EmptyState()

  def update_fn(updates, state, params=None):
    del params
    if axis_name is None:
      g_norm = tree_lib.global_norm(updates)
    else:
      g_norm = jnp.sqrt(distributed.tree_sq_norm(updates, axis_name, fn))
    if nonfinite == 'optax':
      trigger = jnp.squeeze(g_norm < max_norm)

      def clip_leaf(u):
        uc = tree_lib.upcast(u)
        clipped = (uc / g_norm.astype(uc.dtype)) * max_norm
        return jax.lax.select(trigger, uc, clipped.astype(uc.dtype)).astype(
            tree_lib.result_dtype(u))
    else:
      one = jnp.ones([], g_norm.dtype)
      scale = max_norm * jnp.minimum(one / g_norm, one / jnp.asarray(max_norm, g_norm.dtype))
      scale = scale + (g_norm - g_norm)

      def clip_leaf(u):
        uc = tree_lib.upcast(u)
        return (uc * scale.astype(uc.dtype)).astype(tree_lib.result_dtype(u))

    new_updates = jax.tree.map(clip_leaf, updates)
    if report:
      return new_updates, GlobalNormReport(global_norm=g_norm.astype(jnp.float32))
    return new_updates, base.EmptyState()

  tx = base.GradientTransformation(init_fn, update_fn)
  return base.grouping_free(tx) if axis_name is None else tx


class ClipByNormState(NamedTuple):
  """State of ``clip_by_norm(..., report=True)`` (without ``report`` it is ``EmptyState``).

  Attributes:
    norm: a tree like the parameters whose leaves are float32 scalars: each leaf's L2 norm
      in the updates received by the last ``update`` (before clipping); 0 after ``init``.
  """
  norm: Any


def clip_by_norm(max_norm: chex.Numeric, *,
                 axis_name: distributed.AxisSpec = None,
                 report: bool = False) -> base.GradientTransformation:
  r"""Rescales each leaf separately so that its L2 norm is at most ``max_norm``.

  This is ``tf.clip_by_norm`` applied per tensor, i.e. Keras' ``clipnorm``:

  .. math:: u_i \leftarrow \frac{u_i \cdot c}{\max(\|u_i\|_2, c)}

  (multiplied first, then divided, as TF does; a leaf whose norm is below ``c`` may therefore
  move by one rounding step). An all-zero leaf is returned unchanged, also for ``c = 0``
  (where TF would give NaN).

  The state is ``EmptyState()``; with ``report=True`` it is ``ClipByNormState(norm)``, which
  holds every leaf's pre-clip norm (float32 scalars) from the last update. Norms are
  accumulated in float32 for 16-bit leaves.

  Inside ``jax.shard_map``, ``axis_name`` names the mesh axes the leaves are split over (as
  for ``clip_by_global_norm``): each leaf's squared norm is then ``psum``-ed over its own
  axes, so every block is clipped by the norm of the whole leaf. ``None`` (default): no
  collective.

  Args:
    max_norm: the largest L2 norm each leaf may keep (``>= 0``).
    axis_name: mesh axes the leaves are split over inside ``shard_map``; ``None`` for none.
    report: keep each leaf's pre-clip norm in the state (``ClipByNormState``); ``False``
      (default): ``EmptyState()``.

  Returns:
    A ``GradientTransformation`` whose state is ``EmptyState()``, or a ``ClipByNormState``
    with ``report=True``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> tx = ox.clip_by_norm(1.0, report=True)
    >>> params = {'a': jnp.zeros(2), 'b': jnp.zeros(1)}
    >>> updates, state = tx.update({'a': jnp.array([3.0, 4.0]), 'b': jnp.array([0.5])},
    ...                            tx.init(params))
    >>> [updates['a'].tolist(), updates['b'].tolist(), float(state.norm['a'])]
    [[0.6000000238418579, 0.800000011920929], [0.5], 5.0]
  """
  fn = 'clip_by_norm'
  validation.check_range(max_norm, 'max_norm', low=0.0, fn=fn)
  if axis_name is not None:
    distributed.check_axis_spec(axis_name, fn)

  def init_fn(params):
    if not report:
      return base.EmptyState()
    return ClipByNormState(norm=tree_lib.per_leaf_scalars(params, 0.0))

  def clip_leaf(u, axes=(), where=''):
    uc = tree_lib.upcast(u)
    sq = distributed.leaf_sq_norm(u, axes, fn, where) if axes else _leaf_sq_norm(u)
    norm = _safe_sqrt(sq)
    denom = jnp.maximum(norm, jnp.asarray(max_norm, norm.dtype))
    # An all-zero leaf with max_norm == 0 would be 0/0; it is returned as is (zeros).
    denom = jnp.where(denom == 0, jnp.ones_like(denom), denom)
    clipped = _true_divide(uc * max_norm, denom.astype(uc.dtype))
    return clipped.astype(tree_lib.result_dtype(u)), norm.astype(jnp.float32)

  def update_fn(updates, state, params=None):
    del params
    leaves, treedef = jax.tree.flatten(updates)
    if axis_name is None:
      results = [clip_leaf(u) for u in leaves]
    else:
      pairs = distributed.leaf_axes(axis_name, updates, fn)
      results = [clip_leaf(u, axes, where) for u, (where, axes) in zip(leaves, pairs)]
    new_updates = treedef.unflatten([r[0] for r in results])
    if not report:
      return new_updates, base.EmptyState()
    norms = treedef.unflatten([r[1] for r in results])
    return new_updates, ClipByNormState(norm=norms)

  return base.GradientTransformation(init_fn, update_fn)

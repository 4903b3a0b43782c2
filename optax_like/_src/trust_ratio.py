"""Layer-wise trust ratio scaling (LARS, LAMB, Fromage).

Each leaf's update is multiplied by ``trust_coefficient * ||p|| / (||u|| + eps)``, computed
from whole-leaf L2 norms; norms are accumulated in float32 for 16-bit leaves. The state is
optax's (``EmptyState``); with ``report=True`` the ratios used are kept in the state
(``TrustRatioReport``) so they can be logged without recomputing them.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp

from optax_like._src import base
from optax_like._src import distributed
from optax_like._src import segments
from optax_like._src import tree as tree_lib
from optax_like._src import validation


ScaleByTrustRatioState = base.EmptyState  # optax's name for the state of `scale_by_trust_ratio`.


class TrustRatioReport(NamedTuple):
  """State of ``scale_by_trust_ratio(..., report=True)`` (ours alone; optax has no such state).

  Attributes:
    trust_ratio: a tree like the parameters whose leaves are float32 scalars: the ratio each
      leaf's update was multiplied by in the last ``update``; 1.0 after ``init``. Inside the
      fused path's flat buckets it is a ``segments.PerLeaf`` (a vector of ratios per bucket).
  """
  trust_ratio: Any


@jax.custom_jvp
def _l2_norm(x: jax.Array) -> jax.Array:
  # jnp.linalg.norm rather than sqrt(sum(x*x)): it is what optax uses, and eagerly the two can
  # round differently (one fused op versus two).
  return jnp.linalg.norm(x)


@_l2_norm.defjvp
def _l2_norm_jvp(primals, tangents):
  # d||x|| = <x, dx> / ||x||, and 0 at x = 0 instead of NaN.
  (x,), (dx,) = primals, tangents
  norm = _l2_norm(x)
  positive = norm > 0
  inner = jnp.sum(jnp.real(jnp.conj(x) * dx))
  return norm, jnp.where(positive, inner / jnp.where(positive, norm, jnp.ones_like(norm)),
                         jnp.zeros_like(norm))


def _floored_norm(x: jax.Array, min_norm: chex.Numeric, axes: tuple = (),
                  fn: str = 'scale_by_trust_ratio', where: str = '') -> jax.Array:
  """``max(||x||_2, min_norm)`` in the sense of optax's ``safe_norm``, in one pass.

  A norm ``<= min_norm`` becomes ``min_norm``; the gradient of the norm at ``x = 0`` is 0
  rather than NaN. Computed in float32 for 16-bit leaves. With ``axes`` (inside
  ``shard_map``, ``x`` a block of a leaf split over those mesh axes) the squared norm is
  summed over the axes first, so the norm is the whole leaf's.
  """
  if axes:
    norm = distributed.safe_sqrt(distributed.leaf_sq_norm(x, axes, fn, where))
  else:
    norm = _l2_norm(tree_lib.upcast(x))
  return _floor(norm, min_norm)


def _floor(norm: jax.Array, min_norm: chex.Numeric) -> jax.Array:
  """A norm ``<= min_norm`` counts as ``min_norm``."""
  return jnp.where(norm <= min_norm, jnp.asarray(min_norm, norm.dtype), norm)


def scale_by_trust_ratio(min_norm: chex.Numeric = 0.0,
                         trust_coefficient: chex.Numeric = 1.0,
                         eps: chex.Numeric = 0.0, *,
                         axis_name: distributed.AxisSpec = None,
                         report: bool = False) -> base.GradientTransformation:
  r"""Scales each leaf's update by its trust ratio.

  For every leaf, with :math:`\|\cdot\|` the L2 (Frobenius) norm of the whole leaf floored at
  ``min_norm`` (a norm :math:`\le` ``min_norm`` counts as ``min_norm``):

  .. math::

    r = \begin{cases} 1 & \text{if } \|p\| = 0 \text{ or } \|u\| = 0 \\
                      \eta\, \|p\| / (\|u\| + \epsilon) & \text{otherwise} \end{cases}
    \qquad u \leftarrow r\, u

  with :math:`\eta` = ``trust_coefficient``. The fallback :math:`r = 1` is also tf-models
  LARS's (there a zero-initialised bias gets the full learning rate on its first step).
  The state is optax's ``ScaleByTrustRatioState`` (``EmptyState``). With ``report=True`` it
  is ``TrustRatioReport(trust_ratio)``, which records each leaf's :math:`r` (float32) from the
  last update. Inside the fused path's flat buckets (``fused.bucketed``) the norms are taken
  over each leaf's segment of the bucket (``segments``), so the ratios are the same; a report
  then holds ``segments.PerLeaf``: a vector of the leaves' ratios per bucket.

  Inside ``jax.shard_map``, ``axis_name`` names the mesh axes the leaves are split over (an
  axis name or tuple of names for every leaf, or a pytree of ``PartitionSpec`` such as the
  parameters' ``in_specs``; see ``optax_like._src.distributed``): both norms of a split leaf
  are then taken over the whole leaf (squared norms ``psum``-ed over its axes), so the
  ratios equal the unsharded ones. ``None`` (default): per-device norms, optax's behaviour,
  which is also right under plain ``jax.jit`` with sharded arrays.

  Args:
    min_norm: floor for both norms (``>= 0``); 0 means no floor.
    trust_coefficient: :math:`\eta` (``>= 0``), LARS's ``eeta``.
    eps: added to the update norm in the denominator (``>= 0``).
    axis_name: mesh axes the leaves are split over inside ``shard_map``; ``None`` for none.
    report: keep each leaf's ratio in the state (``TrustRatioReport``); ``False`` (default):
      optax's empty state.

  Returns:
    A ``GradientTransformation`` that needs ``params`` in ``update``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> tx = ox.scale_by_trust_ratio(trust_coefficient=0.5, report=True)
    >>> params = {'w': jnp.array([3.0, 4.0]), 'b': jnp.zeros(1)}
    >>> updates, state = tx.update({'w': jnp.array([0.0, 1.0]), 'b': jnp.array([2.0])},
    ...                            tx.init(params), params)
    >>> [updates['w'].tolist(), updates['b'].tolist(), float(state.trust_ratio['w'])]
    [[0.0, 2.5], [2.0], 2.5]
  """
  fn = 'scale_by_trust_ratio'
  validation.check_range(min_norm, 'min_norm', low=0.0, fn=fn)
  validation.check_range(trust_coefficient, 'trust_coefficient', low=0.0, fn=fn)
  validation.check_range(eps, 'eps', low=0.0, fn=fn)
  if axis_name is not None:
    distributed.check_axis_spec(axis_name, fn)

  def init_fn(params):
    if not report:
      return base.EmptyState()
    buckets = segments.match(params) if axis_name is None else None
    if buckets is not None:  # flat buckets of the fused path: one ratio per leaf of each
      return TrustRatioReport(trust_ratio=segments.PerLeaf(tuple(
          p if segments.masked_out(p) else jnp.ones(len(seg.sizes), jnp.float32)
          for p, seg in zip(params, buckets))))
    return TrustRatioReport(trust_ratio=tree_lib.per_leaf_scalars(params, 1.0))

  def ratio_of(param_norm, update_norm):
    ratio = trust_coefficient * param_norm / (update_norm + eps)
    zero_norm = jnp.logical_or(param_norm == 0.0, update_norm == 0.0)
    return jnp.where(zero_norm, jnp.ones([], ratio.dtype), ratio)

  def scale_leaf(u, p, axes=(), where=''):
    ratio = ratio_of(_floored_norm(p, min_norm, axes, fn, where),
                     _floored_norm(u, min_norm, axes, fn, where))
    uc = tree_lib.upcast(u)
    return ((uc * ratio.astype(uc.dtype)).astype(tree_lib.result_dtype(u)),
            ratio.astype(jnp.float32))

  def scale_bucket(u, p, seg):
    """One bucket vector of the fused path: each leaf's segment scaled by its own ratio.

    The same ratio as ``scale_leaf``, computed for all leaves of the bucket at once from
    their squared norms (one reduction per distinct leaf size, ``segments.sq_norms``).
    """
    ratio = ratio_of(_floor(distributed.safe_sqrt(segments.sq_norms(p, seg)), min_norm),
                     _floor(distributed.safe_sqrt(segments.sq_norms(u, seg)), min_norm))
    uc = tree_lib.upcast(u)
    scaled = (uc * segments.expand(ratio, seg).astype(uc.dtype)).astype(
        tree_lib.result_dtype(u))
    return scaled, ratio.astype(jnp.float32)

  def update_fn(updates, state, params=None):
    del state
    validation.require_params(params, fn)
    validation.check_same_structure(updates, params, 'updates', 'params', fn)
    buckets = segments.match(updates) if axis_name is None else None
    if buckets is not None:
      results = [(u, u) if segments.masked_out(u) else scale_bucket(u, p, seg)
                 for u, p, seg in zip(updates, params, buckets)]
      if not report:
        return tuple(r[0] for r in results), base.EmptyState()
      return (tuple(r[0] for r in results),
              TrustRatioReport(trust_ratio=segments.PerLeaf(tuple(r[1] for r in results))))
    u_leaves, treedef = jax.tree.flatten(updates)
    p_leaves = treedef.flatten_up_to(params)
    if axis_name is None:
      results = [scale_leaf(u, p) for u, p in zip(u_leaves, p_leaves)]
    else:
      pairs = distributed.leaf_axes(axis_name, updates, fn)
      results = [scale_leaf(u, p, axes, where)
                 for u, p, (where, axes) in zip(u_leaves, p_leaves, pairs)]
    new_updates = treedef.unflatten([r[0] for r in results])
    if not report:
      return new_updates, base.EmptyState()
    ratios = treedef.unflatten([r[1] for r in results])
    return new_updates, TrustRatioReport(trust_ratio=ratios)

  tx = base.GradientTransformation(init_fn, update_fn)
  # Grouping-free in the fused path's sense: inside a bucket its norms follow the leaf segments.
  return base.grouping_free(tx) if axis_name is None else tx

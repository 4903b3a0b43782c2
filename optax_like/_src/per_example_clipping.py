r"""Per-example clipping for differentially private training: every example's gradient is
clipped on its own before the batch is summed.

The gradients carry a leading batch axis on every leaf. Norms are accumulated in float32 for
16-bit leaves; the clipped sums are returned in the dtype optax 0.2.8 gives (an integer
gradient gives a float sum).
"""

from __future__ import annotations

from typing import Any

import chex
import jax
import jax.numpy as jnp

from optax_like._src import base
from optax_like._src import tree as tree_lib
from optax_like._src import validation


def _batch_leaves(grads: Any, fn: str) -> tuple[list, Any, int]:
  """The leaves of ``grads``, its structure and the common size of their leading axis.

  Raises ValueError naming the first leaf without a leading axis of that size.
  """
  with_paths, treedef = jax.tree_util.tree_flatten_with_path(grads)
  if not with_paths:
    raise ValueError(f'{fn}: `grads` has no array leaves; every leaf needs a batch axis 0.')
  leaves = [jnp.asarray(x) for _, x in with_paths]
  batch = leaves[0].shape[0] if leaves[0].ndim else None
  for (path, _), x in zip(with_paths, leaves):
    if x.ndim == 0 or x.shape[0] != batch:
      where = jax.tree_util.keystr(path) or '<root>'
      raise ValueError(
          f'{fn}: unlike other transforms it expects every leaf of `grads` to have a batch '
          f'axis 0 of the same size ({batch}); the leaf at {where} has shape {x.shape}.')
  return leaves, treedef, batch


def _check_clip(value: Any, name: str, fn: str) -> None:
  validation.check_range(value, name, low=0.0, fn=fn)


def _clip_and_sum(leaves: list, l2_norm_clip: Any) -> tuple[list, jax.Array]:
  """Clipped per-example sums of ``leaves`` and the number of examples that were clipped."""
  sq = sum(jnp.sum(tree_lib.abs_sq(tree_lib.upcast(x)).reshape(x.shape[0], -1), axis=1)
           for x in leaves)
  norms = jnp.sqrt(sq)
  # 0/0 (an all-zero example with a zero bound) keeps the example: factor 1.
  factors = jnp.nan_to_num(jnp.minimum(l2_norm_clip / norms, 1.0), nan=1.0)
  num_clipped = jnp.sum(factors < 1.0).astype(jnp.int32)
  # The factors are computed in float32 (for 16-bit leaves); the sums get the dtype optax's
  # factors (in the promoted dtype of all the leaves' norms) and the leaf promote to.
  real = [jnp.finfo(x.dtype).dtype if jnp.iscomplexobj(x) else x.dtype for x in leaves]
  factor_dtype = tree_lib.result_dtype(jnp.result_type(*real))
  sums = []
  for x in leaves:
    out_dtype = jnp.result_type(factor_dtype, x.dtype)
    total = jnp.tensordot(factors.astype(tree_lib.compute_dtype(out_dtype)),
                          tree_lib.upcast(x).astype(tree_lib.compute_dtype(out_dtype)), axes=1)
    sums.append(total.astype(out_dtype))
  return sums, num_clipped


def per_example_global_norm_clip(grads: chex.ArrayTree,
                                 l2_norm_clip: jax.typing.ArrayLike
                                 ) -> tuple[chex.ArrayTree, jax.Array]:
  r"""Clips every example's gradient to global L2 norm ``l2_norm_clip``, then sums the batch.

  With :math:`g_b` the gradient tree of example :math:`b` (slice ``b`` of every leaf's axis 0)
  and :math:`C` = ``l2_norm_clip``:

  .. math::
    s_b = \min\!\big(C / \|g_b\|_2,\ 1\big) \;(1 \text{ if } 0/0), \qquad
    \text{sum} = \textstyle\sum_b s_b\, g_b, \qquad n = \#\{b : s_b < 1\}

  Abadi et al., "Deep Learning with Differential Privacy", 2016,
  https://arxiv.org/abs/1607.00133.

  Args:
    grads: a tree whose every leaf has the batch on axis 0.
    l2_norm_clip: the largest global L2 norm of one example's gradient (``>= 0``).

  Returns:
    ``(sum, n)``: the tree of clipped sums (each leaf without its batch axis) and the number
    of clipped examples (int32 scalar).

  Raises:
    ValueError: if a leaf has no batch axis 0 of the common size (naming its path).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> grads = [jnp.array([[3.0, 4.0], [0.3, 0.4]])]  # example norms 5 and 0.5
    >>> sums, n = ox.per_example_global_norm_clip(grads, 1.0)
    >>> sums[0].tolist(), int(n)
    ([0.9000000357627869, 1.2000000476837158], 1)
  """
  fn = 'per_example_global_norm_clip'
  _check_clip(l2_norm_clip, 'l2_norm_clip', fn)
  leaves, treedef, _ = _batch_leaves(grads, fn)
  sums, num_clipped = _clip_and_sum(leaves, l2_norm_clip)
  return treedef.unflatten(sums), num_clipped


def per_example_layer_norm_clip(grads: chex.ArrayTree,
                                global_l2_norm_clip: jax.typing.ArrayLike,
                                uniform: bool = True
                                ) -> tuple[chex.ArrayTree, chex.ArrayTree]:
  r"""Clips every example's gradient layer by layer (leaf by leaf), then sums the batch.

  Each of the :math:`K` leaves ("layers") is clipped as ``per_example_global_norm_clip``
  would clip it alone, to its own bound :math:`C_i`, with :math:`C` = ``global_l2_norm_clip``:

  .. math::
    C_i = C / \sqrt{K} \;\; (\texttt{uniform}), \qquad
    C_i = C \sqrt{D_i / D} \;\; (\text{otherwise})

  where :math:`D_i` is the size of one example's slice of leaf :math:`i` and :math:`D` their
  sum. McMahan et al., "Learning Differentially Private Recurrent Language Models", 2017,
  https://arxiv.org/abs/1710.06963.

  Args:
    grads: a tree whose every leaf has the batch on axis 0.
    global_l2_norm_clip: the overall bound :math:`C` (``>= 0``).
    uniform: equal bounds for all leaves (True) or bounds by leaf size (False).

  Returns:
    ``(sums, counts)``: two trees with the structure of ``grads``, the clipped sums of each
    leaf and the number of examples clipped in each leaf (int32 scalars).

  Raises:
    ValueError: if a leaf has no batch axis 0 of the common size (naming its path).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> grads = [jnp.array([[0.5], [2.0]]), jnp.array([[3.0], [0.0]])]
    >>> sums, counts = ox.per_example_layer_norm_clip(grads, 2.0 ** 0.5)  # C_i = 1
    >>> [s.tolist() for s in sums], [int(c) for c in counts]
    ([[1.5], [1.0]], [1, 1])
  """
  fn = 'per_example_layer_norm_clip'
  _check_clip(global_l2_norm_clip, 'global_l2_norm_clip', fn)
  if not validation.is_bool(uniform):
    raise TypeError(f'{fn}: `uniform` must be a bool, got {type(uniform).__name__}.')
  leaves, treedef, _ = _batch_leaves(grads, fn)
  if uniform:
    bounds = [global_l2_norm_clip * (1.0 / len(leaves)) ** 0.5] * len(leaves)
  else:
    sizes = [x[0].size for x in leaves]
    total = sum(sizes)
    bounds = [global_l2_norm_clip * (size / total) ** 0.5 for size in sizes]
  sums, counts = [], []
  for x, bound in zip(leaves, bounds):
    (s,), n = _clip_and_sum([x], bound)
    sums.append(s)
    counts.append(n)
  return treedef.unflatten(sums), treedef.unflatten(counts)

"""Leaf boundaries inside the flat buckets of the fused path, for per-leaf reductions.

``fused.bucketed`` runs its inner transformation on one flat vector per bucket of leaves. A
transformation whose math is per leaf (``scale_by_trust_ratio``: one norm per leaf) asks here
where the leaves of each bucket start and end, and reduces over those segments (one reduction
per distinct leaf size: a bucket keeps its leaves ordered by size), so LARS and LAMB keep their
per-leaf semantics inside a bucket. The boundaries are set only while ``bucketed`` runs its
inner ``init``/``update`` (a trace-time context, like a ``with`` block); outside of it, or for a tree that is not that tuple of bucket vectors, ``match`` gives None and
the transformation works leaf by leaf as usual.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp

from optax_like._src import tree


class Segments(NamedTuple):
  """The leaves of one bucket vector: their sizes, in bucket order (they lie back to back)."""
  sizes: tuple

  @property
  def total(self) -> int:
    return sum(self.sizes)


_current = threading.local()


@contextlib.contextmanager
def within(buckets: Sequence[Segments]):
  """Declares the segments of each bucket vector for the duration of the block."""
  previous = getattr(_current, 'buckets', None)
  _current.buckets = tuple(buckets)
  try:
    yield
  finally:
    _current.buckets = previous


def match(tree: Any) -> Optional[tuple]:
  """The current buckets' segments if ``tree`` is the tuple of bucket vectors they describe.

  Positions that ``masked`` replaced by an empty node (a masked-out bucket) are allowed.
  """
  buckets = getattr(_current, 'buckets', None)
  if buckets is None or type(tree) is not tuple or len(tree) != len(buckets):
    return None
  for vector, seg in zip(tree, buckets):
    if not masked_out(vector) and tuple(getattr(vector, 'shape', (None,))) != (seg.total,):
      return None
  return buckets


def masked_out(entry: Any) -> bool:
  """Whether a position of the bucket tuple was masked out (``masked`` leaves an empty node)."""
  return not hasattr(entry, 'shape') and not jax.tree.leaves(entry)


class PerLeaf(NamedTuple):
  """One value per leaf of each bucket (e.g. trust ratios): a vector per bucket, in bucket order.

  A distinct node type, so ``fused.to_optax_state`` can give each leaf its own value back.
  """
  values: tuple


def runs(seg: Segments) -> list:
  """Maximal runs of consecutive leaves of one size: ``(start, count, size)``, all static.

  ``fused.bucketed`` orders a bucket's leaves by size, so there is one run per distinct size.
  """
  out: list = []
  start = 0
  for n in seg.sizes:
    if out and out[-1][2] == n:
      out[-1] = (out[-1][0], out[-1][1] + 1, n)
    else:
      out.append((start, 1, n))
    start += n
  return out


def sq_norms(vector: jax.Array, seg: Segments) -> jax.Array:
  """``||x_i||^2`` of every leaf of a bucket vector (float32 for 16-bit leaves), shape (leaves,).

  One reduction per run of equal-size leaves: a ``(count, size)`` view summed over its rows.
  """
  x = tree.abs_sq(tree.upcast(vector))
  parts = [jnp.sum(jnp.reshape(x[start:start + count * n], (count, n)), axis=1)
           for start, count, n in runs(seg)]
  return parts[0] if len(parts) == 1 else jnp.concatenate(parts)


def expand(values: jax.Array, seg: Segments) -> jax.Array:
  """A bucket-sized vector holding ``values[i]`` over leaf ``i``'s segment."""
  parts = []
  k = 0
  for _, count, n in runs(seg):
    block = jnp.broadcast_to(values[k:k + count, None], (count, n))
    parts.append(jnp.reshape(block, (count * n,)))
    k += count
  return parts[0] if len(parts) == 1 else jnp.concatenate(parts)

"""Leaf boundaries inside the flat buckets of the fused path, for per-leaf reductions.

``fused.bucketed`` runs its inner transformation on one flat vector per bucket of leaves. A
transformation whose math is per leaf (``scale_by_trust_ratio``: one norm per leaf) asks here
where the leaves of each bucket start and end, and reduces over those segments, so LARS and
LAMB keep their per-leaf semantics inside a bucket. The boundaries are set only while
``bucketed`` runs its inner ``init``/``update`` (a trace-time context, like a ``with`` block);
outside of it, or for a tree that is not that tuple of bucket vectors, ``match`` gives None and
the transformation works leaf by leaf as usual.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp


class Segments(NamedTuple):
  """The leaves of one bucket vector: where each starts (int32, runtime under jit) and its size."""
  offsets: tuple
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
  """The current buckets' segments if ``tree`` is the tuple of bucket vectors they describe."""
  buckets = getattr(_current, 'buckets', None)
  if buckets is None or type(tree) is not tuple or len(tree) != len(buckets):
    return None
  for vector, seg in zip(tree, buckets):
    if tuple(getattr(vector, 'shape', (None,))) != (seg.total,):
      return None
  return buckets


def pieces(vector: jax.Array, seg: Segments) -> list:
  """The leaves of a bucket vector, flat (a dynamic slice each: one compiled kernel per size)."""
  if len(seg.sizes) == 1:
    return [vector]
  return [jax.lax.dynamic_slice_in_dim(vector, o, n) for o, n in zip(seg.offsets, seg.sizes)]


def expand(values: Sequence[jax.Array], seg: Segments) -> jax.Array:
  """A bucket-sized vector holding ``values[i]`` over leaf ``i``'s segment."""
  if len(seg.sizes) == 1:
    return jnp.broadcast_to(values[0], (seg.total,))
  return jnp.concatenate([jnp.broadcast_to(v, (n,)) for v, n in zip(values, seg.sizes)])

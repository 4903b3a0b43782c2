"""Fused execution: the aliases' fast path over flat buckets of leaves, and a one-call step.

Why: on XLA a step over a tree of many small leaves runs (and compiles) several kernels per
leaf, so its time and compile time grow with the leaf count, not with the parameter count.
Running the optimizer on one flat vector per dtype for the small leaves cuts that to a few
kernels per bucket plus one output kernel per leaf (``docs/fused.md`` has the measurements).

* ``bucketed(inner)``: always buckets (refuses leaves it would have to gather).
* ``fast_path(inner, fused)``: what the aliases use. Its ``init`` buckets when that is safe and
  enabled, and otherwise returns ``inner``'s own state; ``update`` follows the state it is given.
* ``chain``: a fused alias chained with grouping-free transforms runs as one fast path.
* ``unbucket_state(state, params)``: a bucketed state in the tree (optax) layout.
* ``set_fused_default(False)`` (or ``OPTAX_LIKE_FUSED=0`` in the environment) switches the fast
  path off everywhere, for debugging; ``fused=False`` on an alias switches it off there.
* ``update_and_apply(tx, grads, state, params)``: one call returning ``(new_params, state)``.
"""

from __future__ import annotations

import contextlib
import os
import weakref
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from optax_like._src import base, masking, segments, tree, validation

_ENV_SWITCH = 'OPTAX_LIKE_FUSED'
_fused_default = os.environ.get(_ENV_SWITCH, '1').strip().lower() not in ('0', 'false', 'no', 'off')


def fused_default() -> bool:
  """Whether the aliases take the fused fast path when their ``fused`` argument is None."""
  return _fused_default


def set_fused_default(enabled: bool) -> bool:
  """Switches the aliases' fast path on or off for every later ``init``; returns the old value.

  The starting value is on, or off when the environment variable ``OPTAX_LIKE_FUSED`` is
  ``0``/``false``/``no``/``off``. A state already made keeps its layout: ``update`` follows
  the state it is given.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> old = ox.set_fused_default(False)
    >>> type(ox.adam(0.1).init({'w': jnp.ones(2)})).__name__   # the plain chain state
    'tuple'
    >>> _ = ox.set_fused_default(old)
  """
  global _fused_default
  if not isinstance(enabled, bool):
    raise TypeError(f'set_fused_default: `enabled` must be a bool, got {enabled!r}.')
  old, _fused_default = _fused_default, enabled
  return old


@contextlib.contextmanager
def default_off():
  """Within the block, ``init`` of aliases with ``fused=None`` takes the tree path."""
  old = set_fused_default(False)
  try:
    yield
  finally:
    set_fused_default(old)


def _layout(leaves: list, tags: list) -> list:
  """The leaf indices of each bucket, buckets in first-seen order.

  Small leaves are grouped by (dtype, tag) (the tag holds the leaf's mask values), ordered by
  size within the bucket; every larger leaf is alone in its bucket.
  """
  order: dict = {}
  for i, x in enumerate(leaves):
    key = (jnp.result_type(x).name, tags[i]) if np.size(x) <= tree.SMALL_LEAF else i
    order.setdefault(key, []).append(i)
  # Within a bucket, leaves of one size sit next to each other (stable by size), so a per-leaf
  # reduction is one (count, size) reduction per distinct size (``segments.runs``).
  return [sorted(idx, key=lambda i: int(np.size(leaves[i]))) for idx in order.values()]


def _selects_leaves(mask: Any) -> bool:
  """A mask that selects leaves (a tree or a callable), unlike None or a plain bool."""
  return mask is not None and not isinstance(mask, bool)


def _leaf_tags(masks: tuple, params: Any, n_leaves: int) -> list:
  """Per leaf, the value of every mask that selects leaves (a tuple of static bools)."""
  columns = [masking.leaf_mask_values(m, params) for m in masks if _selects_leaves(m)]
  return [tuple(column[i] for column in columns) for i in range(n_leaves)]


def _flat_masks(masks: tuple, bucket_tags: tuple) -> list:
  """The masks in the flat domain: one that selects leaves becomes a bool per bucket."""
  out, k = [], 0
  for mask in masks:
    if _selects_leaves(mask):
      out.append(tuple(tag[k] for tag in bucket_tags))
      k += 1
    else:
      out.append(mask)
  return out


def _buckets(leaves: list, members: list) -> tuple:
  return tuple(jnp.ravel(leaves[idx[0]]) if len(idx) == 1 else
               jnp.concatenate([jnp.ravel(leaves[i]) for i in idx]) for idx in members)


def _radix(max_run: int) -> tuple[int, int]:
  """(digits, base) of the leaf index within a run: two digits, ``base ** 2 >= max_run``.

  Two digits keep both the state small (``2 * base`` scalars: 64 for 1000 equal leaves) and the
  index arithmetic short (one add per leaf). In a one-off A/B while building this (clip+adam,
  1000 mixed leaves, 2 cores; the script was not kept) four digits compiled in 4.4 s against
  3.7 s for two, and one digit (a scalar per index, 304 state leaves) in 3.9 s, at the same
  step time.
  """
  base = 2
  while base * base < max_run:
    base += 1
  return 2, base


def _digit_values(max_run: int) -> tuple:
  """The runtime scalars ``v * base**k`` (one tuple per digit k, v = 0 .. base-1), int32."""
  digits, base = _radix(max_run)
  return tuple(tuple(jnp.asarray(v * base ** k, jnp.int32) for v in range(base))
               for k in range(digits))


def _leaf_offset(start: int, size: int, j: int, digit_values: tuple) -> jax.Array:
  """``start + size * j`` where ``j`` is summed from runtime digit scalars (see ``bucketed``)."""
  base = len(digit_values[0])
  index = None
  for k, values in enumerate(digit_values):
    term = values[(j // base ** k) % base]
    index = term if index is None else index + term
  return start + size * index


def _segments(leaves: list, members: list) -> list:
  """The sizes of the leaves of each bucket vector, for per-leaf reductions (``segments``)."""
  return [segments.Segments(sizes=tuple(int(np.size(leaves[i])) for i in idx))
          for idx in members]


@jax.tree_util.register_static
class BucketLayout:
  """The leaf indices (and mask values) of each bucket: static (no array leaves), in the state.

  ``update`` reads the layout from the state instead of re-deriving it from the leaves it gets,
  so gradients in another dtype than the parameters, or ``params=None``, cannot regroup them.
  """

  def __init__(self, members: Any, tags: Any):
    self.members = tuple(tuple(int(i) for i in idx) for idx in members)
    # Per bucket, the values of the masks that select leaves (all leaves of a bucket agree).
    self.tags = tuple(tuple(tag) for tag in tags)

  @property
  def n_leaves(self) -> int:
    return sum(len(idx) for idx in self.members)

  def __eq__(self, other):
    return (isinstance(other, BucketLayout) and other.members == self.members and
            other.tags == self.tags)

  def __hash__(self):
    return hash((self.members, self.tags))

  def __repr__(self):
    return f'BucketLayout({self.members}, tags={self.tags})'


class BucketedState(NamedTuple):
  """State of ``bucketed`` (and of ``fast_path`` when it buckets).

  Attributes:
    inner_state: the inner transformation's state over the tuple of flat bucket vectors (one
      per dtype, in first-seen order of ``jax.tree.leaves(params)``).
    digits: int32 scalars ``v * base**k`` (a tuple per digit ``k``): a leaf's position within
      its run of equal-size leaves is summed from them. Constant, but kept as runtime values on
      purpose (see ``bucketed``).
    layout: the leaves of each bucket (static: part of the tree structure, not an array).
  """
  inner_state: Any
  digits: tuple
  layout: BucketLayout


def bucketed(inner: base.GradientTransformation) -> base.GradientTransformationExtraArgs:
  r"""Runs ``inner`` on flat vectors: one per dtype for the small leaves, one per larger leaf.

  .. math::
    v_b = [\mathrm{vec}(x_i)]_{i \in b}, \qquad
    (u_{\mathrm{flat}}, s) = \mathrm{inner}((v_b(g))_b, s, (v_b(p))_b), \qquad
    u_i = \mathrm{unvec}(u_{\mathrm{flat}, b(i)})_i

  Leaves of up to ``tree.SMALL_LEAF`` (4096) elements are grouped by dtype (ordered by size
  within a bucket), and every larger leaf is a bucket of its own (None leaves are skipped and
  stay None); ``inner`` sees a tuple of 1-D arrays, one per bucket, and its state holds one flat
  array per bucket (``mu`` of ``adam`` is a tuple of vectors). The state is
  ``BucketedState(inner_state, digits, layout)``. Each leaf comes out of its bucket vector as a
  ``dynamic_slice`` at ``start + size * j``, with ``start`` and ``size`` those of its run of
  equal-size leaves and ``j`` its index in the run, summed from a few int32 scalars held in the
  state (``j = sum_k d_k(j) base**k``, each term a runtime value). Under ``jit`` every leaf of a
  run is then the same computation on other inputs, so XLA compiles one slice kernel per run
  instead of one per leaf (XLA compiles a kernel per distinct fusion; a constant offset would
  make each slice distinct), and the state holds ~2 sqrt(n) scalars instead of n (each
  buffer costs ~2 us per call). Leaves that are split over several devices, or placed
  on different devices, are refused with a ValueError: a bucket never gathers.

  ``inner`` must not depend on how elements are grouped into leaves, except through
  ``segments``: elementwise transforms (``adam``, ``sgd``, ``rmsprop``, ...), global reductions
  (``clip_by_global_norm``) and our ``scale_by_trust_ratio`` (which reduces over each leaf's
  segment of the bucket while ``bucketed`` runs it) give the tree path's numbers; other per-leaf
  reductions (``clip_by_norm``, ``clip_by_block_rms``, optax's own trust ratio) and tree masks
  would see a whole bucket as one leaf. Each update leaf comes back in the dtype the inner
  transformation produced for its bucket, as on the tree path.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like._src import alias, fused
    >>> tx = fused.bucketed(alias.sgd(0.5, fused=False))
    >>> p = {'a': jnp.ones((2, 2)), 'b': jnp.ones(3, jnp.bfloat16)}
    >>> s = tx.init(p)
    >>> u, s = tx.update(p, s)
    >>> u['a'].shape, u['b'].dtype.name, u['b'].tolist()
    ((2, 2), 'bfloat16', [-0.5, -0.5, -0.5])
  """
  validation.check_transformation(inner, 'bucketed: `inner`')
  return _bucketed(lambda: inner, ())


def _bucketed(make_inner: Callable[..., base.GradientTransformation],
              masks: tuple) -> base.GradientTransformationExtraArgs:
  """The engine of ``bucketed``: ``make_inner(*masks)`` over flat buckets.

  Leaves are also grouped by the values of the ``masks`` that select leaves, and the inner
  transformation is built with those masks turned into one bool per bucket.
  """
  def flat_inner(bucket_tags):
    return base.with_extra_args_support(make_inner(*_flat_masks(masks, bucket_tags)))

  def init_fn(params):
    leaves = jax.tree.leaves(params)
    if not tree.replicated_alike(leaves, trust_traced=True):
      raise ValueError(
          'bucketed: the parameters are split over several devices or placed on different '
          'devices; concatenating them would gather them. Use the tree path (`fused=False`, '
          'or no `bucketed`) for sharded parameters.')
    tags = _leaf_tags(masks, params, len(leaves))
    members = _layout(leaves, tags)
    layout = BucketLayout(members, [tags[idx[0]] for idx in members])
    segs = _segments(leaves, members)
    with segments.within(segs):
      inner_state = flat_inner(layout.tags).init(_buckets(leaves, members))
    max_run = max((count for seg in segs for _, count, _ in segments.runs(seg)), default=1)
    return BucketedState(inner_state=inner_state, digits=_digit_values(max_run), layout=layout)

  def update_fn(updates, state, params=None, **extra_args):
    u_leaves, treedef = jax.tree.flatten(updates)
    n = state.layout.n_leaves
    if len(u_leaves) != n:
      raise ValueError(f'bucketed: the state was built for {n} leaves but `updates` has '
                       f'{len(u_leaves)}.')
    p_leaves = None if params is None else jax.tree.leaves(params)
    if p_leaves is not None and (len(p_leaves) != n or any(
        np.shape(a) != np.shape(b) for a, b in zip(p_leaves, u_leaves))):
      raise ValueError('bucketed: `updates` and `params` must have leaves of the same shapes '
                       'in the same order.')
    members = state.layout.members
    flat_u = _buckets(u_leaves, members)
    flat_p = None if params is None else _buckets(p_leaves, members)
    segs = _segments(u_leaves, members)
    with segments.within(segs):
      new_flat, inner_state = flat_inner(state.layout.tags).update(
          flat_u, state.inner_state, flat_p, **extra_args)
    out = [None] * len(u_leaves)
    for b, (idx, seg) in enumerate(zip(members, segs)):
      if len(idx) == 1:  # a bucket of one leaf: its vector is the leaf, no slice at all
        out[idx[0]] = jnp.reshape(new_flat[b], np.shape(u_leaves[idx[0]]))
        continue
      position = 0
      for start, count, size in segments.runs(seg):
        for j in range(count):
          i = idx[position + j]
          piece = jax.lax.dynamic_slice_in_dim(
              new_flat[b], _leaf_offset(start, size, j, state.digits), size)
          out[i] = jnp.reshape(piece, np.shape(u_leaves[i]))
        position += count
    return jax.tree.unflatten(treedef, out), state._replace(inner_state=inner_state)

  return base.GradientTransformationExtraArgs(init_fn, update_fn)


def fast_path(inner: base.GradientTransformation, fused: Optional[bool] = None, *,
              make_inner: Optional[Callable[..., base.GradientTransformation]] = None,
              masks: tuple = ()) -> base.GradientTransformationExtraArgs:
  r"""``bucketed(inner)`` where that is safe and switched on, otherwise ``inner`` itself.

  .. math::
    \mathrm{init}(p) = \begin{cases} \mathrm{bucketed(inner).init}(p) & \text{fused and the
    leaves are replicated alike} \\ \mathrm{inner.init}(p) & \text{otherwise} \end{cases}

  ``fused=None`` reads ``fused_default()`` at ``init``. ``init`` buckets only when
  ``tree.replicated_alike`` holds for the parameters: concrete arrays on one device (or
  replicated over one device set), or traced ones in a process with a single device. Sharded
  parameters, and parameters traced under ``jit`` in a multi-device process, get ``inner``'s
  own state (the tree path), so a bucket never gathers and state stays sharded like its
  parameter. ``update`` follows the state it is given: a ``BucketedState`` runs the bucketed
  update, any other state the tree path. Both give the same numbers (to float32 rounding).

  Masks: when ``inner`` is ``make_inner(*masks)`` and some of ``masks`` select leaves (trees
  of bools or callables, as ``masked`` takes), pass ``make_inner`` and ``masks``: leaves are
  then also bucketed by their mask values (read from the params at ``init``), and the
  bucketed computation runs ``make_inner`` with each such mask turned into one bool per
  bucket. A mask that cannot be read as static bools keeps the tree path.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like._src import alias, fused
    >>> tx = fused.fast_path(alias.adam(0.1, fused=False))
    >>> type(tx.init({'w': jnp.ones(2)})).__name__
    'BucketedState'
    >>> type(fused.fast_path(alias.adam(0.1, fused=False), False).init({'w': jnp.ones(2)})).__name__
    'tuple'
  """
  if fused is not None and not isinstance(fused, bool):
    raise TypeError(f'`fused` must be True, False or None, got {fused!r}.')
  if make_inner is None:
    make_inner, masks = (lambda: inner), ()
  masks = tuple(masks)
  inner = base.with_extra_args_support(inner)
  flat = _bucketed(make_inner, masks)

  def masks_are_static(params) -> bool:
    try:
      _leaf_tags(masks, params, len(jax.tree.leaves(params)))
    except (TypeError, ValueError):  # the tree path reports a bad mask in its own words
      return False
    return True

  def init_fn(params):
    enabled = fused_default() if fused is None else fused
    if (enabled and tree.replicated_alike(jax.tree.leaves(params))
        and masks_are_static(params)):
      return flat.init(params)
    return inner.init(params)

  def update_fn(updates, state, params=None, **extra_args):
    tx = flat if isinstance(state, BucketedState) else inner
    return tx.update(updates, state, params, **extra_args)

  _FAST_PATHS[update_fn] = (make_inner, masks, fused)
  return base.GradientTransformationExtraArgs(init_fn, update_fn)


# The (make_inner, masks, fused) of every ``fast_path`` transformation, keyed by its update
# function, so that ``chain`` can merge fused members.
_FAST_PATHS: 'weakref.WeakKeyDictionary' = weakref.WeakKeyDictionary()


def chain(*args: base.GradientTransformation) -> base.GradientTransformationExtraArgs:
  r"""Applies transformations in sequence; the state is the tuple of their states.

  .. math::
    (u, s_i) \leftarrow \mathrm{tx}_i(u, s_i, p), \quad i = 1, \dots, n

  When at least one member is a fused alias (``fast_path``) and every other member does not
  depend on how elements are grouped into leaves (``clip_by_global_norm``, ``clip``,
  ``scale``, ``scale_by_learning_rate``, ``add_decayed_weights`` without a mask, ``trace``,
  ``ema``, ``scale_by_trust_ratio``, ``identity``), the whole chain runs as one fast path:
  ``fast_path(chain(members' inner chains))``. Same numbers (to float32 rounding), but one
  bucketed computation instead of a tree-path member feeding a bucketed one, so e.g.
  ``chain(clip_by_global_norm(1.0), adam(1e-3))`` compiles and runs like a single fused
  optimizer. Its state is then one ``BucketedState`` whose ``inner_state`` is the tuple of the
  members' states (``unbucket_state`` gives the tree layout); when the fast path does not
  apply (sharded parameters, ``fused=False``), it is the plain chain's tuple.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> tx = ox.chain(ox.clip(1.0), ox.scale(-0.5))
    >>> tx.update(jnp.array([3.0, 0.2]), tx.init(None))[0].tolist()
    [-0.5, -0.10000000149011612]
    >>> type(ox.chain(ox.clip_by_global_norm(1.0), ox.adam(0.1)).init([jnp.ones(2)])).__name__
    'BucketedState'
  """
  fast = [_FAST_PATHS.get(getattr(tx, 'update', None)) if callable(getattr(tx, 'update', None))
          else None for tx in args]
  flags = {f[2] for f in fast if f is not None}
  mergeable = len(flags) == 1 and all(
      f is not None or base.is_grouping_free(tx) for tx, f in zip(args, fast))
  if not mergeable:
    return base.chain(*args)
  parts = [(f[0], f[1]) if f is not None else ((lambda tx=tx: tx), ())
           for tx, f in zip(args, fast)]
  all_masks = tuple(m for _, masks in parts for m in masks)

  def make_chain(*masks):
    members, k = [], 0
    for make_member, member_masks in parts:
      members.append(make_member(*masks[k:k + len(member_masks)]))
      k += len(member_masks)
    return base.chain(*members)

  return fast_path(make_chain(*all_masks), flags.pop(), make_inner=make_chain, masks=all_masks)


def unbucket_state(state: Any, params: Any) -> Any:
  """The tree-path (optax) layout of a state: every flat bucket vector split back into leaves.

  ``state`` is a ``BucketedState`` (anything else is returned as it is) and ``params`` the
  parameters it was made for. Every tuple of bucket vectors in the inner state (``mu``, ``nu``,
  ``trace``, ...) becomes a tree shaped like ``params``, every ``segments.PerLeaf`` (trust
  ratios) a tree of per-leaf scalars; counts and other scalars stay. The
  result has the structure that ``inner.init(params)`` would have given, e.g. to compare with
  optax's state or to write an optax-layout checkpoint.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> p = {'a': jnp.ones(2), 'b': jnp.ones((1, 1))}
    >>> opt = ox.sgd(0.1, momentum=0.9)
    >>> s = opt.update(p, opt.init(p), p)[1]
    >>> ox.unbucket_state(s, p)[0].trace['b'].tolist()
    [[1.0]]
  """
  if not isinstance(state, BucketedState):
    return state
  leaves, treedef = jax.tree.flatten(params)
  members = state.layout.members
  if len(leaves) != state.layout.n_leaves:
    raise ValueError(f'unbucket_state: the state was built for {state.layout.n_leaves} '
                     f'leaves but `params` has {len(leaves)}.')
  sizes = [sum(int(np.size(leaves[i])) for i in idx) for idx in members]

  def shaped_as(x, lengths):
    return (type(x) is tuple and len(x) == len(members) and
            all(tuple(getattr(v, 'shape', ())) == (n,) for v, n in zip(x, lengths)))

  def is_buckets(x):
    return shaped_as(x, sizes) or isinstance(x, segments.PerLeaf)

  def to_tree(x):
    out = [None] * len(leaves)
    if isinstance(x, segments.PerLeaf):  # a vector of per-leaf values per bucket: one each
      for b, idx in enumerate(members):
        for k, i in enumerate(idx):  # a masked-out bucket's entry stands for each of its leaves
          out[i] = x.values[b] if segments.masked_out(x.values[b]) else x.values[b][k]
    elif shaped_as(x, sizes):  # bucket vectors (mu, nu, trace, ...): split into the leaves
      for b, idx in enumerate(members):
        start = 0
        for i in idx:
          n = int(np.size(leaves[i]))
          out[i] = jnp.reshape(x[b][start:start + n], np.shape(leaves[i]))
          start += n
    else:
      return x
    return jax.tree.unflatten(treedef, out)

  return jax.tree.map(to_tree, state.inner_state, is_leaf=is_buckets)


def update_and_apply(tx: base.GradientTransformation, grads: Any, state: Any, params: Any,
                     **extra_args) -> tuple[Any, Any]:
  r"""One optimizer step that returns the new parameters: ``(apply_updates(p, u), state)``.

  .. math::
    (u, s') = \mathrm{tx.update}(g, s, p), \qquad p' = p + u

  The update is never handed back to the caller, so under ``jax.jit`` (with ``params`` and
  ``state`` donated) XLA can fuse the parameter write into the update's last kernel.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like._src import alias, fused
    >>> tx = alias.sgd(0.5)
    >>> p = jnp.ones(2)
    >>> p, s = fused.update_and_apply(tx, jnp.ones(2), tx.init(p), p)
    >>> p.tolist()
    [0.5, 0.5]
  """
  validation.check_transformation(tx, 'update_and_apply: `tx`')
  if extra_args:
    tx = base.with_extra_args_support(tx)
  updates, state = tx.update(grads, state, params, **extra_args)
  return tree.apply_updates(params, updates), state

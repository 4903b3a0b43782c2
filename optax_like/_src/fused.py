"""Fused execution: ``fused(tx)`` runs an optimizer over flat buckets of leaves.

Why: on XLA a step over a tree of many small leaves runs (and compiles) several kernels per
leaf, so its time and compile time grow with the leaf count, not with the parameter count.
Running the optimizer on one flat vector per dtype for the small leaves cuts that to a few
kernels per bucket plus one output kernel per leaf (``docs/fused.md`` has the measurements).

Fusion is an execution strategy the user asks for, never a storage format imposed on them:
every alias and ``chain`` keeps optax's state; only ``fused(tx)`` has the bucketed state below.

Public surface (re-exported at the top level):

* ``fused(tx)``: ``tx`` run bucketed, same numbers as ``tx`` (to float32 rounding).
* ``to_fused_state(tx, state, params)`` / ``to_optax_state(tx, state, params)``: convert a
  state between the optax layout of the unfused optimizer and the layout of ``fused(...)``,
  so a run can switch either way mid-training.
* ``update_and_apply(tx, grads, state, params)``: one call returning ``(new_params, state)``.

Everything else here is private. ``recipe`` and ``base.chain_members`` tell ``fused`` how a
transformation is built, so it can rebuild it over buckets.
"""

from __future__ import annotations

import hashlib
import weakref
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from optax_like._src import base, masking, segments, tree, validation

# The two keys of a fused state (a plain dict; see ``fused``).
INNER_STATE = 'inner_state'
LEAF_INDEX = 'leaf_index'


# --------------------------------------------------------------------------- how a tx is built

# ``make(*masks)`` and ``masks`` of transformations built with masks that select leaves (the
# aliases ``adamw``, ``lars``, ...), keyed by their update function: ``fused`` rebuilds them with
# each such mask turned into one bool per bucket.
_RECIPES: 'weakref.WeakKeyDictionary' = weakref.WeakKeyDictionary()
# The masks of every ``fused`` transformation (what its layout depends on besides the params),
# keyed by its update function; also how ``fused`` and the conversions recognise one.
_FUSED: 'weakref.WeakKeyDictionary' = weakref.WeakKeyDictionary()


def recipe(tx: base.GradientTransformation, make: Callable[..., base.GradientTransformation],
           masks: tuple = ()) -> base.GradientTransformation:
  """Records that ``tx`` is ``make(*masks)``, so ``fused`` can rebuild it over buckets; returns tx.

  ``make`` must build a transformation that does not depend on how elements are grouped into
  leaves when each mask that selects leaves (a tree of bools or a callable) is replaced by one
  bool per bucket: chains of elementwise transforms, global reductions and
  ``scale_by_trust_ratio`` (per-leaf norms as segment reductions, ``segments``).
  """
  _RECIPES[tx.update] = (make, tuple(masks))
  return tx


def _lookup(registry: Any, fn: Any) -> Any:
  try:
    return registry.get(fn)
  except TypeError:  # not weak-referenceable: not ours
    return None


def _describe(tx: Any) -> str:
  """A readable name for a transformation: the function that built it (``clip_by_norm``)."""
  update = getattr(tx, 'update', None)
  name = getattr(update, '__qualname__', None) or type(tx).__name__
  name = name.split('.<locals>')[0]
  module = getattr(update, '__module__', '') or ''
  return f'optax.{name}' if module.split('.')[0] == 'optax' else name


def _plan(tx: Any, where: str) -> tuple:
  """``(make, masks)`` with ``make(*masks)`` equal to ``tx``, every part runnable over buckets."""
  update = getattr(tx, 'update', None)
  if _lookup(_FUSED, update) is not None:
    raise ValueError(f'fused: {where} is already fused; wrap the unfused transformation once.')
  found = _lookup(_RECIPES, update)
  if found is not None:
    return found
  members = base.chain_members(tx)
  if members is not None:
    plans = [_plan(m, f'{where}, chain member {i}')
             for i, m in enumerate(members)]
    all_masks = tuple(m for _, masks in plans for m in masks)

    def make_chain(*masks):
      built, k = [], 0
      for make_member, member_masks in plans:
        built.append(make_member(*masks[k:k + len(member_masks)]))
        k += len(member_masks)
      return base.chain(*built)

    return make_chain, all_masks
  if base.is_grouping_free(tx):
    return (lambda: tx), ()
  raise ValueError(
      f'fused: {where} ({_describe(tx)}) cannot run over flat buckets of leaves: its result '
      'depends on how elements are grouped into leaves, or it is not known to fused. fused '
      'runs the aliases (sgd, adam, adamw, lars, ...), chain, and elementwise or global '
      'transforms (clip, clip_by_global_norm, scale, scale_by_adam, trace, ...); keep this '
      'transformation unfused.')


# --------------------------------------------------------------------------- buckets


def _selects_leaves(mask: Any) -> bool:
  """A mask that selects leaves (a tree or a callable), unlike None or a plain bool."""
  return mask is not None and not isinstance(mask, bool)


def _leaf_tags(masks: tuple, params: Any, n_leaves: int) -> list:
  """Per leaf, the value of every mask that selects leaves (a tuple of static bools)."""
  columns = [masking.leaf_mask_values(m, params, 'fused') for m in masks if _selects_leaves(m)]
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


def _dtype_name(x: Any) -> str:
  return jnp.result_type(getattr(x, 'dtype', x)).name


class _Layout:
  """Which leaves share which bucket, for one params tree: a function of its structure, leaf
  shapes and dtypes and the mask values, and nothing else.

  Small leaves (up to ``tree.SMALL_LEAF`` elements) are grouped by (dtype, mask values) and
  ordered by size within a bucket (so a per-leaf reduction is one ``(count, size)`` reduction
  per distinct size, ``segments.runs``); every larger leaf is a bucket of its own.
  """

  def __init__(self, leaves: list, treedef: Any, tags: list):
    order: dict = {}
    for i, x in enumerate(leaves):
      key = (_dtype_name(x), tags[i]) if np.size(x) <= tree.SMALL_LEAF else i
      order.setdefault(key, []).append(i)
    self.members = [sorted(idx, key=lambda i: int(np.size(leaves[i]))) for idx in order.values()]
    self.tags = tuple(tags[idx[0]] for idx in self.members)
    self.shapes = [tuple(np.shape(x)) for x in leaves]
    self.segments = [segments.Segments(sizes=tuple(int(np.size(leaves[i])) for i in idx))
                     for idx in self.members]
    description = repr((str(treedef), self.shapes, [_dtype_name(x) for x in leaves], tags))
    # The key of the state's ``leaf_index`` entry: a state is only ever used with this layout.
    self.key = hashlib.sha1(description.encode()).hexdigest()[:16]

  @property
  def n_leaves(self) -> int:
    return len(self.shapes)

  def max_run(self) -> int:
    return max((count for seg in self.segments for _, count, _ in segments.runs(seg)),
               default=1)


def _layout_of(masks: tuple, tree_: Any) -> tuple:
  leaves, treedef = jax.tree.flatten(tree_)
  return _Layout(leaves, treedef, _leaf_tags(masks, tree_, len(leaves))), leaves, treedef


def _buckets(leaves: list, layout: _Layout) -> tuple:
  """One flat vector per bucket (abstract ``ShapeDtypeStruct`` leaves give abstract vectors)."""
  out = []
  for idx in layout.members:
    if any(isinstance(leaves[i], jax.ShapeDtypeStruct) for i in idx):
      out.append(jax.ShapeDtypeStruct((sum(int(np.size(leaves[i])) for i in idx),),
                                      jnp.result_type(*[leaves[i].dtype for i in idx])))
    elif len(idx) == 1:
      out.append(jnp.ravel(leaves[idx[0]]))
    else:
      out.append(jnp.concatenate([jnp.ravel(leaves[i]) for i in idx]))
  return tuple(out)


def _radix(max_run: int) -> tuple[int, int]:
  """(digits, base) of the leaf index within a run: two digits, ``base ** 2 >= max_run``.

  Two digits keep both the state small (``2 * base`` scalars: 64 for 1000 equal leaves) and the
  index arithmetic short (one add per leaf). In a one-off A/B while building this (clip+adam,
  1000 mixed leaves, 2 cores; the script was not kept) four digits compiled in 4.4 s against
  3.7 s for two, and one digit (a scalar per index, 304 state leaves) in 3.9 s, at the same
  step time.
  """
  base_ = 2
  while base_ * base_ < max_run:
    base_ += 1
  return 2, base_


def _digit_values(max_run: int) -> tuple:
  """The runtime scalars ``v * base**k`` (one tuple per digit k, v = 0 .. base-1), int32."""
  digits, base_ = _radix(max_run)
  return tuple(tuple(jnp.asarray(v * base_ ** k, jnp.int32) for v in range(base_))
               for k in range(digits))


def _leaf_offset(start: int, size: int, j: int, digit_values: tuple) -> jax.Array:
  """``start + size * j`` where ``j`` is summed from runtime digit scalars (see ``fused``)."""
  base_ = len(digit_values[0])
  index = None
  for k, values in enumerate(digit_values):
    term = values[(j // base_ ** k) % base_]
    index = term if index is None else index + term
  return start + size * index


def _unbucket(flat: tuple, layout: _Layout, digits: tuple, out_shapes: list) -> list:
  """The leaves of the bucket vectors ``flat``, each a runtime-offset slice of its bucket."""
  out = [None] * layout.n_leaves
  for b, (idx, seg) in enumerate(zip(layout.members, layout.segments)):
    if len(idx) == 1:  # a bucket of one leaf: its vector is the leaf, no slice at all
      out[idx[0]] = jnp.reshape(flat[b], out_shapes[idx[0]])
      continue
    position = 0
    for start, count, size in segments.runs(seg):
      for j in range(count):
        i = idx[position + j]
        piece = jax.lax.dynamic_slice_in_dim(flat[b], _leaf_offset(start, size, j, digits), size)
        out[i] = jnp.reshape(piece, out_shapes[i])
      position += count
  return out


# --------------------------------------------------------------------------- fused


def fused(tx: base.GradientTransformation) -> base.GradientTransformationExtraArgs:
  r"""``tx`` run over flat buckets of leaves: the same updates, fewer and larger kernels.

  .. math::
    v_b = [\mathrm{vec}(x_i)]_{i \in b}, \qquad
    (u_{\mathrm{flat}}, s) = \mathrm{tx}((v_b(g))_b, s, (v_b(p))_b), \qquad
    u_i = \mathrm{unvec}(u_{\mathrm{flat}, b(i)})_i

  Leaves of up to 4096 elements are grouped by dtype (and by the values of any masks that
  select leaves, such as ``adamw``'s ``mask``), ordered by size within a bucket; every larger
  leaf is a bucket of its own; None leaves stay None. ``tx`` must be built from the aliases
  (``sgd``, ``adam``, ``adamw``, ``nadam``, ``amsgrad``, ``rmsprop``, ``lion``, ``adagrad``,
  ``lars``, ``lamb``), ``chain`` and transformations that do not depend on how elements are
  grouped into leaves (``clip``, ``clip_by_global_norm``, ``scale``, ``scale_by_adam``,
  ``trace``, ``add_decayed_weights``, ...); per-leaf trust ratios (``lars``, ``lamb``,
  ``scale_by_trust_ratio``) become one norm per leaf segment of a bucket. Anything else
  (``clip_by_norm``, ``masked``, ``inject_hyperparams``, an optax transform, ...) raises a
  ValueError here that names it. Updates equal ``tx``'s to float32 rounding (tested).

  The state is a plain dict of arrays, tuples and dicts (it round-trips through
  ``flax.serialization``, orbax and pickle), a function of ``(tx, params tree)`` only::

    {'inner_state': tx's state over the tuple of bucket vectors (``mu`` of ``adam`` is a
                    tuple of flat vectors, one per bucket; counts stay scalars),
     'leaf_index': {key: ((int32 scalars), (int32 scalars))}}

  ``key`` is a digest of the params' tree structure, leaf shapes, dtypes and mask values:
  ``update`` recomputes it from the gradients (dtypes from ``params`` when given) and refuses
  a state built for another tree. The int32 scalars are ``v * base**k``: a leaf's offset in its
  bucket is summed from them at run time, so under ``jit`` all leaves of a run of equal sizes
  share one compiled slice kernel (a constant offset would compile one kernel per leaf).
  ``to_optax_state`` and ``to_fused_state`` convert to and from ``tx``'s own (optax) layout.

  Parameters split over several devices, or placed on different devices, are refused:
  concatenating them would gather them (keep such runs unfused; the plain path keeps state
  sharded like its parameters).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> opt = ox.fused(ox.chain(ox.clip_by_global_norm(1.0), ox.sgd(0.5)))
    >>> p = {'a': jnp.ones((2, 2)), 'b': jnp.ones(3, jnp.bfloat16)}
    >>> state = opt.init(p)
    >>> sorted(state)
    ['inner_state', 'leaf_index']
    >>> u, state = opt.update({'a': jnp.zeros((2, 2)), 'b': jnp.full(3, 0.1, jnp.bfloat16)},
    ...                       state, p)
    >>> u['a'].shape, u['b'].dtype.name, u['b'].tolist()
    ((2, 2), 'bfloat16', [-0.050048828125, -0.050048828125, -0.050048828125])
  """
  validation.check_transformation(tx, 'fused: `tx`')
  make, masks = _plan(tx, '`tx`')

  def flat_inner(bucket_tags):
    return base.with_extra_args_support(make(*_flat_masks(masks, bucket_tags)))

  def init_fn(params):
    layout, leaves, _ = _layout_of(masks, params)
    if not tree.replicated_alike(leaves, trust_traced=True):
      raise ValueError(
          'fused: the parameters are split over several devices or placed on different '
          'devices; concatenating them would gather them. Use the unfused transformation '
          '(its state is sharded like the parameters).')
    with segments.within(layout.segments):
      inner_state = flat_inner(layout.tags).init(_buckets(leaves, layout))
    return {INNER_STATE: inner_state,
            LEAF_INDEX: {layout.key: _digit_values(layout.max_run())}}

  def update_fn(updates, state, params=None, **extra_args):
    _check_state(state, 'update')
    u_leaves, treedef = jax.tree.flatten(updates)
    if params is not None:
      p_leaves, p_treedef = jax.tree.flatten(params)
      if p_treedef != treedef or any(np.shape(a) != np.shape(b)
                                     for a, b in zip(p_leaves, u_leaves)):
        raise ValueError('fused: `updates` and `params` must have the same tree structure and '
                         f'leaf shapes; got {treedef} and {p_treedef}.')
      layout = _Layout(p_leaves, treedef, _leaf_tags(masks, params, len(p_leaves)))
    else:
      layout = _Layout(u_leaves, treedef, _leaf_tags(masks, updates, len(u_leaves)))
    (key, digits), = state[LEAF_INDEX].items()
    if key != layout.key:
      raise ValueError(
          'fused: `state` was built for parameters with another tree structure, leaf shapes, '
          'dtypes or mask values than these `updates`'
          + ('' if params is not None else ' (dtypes were read from `updates`: pass `params` '
                                           'if the gradients have other dtypes)')
          + '; call init with these parameters, or convert the state with to_optax_state / '
            'to_fused_state.')
    flat_p = None if params is None else _buckets(p_leaves, layout)
    with segments.within(layout.segments):
      new_flat, inner_state = flat_inner(layout.tags).update(
          _buckets(u_leaves, layout), state[INNER_STATE], flat_p, **extra_args)
    out = _unbucket(new_flat, layout, digits, layout.shapes)
    return (jax.tree.unflatten(treedef, out),
            {INNER_STATE: inner_state, LEAF_INDEX: state[LEAF_INDEX]})

  result = base.GradientTransformationExtraArgs(init_fn, update_fn)
  _FUSED[update_fn] = masks
  return result


def _check_state(state: Any, fn: str) -> None:
  """A fused state: a dict with exactly the two keys, one layout key."""
  if (not isinstance(state, dict) or set(state) != {INNER_STATE, LEAF_INDEX}
      or not isinstance(state[LEAF_INDEX], dict) or len(state[LEAF_INDEX]) != 1):
    raise ValueError(
        f'fused: {fn} got a `state` that is not a fused state (a dict with keys '
        f"'{INNER_STATE}' and '{LEAF_INDEX}'), but a {type(state).__name__}: was it made by "
        "another optimizer, or is it in the unfused (optax) layout? to_fused_state converts "
        'an optax-layout state.')


# --------------------------------------------------------------------------- conversions


def _fused_masks(tx: Any, fn: str) -> tuple:
  found = _lookup(_FUSED, getattr(tx, 'update', None))
  if found is None:
    raise TypeError(f'{fn}: `tx` must be a transformation returned by fused(...), got '
                    f'{_describe(tx)}.')
  return found


def _shaped_as(x: Any, lengths: list) -> bool:
  """A tuple of bucket vectors (mu, nu, trace, ...) of the given lengths."""
  return (type(x) is tuple and len(x) == len(lengths) and len(lengths) > 0 and
          all(tuple(getattr(v, 'shape', ())) == (n,) for v, n in zip(x, lengths)))


def _bucket_lengths(layout: _Layout) -> list:
  return [seg.total for seg in layout.segments]


def to_optax_state(tx: base.GradientTransformation, state: Any, params: Any) -> Any:
  """The state of the unfused optimizer (optax's layout) that a ``fused(...)`` state stands for.

  ``tx`` is the ``fused(...)`` transformation, ``state`` its state and ``params`` the
  parameters it was made for. Every tuple of bucket vectors (``mu``, ``nu``, ``trace``, ...)
  becomes a tree shaped like ``params``, every tuple of per-leaf values (trust-ratio reports)
  a tree of per-leaf scalars; counts and other scalars stay. The result has the structure
  (and values) that the unfused optimizer's own state would have, so a run can go on
  unfused, or write an optax-layout checkpoint. The inverse is ``to_fused_state``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> p = {'a': jnp.ones(2), 'b': jnp.ones((1, 1))}
    >>> opt = ox.fused(ox.sgd(0.1, momentum=0.9))
    >>> state = opt.update(p, opt.init(p), p)[1]
    >>> ox.to_optax_state(opt, state, p)[0].trace['b'].tolist()
    [[1.0]]
  """
  fn = 'to_optax_state'
  masks = _fused_masks(tx, fn)
  _check_state(state, fn)
  layout, leaves, treedef = _layout_of(masks, params)
  if next(iter(state[LEAF_INDEX])) != layout.key:
    raise ValueError(f'{fn}: `state` was built for parameters with another tree structure, '
                     'leaf shapes, dtypes or mask values than `params`.')
  lengths = _bucket_lengths(layout)

  def is_node(x):
    return _shaped_as(x, lengths) or isinstance(x, segments.PerLeaf)

  def to_tree(x):
    if not is_node(x):
      return x
    out = [None] * layout.n_leaves
    for b, idx in enumerate(layout.members):
      if isinstance(x, segments.PerLeaf):  # one value per leaf of each bucket
        for k, i in enumerate(idx):  # a masked-out bucket's entry stands for each of its leaves
          out[i] = x.values[b] if segments.masked_out(x.values[b]) else x.values[b][k]
      else:  # bucket vectors: split into the leaves
        start = 0
        for i in idx:
          n = int(np.size(leaves[i]))
          out[i] = jnp.reshape(x[b][start:start + n], layout.shapes[i])
          start += n
    return jax.tree.unflatten(treedef, out)

  return jax.tree.map(to_tree, state[INNER_STATE], is_leaf=is_node)


def to_fused_state(tx: base.GradientTransformation, state: Any, params: Any) -> Any:
  """The ``fused(...)`` state that stands for an unfused (optax-layout) state.

  ``tx`` is the ``fused(...)`` transformation, ``state`` a state of the transformation it wraps
  (ours or optax's: leaves are matched by their key paths, so optax's own state classes are
  accepted), ``params`` the parameters. Every tree shaped like ``params`` in ``state`` becomes a
  tuple of bucket vectors; other leaves are kept. ``to_optax_state`` is the inverse, so a run
  can switch to the fused path mid-training and back, bit-exactly.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> p = {'a': jnp.ones(2), 'b': jnp.ones((1, 1))}
    >>> plain = ox.adam(0.1)
    >>> state = plain.update(p, plain.init(p), p)[1]
    >>> opt = ox.fused(plain)
    >>> fused_state = ox.to_fused_state(opt, state, p)
    >>> fused_state['inner_state'][0].mu[0].tolist()    # a and b in one bucket
    [0.10000000149011612, 0.10000000149011612, 0.10000000149011612]
  """
  fn = 'to_fused_state'
  masks = _fused_masks(tx, fn)
  layout, _, _ = _layout_of(masks, params)
  lengths = _bucket_lengths(layout)

  def is_node(x):
    return _shaped_as(x, lengths) or isinstance(x, segments.PerLeaf)

  def templates(p):
    state = tx.init(p)
    return state[INNER_STATE], to_optax_state(tx, state, p)

  # The fused state's shapes, and the unfused layout: what ``state`` must look like.
  template, unfused_template = jax.eval_shape(templates, params)
  got = jax.tree_util.tree_flatten_with_path(state)[0]
  want = jax.tree_util.tree_flatten_with_path(unfused_template)[0]
  got_paths = [jax.tree_util.keystr(p) for p, _ in got]
  want_paths = [jax.tree_util.keystr(p) for p, _ in want]
  if got_paths != want_paths:
    missing = sorted(set(want_paths) - set(got_paths))[:3]
    extra = sorted(set(got_paths) - set(want_paths))[:3]
    raise ValueError(f'{fn}: `state` is not a state of the transformation `tx` wraps, for '
                     f'these `params`: missing {missing}, unexpected {extra}.')
  for (path, x), (_, t) in zip(got, want):
    if np.shape(x) != tuple(t.shape):
      raise ValueError(f'{fn}: `state` leaf {jax.tree_util.keystr(path)} has shape '
                       f'{np.shape(x)}, expected {tuple(t.shape)}.')
  plain = jax.tree.unflatten(jax.tree.structure(unfused_template), [x for _, x in got])
  prefix = jax.tree.structure(template, is_leaf=is_node)
  converted = []
  for t, s in zip(jax.tree.leaves(template, is_leaf=is_node), prefix.flatten_up_to(plain)):
    if isinstance(t, segments.PerLeaf):  # per-leaf values: one vector per bucket
      s_leaves = jax.tree.leaves(s)
      converted.append(segments.PerLeaf(tuple(
          v if segments.masked_out(v) else jnp.stack([jnp.asarray(s_leaves[i], v.dtype)
                                                      for i in idx])
          for v, idx in zip(t.values, layout.members))))
    elif is_node(t):  # a tree like the params: its bucket vectors
      vectors = _buckets(jax.tree.leaves(s), layout)
      converted.append(tuple(v.astype(w.dtype) for v, w in zip(vectors, t)))
    else:
      converted.append(jnp.asarray(s, t.dtype))
  return {INNER_STATE: prefix.unflatten(converted),
          LEAF_INDEX: {layout.key: _digit_values(layout.max_run())}}


def update_and_apply(tx: base.GradientTransformation, grads: Any, state: Any, params: Any,
                     **extra_args) -> tuple[Any, Any]:
  r"""One optimizer step that returns the new parameters: ``(apply_updates(p, u), state)``.

  .. math::
    (u, s') = \mathrm{tx.update}(g, s, p), \qquad p' = p + u

  The update is never handed back to the caller, so under ``jax.jit`` (with ``params`` and
  ``state`` donated) XLA can fuse the parameter write into the update's last kernel.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> tx = ox.sgd(0.5)
    >>> p = jnp.ones(2)
    >>> p, s = ox.update_and_apply(tx, jnp.ones(2), tx.init(p), p)
    >>> p.tolist()
    [0.5, 0.5]
  """
  validation.check_transformation(tx, 'update_and_apply: `tx`')
  if extra_args:
    tx = base.with_extra_args_support(tx)
  updates, state = tx.update(grads, state, params, **extra_args)
  return tree.apply_updates(params, updates), state

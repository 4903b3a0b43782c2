"""Applying transforms to part of the parameters: ``masked``, ``partition`` and ``regex_mask``.

A mask is a tree of Python bools with the structure of the parameters, or a prefix of it (a
bool then covers a whole subtree), or a callable that builds one from the parameters. Leaves
masked out are replaced by the childless ``MaskedNode`` before the inner transform sees them,
so the inner transform keeps state only for the leaves it owns, and its updates pass through
unchanged.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Hashable, Mapping, NamedTuple, Sequence, Union

import jax
import numpy as np

from optax_like._src import base
from optax_like._src import tree as tree_lib
from optax_like._src import validation


class MaskedState(NamedTuple):
  """State of ``masked``: the inner transform's state over the masked-in leaves."""
  inner_state: Any


class MaskedNode(NamedTuple):
  """Stands in for a masked-out leaf or subtree.

  It is a pytree node without children, so ``jax.tree.map`` skips it: the inner transform of
  ``masked`` neither sees nor stores anything for it.
  """


# --------------------------------------------------------------------------- mask checks


def _is_leaf(x: Any) -> bool:
  return x is not None and jax.tree_util.all_leaves([x])


def _one_level(t: Any):
  """The children of ``t`` (``None`` children included) with their keys, and ``t``'s node def."""
  is_child = lambda y: y is not t
  children, treedef = jax.tree_util.tree_flatten_with_path(t, is_leaf=is_child)
  return children, treedef


def _describe(x: Any) -> str:
  if x is None:
    return 'None'
  if _is_leaf(x):
    shape = getattr(x, 'shape', None)
    return f'a leaf ({type(x).__name__}{"" if shape is None else f" of shape {tuple(shape)}"})'
  return f'a {type(x).__name__}'


def _prefix_mismatch(prefix: Any, full: Any, path: tuple = ()) -> tuple | None:
  """Where ``prefix`` stops being a tree prefix of ``full``: ``(path, prefix_node, full_node)``."""
  if _is_leaf(prefix):
    return None  # A leaf of the prefix covers any subtree.
  if prefix is None or full is None or _is_leaf(full):
    return None if (prefix is None and full is None) else (path, prefix, full)
  p_children, p_def = _one_level(prefix)
  f_children, f_def = _one_level(full)
  if p_def != f_def:
    return path, prefix, full
  for (key, p_child), (_, f_child) in zip(p_children, f_children):
    found = _prefix_mismatch(p_child, f_child, path + tuple(key))
    if found is not None:
      return found
  return None


def _mismatch_detail(p_node: Any, f_node: Any, prefix_name: str, full_name: str) -> str:
  if (type(p_node) is type(f_node) and p_node is not None and not _is_leaf(p_node)
      and not _is_leaf(f_node)):
    p_keys = {jax.tree_util.keystr(k) for k, _ in _one_level(p_node)[0]}
    f_keys = {jax.tree_util.keystr(k) for k, _ in _one_level(f_node)[0]}
    if p_keys != f_keys:
      parts = []
      if p_keys - f_keys:
        parts.append(f'keys only in {prefix_name}: {", ".join(sorted(p_keys - f_keys))}')
      if f_keys - p_keys:
        parts.append(f'keys only in {full_name}: {", ".join(sorted(f_keys - p_keys))}')
      return '; '.join(parts)
  return f'{prefix_name} has {_describe(p_node)} but {full_name} has {_describe(f_node)}'


def _check_prefix(prefix: Any, full: Any, prefix_name: str, full_name: str, fn: str) -> list:
  """Returns ``full`` split into the subtrees under each leaf of ``prefix``.

  Raises ValueError naming the first path where ``prefix`` is not a prefix of ``full``.
  """
  treedef = jax.tree.structure(prefix)
  try:
    return treedef.flatten_up_to(full)
  except (ValueError, TypeError):
    pass
  found = _prefix_mismatch(prefix, full)
  if found is None:  # Not expected; fall back to printing both structures.
    path, detail = (), f'{prefix_name} is {treedef} but {full_name} is {jax.tree.structure(full)}'
  else:
    path, p_node, f_node = found
    detail = _mismatch_detail(p_node, f_node, prefix_name, full_name)
  where = jax.tree_util.keystr(path) or '<root>'
  raise ValueError(
      f'{fn}: the structure of {prefix_name} does not match {full_name} (it must be the same '
      f'tree or a prefix of it) at path {where}: {detail}.')


def _bool_leaf(m: Any, path: Any, what: str, fn: str) -> bool:
  if isinstance(m, (bool, np.bool_)):
    return bool(m)
  if isinstance(m, jax.core.Tracer):
    raise TypeError(
        f'{fn}: {what} must be static (Python bools), but the leaf at '
        f'{jax.tree_util.keystr(path) or "<root>"} is a traced value; build the mask from '
        'shapes/names, not from array values.')
  if isinstance(m, (np.ndarray, jax.Array)) and m.shape == () and m.dtype == np.bool_:
    return bool(m)
  raise TypeError(
      f'{fn}: {what} leaves must be bools (True: apply the transform, False: pass through), '
      f'but the leaf at {jax.tree_util.keystr(path) or "<root>"} is '
      f'{type(m).__name__}: {m!r:.60}')


def _mask_values(mask_tree: Any, fn: str) -> list[bool]:
  with_paths, _ = jax.tree_util.tree_flatten_with_path(mask_tree)
  return [_bool_leaf(m, path, 'the mask', fn) for path, m in with_paths]


def _is_params_placeholder(params: Any) -> bool:
  # optax.tree_map_params calls `init` with a placeholder to find parameter-shaped state; the
  # placeholder is passed through unmasked, as optax's own `masked` does.
  return type(params).__name__ == '_ParamsPlaceholder'


def mask_is_callable(mask: Any) -> bool:
  """Whether ``mask`` is a function building the mask, rather than a mask tree (optax's rule).

  A mask counts as a function when every leaf of it is callable (a plain function is its own
  single leaf). A pytree that is itself callable but holds bools, e.g. a model object with a
  ``__call__`` method, is a mask tree.
  """
  leaves = jax.tree.leaves(jax.tree.map(callable, mask))
  return bool(leaves) and all(leaves)


def leaf_mask_values(mask: Any, params: Any, fn: str = 'masked') -> list[bool]:
  """The value of ``mask`` (a tree of bools, a prefix of ``params``, or a callable returning
  one) for every leaf of ``params``, in ``jax.tree.leaves`` order.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like._src.masking import leaf_mask_values
    >>> leaf_mask_values({'w': True, 'b': False}, {'w': jnp.ones(2), 'b': [jnp.ones(1)] * 2})
    [False, False, True]
  """
  mask_tree = mask(params) if mask_is_callable(mask) else mask
  values = _mask_values(mask_tree, fn)
  subtrees = _check_prefix(mask_tree, params, 'the mask', 'the params', fn)
  out: list[bool] = []
  for value, subtree in zip(values, subtrees):
    out.extend([value] * len(jax.tree.leaves(subtree)))
  return out


# --------------------------------------------------------------------------- masked


def masked(inner: base.GradientTransformation,
           mask: Union[Any, Callable[[base.Params], Any]],
           *,
           mask_compatible_extra_args: bool = False) -> base.GradientTransformationExtraArgs:
  r"""Applies ``inner`` only to the leaves where ``mask`` is True; the others pass through.

  .. math::

    u_i \leftarrow \begin{cases} \mathrm{inner}(u)_i & m_i = \mathrm{True} \\
                                 u_i & m_i = \mathrm{False} \end{cases}

  ``inner`` sees the updates and params with masked-out leaves replaced by ``MaskedNode()``,
  so its state only covers the masked-in leaves (``MaskedState(inner_state)``).

  Args:
    inner: the transformation to apply to the masked-in leaves.
    mask: a tree of bools with the structure of the params (or a prefix of it), or a
      callable returning one; the callable gets the params in ``init`` and the updates in
      ``update``. It must not depend on array values (it is evaluated while tracing).
      See ``regex_mask`` to build one from parameter names.
    mask_compatible_extra_args: also mask those extra keyword arguments of ``update`` whose
      tree structure equals that of the updates.

  Returns:
    A ``GradientTransformationExtraArgs``.

  Raises:
    ValueError: if the mask's structure is not a prefix of the params' (naming the path).
    TypeError: if a mask leaf is not a bool.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> tx = ox.masked(ox.scale(-1.0), {'w': True, 'b': False})
    >>> grads = {'w': jnp.array([1.0]), 'b': jnp.array([2.0])}
    >>> updates, _ = tx.update(grads, tx.init(grads))
    >>> [updates['w'].tolist(), updates['b'].tolist()]
    [[-1.0], [2.0]]
  """
  fn = 'masked'
  inner = base.with_extra_args_support(inner)
  if isinstance(mask, (str, bytes)):
    raise TypeError(f'{fn}: `mask` must be a tree of bools or a callable, got the string {mask!r:.60}.')

  def resolve(tree, tree_name):
    mask_tree = mask(tree) if mask_is_callable(mask) else mask
    values = _mask_values(mask_tree, fn)
    subtrees = _check_prefix(mask_tree, tree, 'the mask', tree_name, fn)
    return mask_tree, values, subtrees

  def apply_mask(mask_def, values, subtrees):
    return mask_def.unflatten([s if m else MaskedNode() for m, s in zip(values, subtrees)])

  def init_fn(params):
    if _is_params_placeholder(params):
      return MaskedState(inner_state=inner.init(params))
    mask_tree, values, subtrees = resolve(params, 'the params')
    return MaskedState(
        inner_state=inner.init(apply_mask(jax.tree.structure(mask_tree), values, subtrees)))

  def update_fn(updates, state, params=None, **extra_args):
    mask_tree, values, u_subtrees = resolve(updates, 'the updates')
    validation.check_state(state, MaskedState, fn)
    mask_def = jax.tree.structure(mask_tree)
    masked_updates = apply_mask(mask_def, values, u_subtrees)
    masked_params = None
    if params is not None:
      p_subtrees = _check_prefix(mask_tree, params, 'the mask', 'the params', fn)
      masked_params = apply_mask(mask_def, values, p_subtrees)
    if mask_compatible_extra_args:
      u_structure = jax.tree.structure(updates)
      extra_args = {
          k: (apply_mask(mask_def, values, mask_def.flatten_up_to(v))
              if jax.tree.structure(v) == u_structure else v)
          for k, v in extra_args.items()
      }
    new_masked, new_inner_state = inner.update(masked_updates, state.inner_state,
                                               masked_params, **extra_args)
    new_subtrees = mask_def.flatten_up_to(new_masked)
    merged = [n if m else u for m, n, u in zip(values, new_subtrees, u_subtrees)]
    return mask_def.unflatten(merged), MaskedState(inner_state=new_inner_state)

  return base.GradientTransformationExtraArgs(init_fn, update_fn)


# --------------------------------------------------------------------------- partition


class PartitionState(NamedTuple):
  """State of ``partition``: ``inner_states[label]`` is the ``MaskedState`` of that label's
  transformation."""
  inner_states: Mapping[Hashable, base.OptState]


def partition(transforms: Mapping[Hashable, base.GradientTransformation],
              param_labels: Union[Any, Callable[[base.Params], Any]],
              *,
              mask_compatible_extra_args: bool = False) -> base.GradientTransformationExtraArgs:
  r"""Applies a different transformation to each labelled group of parameters.

  .. math:: u_i \leftarrow \mathrm{transforms}[\ell_i](u)_i

  where :math:`\ell_i` is leaf :math:`i`'s label. Each transformation runs as
  ``masked(transforms[label], labels == label)``, so it keeps state only for its own leaves;
  the state is ``PartitionState({label: MaskedState(...)})`` with an entry for every key of
  ``transforms`` (also keys no parameter uses).

  Args:
    transforms: a mapping from label to transformation.
    param_labels: a tree of labels with the structure of the params (or a prefix of it), or
      a callable returning one (given the params in ``init``, the updates in ``update``).
      Every label must be a key of ``transforms``.
    mask_compatible_extra_args: passed on to ``masked``.

  Returns:
    A ``GradientTransformationExtraArgs``.

  Raises:
    ValueError: for labels without a transformation (naming them), or labels whose
      structure is not a prefix of the params' (naming the path).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> tx = ox.partition({'fast': ox.scale(-1.0), 'frozen': ox.set_to_zero()},
    ...                   {'w': 'fast', 'b': 'frozen'})
    >>> grads = {'w': jnp.array([1.0]), 'b': jnp.array([2.0])}
    >>> updates, _ = tx.update(grads, tx.init(grads))
    >>> [updates['w'].tolist(), updates['b'].tolist()]
    [[-1.0], [0.0]]
  """
  fn = 'partition'
  if not isinstance(transforms, Mapping):
    raise TypeError(f'{fn}: `transforms` must be a mapping from label to transformation, '
                    f'got {type(transforms).__name__}.')
  for label, tx in transforms.items():
    validation.check_transformation(tx, f'{fn}: transforms[{label!r}]')
  transforms = {k: base.with_extra_args_support(v) for k, v in transforms.items()}

  def labels_for(tree):
    labels = param_labels(tree) if callable(param_labels) else param_labels
    if not _is_params_placeholder(tree):   # tree_map_params' probe is not a params tree
      _check_prefix(labels, tree, 'param_labels', 'the params', fn)
    try:
      label_set = set(jax.tree.leaves(labels))
    except TypeError as e:
      raise TypeError(f'{fn}: labels in `param_labels` must be hashable ({e}).') from None
    missing = label_set - set(transforms)
    if missing:
      raise ValueError(
          f'{fn}: some labels in `param_labels` have no transformation in `transforms`: '
          f'{sorted(missing, key=repr)}; `transforms` has the keys '
          f'{sorted(transforms, key=repr)}.')
    return labels

  def group_tx(tx, labels, group):
    group_mask = jax.tree.map(lambda label: label == group, labels)
    return masked(tx, group_mask, mask_compatible_extra_args=mask_compatible_extra_args)

  def init_fn(params):
    labels = labels_for(params)
    return PartitionState(inner_states={
        group: group_tx(tx, labels, group).init(params) for group, tx in transforms.items()})

  def update_fn(updates, state, params=None, **extra_args):
    labels = labels_for(updates)
    validation.check_state(state, PartitionState, fn)
    new_inner_states = {}
    for group, tx in transforms.items():
      updates, new_inner_states[group] = group_tx(tx, labels, group).update(
          updates, state.inner_states[group], params, **extra_args)
    return updates, PartitionState(inner_states=new_inner_states)

  return base.GradientTransformationExtraArgs(init_fn, update_fn)


multi_transform = partition  # optax's former name, still exported by optax 0.2.8
MultiTransformState = PartitionState


# --------------------------------------------------------------------------- regex_mask


def regex_mask(patterns: Union[str, Sequence[str]], *, match: bool = True,
               separator: str = '/') -> Callable[[base.Params], Any]:
  r"""Builds a mask (for ``masked``'s or ``add_decayed_weights``' ``mask=``) from leaf names.

  Each leaf's name is its path in the tree joined by ``separator`` (dict keys, attribute
  names and list indices; e.g. ``'dense/kernel'`` or ``'layers/0/bias'``). A leaf "matches"
  when ``re.search(pattern, name)`` succeeds for ANY of ``patterns``, and its mask value is

  .. math:: m = (\text{matches}) = \texttt{match}

  * ``match=True`` (default): True exactly on the matching leaves (select by name).
  * ``match=False``: True exactly on the leaves that do NOT match (exclude by name). This is
    tf-models LARS's / Keras' ``exclude_from_weight_decay=['bias']``:
    ``add_decayed_weights(wd, mask=regex_mask(['bias'], match=False))``. (TF matches
    variable names such as ``'dense/kernel:0'``; here the name has no ``':0'``.)

  Args:
    patterns: a regular expression or a sequence of them (compiled once, here).
    match: the mask value of matching leaves; non-matching leaves get ``not match``.
    separator: joins the path components of a leaf's name.

  Returns:
    A callable ``params -> tree of bools`` with the structure of ``params``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> params = {'dense': {'kernel': jnp.ones((2, 2)), 'bias': jnp.zeros(2)}}
    >>> ox.regex_mask(['bias'], match=False)(params)
    {'dense': {'bias': False, 'kernel': True}}
  """
  fn = 'regex_mask'
  if isinstance(patterns, (str, bytes)):
    patterns = [patterns]
  try:
    patterns = list(patterns)
  except TypeError:
    raise TypeError(f'{fn}: `patterns` must be a string or a sequence of strings, '
                    f'got {type(patterns).__name__}.') from None
  compiled = []
  for i, pattern in enumerate(patterns):
    if not isinstance(pattern, (str, re.Pattern)):
      raise TypeError(f'{fn}: `patterns[{i}]` must be a string, got {type(pattern).__name__}: '
                      f'{pattern!r:.60}')
    try:
      compiled.append(re.compile(pattern))
    except re.error as e:
      raise ValueError(f'{fn}: `patterns[{i}]` = {pattern!r} is not a valid regular '
                       f'expression: {e}') from None
  if not isinstance(match, (bool, np.bool_)):
    raise TypeError(f'{fn}: `match` must be a bool, got {type(match).__name__}.')
  if not isinstance(separator, str):
    raise TypeError(f'{fn}: `separator` must be a string, got {type(separator).__name__}.')
  match = bool(match)

  def mask_fn(params):
    names = tree_lib.path_names(params, separator)
    return jax.tree.map(
        lambda name: any(p.search(name) for p in compiled) == match, names)

  return mask_fn

r"""Finding, reading and replacing entries of optimizer states (``optax_like.tree_utils``).

An optimizer state is a pytree of NamedTuples (``ScaleByAdamState``, ``InjectHyperparamsState``,
...), dicts and tuples. Three things are looked up by name in it:

* a field of a NamedTuple (``'count'``, ``'mu'``),
* a key of a dict (``'learning_rate'`` in ``InjectHyperparamsState.hyperparams``),
* a NamedTuple by its class name (``'ScaleByAdamState'``).

Paths to what is found use jax's key entries, except that a NamedTuple field is a
``NamedTupleKey(class name, field)``, so a filter can tell ``ScaleByAdamState.count`` from
``ScaleByScheduleState.count``. The ``fused(tx)`` state (a dict) is searched the same way.

``tree_map_params`` finds the parameter-shaped parts of a state by initialising the optimizer
on a placeholder that has no leaves: every part of the state built from the parameters comes
out as the placeholder itself, every other part (counts, keys) as a value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Optional, Protocol, Tuple, Union, runtime_checkable

import jax

from optax_like._src import base

PyTree = Any


@dataclasses.dataclass(frozen=True)
class NamedTupleKey:
  """The key entry of a NamedTuple field in the paths of ``tree_get_all_with_path``,
  ``tree_get`` and ``tree_set``: the class name of the tuple and the field's name.

  ``str(key)`` is ``'ClassName.field'``, so ``jax.tree_util.keystr`` prints a path as
  ``InjectHyperparamsState.hyperparams['learning_rate']``.

  Example:
    >>> import optax_like as ox
    >>> str(ox.tree_utils.NamedTupleKey('ScaleByAdamState', 'count'))
    'ScaleByAdamState.count'
  """

  tuple_name: str
  name: str

  def __str__(self):
    return f'{self.tuple_name}.{self.name}'


KeyEntry = Union[jax.tree_util.DictKey, jax.tree_util.FlattenedIndexKey,
                 jax.tree_util.GetAttrKey, jax.tree_util.SequenceKey, NamedTupleKey]
KeyPath = Tuple[KeyEntry, ...]
Filtering = Optional[Callable[[KeyPath, Any], bool]]


def _is_named_tuple(x: Any) -> bool:
  return isinstance(x, tuple) and hasattr(x, '_fields')


def _holds(node: Any, keys: tuple) -> bool:
  """Whether ``node`` is a NamedTuple named by, or with a field in, ``keys``, or a dict with a
  key in ``keys``."""
  if _is_named_tuple(node):
    return type(node).__name__ in keys or any(k in node._fields for k in keys)
  if isinstance(node, dict):
    return any(k in node for k in keys)
  return False


def _leaves_with_path(tree: PyTree, stop: Callable[[Any], bool], prefix: KeyPath = ()) -> list:
  """``(path, node)`` for every leaf of ``tree`` and every node where ``stop(node)``, in
  ``jax.tree.leaves`` order, with NamedTuple fields entered as ``NamedTupleKey``s."""
  found = []
  flat = jax.tree_util.tree_flatten_with_path(
      tree, is_leaf=lambda x: stop(x) or _is_named_tuple(x))[0]
  for path, node in flat:
    path = (*prefix, *path)
    if stop(node) or not _is_named_tuple(node):
      found.append((path, node))
      continue
    cls = type(node).__name__
    for field in node._fields:
      found += _leaves_with_path(getattr(node, field), stop,
                                 (*path, NamedTupleKey(cls, field)))
  return found


def _children(path: KeyPath, node: Any) -> list:
  """``(path, child)`` for the fields of a NamedTuple or the items of a dict."""
  if _is_named_tuple(node):
    cls = type(node).__name__
    return [((*path, NamedTupleKey(cls, f)), getattr(node, f)) for f in node._fields]
  return [((*path, jax.tree_util.DictKey(k)), v) for k, v in node.items()]


def _find(tree: PyTree, key: Any, prefix: KeyPath = ()) -> list:
  """Every ``(path, value)`` of ``tree`` that ``key`` names, outer matches before inner ones."""
  wanted = (key,)
  found = []
  holders = [(p, n) for p, n in _leaves_with_path(tree, lambda x: _holds(x, wanted), prefix)
             if _holds(n, wanted)]
  for path, node in holders:
    if _is_named_tuple(node) and type(node).__name__ == key:
      found.append((path, node))
    elif _is_named_tuple(node):
      found.append(((*path, NamedTupleKey(type(node).__name__, key)), getattr(node, key)))
    else:
      found.append(((*path, jax.tree_util.DictKey(key)), node[key]))
  # A match may hold further matches (nested wrappers): search inside every holder too.
  for path, node in holders:
    for child_path, child in _children(path, node):
      found += _find(child, key, child_path)
  return found


def tree_get_all_with_path(tree: PyTree, key: Any, filtering: Filtering = None
                           ) -> list[tuple[KeyPath, Any]]:
  r"""Every ``(path, value)`` in ``tree`` named by ``key``: a dict key, a NamedTuple field, or
  a NamedTuple's class name (then the value is the tuple itself).

  ``filtering(path, value) -> bool``, when given, keeps only the matches it accepts. A path is
  a tuple of jax key entries in which NamedTuple fields are ``NamedTupleKey``s; print one with
  ``jax.tree_util.keystr``.

  Example:
    >>> import jax, jax.numpy as jnp, optax_like as ox
    >>> opt = ox.inject_hyperparams(ox.sgd)(learning_rate=0.5)
    >>> state = opt.init(jnp.zeros(2))
    >>> [(jax.tree_util.keystr(p), float(v))
    ...  for p, v in ox.tree_utils.tree_get_all_with_path(state, 'learning_rate')]
    [("InjectStatefulHyperparamsState.hyperparams['learning_rate']", 0.5)]
  """
  found = _find(tree, key)
  if filtering is not None:
    found = [(path, value) for path, value in found if filtering(path, value)]
  return found


def tree_get(tree: PyTree, key: Any, default: Optional[Any] = None,
             filtering: Filtering = None) -> Any:
  r"""The one value in ``tree`` named by ``key`` (see ``tree_get_all_with_path``), or
  ``default`` when there is none.

  Raises a KeyError listing the paths when ``key`` (after ``filtering``) names several values:
  a ``filtering(path, value)`` that looks at the ``NamedTupleKey`` of the path tells them apart.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> state = ox.adam(1e-3).init({'w': jnp.zeros(2)})
    >>> int(ox.tree_utils.tree_get(state, 'count'))
    0
    >>> ox.tree_utils.tree_get(state, 'learning_rate', default='absent')
    'absent'
  """
  found = tree_get_all_with_path(tree, key, filtering=filtering)
  if len(found) > 1:
    paths = ', '.join(jax.tree_util.keystr(path) for path, _ in found)
    raise KeyError(f"tree_get: found {len(found)} values for '{key}' (at {paths}); pass a "
                   '`filtering(path, value)` that selects one.')
  return found[0][1] if found else default


def tree_set(tree: PyTree, filtering: Filtering = None, /, **kwargs: Any) -> PyTree:
  r"""A copy of ``tree`` where every value named by a keyword of ``kwargs`` (a dict key, a
  NamedTuple field, or a NamedTuple's class name) is replaced by that keyword's value.

  ``filtering(path, value) -> bool``, when given, limits the replacement to the matches it
  accepts. A KeyError is raised, before anything is replaced, for a keyword that names nothing.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> opt = ox.inject_hyperparams(ox.sgd)(learning_rate=0.5)
    >>> state = ox.tree_utils.tree_set(opt.init(jnp.zeros(2)), learning_rate=jnp.asarray(0.1))
    >>> float(ox.tree_utils.tree_get(state, 'learning_rate'))
    0.10000000149011612
  """
  for key in kwargs:
    if not tree_get_all_with_path(tree, key, filtering):
      how = ' that the filtering accepts' if filtering is not None else ''
      raise KeyError(f"tree_set: found no value matching '{key}'{how} in the tree.")
  keys = tuple(kwargs)

  def accepted(path, value):
    return filtering is None or filtering(path, value)

  def replace_in(path: KeyPath, node: Any) -> Any:
    """``node`` (at ``path``) with its accepted matches replaced.

    As in optax, the search goes on below a node that names a key only through children
    that themselves name one: a match inside a list or a dict without the key, under a
    matched node, is kept (``tree_set(inject_hyperparams state, count=0)`` resets the
    wrapper's count, not the inner optimizer's).
    """
    if not _holds(node, keys):
      return node
    if _is_named_tuple(node) and type(node).__name__ in kwargs and accepted(path, node):
      return kwargs[type(node).__name__]
    new = {}
    for child_path, child in _children(path, node):
      name = _entry_name(child_path[-1])
      if name in kwargs and accepted(child_path, child):
        new[name] = kwargs[name]
      elif isinstance(child, (dict, list, tuple)):
        new[name] = replace_in(child_path, child)
      else:
        new[name] = child
    return node._replace(**new) if _is_named_tuple(node) else new

  has = lambda x: _holds(x, keys)
  treedef = jax.tree.structure(tree, is_leaf=has)
  return treedef.unflatten(replace_in(p, n) for p, n in _leaves_with_path(tree, has))


def _entry_name(entry: KeyEntry) -> Any:
  if isinstance(entry, NamedTupleKey):
    return entry.name
  return entry.key


# --------------------------------------------------------------------------- tree_map_params


@jax.tree_util.register_pytree_node_class
class _ParamsPlaceholder:
  """Stands for the parameters in ``init``: a pytree node without leaves, so a state built from
  it keeps it wherever the state holds a tree shaped like the parameters.

  (Transforms that must treat it specially, such as ``masked``, recognise it by this class
  name, which is also the name of optax's placeholder.)
  """

  def tree_flatten(self):
    return (), None

  @classmethod
  def tree_unflatten(cls, aux, children):
    del aux, children
    return cls()


@runtime_checkable
class Initable(Protocol):
  """Anything with an ``init(params) -> state`` method (a GradientTransformation)."""

  def init(self, params: base.Params) -> base.OptState:
    ...


def _is_placeholder(x: Any) -> bool:
  return isinstance(x, _ParamsPlaceholder)


def _is_empty_tuple(x: Any) -> bool:
  return type(x) is tuple and not x  # pylint: disable=unidiomatic-typecheck


def _fused_masks(initable: Any) -> Any:
  # ``fused`` keeps its transformations in a registry keyed by their update function.
  from optax_like._src import fused  # pylint: disable=import-outside-toplevel
  return fused._lookup(fused._FUSED, getattr(initable, 'update', None))  # pylint: disable=protected-access


def tree_map_params(
    initable: Union[Callable[[base.Params], base.OptState], Initable],
    f: Callable[..., Any],
    state: base.OptState,
    /,
    *rest: Any,
    transform_non_params: Optional[Callable[..., Any]] = None,
    is_leaf: Optional[Callable[[base.Params], bool]] = None,
) -> base.OptState:
  r"""``state`` with ``f`` mapped over every part of it that is shaped like the parameters.

  For each parameter-shaped tree :math:`s` in the state (Adam's ``mu`` and ``nu``, a momentum
  ``trace``, ...) the result holds ``jax.tree.map(f, s, *rest, is_leaf=is_leaf)``; ``rest`` are
  trees shaped like the parameters (e.g. their partition specs). Every other leaf (counts,
  hyperparameters, keys) becomes ``transform_non_params(leaf)``, or stays when that is None.
  ``initable`` is the optimizer (or its ``init`` function): it tells which parts of the state
  come from the parameters.

  A ``fused(tx)`` state keeps the parameter-shaped parts as tuples of bucket vectors; ``f`` is
  mapped over those vectors (``rest`` then cannot be matched to them: convert the state with
  ``to_optax_state`` first).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> opt = ox.adam(1e-3)
    >>> state = opt.init({'w': jnp.zeros((2, 3))})
    >>> shapes = ox.tree_map_params(opt, lambda p: p.shape, state,
    ...                             transform_non_params=lambda _: None)
    >>> shapes[0].mu, shapes[0].count
    ({'w': (2, 3)}, None)
  """
  init = initable.init if isinstance(initable, Initable) else initable
  if not callable(init):
    raise TypeError('tree_map_params: `initable` must be an optimizer (with an `init` method) '
                    f'or an init function, got {type(initable).__name__}.')
  template = init(_ParamsPlaceholder())

  def over_params(subtree):
    return jax.tree.map(f, subtree, *rest, is_leaf=is_leaf)

  def other(value):
    return value if transform_non_params is None else transform_non_params(value)

  def pair(t, value):
    if _is_placeholder(t):
      return over_params(value)
    return other(value)

  if isinstance(initable, Initable) and _fused_masks(initable) is not None:
    return _map_fused(template, state, over_params, other, bool(rest))
  return jax.tree.map(pair, template, state, is_leaf=_is_placeholder)


def _map_fused(template: Any, state: Any, over_params: Callable, other: Callable,
               has_rest: bool) -> Any:
  """``tree_map_params`` over a ``fused(tx)`` state.

  The placeholder has no leaves, so ``fused`` builds its inner state over an empty tuple of
  buckets: the parameter-shaped parts of the template are empty tuples, where the real state
  holds one vector per bucket.
  """
  from optax_like._src import fused  # pylint: disable=import-outside-toplevel
  if has_rest:
    raise ValueError(
        'tree_map_params: `rest` trees are shaped like the parameters, but a fused(...) state '
        'holds bucket vectors; convert it with to_optax_state(tx, state, params) first.')
  if not isinstance(state, dict) or set(state) != {fused.INNER_STATE, fused.LEAF_INDEX}:
    raise ValueError('tree_map_params: `initable` is a fused(...) transformation but `state` '
                     'is not a fused state.')

  def pair(t, value):
    if _is_placeholder(t) or (_is_empty_tuple(t) and type(value) is tuple):  # pylint: disable=unidiomatic-typecheck
      return over_params(value)
    return other(value)

  inner = jax.tree.map(pair, template[fused.INNER_STATE], state[fused.INNER_STATE],
                       is_leaf=lambda x: _is_placeholder(x) or _is_empty_tuple(x))
  return {fused.INNER_STATE: inner,
          fused.LEAF_INDEX: jax.tree.map(other, state[fused.LEAF_INDEX])}

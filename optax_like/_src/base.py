"""Core types and combinators: a gradient transformation is a pure ``(init, update)`` pair.

    state = tx.init(params)
    updates, state = tx.update(grads, state, params)
    params = apply_updates(params, updates)

``GradientTransformation`` is a NamedTuple with the same two fields as optax's, so an
optax transform can sit in our ``chain`` and ours in optax's (or in flax's ``TrainState``).
"""

from __future__ import annotations

import collections
import weakref
from typing import Any, Callable, Hashable, NamedTuple, Optional, Protocol, Union

import chex
import jax
import jax.numpy as jnp

from optax_like._src import validation

Params = chex.ArrayTree
Updates = chex.ArrayTree
OptState = chex.ArrayTree
Schedule = Callable[[chex.Numeric], chex.Numeric]
ScalarOrSchedule = Union[float, jax.Array, Schedule]


class TransformInitFn(Protocol):
  def __call__(self, params: Params) -> OptState:
    ...


class TransformUpdateFn(Protocol):
  def __call__(self, updates: Updates, state: OptState,
               params: Optional[Params] = None) -> tuple[Updates, OptState]:
    ...


class TransformUpdateExtraArgsFn(Protocol):
  """An update function that also takes keyword-only extra arguments (``value=loss``, ...).

  Implementations accept any extra keyword and ignore those they do not use; a transformation
  that needs one names it as a keyword-only parameter, so a call without it fails clearly.
  """

  def __call__(self, updates: Updates, state: OptState, params: Optional[Params] = None,
               **extra_args: Any) -> tuple[Updates, OptState]:
    ...


class GradientTransformation(NamedTuple):
  """A pure optimizer component: ``init(params) -> state`` and
  ``update(updates, state, params=None) -> (updates, state)``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> tx = ox.scale(-0.1)
    >>> updates, _ = tx.update({'w': jnp.ones(2)}, tx.init({'w': jnp.zeros(2)}))
    >>> updates['w'].tolist()
    [-0.10000000149011612, -0.10000000149011612]
  """
  init: TransformInitFn
  update: TransformUpdateFn


class GradientTransformationExtraArgs(GradientTransformation):
  """A transformation whose ``update`` also accepts keyword-only extra arguments
  (e.g. ``value=loss``), which ``chain`` forwards to every member that takes them."""


class EmptyState(NamedTuple):
  """State of a stateless transformation."""


# The state of ``scale``: it has none (optax's name for it).
ScaleState = EmptyState

# A mask: a pytree of bools (or of anything, for wrappers that take a pytree prefix), or a
# function of the params returning one.
MaskOrFn = Optional[Union[Any, Callable[[Params], Any]]]


def init_empty_state(params: Params) -> EmptyState:
  del params
  return EmptyState()


def _accepts_extra_args(tx: Any) -> bool:
  # Duck-typed so that optax's own GradientTransformationExtraArgs also qualifies.
  return any(cls.__name__ == 'GradientTransformationExtraArgs'
             for cls in type(tx).__mro__)


def with_extra_args_support(tx: GradientTransformation) -> GradientTransformationExtraArgs:
  """Wraps ``tx`` so its ``update`` accepts (and ignores) extra keyword arguments."""
  validation.check_transformation(tx, 'tx')
  if _accepts_extra_args(tx):
    return GradientTransformationExtraArgs(tx.init, tx.update)

  def update_fn(updates, state, params=None, **extra_args):
    del extra_args
    return tx.update(updates, state, params)

  return GradientTransformationExtraArgs(tx.init, update_fn)


# Transformations whose result does not depend on how the elements are grouped into leaves
# (elementwise maps, or reductions over all leaves at once), keyed by their update function.
# ``fused`` may run them on flat buckets of leaves.
_GROUPING_FREE: 'weakref.WeakKeyDictionary' = weakref.WeakKeyDictionary()


def grouping_free(tx: GradientTransformation) -> GradientTransformation:
  """Marks ``tx`` as independent of how elements are grouped into leaves; returns ``tx``."""
  _GROUPING_FREE[tx.update] = True
  return tx


def is_grouping_free(tx: Any) -> bool:
  """Whether ``tx`` was marked by ``grouping_free`` (unknown transformations are not)."""
  try:
    return tx.update in _GROUPING_FREE
  except (AttributeError, TypeError):
    return False


def identity() -> GradientTransformation:
  """Leaves updates unchanged: ``u -> u``."""

  def update_fn(updates, state, params=None):
    del params
    return updates, state

  return grouping_free(GradientTransformation(init_empty_state, update_fn))


def set_to_zero() -> GradientTransformation:
  """Replaces every update by zeros: ``u -> 0`` (freezes parameters, e.g. in ``partition``)."""

  def update_fn(updates, state, params=None):
    del params
    return jax.tree.map(jnp.zeros_like, updates), state

  return GradientTransformation(init_empty_state, update_fn)


def stateless(f: Callable[[Updates, Optional[Params]], Updates]) -> GradientTransformation:
  """Builds a stateless transformation from ``f(updates, params) -> updates``.

  Example:
    >>> import jax, jax.numpy as jnp, optax_like as ox
    >>> double = ox.stateless(lambda u, p: jax.tree.map(lambda x: 2 * x, u))
    >>> double.update(jnp.ones(2), double.init(None))[0].tolist()
    [2.0, 2.0]
  """
  if not callable(f):
    raise TypeError(f'stateless: `f` must be callable, got {type(f).__name__}.')

  def update_fn(updates, state, params=None):
    return f(updates, params), state

  return GradientTransformation(init_empty_state, update_fn)


def chain(*args: GradientTransformation) -> GradientTransformationExtraArgs:
  """Applies transformations in sequence; the state is the tuple of their states.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> tx = ox.chain(ox.clip(1.0), ox.scale(-0.5))
    >>> tx.update(jnp.array([3.0, 0.2]), tx.init(None))[0].tolist()
    [-0.5, -0.10000000149011612]
  """
  for i, tx in enumerate(args):
    validation.check_transformation(tx, f'chain argument {i}')
  txs = tuple(with_extra_args_support(tx) for tx in args)

  def init_fn(params):
    return tuple(tx.init(params) for tx in txs)

  def update_fn(updates, state, params=None, **extra_args):
    if len(state) != len(txs):
      raise ValueError(
          f'chain: the state has {len(state)} entries but the chain has {len(txs)} '
          'transformations; was the state made by another optimizer?')
    new_state = []
    for tx, s in zip(txs, state):
      updates, s = tx.update(updates, s, params, **extra_args)
      new_state.append(s)
    return updates, tuple(new_state)

  _CHAIN_MEMBERS[update_fn] = tuple(args)
  return GradientTransformationExtraArgs(init_fn, update_fn)


# The members of every ``chain``, keyed by its update function (``fused`` rebuilds chains).
_CHAIN_MEMBERS: 'weakref.WeakKeyDictionary' = weakref.WeakKeyDictionary()


def chain_members(tx: Any) -> Optional[tuple]:
  """The transformations ``tx`` chains, if ``tx`` was made by ``chain``; otherwise None."""
  try:
    return _CHAIN_MEMBERS.get(tx.update)
  except (AttributeError, TypeError):
    return None


def named_chain(*args: tuple[str, GradientTransformation]) -> GradientTransformationExtraArgs:
  """Like ``chain``, but each member is named and the state is an ``OrderedDict`` keyed by
  those names, in chain order (as optax's).

  Example:
    >>> import optax_like as ox
    >>> tx = ox.named_chain(('sgd', ox.sgd(0.1)), ('clip', ox.clip(1.0)))
    >>> list(tx.init({}).keys())
    ['sgd', 'clip']
  """
  names = [name for name, _ in args]
  if len(set(names)) != len(names):
    raise ValueError(f'named_chain: names must be unique, got {names}.')
  txs = {}
  for name, tx in args:
    validation.check_transformation(tx, f'named_chain member {name!r}')
    txs[name] = with_extra_args_support(tx)

  # An OrderedDict, as optax's: its leaves flatten in the order of the chain, not sorted by name.
  def init_fn(params):
    return collections.OrderedDict((name, tx.init(params)) for name, tx in txs.items())

  def update_fn(updates, state, params=None, **extra_args):
    new_state = collections.OrderedDict()
    for name, tx in txs.items():
      updates, new_state[name] = tx.update(updates, state[name], params, **extra_args)
    return updates, new_state

  return GradientTransformationExtraArgs(init_fn, update_fn)


Label = Hashable

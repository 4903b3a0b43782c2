"""Hyperparameters as optimizer state: schedules and manual changes without recompiling.

``inject_hyperparams(factory)(**hyperparams)`` builds ``factory(**hyperparams)`` afresh at
every ``update`` from values kept in the state, so a jitted step takes them as traced inputs:
a schedule is evaluated at the step count, and a value changed by hand in
``state.hyperparams`` is picked up by the next step without a recompilation.
"""

from __future__ import annotations

import functools
import inspect
import numbers
import warnings
from typing import Any, Callable, Iterable, NamedTuple, Optional, Protocol, Union, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np

from optax_like._src import base, tree, validation

ScheduleState = Any


@runtime_checkable
class StatefulSchedule(Protocol):
  """A schedule with its own state: ``init() -> state``, ``update(state, **extra_args) -> state``
  and ``__call__(state, **extra_args) -> value``."""

  def init(self) -> ScheduleState:
    ...

  def update(self, state: ScheduleState, **extra_args) -> ScheduleState:
    ...

  def __call__(self, state: ScheduleState, **extra_args) -> jax.typing.ArrayLike:
    ...


class WrappedScheduleState(NamedTuple):
  """State of a ``WrappedSchedule``: the int32 step count."""
  count: jax.typing.ArrayLike


class WrappedSchedule:
  """A plain schedule ``fn(count)`` seen as a ``StatefulSchedule`` whose state is the count.

  Example:
    >>> import optax_like as ox
    >>> sched = ox.WrappedSchedule(lambda count: 0.5 * count)
    >>> s = sched.update(sched.init())
    >>> float(sched(s))
    0.5
  """

  def __init__(self, schedule_fn: base.Schedule):
    if not callable(schedule_fn):
      raise TypeError(f'WrappedSchedule: `schedule_fn` must be callable, got '
                      f'{type(schedule_fn).__name__}: {schedule_fn!r:.80}')
    self.schedule_fn = schedule_fn

  def init(self) -> WrappedScheduleState:
    return WrappedScheduleState(count=jnp.zeros([], jnp.int32))

  def update(self, state: WrappedScheduleState, **extra_args) -> WrappedScheduleState:
    del extra_args
    return WrappedScheduleState(count=tree.safe_increment(state.count))

  def __call__(self, state: WrappedScheduleState, **extra_args) -> jax.typing.ArrayLike:
    del extra_args
    return self.schedule_fn(state.count)


class InjectHyperparamsState(NamedTuple):
  """The state layout of ``inject_hyperparams`` before optax 0.1.9, kept for compatibility.

  ``inject_hyperparams`` returns an ``InjectStatefulHyperparamsState`` (as optax 0.2.8 does).
  """
  count: jax.typing.ArrayLike
  hyperparams: dict
  inner_state: base.OptState


class InjectStatefulHyperparamsState(NamedTuple):
  """State of ``inject_hyperparams``.

  Attributes:
    count: number of ``update`` calls so far (int32).
    hyperparams: the hyperparameter values the last step used, a plain ``dict`` as in optax.
      A value assigned by hand is used by the next ``update``, which stores it back in the
      entry's dtype (see ``inject_hyperparams``).
    hyperparams_states: the state of each scheduled hyperparameter (``WrappedScheduleState``
      for a plain schedule).
    inner_state: the state of the inner transformation.
  """
  count: jax.typing.ArrayLike
  hyperparams: dict
  hyperparams_states: dict
  inner_state: base.OptState


def _is_number(value: Any) -> bool:
  return (isinstance(value, (numbers.Number, np.ndarray, np.generic, jax.Array))
          and not isinstance(value, (bool, np.bool_)))


def _is_weak(x: Any) -> bool:
  return bool(getattr(x, 'weak_type', False))


# Kept so that ``from optax_like import HyperparamsDict`` still works: ``hyperparams`` is a plain
# dict (as optax's), which every serializer (flax msgpack, orbax, pickle) handles.
HyperparamsDict = dict


def _is_float(x: Any) -> bool:
  """Whether a number is a float (Python, NumPy or JAX), not an integer."""
  current = x.dtype if hasattr(x, 'dtype') else type(x)
  return bool(jnp.issubdtype(current, jnp.floating))


def _convert_floats(x: Any, dtype: jnp.dtype) -> Any:
  """Casts float-like ``x`` to ``dtype``; a strongly typed jax array is kept as the user made it."""
  if isinstance(x, jax.Array) and not _is_weak(x):
    return x
  current = x.dtype if hasattr(x, 'dtype') else type(x)
  if jnp.issubdtype(current, jnp.floating):
    return jnp.asarray(x, dtype=dtype)
  return x


def _default_hyperparam_dtype(tree_: Any) -> jnp.dtype:
  """float32, or float64 when ``tree_`` has a (canonical) 64-bit float or complex leaf.

  Never narrower than float32: 16-bit parameters get float32 hyperparameters.
  """
  dtype = jnp.dtype(jnp.float32)
  for leaf in jax.tree.leaves(tree_):
    leaf_dtype = getattr(leaf, 'dtype', None)
    if leaf_dtype is None:
      continue
    leaf_dtype = jax.dtypes.canonicalize_dtype(leaf_dtype)
    if jnp.issubdtype(leaf_dtype, jnp.inexact):
      real = jnp.finfo(leaf_dtype).dtype
      if real.itemsize > dtype.itemsize:
        dtype = jnp.dtype(real)
  return dtype


def _check_static_args(static_args: Any, parameters) -> set:
  if isinstance(static_args, str):
    static_args = {static_args}
  else:
    try:
      static_args = set(static_args)
    except TypeError:
      raise TypeError('inject_hyperparams: `static_args` must be a string or an iterable of '
                      f'strings, got {type(static_args).__name__}.') from None
  if not static_args.issubset(parameters):
    raise ValueError(
        "inject_hyperparams: `static_args` must name parameters of `inner_factory`; "
        f'unknown: {sorted(map(str, static_args - set(parameters)))}, '
        f'parameters: {sorted(parameters)}.')
  return static_args


def inject_hyperparams(inner_factory: Callable[..., base.GradientTransformation],
                       static_args: Union[str, Iterable[str]] = (),
                       hyperparam_dtype: Optional[Any] = None
                       ) -> Callable[..., base.GradientTransformationExtraArgs]:
  r"""Turns the numeric arguments of ``inner_factory`` into state, and schedules into values.

  ``inject_hyperparams(f)(*args, **kwargs)`` returns a transformation whose ``update`` at step
  :math:`t` (counting from 0) does

  .. math::
    h_t = \{\text{name}: \sigma_\text{name}(t)\ \text{for schedules},\
            \text{state.hyperparams[name]}\ \text{for numbers}\}, \qquad
    (u, s) = f(h_t, \text{static})\,.\mathrm{update}(g, s)

  Arguments are sorted by value: bools, dtypes and classes (e.g. ``mu_dtype=jnp.bfloat16``,
  which optax would mistake for a schedule) and the names in ``static_args`` are passed
  through as given; ``StatefulSchedule`` objects and other callables are schedules (a plain callable
  is wrapped in ``WrappedSchedule`` and evaluated at the count); numbers (Python, NumPy and
  JAX scalars) become entries of ``state.hyperparams``, which can be changed between steps
  (``state.hyperparams['learning_rate'] = 0.01``) with no recompilation of a jitted step.
  Changing a scheduled entry has no effect: the schedule overwrites it.

  ``state.hyperparams`` is a plain ``dict`` (as optax's), so the state serializes like optax's.
  A Python number assigned to an entry is converted by the next ``update`` to the entry's dtype
  (float32 by default, see below), and the new state holds it in that dtype again. A jitted step
  sees a Python float as a weakly typed input and so compiles once more for it (as optax's
  does); assigning a float32 scalar (``np.float32(0.01)`` or ``jnp.float32(0.01)``) keeps the
  step's signature and never recompiles.

  Hyperparameter dtype (a deliberate difference from optax): float hyperparameters are
  stored and passed to ``inner_factory`` as float32 whatever the parameter dtype (float64
  when a parameter is float64, so float32/float64 results equal optax's), or as
  ``hyperparam_dtype`` when given. optax casts them to the parameters' dtype, so with
  bfloat16 parameters ``b2=0.999`` becomes exactly 1.0 and Adam's second moment never moves
  (and integer parameters would truncate a learning rate to 0). A strongly typed JAX array
  passed as a hyperparameter keeps its dtype, as in optax.

  Args:
    inner_factory: a function returning a ``GradientTransformation``.
    static_args: the name(s) of arguments to pass through as they are (e.g. a callable that is
      not a schedule).
    hyperparam_dtype: the dtype of float hyperparameters; float32 (or float64, see above) by
      default.

  Returns:
    A function with the signature of ``inner_factory`` returning a
    ``GradientTransformationExtraArgs`` whose state is an ``InjectStatefulHyperparamsState``.

  Example:
    >>> import jax, jax.numpy as jnp, optax_like as ox
    >>> tx = ox.inject_hyperparams(ox.sgd)(learning_rate=lambda count: 1.0 / (count + 1))
    >>> s = tx.init(jnp.zeros(1))
    >>> for _ in range(2):
    ...   u, s = tx.update(jnp.ones(1), s)
    ...   print(u.tolist())
    [-1.0]
    [-0.5]
    >>> tx = ox.inject_hyperparams(ox.sgd)(learning_rate=0.1)
    >>> s = tx.init(jnp.zeros(1))
    >>> s.hyperparams['learning_rate'] = jnp.float32(0.5)
    >>> u, s = jax.jit(tx.update)(jnp.ones(1), s)
    >>> u.tolist(), s.hyperparams['learning_rate'].dtype
    ([-0.5], dtype('float32'))
  """
  if not callable(inner_factory):
    raise TypeError('inject_hyperparams: `inner_factory` must be a callable returning a '
                    f'GradientTransformation, got {type(inner_factory).__name__}.')
  signature = inspect.signature(inner_factory)
  static_args = _check_static_args(static_args, signature.parameters)
  hp_dtype = tree.canonicalize_dtype(hyperparam_dtype)

  @functools.wraps(inner_factory)
  def wrapped_transform(*args, **kwargs) -> base.GradientTransformationExtraArgs:
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()

    schedules, numeric, other = {}, {}, {}
    for name, value in bound.arguments.items():
      if name in static_args or isinstance(value, (bool, np.bool_, type, np.dtype)):
        # Classes (e.g. ``mu_dtype=jnp.bfloat16``) are callable but never schedules.
        other[name] = value
      elif isinstance(value, StatefulSchedule):
        schedules[name] = value
      elif callable(value):
        schedules[name] = WrappedSchedule(value)
      elif _is_number(value):
        numeric[name] = value
      else:
        other[name] = value

    def dtype_for(tree_):
      return hp_dtype if hp_dtype is not None else _default_hyperparam_dtype(tree_)

    def build(hparams):
      return base.with_extra_args_support(inner_factory(**other, **hparams))

    def numeric_value(name, value, dtype):
      """A numeric entry as it is stored and used: an array in the entry's dtype.

      A strongly typed JAX array keeps its dtype (as in optax); any other number assigned to an
      entry that started as a float (or a float array of its own dtype) becomes that dtype.
      """
      if isinstance(value, jax.Array) and not _is_weak(value):
        return value
      initial = numeric[name]
      if isinstance(initial, jax.Array) and not _is_weak(initial):
        if jnp.issubdtype(initial.dtype, jnp.inexact):
          return jnp.asarray(value, initial.dtype)
        return jnp.asarray(value)
      if _is_float(initial):
        return jnp.asarray(value, dtype)
      return jnp.asarray(_convert_floats(value, dtype))

    def init_fn(params):
      dtype = dtype_for(params)
      hparams = {}
      for name, value in numeric.items():
        hparams[name] = jnp.asarray(_convert_floats(value, dtype))
      sched_states = {name: sched.init() for name, sched in schedules.items()}
      for name, sched in schedules.items():
        hparams[name] = jnp.asarray(_convert_floats(sched(sched_states[name]), dtype))
      return InjectStatefulHyperparamsState(
          count=jnp.zeros([], jnp.int32),
          hyperparams=hparams,
          hyperparams_states=sched_states,
          inner_state=build(hparams).init(params))

    def update_fn(updates, state, params=None, **extra_args):
      validation.check_state(state, InjectStatefulHyperparamsState, 'inject_hyperparams')
      dtype = dtype_for(params if params is not None else updates)
      hparams = {}
      for name, value in state.hyperparams.items():
        if name in numeric:
          hparams[name] = numeric_value(name, value, dtype)
        else:
          hparams[name] = _convert_floats(value, dtype)
      for name, sched in schedules.items():
        value = sched(state.hyperparams_states[name], **extra_args)
        hparams[name] = jnp.asarray(_convert_floats(value, dtype))
      sched_states = {name: sched.update(state.hyperparams_states[name], **extra_args)
                      for name, sched in schedules.items()}
      updates, inner_state = build(dict(hparams)).update(updates, state.inner_state, params,
                                                         **extra_args)
      return updates, InjectStatefulHyperparamsState(
          count=tree.safe_increment(state.count),
          hyperparams=hparams,
          hyperparams_states=sched_states,
          inner_state=inner_state)

    return base.GradientTransformationExtraArgs(init_fn, update_fn)

  return wrapped_transform


def inject_stateful_hyperparams(inner_factory: Callable[..., base.GradientTransformation],
                                static_args: Union[str, Iterable[str]] = (),
                                hyperparam_dtype: Optional[Any] = None
                                ) -> Callable[..., base.GradientTransformationExtraArgs]:
  """Deprecated alias of ``inject_hyperparams`` (which handles stateful schedules); warns.

  Example:
    >>> import warnings, optax_like as ox
    >>> with warnings.catch_warnings():
    ...   warnings.simplefilter('ignore')
    ...   tx = ox.inject_stateful_hyperparams(ox.sgd)(learning_rate=0.1)
  """
  warnings.warn('inject_stateful_hyperparams is deprecated; use inject_hyperparams, which '
                'accepts stateful schedules too.', DeprecationWarning, stacklevel=2)
  return inject_hyperparams(inner_factory, static_args, hyperparam_dtype)

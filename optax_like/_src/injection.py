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


def _state_hyperparam_dtype(tree_: Any) -> jnp.dtype:
  """optax's dtype for float hyperparameters in the state: the highest dtype of the leaves of
  ``tree_`` (float32 for a tree without leaves)."""
  dtypes = [jnp.result_type(leaf) for leaf in jax.tree.leaves(tree_)]
  if not dtypes:
    return jnp.dtype(jnp.float32)
  return functools.reduce(jnp.promote_types, dtypes)


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
  A Python number assigned to an entry is used by the next ``update`` and stored back in the
  entry's dtype. A jitted step sees a Python float as a weakly typed input and so compiles once
  more for it (as optax's does); assigning a scalar of the entry's dtype (e.g.
  ``np.float32(0.01)``) keeps the step's signature and never recompiles.

  Hyperparameter dtype: the state is optax's. Float hyperparameters are stored in the highest
  dtype of the parameters (``hyperparam_dtype`` when given); a strongly typed JAX array keeps
  its own dtype. The values passed to ``inner_factory`` are computed in float32 (float64 when a
  parameter is float64) whatever that storage dtype, a deliberate difference from optax: with
  bfloat16 parameters optax runs Adam with ``b2=0.999`` rounded to exactly 1.0 (its second
  moment never moves), and with integer parameters with a learning rate truncated to 0. Here an
  entry still holding its initial value (rounded to the storage dtype) is used at full
  precision; an entry set by hand is used as set. With float32 parameters both dtypes are
  float32 and nothing differs from optax.

  Args:
    inner_factory: a function returning a ``GradientTransformation``.
    static_args: the name(s) of arguments to pass through as they are (e.g. a callable that is
      not a schedule).
    hyperparam_dtype: the dtype of float hyperparameters, in the state and in the math;
      by default the parameters' (stored) and float32 or float64 (used), see above.

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
      """The dtype float hyperparameters are used in."""
      return hp_dtype if hp_dtype is not None else _default_hyperparam_dtype(tree_)

    def storage_dtype_for(tree_):
      """The dtype float hyperparameters are stored in (optax's)."""
      return hp_dtype if hp_dtype is not None else _state_hyperparam_dtype(tree_)

    def used_value(name, stored, given, dtype):
      """The value of numeric entry ``name`` passed to ``inner_factory``, in ``dtype``.

      ``stored`` is the entry as the state will hold it, ``given`` what the incoming state held.
      An entry still holding its initial float value, rounded to a narrower storage dtype, is
      used at full precision; any other value as it is.
      """
      initial = numeric[name]
      if (hp_dtype is not None or not _is_float(initial) or stored.dtype == dtype
          or (isinstance(initial, jax.Array) and not _is_weak(initial))):
        return numeric_value(name, given, dtype)
      if not (isinstance(given, jax.Array) and not _is_weak(given) and given.dtype == stored.dtype):
        return jnp.asarray(given, dtype)  # set by hand (a Python number): used as given
      unchanged = given == jnp.asarray(initial, stored.dtype)
      return jnp.where(unchanged, jnp.asarray(initial, dtype), given.astype(dtype))

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
      dtype, storage = dtype_for(params), storage_dtype_for(params)
      hparams, used = {}, {}
      for name, value in numeric.items():
        hparams[name] = jnp.asarray(_convert_floats(value, storage))
        used[name] = jnp.asarray(_convert_floats(value, dtype))
      sched_states = {name: sched.init() for name, sched in schedules.items()}
      for name, sched in schedules.items():
        value = sched(sched_states[name])
        hparams[name] = jnp.asarray(_convert_floats(value, storage))
        used[name] = jnp.asarray(_convert_floats(value, dtype))
      return InjectStatefulHyperparamsState(
          count=jnp.zeros([], jnp.int32),
          hyperparams=hparams,
          hyperparams_states=sched_states,
          inner_state=build(used).init(params))

    def update_fn(updates, state, params=None, **extra_args):
      validation.check_state(state, InjectStatefulHyperparamsState, 'inject_hyperparams')
      dtype = dtype_for(params if params is not None else updates)
      storage = storage_dtype_for(params)
      hparams, used = {}, {}
      for name, value in state.hyperparams.items():
        # The storage dtype of an entry stays as ``init`` made it (a jitted step keeps its
        # signature); a Python number set by hand goes to the parameters' storage dtype.
        entry_dtype = value.dtype if isinstance(value, jax.Array) and not _is_weak(value) else storage
        if name in numeric:
          hparams[name] = numeric_value(name, value, entry_dtype)
          used[name] = used_value(name, hparams[name], value, dtype)
        else:
          hparams[name] = used[name] = _convert_floats(value, entry_dtype)
      for name, sched in schedules.items():
        value = sched(state.hyperparams_states[name], **extra_args)
        old = state.hyperparams.get(name)
        entry_dtype = old.dtype if isinstance(old, jax.Array) and not _is_weak(old) else storage
        hparams[name] = jnp.asarray(_convert_floats(value, entry_dtype))
        used[name] = jnp.asarray(_convert_floats(value, dtype))
      sched_states = {name: sched.update(state.hyperparams_states[name], **extra_args)
                      for name, sched in schedules.items()}
      updates, inner_state = build(used).update(updates, state.inner_state, params,
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

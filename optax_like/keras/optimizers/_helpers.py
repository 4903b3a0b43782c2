"""Small helpers shared by the optimizer modules: cache keys, hyperparameter values, initializers."""

from __future__ import annotations

import inspect
import numbers
import re
from typing import Any, Callable, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from optax_like.keras import schedules
from optax_like.keras.variables import Variable, _zeros_like_value


class _Id:
  """Hashes and compares a user object by identity (for cache keys)."""
  __slots__ = ('obj',)

  def __init__(self, obj):
    self.obj = obj

  def __hash__(self):
    return id(self.obj)

  def __eq__(self, other):
    return isinstance(other, _Id) and other.obj is self.obj


def _freeze(value: Any) -> Any:
  """A hashable rendering of a (config) value."""
  if isinstance(value, dict):
    return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
  if isinstance(value, (list, tuple)):
    return tuple(_freeze(v) for v in value)
  if isinstance(value, (np.ndarray, jax.Array)):
    return ('array', np.asarray(value).dtype.name, np.asarray(value).tolist().__repr__())
  try:
    hash(value)
  except TypeError:
    return _Id(value)
  return value


def _to_snake_case(name: str) -> str:
  s = re.sub(r'(.)([A-Z][a-z]+)', r'\1_\2', name)
  return re.sub(r'([a-z])([A-Z])', r'\1_\2', s).lower()


def _f32_number(value: Any) -> float:
  """A float hyperparameter as Keras stores it (a float32 variable), as a short Python float."""
  return float(str(np.float32(value)))


def _is_number(value: Any) -> bool:
  return isinstance(value, numbers.Number) and not isinstance(value, bool)


def _accepts_one_argument(fn: Callable) -> bool:
  """True for a callable of one required positional argument (an optax-style schedule)."""
  try:
    sig = inspect.signature(fn)
  except (TypeError, ValueError):
    return False
  required = [p for p in sig.parameters.values()
              if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
  return len(required) == 1


def _is_schedule(value: Any) -> bool:
  if isinstance(value, schedules.LearningRateSchedule):
    return True
  return (callable(value) and not isinstance(value, (Variable, jax.Array, np.ndarray))
          and _accepts_one_argument(value))


def _as_input(value: Any) -> Any:
  """A hyperparameter value as an input of the compiled step."""
  if isinstance(value, Variable):
    return value._value  # pylint: disable=protected-access
  if _is_number(value):
    return np.float32(value)
  return jnp.asarray(value)


def _check_scalar_hyper(name: str, value: Any) -> Any:
  """``value`` if it is a scalar (a vector hyperparameter would broadcast per element)."""
  # (``jax.Array._value`` is a host copy: only a Variable is unwrapped.)
  shape = np.shape(value._value if isinstance(value, Variable) else value)  # pylint: disable=protected-access
  if shape != ():
    raise ValueError(f'The hyperparameter `{name}` must be a scalar (a number, a scalar '
                     f'Variable, a schedule or a callable returning a scalar); got a value of '
                     f'shape {shape}: {value!r:.80}')
  return value


def _call_hyper(value: Any) -> Any:
  """A zero-argument callable hyperparameter is called each step (Keras ``_get_hyper``)."""
  result = value()
  if isinstance(result, Variable):
    return result._value  # pylint: disable=protected-access
  if _is_number(result):
    return float(result)  # weakly typed: takes the variable's dtype, as TF casts it
  return jnp.asarray(result)


def _initial_value(initializer: Any, shape: Tuple[int, ...], dtype: Any,
                   like: Optional[jax.Array] = None) -> jax.Array:
  if isinstance(initializer, str):
    kind = initializer.lower()
    if kind in ('zeros', 'zero'):
      if like is not None and tuple(like.shape) == tuple(shape) and like.dtype == dtype:
        return _zeros_like_value(like)
      return jnp.zeros(shape, dtype)
    if kind in ('ones', 'one'):
      return jnp.ones(shape, dtype)
    raise ValueError(f"Unknown initializer {initializer!r}: use 'zeros', 'ones', a callable "
                     '`f(shape, dtype)` or an array.')
  if callable(initializer):
    try:
      value = initializer(shape, dtype=dtype)
    except TypeError:
      value = initializer(shape)
    return jnp.asarray(value, dtype)
  value = jnp.asarray(getattr(initializer, '_value', initializer), dtype)
  if shape is not None and tuple(value.shape) != tuple(shape):
    value = jnp.broadcast_to(value, shape)
  return value


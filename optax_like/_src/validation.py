"""Input checks shared by every transform: each error names the argument or the tree path."""

from __future__ import annotations

import numbers
from typing import Any

import jax
import numpy as np


def check_transformation(tx: Any, what: str) -> None:
  """Raises TypeError unless ``tx`` has callable ``init`` and ``update``."""
  if not (callable(getattr(tx, 'init', None)) and callable(getattr(tx, 'update', None))):
    raise TypeError(
        f'{what} must be a GradientTransformation (an object with callable `init` '
        f'and `update`), got {type(tx).__name__}: {tx!r:.80}')


def check_state(state: Any, expected: Any, fn: str) -> None:
  """Raises TypeError unless ``state`` is the kind of state ``fn``'s ``init`` makes.

  ``expected`` is a NamedTuple class (or a tuple of them). A state qualifies when its class has
  the same name and fields, so optax's own class of that name (e.g. a state restored from an
  optax checkpoint) is accepted. Checked while tracing only: no cost in a compiled step.
  """
  classes = expected if isinstance(expected, tuple) else (expected,)
  fields = getattr(state, '_fields', None)
  for cls in classes:
    if type(state).__name__ == cls.__name__ and fields == cls._fields:
      return
  wanted = ' or '.join(f'{cls.__name__}{cls._fields}' for cls in classes)
  got = type(state).__name__ + (str(fields) if fields is not None else '')
  raise TypeError(
      f'{fn}: `state` must be the {wanted} that its `init` returns, got {got}; was the '
      'state made by another optimizer (or another order of transformations in a chain)?')


def require_params(params: Any, transform: str) -> None:
  """Raises ValueError when a transform that reads parameters is called without them."""
  if params is None:
    raise ValueError(
        f'{transform} needs the current parameters: call '
        f'`update(updates, state, params)` with `params`.')


def _static_number(value: Any):
  """Returns ``value`` as a Python float when it is a concrete scalar, else None (traced)."""
  if isinstance(value, numbers.Number) and not isinstance(value, bool):
    return float(value)
  if isinstance(value, (np.ndarray, np.generic)) and np.ndim(value) == 0:
    return float(value)
  if isinstance(value, jax.Array) and not isinstance(value, jax.core.Tracer) and value.ndim == 0:
    return float(value)
  return None


def is_bool(value: Any) -> bool:
  """Whether ``value`` is a boolean: Python, NumPy or a JAX/NumPy array of dtype bool."""
  if isinstance(value, (bool, np.bool_)):
    return True
  dtype = getattr(value, 'dtype', None)
  return dtype is not None and isinstance(value, (np.ndarray, jax.Array)) and dtype == np.bool_


def check_not_bool(value: Any, name: str, fn: str = '') -> None:
  """Raises TypeError for a boolean hyperparameter: ``True`` is not the number 1 here.

  (``adam(b1=True)`` would otherwise run with ``b1 = 1`` and return NaN.)
  """
  if is_bool(value):
    prefix = f'{fn}: ' if fn else ''
    raise TypeError(f'{prefix}`{name}` must be a number, got the boolean {value!r}.')


def check_range(value: Any, name: str, *, low=None, high=None,
                low_inclusive=True, high_inclusive=True, fn: str = '') -> None:
  """Raises ValueError if a concrete scalar ``value`` lies outside the given interval.

  A boolean raises TypeError (``check_not_bool``) and an array that is not a scalar raises
  ValueError, both naming the argument. Traced values and schedules are not range-checked
  (they are only known at run time).
  """
  check_not_bool(value, name, fn)
  prefix = f'{fn}: ' if fn else ''
  if not callable(value) and np.ndim(value) != 0:
    raise ValueError(f'{prefix}`{name}` must be a scalar, got an array of shape '
                     f'{np.shape(value)}.')
  v = _static_number(value)
  if v is None:
    return
  bad_low = low is not None and (v < low if low_inclusive else v <= low)
  bad_high = high is not None and (v > high if high_inclusive else v >= high)
  if bad_low or bad_high or v != v:
    lo = '' if low is None else ('[' if low_inclusive else '(') + f'{low}'
    hi = '' if high is None else f'{high}' + (']' if high_inclusive else ')')
    if low is not None and high is not None:
      interval = f'in {lo}, {hi}'
    elif low is not None:
      interval = f'>= {low}' if low_inclusive else f'> {low}'
    else:
      interval = f'<= {high}' if high_inclusive else f'< {high}'
    raise ValueError(f'{prefix}`{name}` must be {interval}, got {value!r}.')


def check_schedule_or_scalar(value: Any, name: str, fn: str = '') -> None:
  """Accepts a number, a scalar array, or a callable of the step count."""
  prefix = f'{fn}: ' if fn else ''
  if callable(value):
    return
  check_not_bool(value, name, fn)
  if isinstance(value, (numbers.Number, np.ndarray, np.generic, jax.Array)):
    if np.ndim(value) != 0:
      raise ValueError(f'{prefix}`{name}` must be a scalar or a schedule, got an array of shape {np.shape(value)}.')
    return
  raise TypeError(
      f'{prefix}`{name}` must be a number or a schedule (a callable of the step count), '
      f'got {type(value).__name__}: {value!r:.80}')


def check_same_structure(a: Any, b: Any, a_name: str, b_name: str, fn: str = '') -> None:
  """Raises ValueError naming the first differing tree path when two trees disagree."""
  ta = jax.tree.structure(a, is_leaf=lambda x: x is None)
  tb = jax.tree.structure(b, is_leaf=lambda x: x is None)
  if ta == tb:
    return
  pa = {jax.tree_util.keystr(k) for k, _ in jax.tree_util.tree_flatten_with_path(a, is_leaf=lambda x: x is None)[0]}
  pb = {jax.tree_util.keystr(k) for k, _ in jax.tree_util.tree_flatten_with_path(b, is_leaf=lambda x: x is None)[0]}
  only_a = sorted(pa - pb)[:3]
  only_b = sorted(pb - pa)[:3]
  detail = []
  if only_a:
    detail.append(f'paths only in {a_name}: {only_a}')
  if only_b:
    detail.append(f'paths only in {b_name}: {only_b}')
  if not detail:
    detail.append(f'{a_name} is {ta} but {b_name} is {tb}')
  prefix = f'{fn}: ' if fn else ''
  raise ValueError(f'{prefix}{a_name} and {b_name} have different tree structures; ' + '; '.join(detail))

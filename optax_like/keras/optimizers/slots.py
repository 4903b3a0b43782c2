"""Slot mapping: the Keras slots of a variable <-> the leaves of its chain state.

Each optimizer class declares once, in ``_SLOT_MAP`` (or ``_slot_map()`` when it depends on
the configuration), which state field holds which slot and with which sign:
``{(state class name, field): (slot name, +1 or -1)}``. ``load_state`` writes the slots (and
``iterations`` into every step count) into a fresh chain state before an update;
``read_state`` reads them back after it.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Tuple

import jax
import jax.numpy as jnp


def _map_state(state: Any, fn: Callable[[str, str, Any], Any]) -> Any:
  """Rebuilds a chain state, replacing NamedTuple fields for which ``fn`` returns non-None."""
  if isinstance(state, tuple) and hasattr(state, '_fields'):
    fields = {}
    for field in state._fields:
      value = getattr(state, field)
      new = fn(type(state).__name__, field, value)
      fields[field] = _map_state(value, fn) if new is None else new
    return type(state)(**fields)
  if isinstance(state, (tuple, list)):
    return type(state)(_map_state(s, fn) for s in state)
  return state


def _load_state(state: Any, slot_map: Dict[Tuple[str, str], Tuple[str, int]], key: str,
                slots: Dict[str, jax.Array], iterations: jax.Array) -> Any:
  """Writes the Keras slots (and ``iterations`` into every step count) into a fresh state."""
  found = set()

  def fn(cls, field, value):
    entry = slot_map.get((cls, field))
    if entry is not None:
      name, sign = entry
      found.add(name)
      if sign == 0:   # a scalar shared by all variables (Nadam's momentum cache)
        return jnp.asarray(slots[name]).astype(jnp.asarray(value).dtype)
      slot = slots[name].astype(value[key].dtype)
      return {key: slot if sign > 0 else -slot}
    if field == 'count' and hasattr(value, 'dtype') and jnp.ndim(value) == 0:
      return jnp.asarray(iterations).astype(value.dtype)
    return None

  state = _map_state(state, fn)
  missing = set(slots) - found
  if missing:  # a wiring error in this module, never a user error
    raise AssertionError(f'slots {sorted(missing)} not found in the chain state')
  return state


def _read_state(state: Any, slot_map: Dict[Tuple[str, str], Tuple[str, int]],
                key: str) -> Dict[str, jax.Array]:
  out = {}

  def fn(cls, field, value):
    entry = slot_map.get((cls, field))
    if entry is not None:
      name, sign = entry
      out[name] = value if sign == 0 else value[key] if sign > 0 else -value[key]
      return value
    return None

  _map_state(state, fn)
  return out


"""A constant slot initializer (``tf.compat.v1.constant_initializer``'s role)."""

from __future__ import annotations

from typing import Any, Callable

import jax.numpy as jnp


def constant(value: float) -> Callable[..., Any]:
  """``f(shape, dtype)`` filling with ``value`` in the variable's dtype."""
  def initializer(shape, dtype=jnp.float32):
    return jnp.full(shape, value, dtype)
  return initializer

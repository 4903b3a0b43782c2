"""Input checks and precision helpers shared by the loss functions.

Every loss accepts anything array-like (NumPy arrays, Python scalars, JAX arrays). Two rules
hold across the package:

* Precision: bfloat16/float16 inputs are computed in float32 and only the result is rounded to
  the dtype optax returns, so a log-sum-exp over a thousand classes does not lose its last
  digits to 8-bit mantissas. float32 and float64 inputs are computed in their own dtype.
* ``0 log 0 = 0``: a term ``w * log p`` with ``w = 0`` and ``p = 0`` (a masked class given a
  ``-inf`` logit) contributes 0 to the value and 0 to every gradient, instead of NaN.
"""

from __future__ import annotations

import operator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def as_array(x: Any) -> jax.Array:
  return x if isinstance(x, jax.Array) else jnp.asarray(x)


def check_floating(x: Any, name: str, fn: str) -> jax.Array:
  """``x`` as an array; TypeError naming the argument unless its dtype is floating."""
  x = as_array(x)
  if not jnp.issubdtype(x.dtype, jnp.floating):
    raise TypeError(f'{fn}: `{name}` must have a floating dtype, got {x.dtype}.')
  return x


def check_integer(x: Any, name: str, fn: str) -> jax.Array:
  """``x`` as an array; TypeError naming the argument unless its dtype is integer."""
  x = as_array(x)
  if not jnp.issubdtype(x.dtype, jnp.integer):
    raise TypeError(f'{fn}: `{name}` must have an integer dtype, got {x.dtype}.')
  return x


def check_same_shape(a: Any, b: Any, a_name: str, b_name: str, fn: str) -> None:
  a_shape, b_shape = np.shape(a), np.shape(b)
  if a_shape != b_shape:
    raise ValueError(f'{fn}: `{a_name}` and `{b_name}` must have the same shape, got '
                     f'{a_shape} and {b_shape}.')


def check_rank(x: Any, rank: int, name: str, fn: str) -> None:
  if np.ndim(x) != rank:
    raise ValueError(f'{fn}: `{name}` must have rank {rank}, got shape {np.shape(x)}.')


def canonical_axis(axis: Any, ndim: int, name: str = 'axis', fn: str = '') -> int:
  """``axis`` in ``[0, ndim)``; ValueError naming the argument when it is out of bounds."""
  axis = operator.index(axis)
  if -ndim <= axis < ndim:
    return axis % ndim
  prefix = f'{fn}: ' if fn else ''
  raise ValueError(f'{prefix}`{name}` {axis} is out of bounds for an array of dimension {ndim}.')


def wide(x: jax.Array) -> jax.Array:
  """``x`` in float32 when it is a 16-bit float, else unchanged."""
  if jnp.issubdtype(x.dtype, jnp.floating) and x.dtype.itemsize < 4:
    return x.astype(jnp.float32)
  return x


def out(x: jax.Array, dtype: Any) -> jax.Array:
  """Rounds a result computed by ``wide`` arithmetic to the dtype optax returns."""
  return x if x.dtype == dtype else x.astype(dtype)


def mul0(w, v) -> jax.Array:
  """``w * v`` with ``0 * (+-inf) = 0``, in the value and in both gradients.

  This is the ``0 log 0 = 0`` convention: a zero weight on an infinite log-probability (a class
  masked by a ``-inf`` logit) contributes nothing. Only the entries where ``w`` is 0 and ``v``
  infinite change, so everywhere else the value and both gradients are the plain product's. The
  inner ``where`` keeps the backward pass of the product free of ``0 * inf``.
  """
  zero_times_inf = (w == 0) & jnp.isinf(v)
  safe_v = jnp.where(zero_times_inf, jnp.zeros_like(v), v)
  product = w * safe_v
  return jnp.where(zero_times_inf, jnp.zeros_like(product), product)

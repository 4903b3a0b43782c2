r"""Changing only the backward pass: ``scale_gradient`` (identity forward, scaled gradient)."""

from __future__ import annotations

from typing import Any

import jax

from optax_like._src import validation


@jax.custom_vjp
def _scaled_backward(inputs: Any, scale: Any) -> Any:
  del scale  # read only by the backward pass
  return inputs


def _forward(inputs: Any, scale: Any) -> tuple:
  return inputs, scale


def _backward(scale: Any, cotangents: Any) -> tuple:
  # ``scale`` gets no gradient of its own (None), as in optax.
  return jax.tree.map(lambda c: c * scale, cotangents), None


_scaled_backward.defvjp(_forward, _backward)


def scale_gradient(inputs: Any, scale: Any) -> Any:
  r"""Returns ``inputs`` unchanged, but multiplies the gradient flowing back through it.

  .. math:: f(x) = x, \qquad \frac{\partial L}{\partial x} \leftarrow
     s \cdot \frac{\partial L}{\partial f(x)}

  A ``scale`` of exactly 1 returns ``inputs`` itself, 0 stops the gradient
  (``jax.lax.stop_gradient``); both are cheaper than the general case. ``inputs`` may be any
  pytree of arrays.

  Args:
    inputs: a pytree of arrays.
    scale: the factor :math:`s` applied to the gradient on the backward pass.

  Returns:
    ``inputs``, with the scaled backward pass.

  Example:
    >>> import jax, jax.numpy as jnp, optax_like as ox
    >>> f = lambda x: jnp.sum(ox.scale_gradient(x, 0.5) ** 2)
    >>> f(jnp.array([3.0])).item(), jax.grad(f)(jnp.array([3.0])).tolist()  # 0.5 * 2x
    (9.0, [3.0])
  """
  validation.check_not_bool(scale, 'scale', 'scale_gradient')
  static = validation._static_number(scale)  # pylint: disable=protected-access
  if static == 1.0:
    return inputs
  if static == 0.0:
    return jax.lax.stop_gradient(inputs)
  return _scaled_backward(inputs, scale)

r"""Curvature of a loss around the parameters (``optax_like.second_order``).

Three helpers over a loss ``loss(params, inputs, targets) -> scalar``, all on the parameters
flattened to one vector :math:`\theta` (``jax.flatten_util.ravel_pytree`` order):

* ``hvp``: a Hessian-vector product :math:`H v` in one forward-over-reverse pass,
* ``hessian_diag``: :math:`\mathrm{diag}(H)`,
* ``fisher_diag``: the diagonal of the observed Fisher information, :math:`(\nabla\ell)^2`.

optax 0.2.8 deprecates them (they go in 0.2.9) and warns on each call; so do these.
"""

from __future__ import annotations

import abc
import functools
import warnings
from typing import Any, Protocol

import jax
import jax.numpy as jnp
from jax import flatten_util


class LossFn(Protocol):
  """A loss ``loss(params, inputs, targets) -> scalar``."""

  @abc.abstractmethod
  def __call__(self, params: Any, inputs: jax.Array, targets: jax.Array) -> jax.Array:
    ...


def _deprecated(fn):
  """Warns (DeprecationWarning) on every call, as optax 0.2.8 does for these functions."""
  message = (f'The function {fn.__name__} is deprecated. This function will be/was removed in '
             'optax 0.2.9.')

  @functools.wraps(fn)
  def wrapper(*args, **kwargs):
    warnings.warn(message, category=DeprecationWarning, stacklevel=2)
    return fn(*args, **kwargs)

  return wrapper


def _flat(tree: Any) -> jax.Array:
  return flatten_util.ravel_pytree(tree)[0]


def _hvp(loss: LossFn, v: jax.Array, params: Any, inputs: jax.Array,
         targets: jax.Array) -> Any:
  _, unflatten = flatten_util.ravel_pytree(params)
  grad_fn = jax.grad(lambda p: loss(p, inputs, targets))
  return jax.jvp(grad_fn, (params,), (unflatten(v),))[1]


@_deprecated
def hvp(loss: LossFn, v: jax.Array, params: Any, inputs: jax.Array,
        targets: jax.Array) -> jax.Array:
  r"""The Hessian of the loss times a vector, :math:`H v` with
  :math:`H = \nabla^2_\theta \ell(\theta; x, y)`, as the forward derivative of the gradient
  along :math:`v` (no Hessian is formed).

  ``v`` is a flat vector of the size of the flattened ``params``; the product comes back shaped
  like ``params``. Deprecated in optax 0.2.8 (removed in 0.2.9).

  Reference: Pearlmutter, `Fast exact multiplication by the Hessian
  <https://doi.org/10.1162/neco.1994.6.1.147>`_, 1994.

  Example:
    >>> import warnings, jax.numpy as jnp, optax_like as ox
    >>> loss = lambda p, x, y: jnp.sum(p['w'] ** 3 * x)      # H = diag(6 w x)
    >>> with warnings.catch_warnings():
    ...   warnings.simplefilter('ignore')
    ...   out = ox.second_order.hvp(loss, jnp.array([1.0, 1.0]), {'w': jnp.array([1.0, 2.0])},
    ...                             jnp.array([1.0, 0.5]), None)
    >>> out['w'].tolist()
    [6.0, 6.0]
  """
  return _hvp(loss, v, params, inputs, targets)


@_deprecated
def hessian_diag(loss: LossFn, params: Any, inputs: jax.Array,
                 targets: jax.Array) -> jax.Array:
  r"""The diagonal of the Hessian of the loss, :math:`H_{kk} = e_k^\top H e_k` for every
  coordinate :math:`k` of the flattened parameters (one ``hvp`` per coordinate, vectorised).

  Returns a flat vector of the size of the flattened ``params``. Deprecated in optax 0.2.8.

  Example:
    >>> import warnings, jax.numpy as jnp, optax_like as ox
    >>> loss = lambda p, x, y: jnp.sum(p['w'] ** 3 * x)      # H = diag(6 w x)
    >>> with warnings.catch_warnings():
    ...   warnings.simplefilter('ignore')
    ...   d = ox.second_order.hessian_diag(loss, {'w': jnp.array([1.0, 2.0])},
    ...                                    jnp.array([1.0, 0.5]), None)
    >>> d.tolist()
    [6.0, 6.0]
  """
  basis = jnp.eye(_flat(params).size)

  def diagonal_entry(e):
    return jnp.vdot(e, _flat(_hvp(loss, e, params, inputs, targets)))

  return jax.vmap(diagonal_entry)(basis)


@_deprecated
def fisher_diag(negative_log_likelihood: LossFn, params: Any, inputs: jax.Array,
                targets: jax.Array) -> jax.Array:
  r"""The diagonal of the observed Fisher information of a negative log-likelihood
  :math:`\ell`: :math:`(\nabla_\theta \ell(\theta; x, y))^2`, elementwise, over the flattened
  parameters. Deprecated in optax 0.2.8.

  Example:
    >>> import warnings, jax.numpy as jnp, optax_like as ox
    >>> nll = lambda p, x, y: jnp.sum((p * x - y) ** 2)       # gradient 2 x (p x - y)
    >>> with warnings.catch_warnings():
    ...   warnings.simplefilter('ignore')
    ...   f = ox.second_order.fisher_diag(nll, jnp.array([1.0, 2.0]), jnp.array([1.0, 1.0]),
    ...                                   jnp.array([0.0, 0.0]))
    >>> f.tolist()
    [4.0, 16.0]
  """
  return jnp.square(_flat(jax.grad(negative_log_likelihood)(params, inputs, targets)))

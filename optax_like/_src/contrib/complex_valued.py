r"""Optimising complex parameters as pairs of real ones.

A complex parameter :math:`z = x + iy` is handed to the inner transformation as the pair
:math:`(x, y)`, so a real optimiser (e.g. Adam's elementwise second moment) treats the real
and imaginary parts as two independent real parameters, rather than using :math:`|g|^2`.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optax_like._src import base
from optax_like._src import validation


class SplitRealAndImaginaryArrays(NamedTuple):
  """The real and imaginary parts of a complex leaf, as two real arrays."""
  real: Any
  imaginary: Any


class SplitRealAndImaginaryState(NamedTuple):
  """State of ``split_real_and_imaginary``: the inner transformation's state, built over the
  split tree."""
  inner_state: base.OptState


def _split(x: Any) -> Any:
  if jnp.iscomplexobj(x):
    return SplitRealAndImaginaryArrays(x.real, x.imag)
  return x


def _merge(x: Any) -> Any:
  if isinstance(x, SplitRealAndImaginaryArrays):
    return x.real + x.imaginary * 1j
  return x


def _is_pair(x: Any) -> bool:
  return isinstance(x, SplitRealAndImaginaryArrays)


def split_real_and_imaginary(
    inner: base.GradientTransformation,
) -> base.GradientTransformation:
  r"""Runs ``inner`` on the real and imaginary parts of complex leaves as separate leaves.

  Every complex leaf of the params and updates becomes
  ``SplitRealAndImaginaryArrays(real=Re z, imaginary=Im z)``; real leaves pass unchanged.
  With :math:`T` the inner transformation:

  .. math::
    (a, b) = T(\operatorname{Re} g, \operatorname{Im} g), \qquad u = a + i\, b

  Args:
    inner: the transformation to run on the split tree.

  Returns:
    A ``GradientTransformation`` with state ``SplitRealAndImaginaryState(inner_state)``.

  Example:
    >>> import jax.numpy as jnp
    >>> import optax_like as ox
    >>> from optax_like import contrib
    >>> tx = contrib.split_real_and_imaginary(ox.scale_by_rms(decay=0.0, eps=0.0))
    >>> p = jnp.zeros(1, jnp.complex64)
    >>> u, _ = tx.update(jnp.array([3.0 - 4.0j]), tx.init(p), p)
    >>> u.tolist()   # each part divided by its own magnitude
    [(1-1j)]
  """
  validation.check_transformation(inner, '`inner`')

  def init_fn(params):
    return SplitRealAndImaginaryState(inner_state=inner.init(jax.tree.map(_split, params)))

  def update_fn(updates, state, params=None):
    validation.check_state(state, SplitRealAndImaginaryState, 'split_real_and_imaginary')
    split_updates = jax.tree.map(_split, updates)
    split_params = jax.tree.map(_split, params)
    new_updates, inner_state = inner.update(split_updates, state.inner_state, split_params)
    return (jax.tree.map(_merge, new_updates, is_leaf=_is_pair),
            SplitRealAndImaginaryState(inner_state=inner_state))

  return base.GradientTransformation(init_fn, update_fn)

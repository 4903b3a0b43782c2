r"""Scaling each leaf's update by a size of its parameter block (Adafactor's relative step).

A "block" is one leaf of the parameter tree (a weight vector or matrix). Both transforms are
stateless and need ``params``; the norms are computed in float32 for 16-bit leaves.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from optax_like._src import base
from optax_like._src import tree
from optax_like._src import validation


def _floored(size_of: Callable[[jax.Array], jax.Array], x: jax.Array,
             floor: Any) -> jax.Array:
  """``max(size_of(x), floor)`` whose gradient is 0, not NaN, where the size is below the floor
  (the size is recomputed from ones there, so its square root never sees 0)."""
  size = size_of(x)
  small = size <= floor
  safe = size_of(jnp.where(small, jnp.ones_like(x), x))
  return jnp.where(small, floor, safe)


def _l2(x: jax.Array) -> jax.Array:
  return jnp.sqrt(jnp.sum(tree.abs_sq(x)))


def _rms(x: jax.Array) -> jax.Array:
  return jnp.sqrt(jnp.mean(tree.abs_sq(x)))


def _scale_by_param_size(size_of: Callable[[jax.Array], jax.Array], min_scale: Any,
                         fn: str) -> base.GradientTransformation:
  validation.check_range(min_scale, 'min_scale', low=0.0, fn=fn)

  def leaf(u, p):
    if u is None:
      return None
    factor = _floored(size_of, tree.upcast(p), min_scale)
    return tree.cast(tree.upcast(u) * factor, tree.result_dtype(u))

  def update_fn(updates, state, params=None):
    validation.require_params(params, fn)
    try:
      return jax.tree.map(leaf, updates, params, is_leaf=tree.is_none), state
    except (ValueError, TypeError):
      validation.check_same_structure(updates, params, 'updates', 'params', fn)
      raise

  return base.GradientTransformation(base.init_empty_state, update_fn)


def scale_by_param_block_norm(min_scale: Any = 1e-3) -> base.GradientTransformation:
  r"""Multiplies each leaf's update by the L2 norm of its parameter, floored at ``min_scale``.

  .. math:: u \leftarrow u \cdot \max(\|p\|_2, s_{min})

  Args:
    min_scale: the floor :math:`s_{min}` of the norm, ``>= 0``.

  Returns:
    A stateless ``GradientTransformation`` whose ``update`` needs ``params``.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like._src import param_scaling
    >>> tx = param_scaling.scale_by_param_block_norm()
    >>> p = {'w': jnp.array([3.0, 4.0]), 'b': jnp.zeros(1)}
    >>> u, _ = tx.update({'w': jnp.ones(2), 'b': jnp.ones(1)}, tx.init(p), p)
    >>> u['w'].tolist(), u['b'].tolist()   # norm 5; a zero block scales by the floor
    ([5.0, 5.0], [0.0010000000474974513])
  """
  return _scale_by_param_size(_l2, min_scale, 'scale_by_param_block_norm')


def scale_by_param_block_rms(min_scale: Any = 1e-3) -> base.GradientTransformation:
  r"""Multiplies each leaf's update by the root mean square of its parameter, floored.

  .. math:: u \leftarrow u \cdot \max\left(\sqrt{\mathrm{mean}(|p|^2)}, s_{min}\right)

  Adafactor's "relative step size" (Shazeer & Stern, 2018, arXiv:1804.04235).

  Args:
    min_scale: the floor :math:`s_{min}` of the RMS, ``>= 0``.

  Returns:
    A stateless ``GradientTransformation`` whose ``update`` needs ``params``.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like._src import param_scaling
    >>> tx = param_scaling.scale_by_param_block_rms()
    >>> p = jnp.array([1.0, 7.0])   # rms = sqrt((1 + 49) / 2) = 5
    >>> tx.update(jnp.array([1.0, -2.0]), tx.init(p), p)[0].tolist()
    [5.0, -10.0]
  """
  return _scale_by_param_size(_rms, min_scale, 'scale_by_param_block_rms')

r"""Unit-wise clipping: each "unit" (a slice of a weight, e.g. one output neuron) is clipped by
its own norm, and adaptive gradient clipping (AGC), which bounds a unit's update norm by a
multiple of the same unit's parameter norm.

Norms are accumulated in float32 for bfloat16/float16 leaves; the clipped update is returned in
the dtype of the incoming update. For float32/float64 leaves the arithmetic is optax 0.2.8's.
"""

from __future__ import annotations

from typing import Any, Optional, Union

import jax
import jax.numpy as jnp
import numpy as np

from optax_like._src import base
from optax_like._src import tree as tree_lib
from optax_like._src import validation

AdaptiveGradClipState = base.EmptyState  # optax's name for the (empty) state of AGC.

# The axes a unit's norm is taken over when ``axis`` is None, by rank: a dense kernel
# ``(in, out)`` and a multi-head kernel ``(in, heads, out)`` reduce the input axis, convolution
# kernels ``HWIO`` / ``DHWIO`` every axis but the output channels.
_DEFAULT_AXES = {2: (0,), 3: (0,), 4: (0, 1, 2), 5: (0, 1, 2, 3)}


def _unit_axes(shape: tuple, axis) -> Optional[tuple]:
  """The reduction axes of ``unitwise_norm`` for a leaf of ``shape`` (None: every axis)."""
  if axis is not None:
    return axis
  if sum(d != 1 for d in shape) <= 1:  # scalars and vectors, also with size-1 axes
    return None
  if len(shape) in _DEFAULT_AXES:
    return _DEFAULT_AXES[len(shape)]
  raise ValueError(
      f'unitwise_norm: without `axis` the units of an array of rank 1 to 5 are known, got '
      f'`x` of shape {tuple(shape)}; pass `axis` to say which axes to reduce over.')


def _check_axis(axis: Any, fn: str) -> None:
  if axis is None:
    return
  items = axis if isinstance(axis, (tuple, list)) else (axis,)
  for a in items:
    if isinstance(a, (bool, np.bool_)) or not isinstance(a, (int, np.integer)):
      raise TypeError(f'{fn}: `axis` must be None, an int or a tuple of ints, got {axis!r}.')


def unitwise_norm(x: jax.typing.ArrayLike,
                  axis: Optional[Union[int, tuple[int, ...]]] = None) -> jax.Array:
  r"""The L2 norm of every unit of ``x``, broadcast back to ``x``'s shape.

  .. math:: \|x\|_{\mathrm{unit}}[i] = \sqrt{\textstyle\sum_{j \in \mathrm{unit}(i)} |x_j|^2}

  A unit is a slice of ``x`` along the axes ``axis``. Without ``axis`` they follow the usual
  layer layouts: the whole array for scalars and vectors (also ``(1, n)``), axis 0 for rank 2
  (``(in, out)``) and 3 (multi-head ``(in, heads, out)``), axes ``(0, 1, 2)`` for rank 4
  (``HWIO``) and ``(0, 1, 2, 3)`` for rank 5 (``DHWIO``). Other ranks need ``axis``.
  Brock et al., 2021, https://arxiv.org/abs/2102.06171.

  Args:
    x: the array.
    axis: an axis or tuple of axes to reduce over, or None for the defaults above.

  Returns:
    An array of ``x``'s shape (float32 for 16-bit ``x``, which is summed in float32, then
    returned in ``x``'s dtype; integer ``x`` gives a float).

  Raises:
    ValueError: without ``axis``, for ranks above 5.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like._src.unitwise_clipping import unitwise_norm
    >>> unitwise_norm(jnp.array([[3.0, 1.0], [4.0, 0.0]])).tolist()  # per column
    [[5.0, 1.0], [5.0, 1.0]]
  """
  _check_axis(axis, 'unitwise_norm')
  x = jnp.asarray(x)
  axes = _unit_axes(x.shape, axis)
  sq = jnp.sum(tree_lib.abs_sq(tree_lib.upcast(x)), axis=axes, keepdims=True)
  norm = jnp.sqrt(sq)
  out_dtype = tree_lib.result_dtype(x.dtype)
  if jnp.issubdtype(x.dtype, jnp.complexfloating):
    out_dtype = jnp.finfo(x.dtype).dtype
  return jnp.broadcast_to(norm, x.shape).astype(out_dtype)


def _shape(x: Any) -> tuple:
  return tuple(x.shape) if hasattr(x, 'shape') else np.shape(x)


def unitwise_clip(g_norm: jax.typing.ArrayLike, max_norm: jax.typing.ArrayLike,
                  grad: jax.typing.ArrayLike,
                  div_eps: jax.typing.ArrayLike = 1e-6) -> jax.Array:
  r"""Rescales every unit of ``grad`` whose norm reaches ``max_norm`` down to ``max_norm``.

  .. math::
    g \leftarrow \begin{cases} g & \|g\|_{\mathrm{unit}} < m \\
                               g \cdot m / \max(\|g\|_{\mathrm{unit}}, \epsilon) & \text{else}
                 \end{cases}

  ``g_norm`` (from ``unitwise_norm(grad)``), ``max_norm`` and ``grad`` have the same shape;
  ``div_eps`` only guards the division.

  Args:
    g_norm: the unit norms of ``grad``, broadcast to its shape.
    max_norm: the largest norm each unit may keep, same shape.
    grad: the array to clip.
    div_eps: lower bound of the divisor.

  Returns:
    The clipped ``grad``, in its dtype.

  Raises:
    ValueError: if the three shapes differ (naming the argument).

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like._src.unitwise_clipping import unitwise_clip, unitwise_norm
    >>> g = jnp.array([3.0, 4.0])
    >>> unitwise_clip(unitwise_norm(g), jnp.full(2, 1.0), g).tolist()
    [0.6000000238418579, 0.800000011920929]
  """
  fn = 'unitwise_clip'
  for name, value in (('max_norm', max_norm), ('grad', grad)):
    if _shape(value) != _shape(g_norm):
      raise ValueError(f'{fn}: `{name}` must have the shape of `g_norm` {_shape(g_norm)}, '
                       f'got {_shape(value)}.')
  g = jnp.asarray(grad)
  gc = tree_lib.upcast(g)
  n = tree_lib.upcast(jnp.asarray(g_norm))
  m = tree_lib.upcast(jnp.asarray(max_norm))
  clipped = gc * (m / jnp.maximum(n, div_eps))
  out = jnp.where(n < m, gc, clipped)
  return out.astype(jnp.result_type(g, g_norm, max_norm))


def adaptive_grad_clip(clipping: jax.typing.ArrayLike,
                       eps: jax.typing.ArrayLike = 1e-3,
                       axis: Optional[Union[int, tuple[int, ...]]] = None
                       ) -> base.GradientTransformation:
  r"""Adaptive gradient clipping (AGC): bounds each unit's update norm by a multiple of the
  same unit's parameter norm.

  .. math::
    m = \lambda \max(\|p\|_{\mathrm{unit}}, \epsilon), \qquad
    u \leftarrow \begin{cases} u & \|u\|_{\mathrm{unit}} < m \\
                               u \cdot m / \|u\|_{\mathrm{unit}} & \text{else} \end{cases}

  with :math:`\lambda` = ``clipping`` and unit norms from ``unitwise_norm(., axis)``.
  Brock et al., "High-Performance Large-Scale Image Recognition Without Normalization",
  2021, https://arxiv.org/abs/2102.06171.

  Args:
    clipping: the largest ratio of a unit's update norm to its parameter norm (``>= 0``).
    eps: lower bound of the parameter norm, so zero-initialised parameters can move
      (``>= 0``).
    axis: the axes of a unit (see ``unitwise_norm``); None for the defaults by rank.

  Returns:
    A stateless ``GradientTransformation`` (state ``AdaptiveGradClipState``, i.e.
    ``EmptyState``) whose ``update`` needs ``params``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> tx = ox.adaptive_grad_clip(0.5)
    >>> params, grads = jnp.array([3.0, 4.0]), jnp.array([6.0, 8.0])  # norms 5 and 10
    >>> tx.update(grads, tx.init(params), params)[0].tolist()  # rescaled to norm 2.5
    [1.5, 2.0]
  """
  fn = 'adaptive_grad_clip'
  validation.check_range(clipping, 'clipping', low=0.0, fn=fn)
  validation.check_range(eps, 'eps', low=0.0, fn=fn)
  _check_axis(axis, fn)

  def clip_leaf(u, p):
    g_norm = unitwise_norm(tree_lib.upcast(u), axis)
    p_norm = unitwise_norm(tree_lib.upcast(p), axis)
    max_norm = clipping * jnp.maximum(p_norm, eps)
    return (unitwise_clip(g_norm, max_norm.astype(g_norm.dtype), tree_lib.upcast(u))
            .astype(tree_lib.result_dtype(u)),)

  def update_fn(updates, state, params=None):
    validation.require_params(params, fn)
    (new_updates,) = tree_lib.tree_map_split(clip_leaf, updates, params, n_out=1,
                                             names=('updates', 'params'), fn_name=fn)
    return new_updates, state

  return base.GradientTransformation(base.init_empty_state, update_fn)

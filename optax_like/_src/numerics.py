r"""Public numerics helpers: moment updates over trees, bias correction, safe norms and counters.

These are the building blocks optax exports at its top level (``optax.update_moment``,
``optax.bias_correction``, ``optax.safe_norm``, ...), with optax's signatures and results.
The transforms of this library use the per-leaf helpers of ``moments`` and ``tree``; the
functions here are their tree-level, public forms:

* ``update_moment`` / ``update_moment_per_elem_norm`` / ``update_infinity_moment`` map a
  moving-average step over a tree of updates and a tree of moments. A None update gives a
  None result at that position (the moment there is dropped, as optax does).
* 16-bit (bfloat16/float16) leaves are computed in float32 and rounded once to the dtype
  optax's expression has, so a decay such as 0.999 is not first rounded to 1.0.
* ``bias_correction`` is ``moments.bias_correction`` (one traced function over the tree).
* ``safe_norm`` / ``safe_root_mean_squares`` floor a norm without NaN gradients at zero;
  ``safe_increment`` adds one to a counter without wrapping around.
"""

from __future__ import annotations

from typing import Any, Optional, Union

import chex
import jax
import jax.numpy as jnp

# Imported under another name: ``moments`` is the name of the public functions' argument.
from optax_like._src import moments as moments_lib
from optax_like._src import tree


def _out_dtype(*operands: Any) -> jnp.dtype:
  """The dtype JAX's promotion gives an expression of ``operands``, made inexact.

  Python scalars (the decay, eps) are weakly typed and do not widen a 16-bit leaf.
  """
  dtype = jnp.result_type(*operands)
  if jnp.issubdtype(dtype, jnp.inexact):
    return dtype
  return jnp.result_type(dtype, float)


def _real_dtype(x: jax.Array) -> jnp.dtype:
  """The dtype of ``|x|``: the real counterpart of a complex dtype, else ``x``'s own."""
  return jnp.finfo(x.dtype).dtype if jnp.iscomplexobj(x) else x.dtype


def _map_updates(f, updates: Any, moments_tree: Any) -> Any:
  """``f(g, t)`` at every update leaf ``g`` (None where the update is None)."""
  return jax.tree.map(lambda g, t: None if g is None else f(g, t), updates, moments_tree,
                      is_leaf=tree.is_none)


def _half_power(x: jax.Array, order: Any) -> jax.Array:
  """``x ** (order / 2)``; an integral half order as an int (an integer power, as optax's)."""
  half = order / 2
  if isinstance(half, float) and half.is_integer():
    half = int(half)
  return x ** half


def update_moment(updates: Any, moments: Any, decay: chex.Numeric, order: Any) -> Any:  # pylint: disable=redefined-outer-name
  r"""One step of the exponential moving average of the ``order``-th power of the updates.

  .. math::
    m_t = (1 - \beta)\, g_t^{k} + \beta\, m_{t-1}

  with :math:`\beta` = ``decay`` and :math:`k` = ``order``, leaf by leaf. Where an update leaf
  is None the result is None.

  Args:
    updates: tree of updates :math:`g_t`.
    moments: tree of moments :math:`m_{t-1}` (same structure, None allowed where updates are).
    decay: decay rate :math:`\beta`.
    order: the power :math:`k` (1 for the mean, 2 for the uncentred second moment).

  Returns:
    The tree of new moments.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.update_moment({'w': jnp.array([2.0])}, {'w': jnp.array([1.0])}, 0.5, 2)
    {'w': Array([2.5], dtype=float32)}
  """
  def leaf(g, t):
    gc, tc = tree.upcast(g), tree.upcast(t)
    return moments_lib.update_moment(gc ** order, tc, decay).astype(
        _out_dtype(g, t, decay))
  return _map_updates(leaf, updates, moments)


def update_moment_per_elem_norm(updates: Any, moments: Any, decay: chex.Numeric,  # pylint: disable=redefined-outer-name
                                order: Any) -> Any:
  r"""One step of the moving average of the ``order``-th power of each element's modulus.

  .. math::
    m_t = (1 - \beta)\, |g_t|^{k} + \beta\, m_{t-1}

  For real updates :math:`|g|^k` is computed as :math:`g^k` (as optax does, so an odd order keeps
  the sign); for complex updates it is :math:`(\bar g g)^{k/2}`, a real number. Where an update
  leaf is None the result is None.

  Args:
    updates: tree of updates :math:`g_t`.
    moments: tree of moments :math:`m_{t-1}`.
    decay: decay rate :math:`\beta`.
    order: the power :math:`k`.

  Returns:
    The tree of new moments.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> g = jnp.array([3.0 + 4.0j])   # |g|^2 = 25
    >>> ox.update_moment_per_elem_norm(g, jnp.zeros(1), 0.5, 2)
    Array([12.5], dtype=float32)
  """
  def modulus_power(gc):
    if not jnp.iscomplexobj(gc):
      return gc ** order
    return _half_power(tree.abs_sq(gc), order)

  def leaf(g, t):
    gc, tc = tree.upcast(g), tree.upcast(t)
    return moments_lib.update_moment(modulus_power(gc), tc, decay).astype(
        _out_dtype(_real_dtype(g), t, decay))
  return _map_updates(leaf, updates, moments)


def update_infinity_moment(updates: Any, moments: Any, decay: chex.Numeric,  # pylint: disable=redefined-outer-name
                           eps: chex.Numeric) -> Any:
  r"""One step of the exponentially weighted infinity norm (Adamax's second moment).

  .. math::
    u_t = \max(|g_t| + \epsilon,\ \beta\, u_{t-1})

  leaf by leaf; where an update leaf is None the result is None.

  Args:
    updates: tree of updates :math:`g_t`.
    moments: tree of previous maxima :math:`u_{t-1}`.
    decay: decay rate :math:`\beta` of the previous maximum.
    eps: added to :math:`|g_t|`, so the result is at least ``eps``.

  Returns:
    The tree of new maxima.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.update_infinity_moment(jnp.array([-1.0, 0.5]), jnp.array([2.0, 0.0]), 0.5, 0.0)
    Array([1. , 0.5], dtype=float32)
  """
  def leaf(g, t):
    gc, tc = tree.upcast(g), tree.upcast(t)
    return jnp.maximum(jnp.abs(gc) + eps, decay * tc).astype(
        _out_dtype(_real_dtype(g), t, decay, eps))
  return _map_updates(leaf, updates, moments)


def bias_correction(moment: Any, decay: chex.Numeric, count: chex.Numeric) -> Any:
  r"""Divides every leaf of ``moment`` by :math:`1 - \beta^t`.

  .. math::
    \hat m_t = \frac{m_t}{1 - \beta^t}

  with :math:`\beta` = ``decay`` and :math:`t` = ``count``. The factor is computed once in the
  precision of ``decay`` and ``count`` (so a bfloat16 moment does not round
  :math:`\beta^t` to 1), then each leaf is divided in its own dtype. It is the identity in the
  limit of large ``count``.

  Args:
    moment: tree of moments :math:`m_t`.
    decay: decay rate :math:`\beta` that produced them.
    count: the (1-based) step :math:`t`.

  Returns:
    The tree of bias-corrected moments, each leaf in its dtype.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.bias_correction({'m': jnp.array([0.75])}, 0.5, jnp.array(2))   # 0.75 / (1 - 0.25)
    {'m': Array([1.], dtype=float32)}
  """
  return moments_lib.bias_correction(moment, decay, count)


def safe_norm(
    x: chex.Numeric,
    min_norm: chex.Numeric,
    ord: Optional[Union[int, float, str]] = None,  # pylint: disable=redefined-builtin
    axis: Union[None, tuple[int, ...], int] = None,
    keepdims: bool = False,
) -> jax.Array:
  r"""``max(norm(x), min_norm)`` whose gradient is 0 (not NaN) where the norm is floored.

  .. math::
    \operatorname{safe\_norm}(x) = \begin{cases} \|x\| & \|x\| > \text{min\_norm} \\
      \text{min\_norm} & \text{otherwise} \end{cases}

  The norm is ``jnp.linalg.norm(x, ord, axis, keepdims)``. Where it is floored, the norm is
  taken of a harmless stand-in (ones), so the unused branch has a finite gradient
  (differentiating ``sqrt`` at 0 would give NaN through ``jnp.maximum``).

  Args:
    x: array.
    min_norm: the floor.
    ord: order of the norm, as for ``jnp.linalg.norm``.
    axis: axis or axes of the norm, as for ``jnp.linalg.norm``.
    keepdims: keep the reduced axes with size one.

  Returns:
    The floored norm.

  Example:
    >>> import jax, jax.numpy as jnp, optax_like as ox
    >>> float(ox.safe_norm(jnp.array([3.0, 4.0]), 1.0))
    5.0
    >>> jax.grad(lambda x: ox.safe_norm(x, 0.0))(jnp.zeros(2)).tolist()
    [0.0, 0.0]
  """
  x = jnp.asarray(x)
  # The norm with the reduced axes kept broadcasts against x to pick the stand-in elementwise.
  norm = jnp.linalg.norm(x, ord=ord, axis=axis, keepdims=True)
  stand_in = jnp.where(norm <= min_norm, jnp.ones_like(x), x)
  if not keepdims:
    norm = jnp.squeeze(norm, axis=axis)
  return jnp.where(norm <= min_norm, min_norm,
                   jnp.linalg.norm(stand_in, ord=ord, axis=axis, keepdims=keepdims))


def safe_root_mean_squares(x: chex.Numeric, min_rms: chex.Numeric) -> jax.Array:
  r"""``max(rms(x), min_rms)`` whose gradient is 0 (not NaN) where the RMS is floored.

  .. math::
    \operatorname{rms}(x) = \sqrt{\tfrac{1}{n}\textstyle\sum_i |x_i|^2}

  Args:
    x: array (real or complex).
    min_rms: the floor.

  Returns:
    The floored root mean square, a scalar.

  Example:
    >>> import jax, jax.numpy as jnp, optax_like as ox
    >>> float(ox.safe_root_mean_squares(jnp.array([3.0, 4.0, 0.0, 0.0]), 0.1))
    2.5
    >>> jax.grad(lambda x: ox.safe_root_mean_squares(x, 1.0))(jnp.zeros(2)).tolist()
    [0.0, 0.0]
  """
  x = jnp.asarray(x)
  rms_of = lambda v: jnp.sqrt(jnp.mean(tree.abs_sq(v)))
  floored = rms_of(x) <= min_rms
  stand_in = jnp.where(floored, jnp.ones_like(x), x)
  return jnp.where(floored, min_rms, rms_of(stand_in))


def safe_increment(count: chex.Numeric) -> chex.Numeric:
  r"""``count + 1``, saturating at the largest value of ``count``'s dtype.

  .. math::
    \operatorname{inc}(c) = \begin{cases} c + 1 & c < c_{max} \\ c_{max} & c = c_{max}
    \end{cases}

  Integer and floating counters are accepted; other dtypes (bool, complex) raise ValueError.

  Args:
    count: the counter.

  Returns:
    The incremented counter, in ``count``'s dtype.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.safe_increment(jnp.asarray(1, jnp.int32)).item()
    2
    >>> ox.safe_increment(jnp.asarray(2**31 - 1, jnp.int32)).item()
    2147483647
  """
  dtype = jnp.asarray(count).dtype
  if jnp.issubdtype(dtype, jnp.integer):
    largest = jnp.iinfo(dtype).max
  elif jnp.issubdtype(dtype, jnp.floating):
    largest = jnp.finfo(dtype).max
  else:
    raise ValueError(f'safe_increment: `count` must have an integer or floating dtype, got '
                     f'{dtype}.')
  largest = jnp.asarray(largest, dtype)
  return jnp.where(count < largest, count + jnp.asarray(1, dtype), largest)


# optax keeps the old name as an alias of the same function.
safe_int32_increment = safe_increment


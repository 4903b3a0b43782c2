r"""Factored second-moment scaling (Adafactor's preconditioner).

For a leaf with two axes of at least ``min_dim_size_to_factor`` elements the running mean of
squared gradients is kept as two vectors, one per axis (the row and column means), instead of a
full array: memory :math:`O(n + m)` rather than :math:`O(nm)` for an :math:`n \times m` matrix.
Other leaves keep the full running mean. Drop-in for optax's ``scale_by_factored_rms``: same
signature, state (``FactoredState(count, v_row, v_col, v)``, placeholders of shape ``(1,)``
where a leaf does not use a field) and numbers. 16-bit leaves are computed in float32 and the
moments rounded only when stored.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from optax_like._src import adaptive
from optax_like._src import base
from optax_like._src import moments
from optax_like._src import tree
from optax_like._src import validation


class FactoredState(NamedTuple):
  """State of ``scale_by_factored_rms``.

  Attributes:
    count: int32 scalar, the number of updates so far.
    v_row: per leaf, the running mean of squared gradients over the largest axis (factored
      leaves), else a ``(1,)`` placeholder.
    v_col: per leaf, the same over the second largest axis, else a ``(1,)`` placeholder.
    v: per leaf, the full running mean (unfactored leaves), else a ``(1,)`` placeholder.
  """
  count: jax.Array
  v_row: base.Updates
  v_col: base.Updates
  v: base.Updates


def _decay_rate_pow(i: Any, exponent: Any = 0.8) -> jax.Array:
  r"""Adafactor's default decay schedule :math:`\hat\beta_2(i) = 1 - (i + 1)^{-c}`.

  Example:
    >>> from optax_like._src import factorized
    >>> float(factorized._decay_rate_pow(0))   # the first step keeps nothing of the past
    0.0
  """
  step = jnp.array(i + 1, jnp.float32)
  return 1.0 - step ** (-exponent)


def _factored_axes(shape: tuple, factored: bool, min_dim_size_to_factor: int
                   ) -> Optional[tuple[int, int]]:
  """``(second largest axis, largest axis)`` of a leaf to factor, or None to keep it whole.

  Ties are broken as NumPy's ``argsort`` breaks them (the later axis counts as larger).
  """
  if not factored or len(shape) < 2:
    return None
  order = np.argsort(shape)
  if shape[order[-2]] < min_dim_size_to_factor:
    return None
  return int(order[-2]), int(order[-1])


def _placeholder(x: Any) -> jax.Array:
  return jnp.zeros((1,), x.dtype)


def _zeros_without_axis(x: Any, axis: int) -> jax.Array:
  """Zeros shaped like ``x`` with ``axis`` dropped; derived from ``x`` so that they are sharded
  like it, also when ``init`` is traced under ``jit``."""
  if isinstance(x, jax.ShapeDtypeStruct):
    shape = tuple(d for i, d in enumerate(x.shape) if i != axis)
    return jnp.zeros(shape, x.dtype)
  return jnp.sum(tree.full_like(x, 0), axis=axis).astype(x.dtype)


def scale_by_factored_rms(
    factored: bool = True,
    decay_rate: Any = 0.8,
    step_offset: Any = 0,
    min_dim_size_to_factor: int = 128,
    epsilon: Any = 1e-30,
    decay_rate_fn: Callable[[Any, Any], Any] = _decay_rate_pow,
) -> base.GradientTransformation:
  r"""Divides updates by a (factored) running root mean square of the gradients (Adafactor).

  With :math:`\hat\beta_t` = ``decay_rate_fn(t - step_offset, decay_rate)`` (:math:`t` the
  0-based step; by default :math:`1 - (t + 1)^{-0.8}`) and
  :math:`G_t = |g_t|^2 + \epsilon`, an unfactored leaf keeps

  .. math::
    v_t = \hat\beta_t v_{t-1} + (1 - \hat\beta_t)\, G_t, \qquad u_t = g_t\, v_t^{-1/2}

  and a factored leaf (two axes of at least ``min_dim_size_to_factor``; :math:`r` the largest
  axis, :math:`c` the second largest) keeps the means of :math:`G_t` over each of them,

  .. math::
    R_t = \hat\beta_t R_{t-1} + (1 - \hat\beta_t)\, \mathrm{mean}_r(G_t), \qquad
    C_t = \hat\beta_t C_{t-1} + (1 - \hat\beta_t)\, \mathrm{mean}_c(G_t)

  .. math::
    u_t = g_t \cdot \left(\frac{R_t}{\mathrm{mean}_c(R_t)}\right)^{-1/2} \cdot C_t^{-1/2}

  (the rank-one estimate :math:`R_t C_t / \mathrm{mean}(R_t)` of :math:`v_t`, each factor
  broadcast along the axis it was reduced over). Shazeer & Stern, "Adafactor: Adaptive
  Learning Rates with Sublinear Memory Cost", 2018 (arXiv:1804.04235); the ``decay_rate_fn``
  hook allows capped schedules as in Zhai et al., "Scaling Vision Transformers", 2021.

  Args:
    factored: factor the moments of leaves with two large enough axes.
    decay_rate: the exponent (or whatever ``decay_rate_fn`` takes as its second argument).
    step_offset: subtracted from the step count before the schedule (for fine-tuning).
    min_dim_size_to_factor: a leaf is factored only if two of its axes are at least this long.
    epsilon: added to the squared gradients, ``>= 0``.
    decay_rate_fn: ``(step, decay_rate) -> decay``, the schedule of :math:`\hat\beta_t`.

  Returns:
    A ``GradientTransformation`` with state ``FactoredState``; its ``update`` needs ``params``.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like._src import factorized
    >>> tx = factorized.scale_by_factored_rms(min_dim_size_to_factor=2, epsilon=0.0)
    >>> g = jnp.array([[1.0, 2.0], [3.0, 4.0]])
    >>> u, state = tx.update(g, tx.init(g), g)    # the first step: v = G
    >>> state.v_row.tolist(), state.v_col.tolist()  # means of g^2 over axis 1, axis 0
    ([2.5, 12.5], [5.0, 10.0])
    >>> [round(x, 4) for x in u.ravel().tolist()]  # g * (R / 7.5)^(-1/2) * C^(-1/2)
    [0.7746, 1.0954, 1.0392, 0.9798]
  """
  fn = 'scale_by_factored_rms'
  validation.check_not_bool(decay_rate, 'decay_rate', fn)
  validation.check_not_bool(step_offset, 'step_offset', fn)
  validation.check_range(epsilon, 'epsilon', low=0.0, fn=fn)
  validation.check_range(min_dim_size_to_factor, 'min_dim_size_to_factor', low=0, fn=fn)
  if not callable(decay_rate_fn):
    raise TypeError(f'{fn}: `decay_rate_fn` must be callable (step, decay_rate) -> decay, got '
                    f'{type(decay_rate_fn).__name__}.')

  def init_leaf(p):
    axes = _factored_axes(np.shape(p), factored, min_dim_size_to_factor)
    if axes is None:
      return _placeholder(p), _placeholder(p), tree.full_like(p, 0)
    col_axis, row_axis = axes
    return _zeros_without_axis(p, row_axis), _zeros_without_axis(p, col_axis), _placeholder(p)

  def init_fn(params):
    v_row, v_col, v = tree.tree_map_split(init_leaf, params, n_out=3)
    return FactoredState(count=adaptive._zero_count(), v_row=v_row, v_col=v_col, v=v)  # pylint: disable=protected-access

  def update_fn(updates, state, params=None):
    validation.require_params(params, fn)
    validation.check_state(state, FactoredState, fn)
    treedef, gs, rows, cols, vs = adaptive._flatten_with_state(  # pylint: disable=protected-access
        updates, state, ('v_row', 'v_col', 'v'), fn)
    decay = decay_rate_fn(state.count - step_offset, decay_rate)

    def leaf(g, row, col, v):
      gc = tree.upcast(g)
      g_sq = tree.abs_sq(gc) + epsilon
      axes = _factored_axes(np.shape(g), factored, min_dim_size_to_factor)
      if axes is None:
        new_v = moments.update_moment(g_sq, tree.upcast(v), decay)
        u = gc * new_v ** -0.5
        return tree.cast(u, tree.result_dtype(g)), row, col, new_v
      col_axis, row_axis = axes
      new_row = moments.update_moment(jnp.mean(g_sq, axis=row_axis), tree.upcast(row), decay)
      new_col = moments.update_moment(jnp.mean(g_sq, axis=col_axis), tree.upcast(col), decay)
      # ``new_row`` lost ``row_axis``: the column axis moved down by one if it came after it.
      row_mean = jnp.mean(new_row, axis=col_axis - (col_axis > row_axis), keepdims=True)
      u = (gc * jnp.expand_dims((new_row / row_mean) ** -0.5, row_axis)
           * jnp.expand_dims(new_col ** -0.5, col_axis))
      return tree.cast(u, tree.result_dtype(g)), new_row, new_col, v

    out = adaptive._lmap(leaf, gs, rows, cols, vs)  # pylint: disable=protected-access
    new_updates, new_rows, new_cols, new_vs = adaptive._unzip(out, 4)  # pylint: disable=protected-access
    return treedef.unflatten(new_updates), FactoredState(
        count=tree.safe_increment(state.count),
        v_row=treedef.unflatten(_keep_dtype(new_rows, rows)),
        v_col=treedef.unflatten(_keep_dtype(new_cols, cols)),
        v=treedef.unflatten(_keep_dtype(new_vs, vs)))

  return base.GradientTransformation(init_fn, update_fn)


def _keep_dtype(new: list, old: list) -> list:
  """New state leaves in the dtype of the old ones (the parameter's dtype, as optax stores)."""
  return [o if n is None else tree.cast(n, o.dtype) for n, o in zip(new, old)]

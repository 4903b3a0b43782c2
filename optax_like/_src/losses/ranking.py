"""Ranking losses over lists of items.

A ranking loss scores the ranking induced by item scores against the one induced by relevance
labels. The last axis holds the items of a list; leading axes are batch axes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Optional

import jax
import jax.numpy as jnp

from optax_like._src.losses import _common


def _reduce(values: jax.Array, where: Optional[jax.Array],
            reduce_fn: Optional[Callable[..., jax.typing.ArrayLike]]) -> jax.Array:
  """Reduces per-list losses; a mean over no valid list is 0 (unless an input is NaN)."""
  if reduce_fn is None:
    return values if where is None else jnp.where(where, values, 0.0)
  reduced = reduce_fn(values, where=where)
  if reduce_fn is jnp.mean:
    inputs_clean = jnp.logical_not(jnp.any(jnp.isnan(values)))
    reduced = jnp.where(jnp.isnan(reduced) & inputs_clean, 0.0, reduced)
  return reduced


def ranking_softmax_loss(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    where: Optional[jax.typing.ArrayLike] = None,
    weights: Optional[jax.typing.ArrayLike] = None,
    reduce_fn: Optional[Callable[..., jax.typing.ArrayLike]] = jnp.mean
) -> jax.Array:
  r"""Listwise softmax ranking loss.

  .. math::
    \ell(s, y) = -\sum_i w_i y_i \log \frac{e^{s_i}}{\sum_{j \in V} e^{s_j}}

  over the valid items :math:`V` of each list (``where``), then reduced over lists with
  ``reduce_fn`` (a mean over no valid list is 0).

  Reference: Cao et al., *Learning to Rank: From Pairwise Approach to Listwise Approach*,
  ICML 2007.

  Args:
    logits: ``[..., list_size]`` item scores.
    labels: ``[..., list_size]`` relevance labels.
    where: optional ``[..., list_size]`` mask of valid items.
    weights: optional ``[..., list_size]`` item weights :math:`w`.
    reduce_fn: ``jnp.mean``, ``jnp.sum`` or None (one loss per list).

  Returns:
    the reduced loss, or ``[...]`` losses when ``reduce_fn`` is None.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> # log(e^0 + e^0) - 0 = log 2
    >>> float(ox.losses.ranking_softmax_loss(jnp.array([0.0, 0.0]),
    ...                                      jnp.array([1.0, 0.0]))).__round__(4)
    0.6931
  """
  logits = _common.check_floating(logits, 'logits', 'ranking_softmax_loss')
  dtype = logits.dtype
  labels = _common.as_array(labels).astype(dtype)
  x, y = _common.wide(logits), _common.wide(labels)
  if where is not None:
    where = _common.as_array(where)
    y = jnp.where(where, y, jnp.zeros_like(y))
    x = jnp.where(where, x, jnp.full_like(x, -jnp.inf))
  if weights is not None:
    y = y * weights
  terms = _common.mul0(y, jax.nn.log_softmax(x, axis=-1))
  loss = -jnp.sum(terms, axis=-1, where=where)
  if where is not None:
    where = jnp.any(where, axis=-1)
  out_dtype = dtype if weights is None else jnp.result_type(dtype, weights)
  return _common.out(_reduce(loss, where, reduce_fn), out_dtype)

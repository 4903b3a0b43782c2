"""Kullback-Leibler divergences between (log-)probability vectors."""

from __future__ import annotations

import warnings
from typing import Union

import jax
import jax.numpy as jnp

from optax_like._src.losses import _common


def _safe_log(targets: jax.Array) -> jax.Array:
  """``log t`` where ``t > 0`` and 0 where ``t = 0`` (with a zero gradient there, not NaN)."""
  is_zero = targets == 0
  safe = jnp.where(is_zero, jnp.ones_like(targets), targets)
  return jnp.where(is_zero, jnp.zeros_like(targets), jnp.log(safe))


def kl_divergence(
    log_predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    axis: Union[int, tuple[int, ...], None] = -1,
    where: Union[jax.typing.ArrayLike, None] = None,
) -> jax.Array:
  r"""Kullback-Leibler divergence :math:`\mathrm{KL}(t \,\|\, p)` of predictions from targets.

  .. math::
    \mathrm{KL}(t \,\|\, p) = \sum_j t_j (\log t_j - \log p_j)

  with ``0 log 0 = 0``: a class with :math:`t_j = 0` contributes 0, also when
  :math:`\log p_j = -\infty` (optax gives NaN there), and the gradient with respect to ``targets``
  there is :math:`-\log p_j` (the :math:`t \log t` term taken as constant at 0) instead of NaN.

  Reference: Kullback and Leibler, *On Information and Sufficiency*, 1951.

  Args:
    log_predictions: log probabilities of the predicted distribution, ``[..., dim]``.
    targets: probabilities of the target distribution, ``[..., dim]``.
    axis: the axis or axes to sum over.
    where: the elements to include.

  Returns:
    the divergence per distribution, ``[...]``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> # 1 * (log 1 - log 0.5) + 0 = log 2
    >>> float(ox.losses.kl_divergence(jnp.log(jnp.array([0.5, 0.5])),
    ...                               jnp.array([1.0, 0.0]))).__round__(4)
    0.6931
  """
  fn = 'kl_divergence'
  log_predictions = _common.check_floating(log_predictions, 'log_predictions', fn)
  targets = _common.check_floating(targets, 'targets', fn)
  t = _common.wide(targets)
  terms = _common.mul0(t, _safe_log(t) - _common.wide(log_predictions))
  loss = jnp.sum(terms, axis=axis, where=where)
  return _common.out(loss, jnp.result_type(log_predictions, targets))


def kl_divergence_with_log_targets(
    log_predictions: jax.typing.ArrayLike,
    log_targets: jax.typing.ArrayLike,
    axis: Union[int, tuple[int, ...], None] = -1,
    where: Union[jax.typing.ArrayLike, None] = None,
) -> jax.Array:
  r"""Kullback-Leibler divergence with the targets given as log probabilities.

  .. math::
    \mathrm{KL}(t \,\|\, p) = \sum_j e^{\log t_j} (\log t_j - \log p_j)

  A class with :math:`\log t_j = -\infty` contributes 0 (optax gives NaN when
  :math:`\log p_j` is :math:`-\infty` too).

  Args:
    log_predictions: log probabilities of the predicted distribution, ``[..., dim]``.
    log_targets: log probabilities of the target distribution, ``[..., dim]``.
    axis: the axis or axes to sum over.
    where: the elements to include.

  Returns:
    the divergence per distribution, ``[...]``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> float(ox.losses.kl_divergence_with_log_targets(
    ...     jnp.log(jnp.array([0.5, 0.5])), jnp.array([0.0, -jnp.inf]))).__round__(4)
    0.6931
  """
  fn = 'kl_divergence_with_log_targets'
  log_predictions = _common.check_floating(log_predictions, 'log_predictions', fn)
  log_targets = _common.check_floating(log_targets, 'log_targets', fn)
  lp, lt = _common.wide(log_predictions), _common.wide(log_targets)
  gap = lt - lp
  # A zero target (log t = -inf) weighs 0 whatever log p is; -inf - (-inf) would be NaN.
  gap = jnp.where(jnp.isneginf(lt) & ~jnp.isnan(lp), jnp.zeros_like(gap), gap)
  loss = jnp.sum(_common.mul0(jnp.exp(lt), gap), axis=axis, where=where)
  return _common.out(loss, jnp.result_type(log_predictions, log_targets))


def generalized_kl_divergence(
    log_predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    axis: Union[int, tuple[int, ...], None] = -1,
    where: Union[jax.typing.ArrayLike, None] = None,
) -> jax.Array:
  r"""Generalized KL divergence between unnormalized distributions.

  .. math::
    D(t \,\|\, p) = \sum_j t_j (\log t_j - \log p_j) + \sum_j (p_j - t_j)

  the Bregman divergence of :math:`f(x) = \sum_j x_j \log x_j - x_j`; it equals
  :func:`kl_divergence` when both sum to 1.

  References: Bregman, 1967; Boyd and Vandenberghe, *Convex Optimization*, 2004, p. 90.

  Args:
    log_predictions: log of the predicted (unnormalized) distribution, ``[..., dim]``.
    targets: the target (unnormalized) distribution, ``[..., dim]``.
    axis: the axis or axes to sum over.
    where: the elements to include.

  Returns:
    the divergence per distribution, ``[...]``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> # 2 (log 2 - log 1) + (1 - 2) = 0.3863
    >>> float(ox.losses.generalized_kl_divergence(jnp.array([0.0]),
    ...                                           jnp.array([2.0]))).__round__(4)
    0.3863
  """
  divergence = kl_divergence(log_predictions, targets, axis=axis, where=where)
  lp = _common.wide(_common.as_array(log_predictions))
  t = _common.wide(_common.as_array(targets))
  mass_gap = jnp.sum(jnp.exp(lp) - t, axis=axis, where=where)
  return _common.out(divergence + mass_gap, divergence.dtype)


def convex_kl_divergence(
    log_predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    axis: Union[int, tuple[int, ...], None] = -1,
    where: Union[jax.typing.ArrayLike, None] = None,
) -> jax.Array:
  r"""Deprecated name of :func:`generalized_kl_divergence` (warns, then calls it).

  Example:
    >>> import warnings, jax.numpy as jnp, optax_like as ox
    >>> with warnings.catch_warnings(record=True):
    ...   float(ox.losses.convex_kl_divergence(jnp.array([0.0]), jnp.array([1.0])))
    0.0
  """
  warnings.warn('The function convex_kl_divergence is deprecated. Please use '
                'generalized_kl_divergence instead.', DeprecationWarning, stacklevel=2)
  return generalized_kl_divergence(log_predictions, targets, axis=axis, where=where)

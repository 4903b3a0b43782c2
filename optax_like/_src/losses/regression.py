"""Regression losses: squared error, Huber, log-cosh, and cosine similarity/distance."""

from __future__ import annotations

from typing import Optional, Union

import jax
import jax.numpy as jnp

from optax_like._src.losses import _common


def _errors(predictions, targets, fn):
  predictions = _common.check_floating(predictions, 'predictions', fn)
  if targets is None:
    return predictions, predictions.dtype
  errors = predictions - _common.as_array(targets)
  return errors, errors.dtype


def squared_error(
    predictions: jax.typing.ArrayLike,
    targets: Optional[jax.typing.ArrayLike] = None,
) -> jax.Array:
  r"""Elementwise squared error :math:`(\hat y - y)^2`.

  The mean squared error is ``squared_error(a, b).mean()``.

  Args:
    predictions: the predictions :math:`\hat y` (floating), any shape.
    targets: the targets :math:`y`, of the same shape as ``predictions`` (a ValueError names
      both otherwise); zeros when omitted.

  Returns:
    the squared errors, of ``predictions``'s shape.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.losses.squared_error(jnp.array([1.0, 3.0]), jnp.array([0.0, 1.0])).tolist()
    [1.0, 4.0]
  """
  fn = 'squared_error'
  predictions = _common.check_floating(predictions, 'predictions', fn)
  if targets is not None:
    _common.check_same_shape(predictions, targets, 'predictions', 'targets', fn)
  errors, dtype = _errors(predictions, targets, fn)
  return _common.out(jnp.square(_common.wide(errors)), dtype)


def l2_loss(
    predictions: jax.typing.ArrayLike,
    targets: Optional[jax.typing.ArrayLike] = None,
) -> jax.Array:
  r"""Elementwise L2 loss :math:`\tfrac12 (\hat y - y)^2`: half of :func:`squared_error`.

  (The factor 1/2, as in Bishop's *Pattern Recognition and Machine Learning*, makes the gradient
  the plain error.)

  Args:
    predictions: the predictions (floating), any shape.
    targets: the targets, of the same shape; zeros when omitted.

  Returns:
    the losses, of ``predictions``'s shape.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.losses.l2_loss(jnp.array([1.0, 3.0]), jnp.array([0.0, 1.0])).tolist()
    [0.5, 2.0]
  """
  fn = 'l2_loss'
  predictions = _common.check_floating(predictions, 'predictions', fn)
  if targets is not None:
    _common.check_same_shape(predictions, targets, 'predictions', 'targets', fn)
  errors, dtype = _errors(predictions, targets, fn)
  return _common.out(0.5 * jnp.square(_common.wide(errors)), dtype)


def huber_loss(
    predictions: jax.typing.ArrayLike,
    targets: Optional[jax.typing.ArrayLike] = None,
    *,
    delta: jax.typing.ArrayLike = 1.0,
) -> jax.Array:
  r"""Huber loss: quadratic for small errors, linear for large ones.

  .. math::
    \ell(e) = \begin{cases} \tfrac12 e^2 & |e| \le \delta \\
    \delta\,(|e| - \tfrac12 \delta) & |e| > \delta \end{cases}, \qquad e = \hat y - y

  Its gradient is the error clipped to :math:`[-\delta, \delta]`.

  Reference: Huber, *Robust Estimation of a Location Parameter*, 1964.

  Args:
    predictions: the predictions (floating), any shape.
    targets: the targets, broadcastable to ``predictions``; zeros when omitted.
    delta: the threshold :math:`\delta` between the two regimes.

  Returns:
    the losses, of the broadcast shape.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.losses.huber_loss(jnp.array([0.5, 3.0]), delta=1.0).tolist()
    [0.125, 2.5]
  """
  errors, dtype = _errors(predictions, targets, 'huber_loss')
  abs_errors = jnp.abs(_common.wide(errors))
  quadratic = jnp.minimum(abs_errors, delta)
  linear = abs_errors - quadratic
  loss = 0.5 * quadratic**2 + delta * linear
  return _common.out(loss, jnp.result_type(dtype, delta))


def log_cosh(
    predictions: jax.typing.ArrayLike,
    targets: Optional[jax.typing.ArrayLike] = None,
) -> jax.Array:
  r"""Log-cosh loss :math:`\log\cosh(\hat y - y)`.

  About :math:`e^2 / 2` for small errors and :math:`|e| - \log 2` for large ones: a twice
  differentiable Huber loss. Evaluated as :math:`\operatorname{logaddexp}(e, -e) - \log 2`, so
  it does not overflow for large errors.

  Reference: Chen et al., *Log Hyperbolic Cosine Loss Improves Variational Auto-Encoder*, 2019.

  Args:
    predictions: the predictions (floating), any shape.
    targets: the targets, broadcastable to ``predictions``; zeros when omitted.

  Returns:
    the losses, of the broadcast shape.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> # log cosh 1 = log(1.5431) = 0.4338; log cosh 100 = 100 - log 2
    >>> [round(v, 4) for v in ox.losses.log_cosh(jnp.array([0.0, 1.0, 100.0])).tolist()]
    [0.0, 0.4338, 99.3069]
  """
  errors, dtype = _errors(predictions, targets, 'log_cosh')
  e = _common.wide(errors)
  loss = jnp.logaddexp(e, -e) - jnp.log(2.0).astype(e.dtype)
  return _common.out(loss, dtype)


def cosine_similarity(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    epsilon: jax.typing.ArrayLike = 0.0,
    axis: Union[int, tuple[int, ...], None] = -1,
    where: Union[jax.typing.ArrayLike, None] = None,
) -> jax.Array:
  r"""Cosine similarity between predicted and target vectors.

  .. math::
    \cos(a, b) = \frac{\langle a, b \rangle}{\max(\|a\|^2, \epsilon)^{1/2}\,
    \max(\|b\|^2, \epsilon)^{1/2}}

  (the squared norms are floored at ``epsilon``; with the default 0 a zero vector gives NaN, as
  in optax).

  Args:
    predictions: the vectors :math:`a`, ``[..., dim]``.
    targets: the vectors :math:`b`, ``[..., dim]``.
    epsilon: the floor of the squared norms.
    axis: the axis or axes holding the vectors.
    where: the elements to include.

  Returns:
    the similarities, ``[...]``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> # (12 + 12) / (5 * 5)
    >>> round(float(ox.losses.cosine_similarity(jnp.array([3.0, 4.0]),
    ...                                         jnp.array([4.0, 3.0]))), 6)
    0.96
  """
  fn = 'cosine_similarity'
  predictions = _common.check_floating(predictions, 'predictions', fn)
  targets = _common.check_floating(targets, 'targets', fn)
  a, b = _common.wide(predictions), _common.wide(targets)
  a_norm = jnp.sqrt(jnp.square(a).sum(axis=axis, where=where, keepdims=True).clip(epsilon))
  b_norm = jnp.sqrt(jnp.square(b).sum(axis=axis, where=where, keepdims=True).clip(epsilon))
  similarity = ((a / a_norm) * (b / b_norm)).sum(axis=axis, where=where)
  return _common.out(similarity, jnp.result_type(predictions, targets))


def cosine_distance(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    epsilon: jax.typing.ArrayLike = 0.0,
    axis: Union[int, tuple[int, ...], None] = -1,
    where: Union[jax.typing.ArrayLike, None] = None,
) -> jax.Array:
  r"""Cosine distance :math:`1 - \cos(a, b)` (see :func:`cosine_similarity`).

  Args:
    predictions: the vectors :math:`a`, ``[..., dim]``.
    targets: the vectors :math:`b`, ``[..., dim]``.
    epsilon: the floor of the squared norms.
    axis: the axis or axes holding the vectors.
    where: the elements to include.

  Returns:
    the distances, ``[...]``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> float(ox.losses.cosine_distance(jnp.array([1.0, 0.0]), jnp.array([0.0, 2.0])))
    1.0
  """
  fn = 'cosine_distance'
  predictions = _common.check_floating(predictions, 'predictions', fn)
  targets = _common.check_floating(targets, 'targets', fn)
  similarity = cosine_similarity(_common.wide(predictions), _common.wide(targets),
                                 epsilon=epsilon, axis=axis, where=where)
  return _common.out(1.0 - similarity, jnp.result_type(predictions, targets))

"""Segmentation losses: soft Dice (Tversky) and generalized Dice."""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from optax_like._src.losses import _common

_REDUCTIONS = ('mean', 'sum', 'none')


def _reduce_classes(loss: jax.Array, reduction: str) -> jax.Array:
  if reduction == 'mean':
    return jnp.mean(loss, axis=-1)
  if reduction == 'sum':
    return jnp.sum(loss, axis=-1)
  return loss


def dice_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    class_weights: Optional[jax.typing.ArrayLike] = None,
    smooth: jax.typing.ArrayLike = 1.,
    alpha: jax.typing.ArrayLike = 0.5,
    beta: jax.typing.ArrayLike = 0.5,
    apply_softmax: bool = True,
    reduction: str = "mean",
    ignore_background: bool = False,
    axis: Optional[jax.typing.ArrayLike] = None,
) -> jax.Array:
  r"""Soft Dice loss (Tversky loss for :math:`\alpha \ne \beta`) per class, then reduced.

  For each class :math:`c`, with probabilities :math:`p` and targets :math:`t` summed over the
  spatial axes:

  .. math::
    I_c = \sum_i p_{ic} t_{ic}, \quad
    \ell_c = 1 - \frac{I_c + s}{I_c + \alpha (P_c - I_c) + \beta (T_c - I_c) + s}

  with :math:`P_c = \sum_i p_{ic}` and :math:`T_c = \sum_i t_{ic}`; :math:`\alpha = \beta = 1/2`
  is the Dice coefficient. Probabilities are ``sigmoid(predictions)`` for one channel and
  ``softmax`` over the last axis otherwise (``apply_softmax``).

  References: Milletari et al., *V-Net*, 2016; Salehi et al., *Tversky loss function for image
  segmentation*, 2017.

  Args:
    predictions: logits ``[batch, ..., num_classes]`` (or ``[..., 1]`` / ``[...]`` for binary).
    targets: one-hot targets of the same shape (or binary ``[...]``).
    class_weights: optional ``[num_classes]`` weights of the per-class losses.
    smooth: the smoothing constant :math:`s`.
    alpha: the weight :math:`\alpha` of false positives.
    beta: the weight :math:`\beta` of false negatives.
    apply_softmax: whether ``predictions`` are logits (True) or probabilities that sum to 1
      over the class axis (False; checked when the values are concrete).
    reduction: ``'mean'``, ``'sum'`` or ``'none'`` over the classes.
    ignore_background: drop class 0 from the loss.
    axis: the axes to sum over; by default all but the first and the last.

  Returns:
    ``[batch...]`` losses, or ``[batch..., num_classes]`` for ``reduction='none'``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> # one image, two pixels, probabilities given: I = 1, P = T = 1 per class
    >>> probs = jnp.array([[[1.0, 0.0], [0.0, 1.0]]])
    >>> ox.losses.dice_loss(probs, probs, apply_softmax=False).tolist()
    [0.0]
    >>> # swapped targets: I = 0, P = T = 1, loss = 1 - 1 / (0.5 + 0.5 + 1) = 0.5
    >>> ox.losses.dice_loss(probs, probs[..., ::-1], apply_softmax=False).tolist()
    [0.5]
  """
  fn = 'dice_loss'
  if reduction not in _REDUCTIONS:
    raise ValueError(f'{fn}: `reduction` must be one of {_REDUCTIONS}, got {reduction!r}.')
  predictions, targets = _common.as_array(predictions), _common.as_array(targets)
  if predictions.ndim == targets.ndim - 1:
    predictions = predictions[..., None]
  if targets.ndim == predictions.ndim - 1:
    targets = targets[..., None]
  _common.check_same_shape(predictions, targets, 'predictions', 'targets', fn)
  if not apply_softmax and not isinstance(predictions, jax.core.Tracer):
    sums = np.asarray(jnp.sum(predictions, axis=-1), dtype=np.float64)
    if not np.allclose(sums, 1.0, rtol=1e-5):
      raise ValueError(
          f'{fn}: with apply_softmax=False, `predictions` must be valid probability '
          f'distributions that sum to 1 over the last axis; the sums range over '
          f'[{sums.min():.6f}, {sums.max():.6f}].')
  dtype = jnp.result_type(predictions, targets)
  probs = _common.wide(predictions)
  if apply_softmax:
    probs = jax.nn.sigmoid(probs) if probs.shape[-1] == 1 else jax.nn.softmax(probs, axis=-1)
  if axis is None:
    axis = tuple(range(1, probs.ndim - 1))
  t = _common.wide(targets)
  intersection = jnp.sum(probs * t, axis=axis)
  pred_sum = jnp.sum(probs, axis=axis)
  target_sum = jnp.sum(t, axis=axis)
  denominator = (intersection + alpha * (pred_sum - intersection)
                 + beta * (target_sum - intersection) + smooth)
  loss = 1.0 - (intersection + smooth) / denominator
  if class_weights is not None:
    _common.check_rank(class_weights, 1, 'class_weights', fn)
    loss = loss * class_weights
    dtype = jnp.result_type(dtype, class_weights)
  if ignore_background and probs.shape[-1] > 1:
    loss = loss[..., 1:]
  return _common.out(_reduce_classes(loss, reduction), dtype)


def multiclass_generalized_dice_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    smooth: jax.typing.ArrayLike = 1.,
    apply_softmax: bool = True,
    ignore_background: bool = False,
) -> jax.Array:
  r"""Generalized Dice loss: per-class Dice losses weighted by inverse squared class volume.

  .. math::
    w_c \propto \frac{1}{T_c^2 + 10^{-7}}, \quad \sum_c w_c = C, \qquad
    \ell = \operatorname{mean}_{b, c}\ w_c\, \ell^{\text{Dice}}_{bc}

  with :math:`T_c` the number of target pixels of class :math:`c` over the whole batch.

  Reference: Sudre et al., *Generalised Dice overlap as a deep learning loss function for highly
  unbalanced segmentations*, 2017.

  Args:
    predictions: logits ``[batch, ..., num_classes]``.
    targets: one-hot targets of the same shape.
    smooth: the smoothing constant.
    apply_softmax: whether ``predictions`` are logits.
    ignore_background: drop class 0 from the loss.

  Returns:
    the scalar loss.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> probs = jnp.array([[[1.0, 0.0], [0.0, 1.0]]])
    >>> float(ox.losses.multiclass_generalized_dice_loss(probs, probs, apply_softmax=False))
    0.0
  """
  fn = 'multiclass_generalized_dice_loss'
  _common.check_same_shape(predictions, targets, 'predictions', 'targets', fn)
  targets = _common.as_array(targets)
  class_volumes = jnp.sum(_common.wide(targets), axis=tuple(range(targets.ndim - 1)))
  class_weights = 1.0 / (class_volumes**2 + 1e-7)
  class_weights = class_weights / jnp.sum(class_weights) * len(class_weights)
  per_class = dice_loss(predictions, targets, class_weights=class_weights, smooth=smooth,
                        apply_softmax=apply_softmax, reduction='none',
                        ignore_background=ignore_background)
  return jnp.mean(per_class)


def binary_dice_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    smooth: jax.typing.ArrayLike = 1.,
    apply_sigmoid: bool = True,
) -> jax.Array:
  r"""Dice loss of a binary segmentation (one sigmoid channel); see :func:`dice_loss`.

  Args:
    predictions: logits ``[batch, ...]`` or ``[batch, ..., 1]``.
    targets: binary targets of the same shape.
    smooth: the smoothing constant.
    apply_sigmoid: whether ``predictions`` are logits (else probabilities).

  Returns:
    ``[batch]`` losses.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> # p = sigmoid(0) = 1/2 on two pixels, one positive: I = 1/2, P = 1, T = 1
    >>> # loss = 1 - 1.5 / (0.5 + 0.25 + 0.25 + 1) = 0.25
    >>> ox.losses.binary_dice_loss(jnp.zeros((1, 2)), jnp.array([[1.0, 0.0]])).tolist()
    [0.25]
  """
  predictions, targets = _common.as_array(predictions), _common.as_array(targets)
  if predictions.ndim == targets.ndim and predictions.shape[-1] != 1:
    predictions = predictions[..., None]
    targets = targets[..., None]
  return dice_loss(predictions, targets, smooth=smooth, apply_softmax=apply_sigmoid,
                   reduction='mean')

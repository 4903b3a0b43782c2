"""Classification losses: cross entropies, margins, sparsemax and focal losses.

All of them follow the package rules of ``_common``: 16-bit inputs are computed in float32 and
rounded once, and a class whose probability is exactly 0 with weight 0 (a ``-inf`` logit for a
masked class) contributes 0 instead of NaN.
"""

from __future__ import annotations

from typing import Optional, Union

import jax
import jax.numpy as jnp

from optax_like._src import projections
from optax_like._src.losses import _common

Axis = Union[int, tuple[int, ...], None]


def _default_float():
  """The dtype of ``jax.nn.one_hot``'s output: float32, float64 under x64."""
  return jax.dtypes.canonicalize_dtype(jnp.float64)


def sigmoid_binary_cross_entropy(
    logits,
    labels,
):
  r"""Elementwise cross entropy of independent binary predictions given by logits.

  .. math::
    \ell(x, y) = -y \log \sigma(x) - (1 - y) \log \sigma(-x)

  with :math:`\sigma` the logistic sigmoid, evaluated as ``log_sigmoid`` so that logits of any
  size give finite values. Use it for binary labels (``logits`` are the scores of class 1) or for
  multi-label problems (one independent logit per class, ``labels`` are per-class target
  probabilities). ``labels`` are cast to ``logits``'s dtype. A logit of ``-inf`` with label 0
  (or ``+inf`` with label 1) is a perfect prediction and gives 0.

  Reference: Goodfellow et al., *Deep Learning*, 2016, section 3.13.

  Args:
    logits: real-valued scores, any shape.
    labels: values in [0, 1], broadcastable against ``logits``.

  Returns:
    the loss per element, the broadcast shape of the inputs, in ``logits``'s dtype.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> # log(1 + e^0) = 0.6931, log(1 + e^-2) = 0.1269
    >>> loss = ox.losses.sigmoid_binary_cross_entropy(
    ...     jnp.array([0.0, 2.0, -2.0]), jnp.array([1.0, 1.0, 0.0]))
    >>> [round(v, 4) for v in loss.tolist()]
    [0.6931, 0.1269, 0.1269]
  """
  fn = 'sigmoid_binary_cross_entropy'
  logits = _common.check_floating(logits, 'logits', fn)
  labels = _common.as_array(labels).astype(logits.dtype)
  x, y = _common.wide(logits), _common.wide(labels)
  loss = (-_common.mul0(y, jax.nn.log_sigmoid(x))
          - _common.mul0(1.0 - y, jax.nn.log_sigmoid(-x)))
  return _common.out(loss, logits.dtype)


def hinge_loss(
    predictor_outputs: jax.typing.ArrayLike, targets: jax.typing.ArrayLike
) -> jax.Array:
  r"""Binary hinge loss.

  .. math::
    \ell(s, t) = \max(0, 1 - s\, t), \qquad t \in \{-1, 1\}

  Reference: Cortes and Vapnik, *Support-vector networks*, 1995.

  Args:
    predictor_outputs: the scores :math:`s` of the decision function.
    targets: the labels :math:`t`, each -1 or 1.

  Returns:
    the loss per element.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.losses.hinge_loss(jnp.array([0.5, 2.0, -0.5]), jnp.array([1.0, 1.0, 1.0])).tolist()
    [0.5, 0.0, 1.5]
  """
  return jnp.maximum(0, 1 - _common.as_array(predictor_outputs) * targets)


def perceptron_loss(
    predictor_outputs: jax.typing.ArrayLike, targets: jax.typing.ArrayLike
) -> jax.Array:
  r"""Binary perceptron loss.

  .. math::
    \ell(s, t) = \max(0, -s\, t), \qquad t \in \{-1, 1\}

  Reference: Rosenblatt, *The perceptron*, 1958.

  Args:
    predictor_outputs: the scores :math:`s`.
    targets: the labels :math:`t`, each -1 or 1, of the same shape as ``predictor_outputs``
      (a ValueError names both arguments otherwise).

  Returns:
    the loss per element.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.losses.perceptron_loss(jnp.array([0.5, -2.0]), jnp.array([1.0, 1.0])).tolist()
    [0.0, 2.0]
  """
  _common.check_same_shape(predictor_outputs, targets, 'predictor_outputs', 'targets',
                           'perceptron_loss')
  return jnp.maximum(0, -_common.as_array(predictor_outputs) * targets)


def sparsemax_loss(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
) -> jax.Array:
  r"""Binary sparsemax loss: the Fenchel-Young loss of the sparse sigmoid.

  .. math::
    \ell(x, y) = \operatorname{sparse\_plus}(x \text{ if } y = 0 \text{ else } -x), \quad
    \operatorname{sparse\_plus}(z) = \begin{cases} 0 & z \le -1 \\ (z + 1)^2 / 4 & |z| < 1
    \\ z & z \ge 1 \end{cases}

  It is 0 exactly when ``jax.nn.sparse_sigmoid(logits) == labels``.

  Reference: Blondel, Martins and Niculae, *Learning with Fenchel-Young Losses*, JMLR 2020,
  section 4.4.

  Args:
    logits: the scores.
    labels: the labels, 0 or 1.

  Returns:
    the loss per element.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.losses.sparsemax_loss(jnp.array([0.0, 2.0, 2.0]), jnp.array([1, 1, 0])).tolist()
    [0.25, 0.0, 2.0]
  """
  logits = _common.as_array(logits)
  z = jnp.where(labels, -logits, logits)
  return _common.out(jax.nn.sparse_plus(_common.wide(z)), z.dtype)


def _log_softmax(logits, axis, where):
  return jax.nn.log_softmax(_common.wide(logits), axis, where)


def safe_softmax_cross_entropy(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
) -> jax.Array:
  r"""Softmax cross entropy over the last axis, with ``0 \log 0 = 0``.

  .. math::
    \ell(x, y) = -\sum_j y_j \log \operatorname{softmax}(x)_j

  A class with ``logits = -inf`` and ``labels = 0`` contributes 0 (and 0 to the gradients).
  :func:`softmax_cross_entropy` follows the same convention here; this name is kept for optax
  compatibility.

  Args:
    logits: unnormalized log probabilities, shape ``[..., num_classes]``.
    labels: target distributions, broadcastable to ``[..., num_classes]``.

  Returns:
    the cross entropies, shape ``[...]``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> # log(1 + 1) = 0.6931: the -inf class takes no probability
    >>> float(ox.losses.safe_softmax_cross_entropy(
    ...     jnp.array([-jnp.inf, 0.0, 0.0]), jnp.array([0.0, 0.5, 0.5]))).__round__(4)
    0.6931
  """
  logits = _common.check_floating(logits, 'logits', 'safe_softmax_cross_entropy')
  labels = _common.as_array(labels)
  log_probs = _log_softmax(logits, -1, None)
  loss = -jnp.sum(_common.mul0(_common.wide(labels), log_probs), axis=-1)
  return _common.out(loss, jnp.result_type(logits, labels))


def _expand_where(where, ndim, axis):
  """A ``where`` of the batch shape gets a size-1 class axis, as optax broadcasts it."""
  if where is None:
    return None
  where = _common.as_array(where)
  if where.ndim != ndim:
    where = jnp.expand_dims(where, axis)
  return where


def softmax_cross_entropy(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    axis: Union[int, tuple[int, ...], None] = -1,
    where: Union[jax.typing.ArrayLike, None] = None,
) -> jax.Array:
  r"""Softmax (categorical) cross entropy between logits and target distributions.

  .. math::
    \ell_i = -\sum_{j \in C_i} y_{ij} \left(x_{ij} - \log \sum_{k \in C_i} e^{x_{ik}}\right)

  where :math:`C_i` are the classes of example :math:`i` that ``where`` keeps (all of them by
  default). The log-normalizer is a max-shifted log-sum-exp, so logits of any magnitude are
  safe, and 16-bit logits are reduced in float32. A class with a ``-inf`` logit and label 0
  contributes 0 (optax gives NaN there), so masking classes by ``-inf`` logits works; a row
  whose classes are all excluded by ``where`` gives 0 with zero gradients.

  Reference: Bishop, *Pattern Recognition and Machine Learning*, 2006, section 4.3.4.

  Args:
    logits: unnormalized log probabilities, ``[batch..., num_classes]``.
    labels: target distributions (e.g. one-hot), broadcastable to ``logits``.
    axis: the class axis or axes.
    where: classes to include, of ``logits``'s shape or of the batch shape.

  Returns:
    the cross entropy per example, ``logits``'s shape without ``axis``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> # log(e^0 + e^0) - 0 = log 2 = 0.6931; log(e^2 + e^0) - 2 = 0.1269
    >>> logits = jnp.array([[0.0, 0.0], [2.0, 0.0]])
    >>> labels = jnp.array([[1.0, 0.0], [1.0, 0.0]])
    >>> [round(v, 4) for v in ox.losses.softmax_cross_entropy(logits, labels).tolist()]
    [0.6931, 0.1269]
  """
  logits = _common.check_floating(logits, 'logits', 'softmax_cross_entropy')
  labels = _common.as_array(labels)
  where = _expand_where(where, logits.ndim, axis)
  log_probs = _log_softmax(logits, axis, where)
  if where is not None:
    # Excluded classes hold -inf; a finite stand-in keeps d/dlabels free of 0 * inf there.
    log_probs = jnp.where(where, log_probs, 0.0)
  terms = _common.mul0(_common.wide(labels), log_probs)
  loss = -terms.sum(axis, where=where)
  return _common.out(loss, jnp.result_type(logits, labels))


def softmax_cross_entropy_with_integer_labels(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    axis: Union[int, tuple[int, ...]] = -1,
    where: Union[jax.typing.ArrayLike, None] = None,
) -> jax.Array:
  r"""Softmax cross entropy with the target class given as an integer index.

  .. math::
    \ell_i = \log \sum_{k \in C_i} e^{x_{ik}} - x_{i y_i}

  with :math:`C_i` the classes ``where`` keeps. A row with no class kept gives 0 (and zero
  gradients). A label outside ``[0, num_classes)`` gives NaN, as in optax (the lookup is done
  with ``take_along_axis``'s fill mode). With a tuple ``axis`` the classes are those axes
  flattened in C order, and a label is a flat index into them.

  Reference: Bishop, *Pattern Recognition and Machine Learning*, 2006, section 4.3.4.

  Args:
    logits: unnormalized log probabilities, ``[batch..., num_classes]``.
    labels: integer class indices, of the batch shape.
    axis: the class axis, or a tuple of axes.
    where: classes to include, of ``logits``'s shape or of the batch shape.

  Returns:
    the cross entropy per example, of the batch shape.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> # log(e^2 + e^0) - 2 = 0.1269; log(e^2 + e^0) - 0 = 2.1269
    >>> logits = jnp.array([[2.0, 0.0], [2.0, 0.0]])
    >>> loss = ox.losses.softmax_cross_entropy_with_integer_labels(logits, jnp.array([0, 1]))
    >>> [round(v, 4) for v in loss.tolist()]
    [0.1269, 2.1269]
  """
  fn = 'softmax_cross_entropy_with_integer_labels'
  logits = _common.check_floating(logits, 'logits', fn)
  labels = _common.check_integer(labels, 'labels', fn)
  dtype = logits.dtype
  where = _expand_where(where, logits.ndim, axis)
  if isinstance(axis, int):
    axis = _common.canonical_axis(axis, logits.ndim, fn=fn)
  elif isinstance(axis, tuple):
    class_axes = tuple(_common.canonical_axis(a, logits.ndim, fn=fn) for a in axis)
    batch_axes = tuple(a for a in range(logits.ndim) if a not in class_axes)
    order = batch_axes + class_axes
    logits = logits.transpose(order)
    logits = logits.reshape(logits.shape[:len(batch_axes)] + (-1,))
    if where is not None:
      where = where.transpose(order)
      where = where.reshape(where.shape[:len(batch_axes)] + (-1,))
    axis = len(batch_axes)
  else:
    raise ValueError(f'{fn}: `axis` must be an int or a tuple of ints, got '
                     f'{type(axis).__name__}.')
  x = _common.wide(logits)
  label_logits = jnp.take_along_axis(x, jnp.expand_dims(labels, axis), axis=axis)
  label_logits = label_logits.take(0, axis=axis)
  loss = jax.nn.logsumexp(x, axis=axis, where=where) - label_logits
  if where is not None:
    loss = jnp.where(jnp.any(where, axis), loss, 0.0)
  return _common.out(loss, dtype)


def multiclass_hinge_loss(
    scores: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
) -> jax.Array:
  r"""Multiclass hinge loss (Crammer-Singer).

  .. math::
    \ell(s, y) = \max_j \left(s_j + [j \ne y]\right) - s_y

  Reference: Crammer and Singer, *On the algorithmic implementation of multiclass kernel-based
  vector machines*, JMLR 2001.

  Args:
    scores: ``[..., num_classes]`` scores.
    labels: ``[...]`` integer labels (an out-of-range label selects no class, as in optax).

  Returns:
    the loss per example, shape ``[...]``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> # max(1 + 1, 0.5 + 0) - 0.5 = 1.5
    >>> float(ox.losses.multiclass_hinge_loss(jnp.array([1.0, 0.5]), jnp.array(1)))
    1.5
  """
  scores = _common.as_array(scores)
  one_hot = jax.nn.one_hot(labels, scores.shape[-1])
  s = _common.wide(scores)
  loss = jnp.max(s + 1.0 - one_hot, axis=-1) - jnp.sum(s * one_hot, axis=-1)
  return _common.out(loss, jnp.result_type(scores.dtype, _default_float()))


def multiclass_perceptron_loss(
    scores: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
) -> jax.Array:
  r"""Multiclass perceptron loss.

  .. math::
    \ell(s, y) = \max_j s_j - s_y

  Reference: Collins, *Discriminative training methods for hidden Markov models*, EMNLP 2002.

  Args:
    scores: ``[..., num_classes]`` scores.
    labels: ``[...]`` integer labels.

  Returns:
    the loss per example, shape ``[...]``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> float(ox.losses.multiclass_perceptron_loss(jnp.array([1.0, 0.5]), jnp.array(1)))
    0.5
  """
  scores = _common.as_array(scores)
  one_hot = jax.nn.one_hot(labels, scores.shape[-1])
  s = _common.wide(scores)
  loss = jnp.max(s, axis=-1) - jnp.sum(s * one_hot, axis=-1)
  return _common.out(loss, jnp.result_type(scores.dtype, _default_float()))


def poly_loss_cross_entropy(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    epsilon: jax.typing.ArrayLike = 2.0,
    axis: Union[int, tuple[int, ...], None] = -1,
    where: Union[jax.typing.ArrayLike, None] = None,
) -> jax.Array:
  r"""Poly-1 loss: cross entropy plus a weighted first polynomial term.

  .. math::
    \ell = -\sum_j y_j \log p_j + \epsilon \sum_j y_j (1 - p_j), \qquad
    p = \operatorname{softmax}(x)

  (for one-hot labels the second term is :math:`\epsilon (1 - p_t)`).

  Reference: Leng et al., *PolyLoss: A Polynomial Expansion Perspective of Classification Loss
  Functions*, ICLR 2022.

  Args:
    logits: unnormalized log probabilities, ``[..., num_classes]``.
    labels: target distributions (floating), broadcastable to ``logits``.
    epsilon: the coefficient of :math:`(1 - p_t)`.
    axis: the class axis or axes.
    where: classes to include.

  Returns:
    the loss per example, shape ``[...]``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> # log 2 + 2 * (1 - 1/2) = 1.6931
    >>> float(ox.losses.poly_loss_cross_entropy(
    ...     jnp.array([0.0, 0.0]), jnp.array([1.0, 0.0]))).__round__(4)
    1.6931
  """
  fn = 'poly_loss_cross_entropy'
  logits = _common.check_floating(logits, 'logits', fn)
  labels = _common.check_floating(labels, 'labels', fn)
  probs = jax.nn.softmax(_common.wide(logits), axis=axis, where=where)
  one_minus_pt = jnp.sum(_common.wide(labels) * (1 - probs), axis=axis, where=where)
  cross_entropy = softmax_cross_entropy(
      _common.wide(logits), _common.wide(labels), axis=axis, where=where)
  loss = cross_entropy + epsilon * one_minus_pt
  return _common.out(loss, jnp.result_type(logits, labels))


def sigmoid_focal_loss(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    alpha: Optional[jax.typing.ArrayLike] = None,
    gamma: jax.typing.ArrayLike = 2.0,
) -> jax.Array:
  r"""Sigmoid focal loss: binary cross entropy down-weighted on well-classified elements.

  .. math::
    \ell = -\alpha_t (1 - p_t)^\gamma \log p_t, \quad
    p_t = y\, p + (1 - y)(1 - p), \quad \alpha_t = y\, \alpha + (1 - y)(1 - \alpha)

  with :math:`p = \sigma(x)`; without ``alpha`` the factor :math:`\alpha_t` is 1. The cross
  entropy is evaluated as :func:`sigmoid_binary_cross_entropy` and the focal factor in log
  space, :math:`\exp(\gamma \log(y (1 - p) + (1 - y) p))`, so extreme logits and
  :math:`\gamma < 1` stay finite. Labels may be soft (in [0, 1]).

  Reference: Lin et al., *Focal Loss for Dense Object Detection*, ICCV 2017.

  Args:
    logits: the scores, any shape.
    labels: labels in [0, 1], broadcastable to ``logits``.
    alpha: optional weight of the positive class, in (0, 1).
    gamma: the focusing exponent (0 gives the cross entropy).

  Returns:
    the loss per element, in ``logits``'s dtype.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> # log 2 * (1/2)^2 = 0.1733
    >>> float(ox.losses.sigmoid_focal_loss(jnp.array(0.0), jnp.array(1.0))).__round__(4)
    0.1733
  """
  logits = _common.check_floating(logits, 'logits', 'sigmoid_focal_loss')
  labels = _common.as_array(labels).astype(logits.dtype)
  x, y = _common.wide(logits), _common.wide(labels)
  cross_entropy = sigmoid_binary_cross_entropy(x, y)
  # Infinite logits clipped to the largest finite ones: the same focal factor (0 or 1), and a
  # log-sum-exp whose backward pass never meets -inf - (-inf).
  big = jnp.finfo(x.dtype).max
  x_finite = jnp.clip(x, -big, big)
  log_p, log_q = jax.nn.log_sigmoid(x_finite), jax.nn.log_sigmoid(-x_finite)
  # log(1 - p_t) = log((1 - y) p + y (1 - p)), a weighted log-sum-exp of log p and log(1 - p).
  log_one_minus_pt = jax.nn.logsumexp(
      jnp.stack([log_p, log_q], axis=-1), axis=-1,
      b=jnp.stack([1 - y, y], axis=-1))
  loss = cross_entropy * jnp.exp(_common.mul0(gamma, log_one_minus_pt))
  if alpha is not None:
    loss = (alpha * y + (1.0 - alpha) * (1.0 - y)) * loss
  return _common.out(loss, jnp.result_type(logits, *(() if alpha is None else (alpha,))))


def _sparsemax_loss_one(scores, label):
  proba = projections.projection_simplex(scores)
  gaps = (scores - scores[label]).at[label].set(0.0)
  return jnp.dot(proba, jnp.where(proba, gaps, 0.0)) + 0.5 * (1.0 - jnp.dot(proba, proba))


def multiclass_sparsemax_loss(
    scores: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
) -> jax.Array:
  r"""Multiclass sparsemax loss: the Fenchel-Young loss of sparsemax.

  .. math::
    \ell(s, y) = \langle p, s - s_y \rangle + \tfrac12 (1 - \|p\|^2), \qquad
    p = \operatorname{sparsemax}(s) = \Pi_\Delta(s)

  with :math:`\Pi_\Delta` the Euclidean projection onto the probability simplex.

  Reference: Martins and Astudillo, *From Softmax to Sparsemax*, ICML 2016.

  Args:
    scores: ``[batch, num_classes]`` scores.
    labels: ``[batch]`` integer labels.

  Returns:
    the loss per example, shape ``[batch]``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> # sparsemax([2, 0]) = [1, 0]: loss 0 for label 0, 2 + (1 - 1) / 2 = 2 for label 1
    >>> ox.losses.multiclass_sparsemax_loss(
    ...     jnp.array([[2.0, 0.0], [2.0, 0.0]]), jnp.array([0, 1])).tolist()
    [0.0, 2.0]
  """
  scores = _common.as_array(scores)
  loss = jax.vmap(_sparsemax_loss_one)(_common.wide(scores), _common.as_array(labels))
  return _common.out(loss, scores.dtype)

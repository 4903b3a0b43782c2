"""Connectionist temporal classification (CTC) loss, by the forward algorithm in log space."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from optax_like._src.losses import _common


def _check_ctc_inputs(logits, logit_paddings, labels, label_paddings, fn):
  _common.check_rank(logits, 3, 'logits', fn)
  _common.check_rank(labels, 2, 'labels', fn)
  _common.check_same_shape(labels, label_paddings, 'labels', 'label_paddings', fn)
  if jnp.shape(logit_paddings) != jnp.shape(logits)[:2]:
    raise ValueError(f'{fn}: `logit_paddings` must have the shape (B, T) = '
                     f'{jnp.shape(logits)[:2]} of `logits`, got {jnp.shape(logit_paddings)}.')
  if jnp.shape(labels)[0] != jnp.shape(logits)[0]:
    raise ValueError(f'{fn}: `labels` must have the batch size {jnp.shape(logits)[0]} of '
                     f'`logits`, got {jnp.shape(labels)[0]}.')


def ctc_loss_with_forward_probs(
    logits: jax.typing.ArrayLike,
    logit_paddings: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    label_paddings: jax.typing.ArrayLike,
    *,
    blank_id: int = 0,
    log_epsilon: jax.typing.ArrayLike = -1e5,
) -> tuple[jax.Array, jax.Array, jax.Array]:
  r"""CTC loss and the forward (alpha) log-probabilities of the alignment lattice.

  The loss of a sequence is :math:`-\log \sum_{\pi \in \mathcal{B}^{-1}(y)} \prod_t
  p_t(\pi_t)`: the probability of all frame-level alignments :math:`\pi` (labels with blanks
  :math:`\phi` inserted and repeats merged) that reduce to the label sequence :math:`y`. The
  forward recursion runs over frames in log space (``logaddexp``), in two lattices:

  .. math::
    \alpha_\phi(t, n) = \log P(\pi_t = \phi,\ y_{1:n} \text{ emitted by } t), \qquad
    \alpha_y(t, n) = \log P(\pi_t = y_n,\ y_{1:n} \text{ emitted by } t)

  Impossible states hold ``log_epsilon`` (a finite stand-in for :math:`\log 0`, so gradients
  stay finite). Padded frames carry the previous alphas forward unchanged. 16-bit logits are
  normalized in float32; the alphas and the loss are in the default float dtype, as in optax.

  Reference: Graves et al., *Connectionist temporal classification: labelling unsegmented
  sequence data with recurrent neural networks*, ICML 2006.

  Args:
    logits: ``(B, T, K)`` logits per frame over ``K`` classes, the blank included.
    logit_paddings: ``(B, T)``, 1.0 where a frame is padding, else 0.0.
    labels: ``(B, N)`` integer labels.
    label_paddings: ``(B, N)``, 1.0 where a label is padding, else 0.0; padding must be on the
      right.
    blank_id: the class index of the blank.
    log_epsilon: the value standing for :math:`\log 0`.

  Returns:
    ``(loss, logalpha_blank, logalpha_nonblank)``: the ``(B,)`` losses and the ``(T, B, N + 1)``
    and ``(T, B, N)`` forward log-probabilities :math:`\alpha_\phi` and :math:`\alpha_y`.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> # 2 frames, 2 equiprobable classes, label [1]: alignments 1-1, 1-blank, blank-1 give
    >>> # probability 3/4, so the loss is -log(3/4) = 0.2877
    >>> loss, _, _ = ox.losses.ctc_loss_with_forward_probs(
    ...     jnp.zeros((1, 2, 2)), jnp.zeros((1, 2)), jnp.array([[1]]), jnp.zeros((1, 1)))
    >>> [round(v, 4) for v in loss.tolist()]
    [0.2877]
  """
  fn = 'ctc_loss_with_forward_probs'
  _check_ctc_inputs(logits, logit_paddings, labels, label_paddings, fn)
  logits = _common.check_floating(logits, 'logits', fn)
  labels = _common.as_array(labels)
  logit_paddings = _common.as_array(logit_paddings)
  label_paddings = _common.as_array(label_paddings)
  batch, _, num_classes = logits.shape
  max_label_len = labels.shape[1]

  log_probs = jax.nn.log_softmax(_common.wide(logits))              # [B, T, K]
  label_lens = max_label_len - jnp.sum(label_paddings, axis=1).astype(jnp.int32)
  # repeats[b, n] = 1 when y_n == y_{n+1}: a blank must separate them in an alignment.
  repeats = (labels[:, :-1] == labels[:, 1:]).astype(jnp.float32)
  repeats = jnp.pad(repeats, ((0, 0), (0, 1)))

  blank_lp = jnp.transpose(log_probs[:, :, blank_id:blank_id + 1], (1, 0, 2))   # [T, B, 1]
  # log p_t(y_n) for every frame and label position; labels outside [0, K) (padding) emit 0.
  valid = (labels >= 0) & (labels < num_classes)
  index = jnp.broadcast_to(jnp.where(valid, labels, 0)[:, None, :],
                           (batch, log_probs.shape[1], max_label_len))
  emit_lp = jnp.take_along_axis(log_probs, index, axis=2)
  emit_lp = jnp.where(valid[:, None, :], emit_lp, 0.0)
  emit_lp = jnp.transpose(emit_lp, (1, 0, 2))                        # [T, B, N]

  blank_init = jnp.ones((batch, max_label_len + 1)) * log_epsilon
  blank_init = blank_init.at[:, 0].set(0.0)
  label_init = jnp.ones((batch, max_label_len)) * log_epsilon

  def absorb(blank_alpha, incoming):
    # Position 0 (nothing emitted yet) has no predecessor; positions 1..N gain `incoming`.
    return jnp.concatenate(
        [blank_alpha[:, :1], jnp.logaddexp(blank_alpha[:, 1:], incoming)], axis=-1)

  def frame(carry, inputs):
    blank_alpha, label_alpha = carry
    emit_t, blank_t, pad_t = inputs
    # Entering a blank after y_n from the label lattice; blocked for repeats until a blank.
    moved = absorb(blank_alpha, label_alpha + log_epsilon * repeats)
    new_label = jnp.logaddexp(moved[:, :-1] + emit_t, label_alpha + emit_t)
    new_blank = absorb(moved + blank_t,
                       label_alpha + blank_t + log_epsilon * (1.0 - repeats))
    pad_t = pad_t.reshape((batch, 1))
    new_label = pad_t * label_alpha + (1.0 - pad_t) * new_label
    new_blank = pad_t * blank_alpha + (1.0 - pad_t) * new_blank
    return (new_blank, new_label), (new_blank, new_label)

  inputs = (emit_lp, blank_lp, jnp.transpose(logit_paddings, (1, 0)))
  _, (logalpha_blank, logalpha_label) = jax.lax.scan(frame, (blank_init, label_init), inputs)

  final = absorb(logalpha_blank[-1], logalpha_label[-1])
  logalpha_blank = logalpha_blank.at[-1].set(final)
  loss = -jnp.take_along_axis(final, label_lens[:, None], axis=1)[:, 0]
  return loss, logalpha_blank, logalpha_label


def ctc_loss(
    logits: jax.typing.ArrayLike,
    logit_paddings: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    label_paddings: jax.typing.ArrayLike,
    *,
    blank_id: int = 0,
    log_epsilon: jax.typing.ArrayLike = -1e5,
) -> jax.Array:
  r"""CTC loss per sequence: :math:`-\log P(y \mid x)` summed over all alignments.

  See :func:`ctc_loss_with_forward_probs` for the recursion and the arguments.

  Reference: Graves et al., ICML 2006.

  Args:
    logits: ``(B, T, K)`` logits.
    logit_paddings: ``(B, T)`` frame padding indicators.
    labels: ``(B, N)`` integer labels.
    label_paddings: ``(B, N)`` label padding indicators (right-padded).
    blank_id: the class index of the blank.
    log_epsilon: the value standing for :math:`\log 0`.

  Returns:
    the ``(B,)`` losses.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> # one frame, label [1] with probability 1/2: -log(1/2)
    >>> loss = ox.losses.ctc_loss(jnp.zeros((1, 1, 2)), jnp.zeros((1, 1)), jnp.array([[1]]),
    ...                           jnp.zeros((1, 1)))
    >>> [round(v, 4) for v in loss.tolist()]
    [0.6931]
  """
  loss, _, _ = ctc_loss_with_forward_probs(
      logits, logit_paddings, labels, label_paddings, blank_id=blank_id,
      log_epsilon=log_epsilon)
  return loss

"""Self-supervised / metric-learning losses: NT-Xent and the triplet margin loss."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from optax_like._src.losses import _common
from optax_like._src.losses import regression


def ntxent(
    embeddings: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    temperature: jax.typing.ArrayLike = 0.07,
) -> jax.Array:
  r"""Normalized temperature-scaled cross entropy (NT-Xent, the SimCLR contrastive loss).

  With :math:`s_{ij} = \cos(z_i, z_j) / \tau`, positives :math:`P_i` (same label, :math:`j \ne
  i`) and negatives :math:`N_i` (other labels):

  .. math::
    \ell = -\frac{1}{\sum_i |P_i|} \sum_i \sum_{j \in P_i}
    \log \frac{e^{s_{ij}}}{e^{s_{ij}} + \sum_{k \in N_i} e^{s_{ik}}}

  evaluated with the row maximum subtracted (held constant for the gradient), so small
  temperatures do not overflow.

  Reference: Chen et al., *A Simple Framework for Contrastive Learning of Visual
  Representations*, ICML 2020.

  Args:
    embeddings: ``[batch, features]`` embeddings.
    labels: ``[batch]`` group labels: items with equal labels are positive pairs.
    temperature: the temperature :math:`\tau`.

  Returns:
    the scalar loss, averaged over positive pairs.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> # positives equal (s = 1/tau = 1), negative orthogonal (s = 0):
    >>> # -log(e / (e + 1)) = 0.3133 for each of the two positive pairs
    >>> z = jnp.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> float(ox.losses.ntxent(z, jnp.array([0, 0, 1]), temperature=1.0)).__round__(4)
    0.3133
  """
  embeddings = _common.check_floating(embeddings, 'embeddings', 'ntxent')
  labels = _common.as_array(labels)
  if labels.shape[0] != embeddings.shape[0]:
    raise ValueError(
        f'ntxent: `labels` and `embeddings` must have the same leading dimension, got '
        f'{labels.shape[0]} and {embeddings.shape[0]}.')
  z = _common.wide(embeddings)
  similarities = regression.cosine_similarity(
      z[None, :, :], z[:, None, :], epsilon=jnp.finfo(embeddings.dtype).eps) / temperature
  same = labels[:, None] == labels[None, :]
  different = ~same
  positives = same & ~jnp.eye(same.shape[0], dtype=bool)
  neg_inf = jnp.full_like(similarities, -jnp.inf)
  negative_sims = jnp.where(different, similarities, neg_inf)
  positive_sims = jnp.where(positives, similarities, neg_inf)
  row_max = jnp.max(jnp.concatenate((negative_sims, positive_sims), axis=-1),
                    axis=1, keepdims=True)
  row_max = jax.lax.stop_gradient(row_max)
  shifted_negatives = negative_sims - row_max
  shifted_positives = positive_sims - row_max
  denominators = (jnp.sum(jnp.exp(shifted_negatives), axis=1, keepdims=True)
                  + jnp.exp(shifted_positives))
  log_ratios = shifted_positives - jnp.log(denominators)
  loss = -jnp.where(positives, log_ratios, 0.0).sum() / positives.sum()
  return _common.out(loss, jnp.result_type(embeddings, temperature))


def triplet_margin_loss(
    anchors: jax.typing.ArrayLike,
    positives: jax.typing.ArrayLike,
    negatives: jax.typing.ArrayLike,
    axis: int = -1,
    norm_degree: jax.typing.ArrayLike = 2,
    margin: jax.typing.ArrayLike = 1.0,
    eps: jax.typing.ArrayLike = 1e-6,
) -> jax.Array:
  r"""Triplet margin loss.

  .. math::
    \ell = \max\left(d(a, p) - d(a, n) + m,\ 0\right), \qquad
    d(x, y) = \left(\sum_k (x_k - y_k)^q + \varepsilon\right)^{1/q}

  with :math:`q` = ``norm_degree`` (the differences are raised to :math:`q` as they are, so an
  odd :math:`q` is not a norm, as in optax).

  Reference: Balntas et al., *Learning local feature descriptors with triplets and shallow
  convolutional neural networks*, BMVC 2016.

  Args:
    anchors: ``[batch, features]`` anchor embeddings.
    positives: ``[batch, features]`` embeddings similar to the anchors.
    negatives: ``[batch, features]`` embeddings dissimilar to the anchors.
    axis: the feature axis.
    norm_degree: the degree :math:`q`.
    margin: the margin :math:`m`.
    eps: the constant :math:`\varepsilon` added under the root.

  Returns:
    the ``[batch]`` losses.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> # d(a, p) = sqrt(0 + 1e-6) = 0.001, d(a, n) = sqrt(4 + 1e-6) = 2: max(-0.999, 0)
    >>> ox.losses.triplet_margin_loss(jnp.array([[0.0]]), jnp.array([[0.0]]),
    ...                               jnp.array([[2.0]])).tolist()
    [0.0]
    >>> ox.losses.triplet_margin_loss(jnp.array([[0.0]]), jnp.array([[0.0]]),
    ...                               jnp.array([[0.5]])).tolist()[0].__round__(4)
    0.501
  """
  fn = 'triplet_margin_loss'
  anchors = _common.check_floating(anchors, 'anchors', fn)
  positives = _common.check_floating(positives, 'positives', fn)
  negatives = _common.check_floating(negatives, 'negatives', fn)
  dtype = jnp.result_type(anchors, positives, negatives)
  a, p, n = _common.wide(anchors), _common.wide(positives), _common.wide(negatives)
  positive_distance = jnp.power(jnp.power(a - p, norm_degree).sum(axis) + eps, 1 / norm_degree)
  negative_distance = jnp.power(jnp.power(a - n, norm_degree).sum(axis) + eps, 1 / norm_degree)
  loss = jnp.maximum(positive_distance - negative_distance + margin, 0)
  return _common.out(loss, dtype)

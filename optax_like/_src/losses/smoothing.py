"""Label smoothing."""

from __future__ import annotations

from typing import Union

import jax
import jax.numpy as jnp

from optax_like._src.losses import _common


def smooth_labels(
    labels: jax.typing.ArrayLike,
    alpha: jax.typing.ArrayLike,
    *,
    axis: Union[int, tuple[int, ...], None] = -1,
    where: Union[jax.typing.ArrayLike, None] = None,
) -> jax.Array:
  r"""Label smoothing: mixes the labels with the uniform distribution over the classes.

  .. math::
    \tilde y = (1 - \alpha)\, y + \frac{\alpha}{K}

  with :math:`K` the number of classes along ``axis`` (with ``where``, the number of classes
  kept in each row). Usually followed by :func:`softmax_cross_entropy`.

  Reference: Müller, Kornblith and Hinton, *When does label smoothing help?*, NeurIPS 2019;
  Szegedy et al., *Rethinking the Inception Architecture*, CVPR 2016.

  Args:
    labels: one-hot (or any floating) labels.
    alpha: the smoothing factor :math:`\alpha`.
    axis: the class axis or axes.
    where: the classes to count in :math:`K`.

  Returns:
    the smoothed labels, of ``labels``'s shape.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> # 0.9 * y + 0.1 / 4
    >>> smoothed = ox.losses.smooth_labels(jnp.array([0.0, 1.0, 0.0, 0.0]), 0.1)
    >>> [round(v, 4) for v in smoothed.tolist()]
    [0.025, 0.925, 0.025, 0.025]
  """
  labels = _common.check_floating(labels, 'labels', 'smooth_labels')
  if where is None:
    num_classes = jnp.size(labels, axis)
  else:
    num_classes = jnp.sum(where, axis, keepdims=True)
  return (1.0 - alpha) * labels + alpha / num_classes

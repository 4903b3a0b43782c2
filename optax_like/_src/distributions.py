r"""A diagonal Gaussian parameterized by its mean and log standard deviation (``multi_normal``),
as the evolution-strategy gradient estimators of ``optax.monte_carlo`` use it."""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import jax.scipy.stats.norm as _normal


class MultiNormalDiagFromLogScale:
  r"""A Gaussian with independent coordinates: :math:`x = \mu + e^{s} \odot \varepsilon`,
  :math:`\varepsilon \sim \mathcal N(0, I)`, where ``loc`` is :math:`\mu` and ``log_scale`` is
  :math:`s`; they broadcast against each other to the parameter shape.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> dist = ox.multi_normal(jnp.zeros(2), jnp.zeros(2))
    >>> round(float(dist.log_prob(jnp.zeros(2))), 4)   # 2 * log(1 / sqrt(2 pi))
    -1.8379
  """

  def __init__(self, loc: jax.typing.ArrayLike, log_scale: jax.typing.ArrayLike):
    self._log_scale = jnp.asarray(log_scale)
    self._scale = jnp.exp(log_scale)
    self._mean = jnp.asarray(loc)
    # Raises ValueError('Incompatible shapes for broadcasting ...') when they do not broadcast.
    self._param_shape = jax.lax.broadcast_shapes(self._mean.shape, self._scale.shape)

  def sample(self, shape: Sequence[int], key: jax.Array) -> jax.Array:
    r"""Draws ``shape`` samples :math:`\mu + e^{s} \varepsilon`: an array of
    ``(*shape, *param_shape)``."""
    full_shape = tuple(shape) + self._param_shape
    return jax.random.normal(key, shape=full_shape) * self._scale + self._mean

  def log_prob(self, x: jax.typing.ArrayLike) -> jax.Array:
    r""":math:`\sum_i \log \mathcal N(x_i; \mu_i, e^{2 s_i})`, summed over the parameter axes."""
    per_coordinate = _normal.logpdf(x, loc=self._mean, scale=self._scale)
    return jnp.sum(per_coordinate, axis=[-(i + 1) for i in range(len(self._param_shape))])

  @property
  def log_scale(self) -> jax.Array:
    return self._log_scale

  @property
  def params(self) -> Sequence[jax.Array]:
    """``[loc, log_scale]``."""
    return [self._mean, self._log_scale]


def multi_normal(loc: jax.typing.ArrayLike,
                 log_scale: jax.typing.ArrayLike) -> MultiNormalDiagFromLogScale:
  r"""The diagonal Gaussian :math:`\mathcal N(\mu, \mathrm{diag}(e^{2 s}))` with ``loc`` = :math:`\mu`
  and ``log_scale`` = :math:`s` (broadcast together).

  Example:
    >>> import jax, jax.numpy as jnp, optax_like as ox
    >>> dist = ox.multi_normal(jnp.ones(3), jnp.zeros(3))
    >>> dist.sample((4,), jax.random.key(0)).shape
    (4, 3)
    >>> [x.tolist() for x in dist.params]
    [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]
  """
  return MultiNormalDiagFromLogScale(loc=loc, log_scale=log_scale)

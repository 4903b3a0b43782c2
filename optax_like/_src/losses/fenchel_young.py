"""Fenchel-Young losses built from a max (regularized maximum) function."""

from __future__ import annotations

from typing import Any, Protocol

import jax
import jax.numpy as jnp


class MaxFun(Protocol):
  """A regularized max :math:`\\Omega^*`: maps a score vector (with extra arguments) to a scalar."""

  def __call__(self, scores, *args, **kwargs: Any) -> jax.typing.ArrayLike:
    ...


def make_fenchel_young_loss(max_fun: MaxFun):
  r"""Builds the Fenchel-Young loss of a regularized max function.

  .. math::
    \ell(\theta, y) = \Omega^*(\theta) - \langle y, \theta \rangle

  where :math:`\Omega^*` is ``max_fun`` (e.g. ``logsumexp`` gives the softmax cross entropy up
  to the target's entropy). The loss reduces the last axis; leading axes are batch axes
  (``max_fun`` is vectorized over them).

  Reference: Blondel, Martins and Niculae, *Learning with Fenchel-Young Losses*, JMLR 2020.

  Args:
    max_fun: the max function :math:`\Omega^*`, of a 1-D score vector.

  Returns:
    ``loss(scores, targets, *args, **kwargs)``: extra arguments are passed to ``max_fun``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> from jax.scipy.special import logsumexp
    >>> loss = ox.losses.make_fenchel_young_loss(logsumexp)
    >>> # log(e^0 + e^0) - 0 = log 2
    >>> float(loss(jnp.array([0.0, 0.0]), jnp.array([1.0, 0.0]))).__round__(4)
    0.6931
  """
  batched_vdot = jnp.vectorize(jnp.vdot, signature='(n),(n)->()')
  batched_max = jnp.vectorize(max_fun, signature='(n)->()')

  def fenchel_young_loss(scores, targets, *args, **kwargs):
    return batched_max(scores, *args, **kwargs) - batched_vdot(targets, scores)

  return fenchel_young_loss

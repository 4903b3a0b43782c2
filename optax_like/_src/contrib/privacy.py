r"""Differentially private aggregation of per-example gradients (DP-SGD).

Abadi et al., "Deep Learning with Differential Privacy" (CCS 2016,
https://arxiv.org/abs/1607.00133): every example's gradient is clipped to a global L2 norm,
the clipped gradients are summed, Gaussian noise is added and the sum is divided by the batch
size.
"""

import warnings
from typing import Any, NamedTuple, Optional

import chex
import jax
import jax.numpy as jnp

from optax_like._src import accumulation
from optax_like._src import alias
from optax_like._src import base
from optax_like._src import per_example_clipping
from optax_like._src import tree
from optax_like._src import validation


class DifferentiallyPrivateAggregateState(NamedTuple):
  """State of ``differentially_private_aggregate``: the random key of the next step."""
  rng_key: jax.Array


def _as_key(key: Any) -> jax.Array:
  """A typed random key: ``key`` itself if it is one, else ``jax.random.key(key)`` (optax)."""
  if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
    return key
  if validation.is_bool(key) or not (isinstance(key, int) or (
      hasattr(key, 'dtype') and jnp.issubdtype(key.dtype, jnp.integer) and jnp.ndim(key) == 0)):
    raise TypeError('differentially_private_aggregate: `key` must be a typed random key '
                    '(`jax.random.key(seed)`) or an integer seed, got '
                    f'{type(key).__name__}: {key!r:.80}.')
  return jax.random.key(key)


def differentially_private_aggregate(
    l2_norm_clip: chex.Numeric,
    noise_multiplier: chex.Numeric,
    key: Optional[Any] = None,
    *,
    seed: Optional[int] = None,
) -> base.GradientTransformation:
  r"""Clips per-example gradients, sums them, adds Gaussian noise, divides by the batch.

  The updates carry the batch on axis 0 of every leaf (per-example gradients, e.g. from
  ``jax.vmap(jax.grad(loss))``). With :math:`B` the batch size, :math:`c` = ``l2_norm_clip``,
  :math:`\sigma` = ``noise_multiplier`` and :math:`\|g_b\|` the norm of example :math:`b`
  over all leaves:

  .. math::
    u_i = \frac{1}{B}\left(\sum_{b=1}^{B} \min\left(1, \frac{c}{\|g_b\|}\right) g_{b,i}
    + c\,\sigma\, \xi_i\right), \qquad \xi_i \sim \mathcal N(0, I)

  The key is split into one key per leaf plus the next state's key at every step, as optax
  does, so the same key gives optax's noise. The state is
  ``DifferentiallyPrivateAggregateState(rng_key)``. Abadi et al. 2016,
  https://arxiv.org/abs/1607.00133.

  Args:
    l2_norm_clip: :math:`c`, the largest norm an example's gradient keeps, ``>= 0``.
    noise_multiplier: :math:`\sigma`, noise standard deviation in units of :math:`c`,
      ``>= 0``.
    key: a typed random key or an integer seed. ``None`` warns and uses seed 0 (as optax).
    seed: deprecated integer seed (warns); give ``key`` instead.

  Returns:
    A ``GradientTransformation``; its updates have the batch axis removed.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like import contrib
    >>> tx = contrib.differentially_private_aggregate(1.0, 0.0, key=0)
    >>> grads = jnp.array([[3.0, 4.0], [0.3, 0.4]])   # two examples, norms 5 and 0.5
    >>> u, _ = tx.update(grads, tx.init(None))
    >>> [round(x, 6) for x in u.tolist()]   # ((0.6, 0.8) + (0.3, 0.4)) / 2
    [0.45, 0.6]
  """
  fn = 'differentially_private_aggregate'
  validation.check_range(l2_norm_clip, 'l2_norm_clip', low=0.0, fn=fn)
  validation.check_range(noise_multiplier, 'noise_multiplier', low=0.0, fn=fn)
  if seed is not None:
    warnings.warn(f'{fn}: `seed` is deprecated, pass `key` instead.', DeprecationWarning,
                  stacklevel=2)
    if key is not None:
      raise ValueError(f'{fn}: give only one of `seed` and `key`.')
    key = jax.random.key(seed)
  if key is None:
    warnings.warn(f'{fn}: no `key` given, using `jax.random.key(0)`; pass a key (optax '
                  'will require one).', stacklevel=2)
    key = jax.random.key(0)
  key = _as_key(key)
  noise_std = l2_norm_clip * noise_multiplier

  def init_fn(params):
    del params
    return DifferentiallyPrivateAggregateState(rng_key=key)

  def update_fn(updates, state, params=None):
    del params
    validation.check_state(state, DifferentiallyPrivateAggregateState, fn)
    leaves, treedef = jax.tree.flatten(updates)
    if not leaves:
      return updates, state
    # Raises a ValueError naming the first leaf without the batch axis.
    summed = jax.tree.leaves(
        per_example_clipping.per_example_global_norm_clip(updates, l2_norm_clip)[0])
    batch = leaves[0].shape[0]
    next_key, *keys = jax.random.split(state.rng_key, len(leaves) + 1)
    noised = []
    for s, k in zip(summed, keys):
      # Drawn in the dtype of the clipped sum, as optax does, so the noise bits are optax's.
      noise = jax.random.normal(k, s.shape, s.dtype)
      noised.append(tree.cast((tree.upcast(s) + noise_std * tree.upcast(noise)) / batch,
                              tree.result_dtype(s)))
    return treedef.unflatten(noised), DifferentiallyPrivateAggregateState(rng_key=next_key)

  return base.GradientTransformation(init_fn, update_fn)


def dpsgd(
    learning_rate: base.ScalarOrSchedule,
    l2_norm_clip: chex.Numeric,
    noise_multiplier: chex.Numeric,
    seed: int,
    momentum: Optional[chex.Numeric] = None,
    nesterov: bool = False,
) -> base.GradientTransformationExtraArgs:
  r"""DP-SGD: ``differentially_private_aggregate``, optional momentum, then
  ``-learning_rate``.

  .. math::
    \tilde g = \frac{1}{B}\left(\sum_b \min\left(1, \frac{c}{\|g_b\|}\right) g_b
    + c\sigma\xi\right), \qquad t_k = \tilde g_k + \mu t_{k-1}, \qquad u_k = -\eta_k t_k

  (no trace without ``momentum``). The noise key is ``jax.random.key(seed)``, which gives
  optax's noise (without optax's deprecation warning). Abadi et al. 2016,
  https://arxiv.org/abs/1607.00133.

  Args:
    learning_rate: :math:`\eta`, a number or a schedule.
    l2_norm_clip: :math:`c`, the per-example clipping norm.
    noise_multiplier: :math:`\sigma`, the noise in units of :math:`c`.
    seed: integer seed of the noise.
    momentum: :math:`\mu`, or None for plain SGD.
    nesterov: Nesterov momentum.

  Returns:
    A ``GradientTransformationExtraArgs`` (optax's chain); the updates need per-example
    gradients.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like import contrib
    >>> opt = contrib.dpsgd(0.5, l2_norm_clip=10.0, noise_multiplier=0.0, seed=0)
    >>> u, _ = opt.update(jnp.array([[1.0], [3.0]]), opt.init(jnp.zeros(1)))
    >>> u.tolist()   # -0.5 * mean
    [-1.0]
  """
  if momentum is not None:
    validation.check_range(momentum, 'momentum', low=0.0, fn='dpsgd')
  if validation.is_bool(seed) or not isinstance(seed, int) and not (
      hasattr(seed, 'dtype') and jnp.issubdtype(seed.dtype, jnp.integer)):
    raise TypeError(f'dpsgd: `seed` must be an integer, got {type(seed).__name__}: {seed!r:.80}.')
  return base.chain(
      differentially_private_aggregate(l2_norm_clip=l2_norm_clip,
                                       noise_multiplier=noise_multiplier,
                                       key=jax.random.key(seed)),
      accumulation.trace(decay=momentum, nesterov=nesterov) if momentum is not None
      else base.identity(),
      alias._lr(learning_rate, 'dpsgd'))  # pylint: disable=protected-access

r"""Annealed Gaussian gradient noise (``add_noise``), with optax's random keys.

The random numbers equal optax's: the state's key is split into (next key, sample key) at
every step, the sample key into one key per (non-None) leaf in tree order, and each leaf's
noise is drawn with ``jax.random.normal`` in the leaf's own dtype. The sum is then computed in
float32 for 16-bit leaves and returned in the update's dtype.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp

from optax_like._src import base
from optax_like._src import tree
from optax_like._src import validation


class AddNoiseState(NamedTuple):
  """State of ``add_noise``.

  Attributes:
    count: int32 scalar, the number of updates so far.
    rng_key: the typed PRNG key the next step splits.
  """
  count: jax.Array
  rng_key: jax.Array


def _canonical_key(key: Any) -> jax.Array:
  """A typed PRNG key as given, else ``jax.random.key(key)`` of an integer seed (as optax)."""
  if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
    return key
  return jax.random.key(key)


_NORMAL_TAKES_SHARDING = 'out_sharding' in inspect.signature(jax.random.normal).parameters


def _normal_like(key: jax.Array, x: jax.Array) -> jax.Array:
  if _NORMAL_TAKES_SHARDING:
    return jax.random.normal(key, x.shape, x.dtype, out_sharding=jax.typeof(x).sharding)
  return jax.random.normal(key, x.shape, x.dtype)


def add_noise(
    eta: Any,
    gamma: Any,
    key: Optional[Union[jax.Array, int]] = None,
    *,
    seed: Optional[int] = None,
) -> base.GradientTransformation:
  r"""Adds Gaussian noise of decaying variance to the updates.

  .. math::
    u_t = g_t + \sigma_t\, \xi_t, \qquad \sigma_t^2 = \frac{\eta}{t^{\gamma}}, \qquad
    \xi_t \sim \mathcal N(0, I)

  with :math:`t` the 1-based step. Neelakantan et al., "Adding Gradient Noise Improves
  Learning for Very Deep Networks", 2015 (arXiv:1511.06807).

  Args:
    eta: the initial variance :math:`\eta`, ``>= 0``.
    gamma: the decay exponent :math:`\gamma`.
    key: a typed PRNG key (``jax.random.key``) or an integer seed; None means seed 0 (with
      optax's warning that a key will be required).
    seed: deprecated alias of ``key`` (an integer seed); give only one of the two.

  Returns:
    A ``GradientTransformation`` with state ``AddNoiseState(count, rng_key)``.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> from optax_like._src import noise
    >>> tx = noise.add_noise(eta=0.0, gamma=0.55, key=0)   # no variance: no noise
    >>> u, state = tx.update(jnp.array([1.0, 2.0]), tx.init(None))
    >>> u.tolist(), int(state.count)
    ([1.0, 2.0], 1)
  """
  fn = 'add_noise'
  validation.check_range(eta, 'eta', low=0.0, fn=fn)
  validation.check_range(gamma, 'gamma', fn=fn)
  if seed is not None:
    warnings.warn('"seed" is deprecated and will be removed in optax 0.2.7, use "key".',
                  DeprecationWarning)
    if key is not None:
      raise ValueError('Only one of seed or key can be specified.')
    key = seed
  if key is None:
    warnings.warn('Specifying a key will be required in optax 0.2.7.')
    key = 0
  if validation.is_bool(key):
    raise TypeError(f'{fn}: `key` must be a PRNG key or an integer seed, got {key!r}.')

  def init_fn(params):
    del params
    return AddNoiseState(count=jnp.zeros([], jnp.int32), rng_key=_canonical_key(key))

  def update_fn(updates, state, params=None):
    del params
    validation.check_state(state, AddNoiseState, fn)
    count_inc = tree.safe_increment(state.count)
    stddev = jnp.sqrt(eta / count_inc ** gamma)
    next_key, sample_key = jax.random.split(state.rng_key)
    treedef = jax.tree.structure(updates)
    keys = list(jax.random.split(sample_key, treedef.num_leaves))

    def leaf(g, k):
      xi = _normal_like(k, g)
      gc = tree.upcast(g)
      return tree.cast(gc + stddev.astype(gc.dtype) * tree.upcast(xi), tree.result_dtype(g))

    new_updates = treedef.unflatten([leaf(g, k) for g, k in zip(treedef.flatten_up_to(updates),
                                                                 keys)])
    return new_updates, AddNoiseState(count=count_inc, rng_key=next_key)

  return base.GradientTransformation(init_fn, update_fn)

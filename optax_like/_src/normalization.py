r"""Reshaping the gradient's geometry: centralisation per leaf and normalisation by the global norm.

``centralize`` works leaf by leaf (a leaf's mean over its non-leading axes);
``normalize_by_update_norm`` divides by the global norm of all leaves, so only it may run over
``fused`` buckets. 16-bit leaves are computed in float32 and returned in their own dtype.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from optax_like._src import base
from optax_like._src import tree
from optax_like._src import validation


def _centred(g: jax.Array) -> jax.Array:
  if jnp.ndim(g) < 2:
    return g
  gc = tree.upcast(g)
  centred = gc - jnp.mean(gc, axis=tuple(range(1, gc.ndim)), keepdims=True)
  return tree.cast(centred, tree.result_dtype(g))


def centralize() -> base.GradientTransformation:
  r"""Subtracts from each leaf of rank ``>= 2`` its mean over all axes but the first.

  .. math:: u_{i,\dots} \leftarrow u_{i,\dots} - \mathrm{mean}_{j \ne 0}\, u_{i,\dots}

  (one mean per slice along the leading axis, e.g. per output unit of a kernel stored
  ``[out, in]``); vectors and scalars are left unchanged. Yong et al., "Gradient
  Centralization: A New Optimization Technique for Deep Neural Networks", 2020
  (arXiv:2004.01461).

  Returns:
    A stateless ``GradientTransformation``.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like._src import normalization
    >>> tx = normalization.centralize()
    >>> g = jnp.array([[1.0, 2.0, 3.0], [4.0, 5.0, 9.0]])
    >>> tx.update(g, tx.init(g))[0].tolist()
    [[-1.0, 0.0, 1.0], [-2.0, -1.0, 3.0]]
  """

  def update_fn(updates, state, params=None):
    del params
    return jax.tree.map(_centred, updates), state

  return base.GradientTransformation(base.init_empty_state, update_fn)


def _global_norm(updates: Any) -> jax.Array:
  leaves = [tree.upcast(x) for x in jax.tree.leaves(updates)]
  if not leaves:
    return jnp.zeros([], jnp.float32)
  return jnp.sqrt(sum(jnp.sum(tree.abs_sq(x)) for x in leaves))


def normalize_by_update_norm(scale_factor: Any = 1.0,
                             eps: Any = 1e-6) -> base.GradientTransformation:
  r"""Divides all updates by their global L2 norm (plus ``eps``), times ``scale_factor``.

  .. math:: u \leftarrow s\, \frac{u}{\|u\|_2 + \epsilon}

  with :math:`\|u\|_2` the norm over all leaves together; with ``scale_factor=-1`` this is
  normalised gradient descent of step 1.

  Args:
    scale_factor: :math:`s`, the length of the result (nonzero).
    eps: added to the norm, ``>= 0``.

  Returns:
    A stateless ``GradientTransformation``.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like._src import normalization
    >>> tx = normalization.normalize_by_update_norm(scale_factor=2.0, eps=0.0)
    >>> g = {'a': jnp.array([3.0]), 'b': jnp.array([4.0])}   # norm 5
    >>> u, _ = tx.update(g, tx.init(g))
    >>> u['a'].tolist(), u['b'].tolist()
    ([1.2000000476837158], [1.600000023841858])
  """
  fn = 'normalize_by_update_norm'
  validation.check_range(scale_factor, 'scale_factor', fn=fn)
  if validation._static_number(scale_factor) == 0.0:  # pylint: disable=protected-access
    raise ValueError(f'{fn}: `scale_factor` must be nonzero (it divides the norm), got '
                     f'{scale_factor!r}.')
  validation.check_range(eps, 'eps', low=0.0, fn=fn)

  def update_fn(updates, state, params=None):
    del params
    divisor = (_global_norm(updates) + eps) / scale_factor

    def leaf(g):
      return tree.cast(tree.upcast(g) / divisor.astype(tree.compute_dtype(g.dtype)),
                       tree.result_dtype(g))

    return jax.tree.map(leaf, updates), state

  return base.grouping_free(base.GradientTransformation(base.init_empty_state, update_fn))

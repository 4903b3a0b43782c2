r"""Normalisation of the whole update tree to unit global norm (used by SAM's adversarial step).

Foret et al., "Sharpness-Aware Minimization for Efficiently Improving Generalization"
(ICLR 2021, https://arxiv.org/abs/2010.01412) ascend along the normalised gradient.
"""

import jax

from optax_like._src import base
from optax_like._src import tree

NormalizeState = base.EmptyState  # optax's name for the (empty) state of ``normalize``.


def normalize() -> base.GradientTransformation:
  r"""Divides every update by the global L2 norm of all of them.

  .. math::
    u_i \leftarrow \frac{u_i}{\sqrt{\sum_j \|u_j\|_2^2}}

  The norm is accumulated in float32 for 16-bit leaves. As in optax, an all-zero tree gives
  NaN (0 / 0). Foret et al. 2021, https://arxiv.org/abs/2010.01412.

  Returns:
    A stateless ``GradientTransformation`` (state ``NormalizeState()``).

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like import contrib
    >>> tx = contrib.normalize()
    >>> u, _ = tx.update({'a': jnp.array([3.0]), 'b': jnp.array([4.0])}, tx.init(None))
    >>> u['a'].tolist(), u['b'].tolist()
    ([0.6000000238418579], [0.800000011920929])
  """

  def update_fn(updates, state, params=None):
    del params
    g_norm = tree.global_norm(updates)

    def leaf(u):
      uc = tree.upcast(u)
      return tree.cast(uc / g_norm.astype(uc.dtype), tree.result_dtype(u))

    return jax.tree.map(leaf, updates), state

  return base.grouping_free(base.GradientTransformation(base.init_empty_state, update_fn))

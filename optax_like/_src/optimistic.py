r"""Optimistic gradients: the current gradient extrapolated by its change since the last step.

Used by optimistic gradient descent and optimistic Adam for min-max games (GANs), where plain
gradient descent cycles. Elementwise, so ``fused`` may run it over flat buckets.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optax_like._src import adaptive
from optax_like._src import base
from optax_like._src import tree
from optax_like._src import validation


class ScaleByOptimisticGradientState(NamedTuple):
  """State of ``scale_by_optimistic_gradient``.

  Attributes:
    is_initial_step: bool scalar, True until the first update.
    previous_gradient: the updates received by the last step (zeros after ``init``).
  """
  is_initial_step: jax.Array
  previous_gradient: base.Updates


def scale_by_optimistic_gradient(alpha: Any = 1.0,
                                 beta: Any = 1.0) -> base.GradientTransformation:
  r"""Generalised optimistic gradient: :math:`u_t = (\alpha + \beta)\, g_t - \beta\, g_{t-1}`.

  At the first step :math:`g_{t-1} = g_t` (so :math:`u_1 = \alpha g_1`). Daskalakis et al.,
  "Training GANs with Optimism", 2017 (arXiv:1711.00141); Mokhtari et al., 2019
  (arXiv:1901.08511).

  Args:
    alpha: the weight :math:`\alpha` of the current gradient.
    beta: the weight :math:`\beta` of the extrapolation (negative momentum).

  Returns:
    A ``GradientTransformation`` with state
    ``ScaleByOptimisticGradientState(is_initial_step, previous_gradient)``.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like._src import optimistic
    >>> tx = optimistic.scale_by_optimistic_gradient(alpha=1.0, beta=0.5)
    >>> state = tx.init(jnp.zeros(1))
    >>> u, state = tx.update(jnp.array([2.0]), state)   # first step: alpha * g
    >>> u, state = tx.update(jnp.array([4.0]), state)   # 1.5 * 4 - 0.5 * 2
    >>> u.tolist(), state.previous_gradient.tolist()
    ([5.0], [4.0])
  """
  fn = 'scale_by_optimistic_gradient'
  validation.check_range(alpha, 'alpha', fn=fn)
  validation.check_range(beta, 'beta', fn=fn)

  def init_fn(params):
    return ScaleByOptimisticGradientState(is_initial_step=jnp.array(True),
                                          previous_gradient=tree.tree_zeros_like(params))

  def update_fn(updates, state, params=None):
    del params
    validation.check_state(state, ScaleByOptimisticGradientState, fn)
    treedef, gs, prevs = adaptive._flatten_with_state(  # pylint: disable=protected-access
        updates, state, ('previous_gradient',), fn)

    def leaf(g, prev):
      gc = tree.upcast(g)
      prev = jnp.where(state.is_initial_step, gc, tree.upcast(prev))
      return tree.cast((alpha + beta) * gc - beta * prev, tree.result_dtype(g))

    new_updates = adaptive._lmap(leaf, gs, prevs)  # pylint: disable=protected-access
    # The previous gradient is kept as received (optax stores the updates themselves).
    return treedef.unflatten(new_updates), ScaleByOptimisticGradientState(
        is_initial_step=jnp.array(False), previous_gradient=updates)

  return base.grouping_free(base.GradientTransformation(init_fn, update_fn))

r"""Sign-based scaling: the sign of the updates (signSGD, Signum) and Rprop's per-element step sizes.

Both are elementwise, so ``fused`` may run them over flat buckets. Drop-ins for optax's
``scale_by_sign`` and ``scale_by_rprop`` (state ``ScaleByRpropState(step_sizes, prev_updates)``);
16-bit leaves are computed in float32 and rounded only when stored or returned.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optax_like._src import adaptive
from optax_like._src import base
from optax_like._src import tree
from optax_like._src import validation


def scale_by_sign() -> base.GradientTransformation:
  r"""Replaces every update by its sign: :math:`u \mapsto \operatorname{sign}(u)`.

  Bernstein et al., "signSGD: Compressed Optimisation for Non-Convex Problems", 2018
  (arXiv:1802.04434).

  Returns:
    A stateless ``GradientTransformation``.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like._src import sign
    >>> tx = sign.scale_by_sign()
    >>> tx.update(jnp.array([-2.5, 0.0, 0.1]), tx.init(None))[0].tolist()
    [-1.0, 0.0, 1.0]
  """

  def update_fn(updates, state, params=None):
    del params
    return jax.tree.map(jnp.sign, updates), state

  return base.grouping_free(base.GradientTransformation(base.init_empty_state, update_fn))


class ScaleByRpropState(NamedTuple):
  """State of ``scale_by_rprop``.

  Attributes:
    step_sizes: per element, the current step size (starts at ``learning_rate``).
    prev_updates: per element, the last update (``step * sign(g)``, 0 after a sign change).
  """
  step_sizes: base.Updates
  prev_updates: base.Updates


def scale_by_rprop(
    learning_rate: Any,
    eta_minus: Any = 0.5,
    eta_plus: Any = 1.2,
    min_step_size: Any = 1e-6,
    max_step_size: Any = 50.0,
) -> base.GradientTransformation:
  r"""Rprop: per-element step sizes that grow while the gradient keeps its sign.

  With :math:`s_t = g_t\, p_{t-1}` (:math:`p` the previous update, 0 at first):

  .. math::
    \eta_t = \begin{cases} \eta_{t-1} & s_t = 0 \\
      \mathrm{clip}(\eta_{t-1} \eta^+, \eta_{min}, \eta_{max}) & s_t > 0 \\
      \mathrm{clip}(\eta_{t-1} \eta^-, \eta_{min}, \eta_{max}) & s_t < 0 \end{cases},
    \qquad
    p_t = \begin{cases} 0 & s_t < 0 \\ \eta_t \operatorname{sign}(g_t) & \text{else}
    \end{cases}

  and, as optax computes it, the output is the step stored by the previous update,
  :math:`u_t = 0` if :math:`s_t < 0` else :math:`p_{t-1}` (so the first update is 0).
  :math:`\eta_0` = ``learning_rate``; the output is a step to be subtracted (``rprop`` flips
  its sign). Riedmiller & Braun, "A direct adaptive method for faster backpropagation
  learning: the RPROP algorithm", 1993; Igel & Hüsken, 2003.

  Args:
    learning_rate: the initial step size, ``>= 0``.
    eta_minus: factor applied to the step size after a sign change, ``>= 0``.
    eta_plus: factor applied to the step size while the sign holds, ``>= 0``.
    min_step_size: the smallest step size, ``>= 0``.
    max_step_size: the largest step size, ``>= min_step_size``.

  Returns:
    A ``GradientTransformation`` with state ``ScaleByRpropState(step_sizes, prev_updates)``.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like._src import sign
    >>> tx = sign.scale_by_rprop(learning_rate=1.0, eta_minus=0.5, eta_plus=2.0)
    >>> state = tx.init(jnp.zeros(2))
    >>> u, state = tx.update(jnp.array([3.0, -1.0]), state)   # no history: p = [1, -1]
    >>> u.tolist()
    [0.0, 0.0]
    >>> u, state = tx.update(jnp.array([1.0, 4.0]), state)    # same sign / sign change
    >>> u.tolist(), state.step_sizes.tolist(), state.prev_updates.tolist()
    ([1.0, 0.0], [2.0, 0.5], [2.0, 0.0])
  """
  fn = 'scale_by_rprop'
  validation.check_range(learning_rate, 'learning_rate', low=0.0, fn=fn)
  validation.check_range(eta_minus, 'eta_minus', low=0.0, fn=fn)
  validation.check_range(eta_plus, 'eta_plus', low=0.0, fn=fn)
  validation.check_range(min_step_size, 'min_step_size', low=0.0, fn=fn)
  validation.check_range(max_step_size, 'max_step_size', low=0.0, fn=fn)
  low, high = (validation._static_number(min_step_size),  # pylint: disable=protected-access
               validation._static_number(max_step_size))  # pylint: disable=protected-access
  if low is not None and high is not None and low > high:
    raise ValueError(f'{fn}: `min_step_size` ({min_step_size}) must not exceed '
                     f'`max_step_size` ({max_step_size}).')

  def init_fn(params):
    return ScaleByRpropState(step_sizes=tree.tree_full_like(params, learning_rate),
                             prev_updates=tree.tree_zeros_like(params))

  def leaf(g, step, prev):
    gc, stepc, prevc = tree.upcast(g), tree.upcast(step), tree.upcast(prev)
    s = gc * prevc
    grown = jnp.clip(stepc * jnp.where(s > 0, eta_plus, eta_minus),
                     min=min_step_size, max=max_step_size)
    new_step = jnp.where(s == 0, stepc, grown)
    new_prev = jnp.where(s < 0, jnp.zeros_like(gc), new_step * jnp.sign(gc))
    # optax returns the step stored by the previous update (zeroed after a sign change).
    u = jnp.where(s < 0, jnp.zeros_like(prevc), prevc)
    return tree.cast(u, tree.result_dtype(g)), new_step, new_prev

  def update_fn(updates, state, params=None):
    del params
    validation.check_state(state, ScaleByRpropState, fn)
    treedef, gs, steps, prevs = adaptive._flatten_with_state(  # pylint: disable=protected-access
        updates, state, ('step_sizes', 'prev_updates'), fn)
    out = adaptive._lmap(leaf, gs, steps, prevs)  # pylint: disable=protected-access
    new_updates, new_steps, new_prevs = adaptive._unzip(out, 3)  # pylint: disable=protected-access
    return treedef.unflatten(new_updates), ScaleByRpropState(
        step_sizes=treedef.unflatten(adaptive._store(new_steps, steps)),  # pylint: disable=protected-access
        prev_updates=treedef.unflatten(adaptive._store(new_prevs, prevs)))  # pylint: disable=protected-access

  return base.grouping_free(base.GradientTransformation(init_fn, update_fn))

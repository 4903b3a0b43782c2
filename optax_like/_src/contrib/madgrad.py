r"""MADGRAD: momentumised, adaptive, dual-averaged gradient method.

Defazio and Jelassi, "Adaptivity without Compromise: A Momentumized, Adaptive, Dual Averaged
Gradient Method for Stochastic Optimization" (2021, https://arxiv.org/abs/2101.11075).
"""

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp

from optax_like._src import adaptive
from optax_like._src import alias
from optax_like._src import base
from optax_like._src import tree
from optax_like._src import validation
from optax_like._src.weight_decay import add_decayed_weights

# pylint: disable=protected-access
_flatten_with_state = adaptive._flatten_with_state
_lmap = adaptive._lmap
_store = adaptive._store
_upcast_all = adaptive._upcast_all
# pylint: enable=protected-access


class MadgradState(NamedTuple):
  """State of ``scale_by_madgrad``.

  Attributes:
    count: int32 step count.
    grad_sum_sq: weighted sum of squared gradients.
    s: weighted sum of gradients.
    x0: the parameters at ``init`` (the centre of the dual average).
  """
  count: chex.Array
  grad_sum_sq: base.Updates
  s: base.Updates
  x0: base.Params


def _copy(x):
  # A copy, so the state never shares a buffer with the parameters (donation-safe).
  if x is None or isinstance(x, jax.ShapeDtypeStruct):
    return x
  return jnp.array(x, copy=True)


def scale_by_madgrad(
    learning_rate: base.ScalarOrSchedule,
    momentum: float = 0.9,
    eps: float = 1e-6,
) -> base.GradientTransformation:
  r"""MADGRAD's step from the current parameters (the learning rate is included).

  With :math:`k` the number of earlier steps and :math:`\eta_k` the learning rate at
  :math:`k`:

  .. math::
    \lambda_k = (\eta_k + \epsilon)\sqrt{k + 1}, \qquad
    \nu_k = \nu_{k-1} + \lambda_k g_k^2, \qquad s_k = s_{k-1} + \lambda_k g_k

  .. math::
    z_k = x_0 - \frac{s_k}{\sqrt[3]{\nu_k} + \epsilon}, \qquad
    u_k = (1 - \mu) z_k + \mu\, p_k - p_k

  with :math:`x_0` the parameters given to ``init`` and :math:`\mu` = ``momentum``.

  Args:
    learning_rate: :math:`\eta`, a number or a schedule of the step count.
    momentum: :math:`\mu` in ``[0, 1]``.
    eps: added to the learning rate and to the cube root, ``>= 0``.

  Returns:
    A ``GradientTransformation`` with state ``MadgradState(count, grad_sum_sq, s, x0)``;
    ``update`` needs ``params``.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like import contrib
    >>> tx = contrib.scale_by_madgrad(1.0, momentum=0.0, eps=0.0)
    >>> p = jnp.zeros(1)
    >>> u, state = tx.update(jnp.array([8.0]), tx.init(p), p)   # z = -8 / 64^(1/3)
    >>> u.tolist(), state.grad_sum_sq.tolist()
    ([-2.0], [64.0])
  """
  fn = 'scale_by_madgrad'
  validation.check_schedule_or_scalar(learning_rate, 'learning_rate', fn)
  if not callable(learning_rate):
    validation.check_range(learning_rate, 'learning_rate', low=0.0, fn=fn)
  validation.check_range(momentum, 'momentum', low=0.0, high=1.0, fn=fn)
  validation.check_range(eps, 'eps', low=0.0, fn=fn)

  def init_fn(params):
    return MadgradState(count=jnp.zeros([], jnp.int32),
                        grad_sum_sq=tree.tree_zeros_like(params),
                        s=tree.tree_zeros_like(params),
                        x0=jax.tree.map(_copy, params))

  def update_fn(updates, state, params=None):
    validation.require_params(params, fn)
    validation.check_state(state, MadgradState, fn)
    treedef, gs, sqs, ss, x0s = _flatten_with_state(updates, state,
                                                     ('grad_sum_sq', 's', 'x0'), fn)
    ps = adaptive._flatten_state(treedef, updates, params, 'params', fn)  # pylint: disable=protected-access
    gcs = _upcast_all(gs)
    lr = learning_rate(state.count) if callable(learning_rate) else learning_rate
    weight = (lr + eps) * jnp.sqrt(state.count + 1)
    new_sq = _lmap(lambda g, v: tree.upcast(v) + weight * g**2, gcs, sqs)
    new_s = _lmap(lambda g, s: tree.upcast(s) + weight * g, gcs, ss)

    def step(g, v, s, x0, p):
      z = tree.upcast(x0) - s / (jnp.cbrt(v) + eps)
      pc = tree.upcast(p)
      return tree.cast((1 - momentum) * z + momentum * pc - pc, tree.result_dtype(g))

    new_updates = _lmap(step, gs, new_sq, new_s, x0s, ps)
    return treedef.unflatten(new_updates), MadgradState(
        count=tree.safe_increment(state.count),
        grad_sum_sq=treedef.unflatten(_store(new_sq, sqs)),
        s=treedef.unflatten(_store(new_s, ss)), x0=state.x0)

  return base.grouping_free(base.GradientTransformation(init_fn, update_fn))


def madgrad(
    learning_rate: base.ScalarOrSchedule,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    eps: float = 1e-6,
) -> base.GradientTransformationExtraArgs:
  r"""MADGRAD: coupled weight decay, then ``scale_by_madgrad``.

  .. math::
    u_k = (1 - \mu)\left(x_0 - \frac{s_k}{\sqrt[3]{\nu_k} + \epsilon}\right) - (1 - \mu) p_k

  where :math:`s_k, \nu_k` sum :math:`\lambda_k (g_k + w p_k)` and its square (see
  ``scale_by_madgrad``; the learning rate is inside the step). Defazio and Jelassi 2021,
  https://arxiv.org/abs/2101.11075.

  Args:
    learning_rate: :math:`\eta`, a number or a schedule.
    momentum: :math:`\mu` in ``[0, 1]``.
    weight_decay: :math:`w`, added to the gradient as ``w * params``.
    eps: added to the learning rate and to the cube root.

  Returns:
    A ``GradientTransformationExtraArgs`` (optax's chain).

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like import contrib
    >>> opt = contrib.madgrad(1.0, momentum=0.5, eps=0.0)
    >>> p = jnp.zeros(1)
    >>> u, _ = opt.update(jnp.array([-1.0]), opt.init(p), p)
    >>> u.tolist()   # 0.5 * (0 + 1 / 1)
    [0.5]
  """
  return alias._fusable(base.chain(  # pylint: disable=protected-access
      add_decayed_weights(weight_decay),
      scale_by_madgrad(learning_rate=learning_rate, momentum=momentum, eps=eps)))

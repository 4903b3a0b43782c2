r"""COCOB-Backprop: learning-rate-free descent by continuous coin betting.

Each coordinate bets a fraction of its accumulated "wealth" on the sign of the negative gradient
(Orabona & Tommasi, `Training Deep Networks without Learning Rates Through Coin Betting
<https://arxiv.org/abs/1705.07795>`_, 2017, Algorithm 2).
"""

from typing import Any, Callable, NamedTuple, Optional, Union

import chex
import jax
import jax.numpy as jnp

from optax_like._src import alias
from optax_like._src import base
from optax_like._src import scaling
from optax_like._src import tree
from optax_like._src import validation
from optax_like._src.adaptive import _flatten_with_state, _lmap, _store, _unzip
from optax_like._src.weight_decay import add_decayed_weights


class COCOBState(NamedTuple):
  """State of ``scale_by_cocob`` (optax's fields), one entry per parameter leaf."""
  init_particles: base.Updates        # the parameters at ``init``
  cumulative_gradients: base.Updates  # minus the sum of the gradients
  scale: base.Updates                 # running max of |g|, started at eps
  subgradients: base.Updates          # sum of |g|
  reward: base.Updates                # the wealth won so far, >= 0


_FIELDS = COCOBState._fields


def scale_by_cocob(alpha: chex.Numeric = 100.0,
                   eps: chex.Numeric = 1e-8) -> base.GradientTransformation:
  r"""Replaces the updates by the COCOB-Backprop step (coordinate-wise coin betting).

  Per coordinate, with :math:`x_0` the parameters at ``init``, :math:`L_0 = \epsilon`:

  .. math::
    L_t = \max(L_{t-1}, |g_t|), \quad G_t = G_{t-1} + |g_t|, \quad
    R_t = \max(R_{t-1} - g_t (x_t - x_0),\ 0), \quad \theta_t = \theta_{t-1} - g_t

  .. math::
    u_t = x_0 + \frac{\theta_t}{L_t \max(G_t + L_t,\ \alpha L_t)}\,(L_t + R_t) - x_t

  so that :math:`x_t + u_t` is the new bet. The state is ``COCOBState``.

  Args:
    alpha: the bet fraction parameter :math:`\alpha`, ``> 0``.
    eps: initial value of :math:`L`, ``> 0`` (keeps the first division finite).

  Returns:
    A ``GradientTransformation`` that needs ``params`` in ``update``.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like import contrib
    >>> tx = contrib.scale_by_cocob(alpha=2.0, eps=1.0)
    >>> p = jnp.zeros(1)
    >>> u, _ = tx.update(jnp.array([4.0]), tx.init(p), p)
    >>> u.tolist()   # L = 4, G = 4, R = 0, theta = -4: -4 / (4 * max(8, 8)) * 4
    [-0.5]
  """
  fn = 'scale_by_cocob'
  validation.check_range(alpha, 'alpha', low=0.0, low_inclusive=False, fn=fn)
  validation.check_range(eps, 'eps', low=0.0, low_inclusive=False, fn=fn)

  def init_fn(params):
    zeros = tree.tree_zeros_like(params)
    return COCOBState(
        init_particles=params,
        cumulative_gradients=zeros,
        scale=tree.tree_full_like(params, eps),
        subgradients=zeros,
        reward=zeros)

  def leaf(g, p, p0, c, l, s, r):
    gc, pc, p0c = tree.upcast(g), tree.upcast(p), tree.upcast(p0)
    l = jnp.maximum(tree.upcast(l), jnp.abs(gc))
    s = tree.upcast(s) + jnp.abs(gc)
    r = jnp.maximum(tree.upcast(r) - gc * (pc - p0c), 0)
    c = tree.upcast(c) - gc
    u = -pc + (p0c + c / (l * jnp.maximum(s + l, alpha * l)) * (l + r))
    return tree.cast(u, tree.result_dtype(g)), c, l, s, r

  def update_fn(updates, state, params=None):
    validation.require_params(params, fn)
    validation.check_state(state, COCOBState, fn)
    treedef, gs, p0s, cs, ls, ss, rs = _flatten_with_state(updates, state, _FIELDS, fn)
    ps = treedef.flatten_up_to(params)
    out = _lmap(leaf, gs, ps, p0s, cs, ls, ss, rs)
    new_updates, c, l, s, r = _unzip(out, 5)
    return treedef.unflatten(new_updates), COCOBState(
        init_particles=state.init_particles,
        cumulative_gradients=treedef.unflatten(_store(c, cs)),
        scale=treedef.unflatten(_store(l, ls)),
        subgradients=treedef.unflatten(_store(s, ss)),
        reward=treedef.unflatten(_store(r, rs)))

  return base.grouping_free(base.GradientTransformation(init_fn, update_fn))


def cocob(learning_rate: base.ScalarOrSchedule = 1.0,
          alpha: chex.Numeric = 100.0,
          eps: chex.Numeric = 1e-8,
          weight_decay: chex.Numeric = 0.0,
          mask: Optional[Union[Any, Callable[[base.Params], Any]]] = None,
          ) -> base.GradientTransformation:
  r"""COCOB-Backprop with optional L2 regularisation (``scale_by_cocob`` after decay).

  .. math::
    \tilde g_t = \eta\,(g_t + \lambda x_t), \qquad u_t = \text{cocob}(\tilde g_t)

  The learning rate :math:`\eta` multiplies the gradient without flipping its sign (the
  betting step already points downhill); :math:`\lambda` = ``weight_decay`` applies where
  ``mask`` is true. Reference: Orabona & Tommasi, `Training Deep Networks without Learning
  Rates Through Coin Betting <https://arxiv.org/abs/1705.07795>`_, 2017.

  Args:
    learning_rate: gradient multiplier :math:`\eta` (a number or a schedule).
    alpha: bet fraction parameter, ``> 0``.
    eps: initial scale, ``> 0``.
    weight_decay: L2 coefficient :math:`\lambda`.
    mask: tree of bools (or callable of the params) selecting the leaves to decay.

  Returns:
    The ``chain(add_decayed_weights, scale_by_learning_rate(flip_sign=False), scale_by_cocob)``.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like import contrib
    >>> opt = contrib.cocob(alpha=2.0, eps=1.0)
    >>> p = jnp.zeros(1)
    >>> u, _ = opt.update(jnp.array([4.0]), opt.init(p), p)
    >>> u.tolist()
    [-0.5]
  """
  validation.check_schedule_or_scalar(learning_rate, 'learning_rate', 'cocob')

  def make(decay_mask):
    return base.chain(
        add_decayed_weights(weight_decay, decay_mask),
        scaling.scale_by_learning_rate(learning_rate, flip_sign=False),
        scale_by_cocob(alpha, eps))
  return alias._fusable(make(mask), make, (mask,))  # pylint: disable=protected-access

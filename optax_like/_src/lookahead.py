r"""Lookahead: a fast optimizer takes ``sync_period`` steps, then slow weights move part of
the way towards the fast ones and the fast weights restart from there.

The wrapper works on ``LookaheadParams(fast, slow)``: its updates are a ``LookaheadParams`` too,
so ``apply_updates`` moves both sets of weights in one call.
"""

from __future__ import annotations

import logging
import numbers
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from optax_like._src import base
from optax_like._src import tree as tree_lib
from optax_like._src import validation

_log = logging.getLogger(__name__)


class LookaheadState(NamedTuple):
  """State of ``lookahead``: the fast optimizer's state and the number of fast steps taken
  since the last synchronisation (int32 scalar)."""
  fast_state: base.OptState
  steps_since_sync: jax.Array


class LookaheadParams(NamedTuple):
  """The two sets of weights of ``lookahead``: ``fast`` (take gradients here) and ``slow``
  (evaluate here)."""
  fast: base.Params
  slow: base.Params

  @classmethod
  def init_synced(cls, params: base.Params) -> 'LookaheadParams':
    """Fast and slow weights both equal to ``params``."""
    return cls(slow=params, fast=params)


def _check_period(sync_period, fn: str) -> None:
  validation.check_not_bool(sync_period, 'sync_period', fn)
  if isinstance(sync_period, (numbers.Number, np.ndarray, np.generic)) or (
      isinstance(sync_period, jax.Array) and not isinstance(sync_period, jax.core.Tracer)):
    if np.ndim(sync_period) != 0:
      raise ValueError(f'{fn}: `sync_period` must be a scalar, got shape {np.shape(sync_period)}.')
    if not sync_period >= 1:
      raise ValueError(f'{fn}: `sync_period` must be >= 1, got {sync_period!r}.')


def _reset_leaf(sync_next, current, initial):
  """``initial`` on a synchronising step, else ``current``, in the dtype optax's arithmetic
  blend ``(1 - s) * current + s * initial`` gives (a Python bool becomes an int)."""
  dtype = jnp.result_type(current, initial, 1)
  return jnp.where(sync_next, initial, current).astype(dtype)


def lookahead(fast_optimizer: base.GradientTransformation,
              sync_period: jax.typing.ArrayLike,
              slow_step_size: jax.typing.ArrayLike,
              reset_state: bool = False) -> base.GradientTransformation:
  r"""Lookahead optimizer: ``k`` fast steps forward, then one step back towards the slow
  weights.

  With fast weights :math:`\phi`, slow weights :math:`\theta`, the fast optimizer's update
  :math:`u` and :math:`\alpha` = ``slow_step_size``, a step that completes a period of
  ``sync_period`` fast steps does

  .. math::
    d = \phi + u - \theta, \qquad
    \theta \leftarrow \theta + \alpha d, \qquad \phi \leftarrow \theta_{\mathrm{new}}

  and any other step only :math:`\phi \leftarrow \phi + u`. Both are returned as one update
  ``LookaheadParams(fast=u - (1 - \alpha) s d, slow=\alpha s d)`` with :math:`s \in \{0, 1\}`
  marking the synchronising step. With ``reset_state`` the fast optimizer's state is
  re-initialised (from the fast weights) at every synchronisation (selected, where optax blends
  ``(1 - s) * state + s * init``: the same for finite states, no NaN from an infinite one).
  Zhang et al., "Lookahead Optimizer: k steps forward, 1 step back", 2019,
  https://arxiv.org/abs/1907.08610.

  Args:
    fast_optimizer: the inner optimizer; it sees the gradients and ``params.fast``.
    sync_period: fast steps per synchronisation (``>= 1``).
    slow_step_size: :math:`\alpha`, how far the slow weights move towards the fast ones.
    reset_state: re-initialise the fast optimizer's state at each synchronisation.

  Returns:
    A ``GradientTransformation`` whose ``update`` takes gradients taken at ``params.fast``
    and ``params`` as ``LookaheadParams``; its updates must be applied unchanged.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> opt = ox.lookahead(ox.sgd(1.0), sync_period=2, slow_step_size=0.5)
    >>> params = ox.LookaheadParams.init_synced(jnp.array([4.0]))
    >>> state = opt.init(params)
    >>> for _ in range(2):  # gradient 1: the fast weights go 4 -> 3 -> 2
    ...   updates, state = opt.update(jnp.array([1.0]), state, params)
    ...   params = ox.apply_updates(params, updates)
    >>> params.slow.tolist(), params.fast.tolist()  # slow: 4 + 0.5 * (2 - 4)
    ([3.0], [3.0])
  """
  fn = 'lookahead'
  validation.check_transformation(fast_optimizer, f'{fn}: `fast_optimizer`')
  _check_period(sync_period, fn)
  validation.check_range(slow_step_size, 'slow_step_size', fn=fn)
  if not validation.is_bool(reset_state):
    raise TypeError(f'{fn}: `reset_state` must be a bool, got {type(reset_state).__name__}.')

  def init_fn(params):
    fast_params = getattr(params, 'fast', None)
    if fast_params is None:
      # As optax: plain parameters are taken to be the fast ones.
      _log.warning('lookahead: `params` has no attribute `fast`; taking them as the fast '
                   'parameters.')
      fast_params = params
    return LookaheadState(fast_state=fast_optimizer.init(fast_params),
                          steps_since_sync=jnp.zeros([], jnp.int32))

  def update_fn(updates, state, params=None):
    if params is None or not (hasattr(params, 'fast') and hasattr(params, 'slow')):
      raise ValueError(
          f'{fn}: `params` must be the LookaheadParams(fast, slow) being optimized, got '
          f'{type(params).__name__}; build them with LookaheadParams.init_synced(params).')
    validation.check_state(state, LookaheadState, fn)
    fast_updates, fast_state = fast_optimizer.update(updates, state.fast_state, params.fast)
    sync_next = state.steps_since_sync == (sync_period - 1)
    new_updates = _lookahead_updates(fast_updates, sync_next, params, slow_step_size)
    if reset_state:
      initial = fast_optimizer.init(params.fast)
      fast_state = jax.tree.map(lambda c, i: _reset_leaf(sync_next, c, i), fast_state, initial)
    steps = (state.steps_since_sync + 1) % sync_period
    return new_updates, LookaheadState(fast_state=fast_state,
                                       steps_since_sync=steps.astype(jnp.int32))

  return base.GradientTransformation(init_fn, update_fn)


def _lookahead_updates(updates, sync_next, params: LookaheadParams, slow_step_size):
  """The fast and slow updates of one lookahead step (see ``lookahead``), in float32 for 16-bit
  leaves and returned in the dtype of the fast update."""
  s = sync_next

  def leaf(u, fast, slow):
    uc = tree_lib.upcast(u)
    diff = tree_lib.upcast(fast) + uc - tree_lib.upcast(slow)
    slow_u = slow_step_size * s * diff
    fast_u = uc - s * (1 - slow_step_size) * diff
    out = jnp.result_type(u, fast, slow)
    if jnp.issubdtype(out, jnp.integer) or out == jnp.bool_:
      out = jnp.result_type(out, float)
    return fast_u.astype(out), slow_u.astype(out)

  fast_updates, slow_updates = tree_lib.tree_map_split(
      leaf, updates, params.fast, params.slow,
      names=('updates', 'params.fast', 'params.slow'), fn_name='lookahead')
  return LookaheadParams(fast=fast_updates, slow=slow_updates)

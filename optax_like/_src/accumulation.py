"""Momentum-style accumulators: ``trace`` (heavy-ball momentum) and ``ema`` (moving average)."""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

import chex
import jax
import jax.numpy as jnp

from optax_like._src import base, moments, tree, validation


class TraceState(NamedTuple):
  trace: base.Params


class EmaState(NamedTuple):
  count: chex.Array  # int32 scalar
  ema: base.Params


def trace(decay: chex.Numeric, nesterov: bool = False,
          accumulator_dtype: Optional[Any] = None) -> base.GradientTransformation:
  r"""Heavy-ball momentum.

  .. math::
    t_k = u_k + \mu\, t_{k-1}, \qquad
    \text{out}_k = t_k \;\; (\text{or } u_k + \mu\, t_k \text{ with nesterov})

  Placed *after* ``scale_by_learning_rate`` the trace holds ``-lr * g`` summed with decay,
  which is Keras's momentum (``accum = accum * momentum - lr * g``), learning rate folded in.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> tx = ox.trace(decay=0.5)
    >>> s = tx.init(jnp.zeros(1))
    >>> u, s = tx.update(jnp.ones(1), s)
    >>> u, s = tx.update(jnp.ones(1), s)
    >>> u.tolist()
    [1.5]
  """
  validation.check_range(decay, 'decay', low=0.0, fn='trace')
  accumulator_dtype = tree.canonicalize_dtype(accumulator_dtype)

  def init_fn(params):
    return TraceState(trace=tree.tree_zeros_like(params, accumulator_dtype))

  def update_fn(updates, state, params=None):
    del params
    validation.check_state(state, TraceState, 'trace')

    def leaf(g, t):
      new_t = tree.upcast(g) + decay * tree.upcast(t)
      out = tree.upcast(g) + decay * new_t if nesterov else new_t
      # Integer updates promote to a float, as optax's ``g + decay * t`` does.
      return (out.astype(jnp.result_type(g, t, float)),
              new_t.astype(accumulator_dtype or tree.result_dtype(t.dtype)))

    new_updates, new_trace = tree.tree_map_split(leaf, updates, state.trace,
                                                 names=('updates', 'state.trace'), fn_name='trace')
    return new_updates, TraceState(trace=new_trace)

  return base.grouping_free(base.GradientTransformation(init_fn, update_fn))


def ema(decay: chex.Numeric, debias: bool = True,
        accumulator_dtype: Optional[Any] = None) -> base.GradientTransformation:
  r"""Exponential moving average of the updates.

  .. math::
    e_k = (1 - \beta)\, u_k + \beta\, e_{k-1}, \qquad
    \text{out}_k = e_k / (1 - \beta^k) \;\; (\text{debiased})

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> tx = ox.ema(decay=0.5, debias=False)
    >>> u, s = tx.update(jnp.ones(1), tx.init(jnp.zeros(1)))
    >>> u.tolist()
    [0.5]
  """
  validation.check_range(decay, 'decay', low=0.0, high=1.0, fn='ema')
  if debias:
    validation.check_range(decay, 'decay', low=0.0, high=1.0, high_inclusive=False,
                           fn='ema (debias=True)')
  accumulator_dtype = tree.canonicalize_dtype(accumulator_dtype)

  def init_fn(params):
    return EmaState(count=jnp.zeros([], jnp.int32),
                    ema=tree.tree_zeros_like(params, accumulator_dtype))

  def update_fn(updates, state, params=None):
    del params
    validation.check_state(state, EmaState, 'ema')
    count_inc = tree.safe_increment(state.count)

    def average(g, e):
      # In the promoted dtype of update and state (float32 for 16-bit), unrounded.
      g = tree.upcast(jnp.asarray(g).astype(jnp.result_type(g, e, float)))
      return (moments.update_moment(g, tree.upcast(e), decay),)

    def round_to_dtypes(out, new_e, g, e):
      return (out.astype(jnp.result_type(g, e, float)),
              new_e.astype(accumulator_dtype or tree.result_dtype(e.dtype)))

    (new_ema,) = tree.tree_map_split(average, updates, state.ema, n_out=1,
                                     names=('updates', 'state.ema'), fn_name='ema')
    out = moments.bias_correction(new_ema, decay, count_inc) if debias else new_ema
    new_updates, stored_ema = tree.tree_map_split(round_to_dtypes, out, new_ema, updates,
                                                  state.ema)
    return new_updates, EmaState(count=count_inc, ema=stored_ema)

  return base.grouping_free(base.GradientTransformation(init_fn, update_fn))

"""Wrappers that run an inner transformation only under a condition.

* ``apply_if_finite``: skip steps whose updates hold a NaN or an inf, up to a limit.
* ``conditionally_transform`` / ``conditionally_mask``: run the inner transformation only at
  the steps a predicate of the step count selects; otherwise pass the updates through
  (``transform``) or replace them by zeros (``mask``).

In every case a skipped step leaves the inner state untouched, and the branches are chosen with
``lax.cond`` so that the wrappers work under ``jit`` with a traced condition.
"""

from __future__ import annotations

import functools
import numbers
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
from jax import lax

from optax_like._src import base, tree, validation


class ConditionFn(Protocol):
  """``fn(step, **extra_args) -> bool scalar``: whether the inner transformation runs."""

  def __call__(self, step: jax.typing.ArrayLike, **extra_args: Any) -> jax.typing.ArrayLike:
    ...


def _all_finite(updates: base.Updates) -> jax.Array:
  """True iff no leaf of ``updates`` holds a NaN or an inf (True for an empty tree)."""
  leaves = jax.tree.leaves(updates)
  return functools.reduce(jnp.logical_and, [jnp.all(jnp.isfinite(x)) for x in leaves],
                          jnp.array(True))


def _inner_output_zeros(inner, updates, inner_state, params, extra_args):
  """Zeros shaped like the updates that ``inner.update`` would return.

  Usually the inner transformation returns updates of the same shapes and dtypes as its
  input, and then ``zeros_like(updates)`` is used (it keeps the updates' sharding). When the
  inner transformation changes dtypes (or structure), zeros of its output's avals are made
  instead, so both branches of the ``lax.cond`` agree.
  """
  out = jax.eval_shape(lambda: inner.update(updates, inner_state, params, **extra_args)[0])
  leaves_in, def_in = jax.tree.flatten(updates)
  leaves_out, def_out = jax.tree.flatten(out)
  if def_in == def_out and all(
      jnp.shape(a) == b.shape and jnp.result_type(a) == b.dtype
      for a, b in zip(leaves_in, leaves_out)):
    return jax.tree.map(jnp.zeros_like, updates)
  return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), out)


def _cond(pred, true_fn, false_fn):
  """``lax.cond`` under tracing; a plain Python branch when ``pred`` is concrete.

  Eagerly, ``lax.cond`` would compile both branches at every call (the branches are fresh
  closures); branching in Python runs only the taken one, op by op, with the same results.
  """
  if not isinstance(pred, jax.core.Tracer):
    return true_fn(None) if bool(pred) else false_fn(None)
  return lax.cond(pred, true_fn, false_fn, None)


def _cast_like(new_state: base.OptState, old_state: base.OptState) -> base.OptState:
  """Casts every array leaf of ``new_state`` to the dtype of the same leaf of ``old_state``.

  Keeps the state's dtypes fixed across a ``lax.cond`` whose other branch returns the old state
  (e.g. an inner optimizer whose float32 hyperparameters would promote bfloat16 moments).
  """
  if jax.tree.structure(new_state) != jax.tree.structure(old_state):
    return new_state

  def cast(new, old):
    if hasattr(new, 'dtype') and hasattr(old, 'dtype') and new.dtype != old.dtype:
      return jnp.asarray(new).astype(old.dtype)
    return new

  return jax.tree.map(cast, new_state, old_state)


# ----------------------------------------------------------------------------------------------
# apply_if_finite


class ApplyIfFiniteState(NamedTuple):
  """State of ``apply_if_finite``.

  Attributes:
    notfinite_count: length of the current run of consecutive steps whose updates were not
      finite (int32); 0 after a finite step. It keeps counting after the wrapper gives up.
    last_finite: whether the updates of the last step were all finite (bool).
    total_notfinite: number of non-finite steps since ``init`` (int32), whether they were
      skipped or, after giving up, applied. Never reset.
    inner_state: the state of the wrapped transformation.
  """
  notfinite_count: Any
  last_finite: Any
  total_notfinite: Any
  inner_state: Any


def _check_max_consecutive_errors(value: Any) -> None:
  if (not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0):
    raise ValueError(
        'apply_if_finite: `max_consecutive_errors` must be a non-negative int, '
        f'got {value!r:.80}.')


def apply_if_finite(inner: base.GradientTransformation,
                    max_consecutive_errors: int) -> base.GradientTransformationExtraArgs:
  r"""Skips steps whose updates contain a NaN or an inf, up to ``max_consecutive_errors`` in a row.

  With :math:`f_t` = "all leaves of the incoming updates are finite" and :math:`c_t` the
  length of the current run of non-finite steps:

  .. math::
    c_t = \begin{cases} 0 & f_t \\ c_{t-1} + 1 & \neg f_t \end{cases}, \qquad
    (u_t, s_t) = \begin{cases}
      \mathrm{inner}(g_t, s_{t-1}) & f_t \lor c_t > \text{max\_consecutive\_errors} \\
      (0,\ s_{t-1}) & \text{otherwise}
    \end{cases}

  so at most ``max_consecutive_errors`` non-finite steps in a row are skipped (zero updates,
  inner state unchanged); the next one is applied (the wrapper "gives up"), and so is every
  further non-finite step of the same run, until a finite step resets :math:`c`.
  ``max_consecutive_errors=0`` never skips. ``total_notfinite`` counts every non-finite step,
  skipped or applied.

  On counting: this is exactly what optax 0.2.8 does (checked step by step in the tests,
  e.g. ``[ok, nan, nan, nan, ok, inf]`` with limit 2 gives ``notfinite_count`` 0,1,2,3,0,1 and
  ``total_notfinite`` 0,1,2,3,3,4). A proposed change to optax (PR #1746) would reset
  ``notfinite_count`` to 0 when the wrapper gives up; we deliberately do not, because the
  field would then no longer be the length of the run of non-finite steps, the wrapper would
  start skipping again in the middle of a run, and ``total_notfinite`` already gives the
  total.

  Differences from optax, none of which changes a number: ``max_consecutive_errors`` is
  validated (a non-negative int); the inner state keeps its dtypes across the skip branch;
  skipped steps return zeros shaped like the inner transformation's output even where the
  inner transformation changes dtypes.

  Args:
    inner: the transformation to protect.
    max_consecutive_errors: how many non-finite steps in a row are skipped before giving up.

  Returns:
    A ``GradientTransformationExtraArgs`` with state ``ApplyIfFiniteState``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> tx = ox.apply_if_finite(ox.sgd(1.0), max_consecutive_errors=1)
    >>> s = tx.init(jnp.zeros(1))
    >>> for g in [1.0, jnp.nan, jnp.nan]:
    ...   u, s = tx.update(jnp.array([g]), s)
    ...   print(u.tolist(), int(s.notfinite_count), int(s.total_notfinite))
    [-1.0] 0 0
    [0.0] 1 1
    [nan] 2 2
  """
  validation.check_transformation(inner, 'apply_if_finite: `inner`')
  _check_max_consecutive_errors(max_consecutive_errors)
  inner = base.with_extra_args_support(inner)
  limit = int(max_consecutive_errors)

  def init_fn(params):
    return ApplyIfFiniteState(
        notfinite_count=jnp.zeros([], jnp.int32),
        last_finite=jnp.array(True, jnp.bool_),
        total_notfinite=jnp.zeros([], jnp.int32),
        inner_state=inner.init(params))

  def update_fn(updates, state, params=None, **extra_args):
    validation.check_state(state, ApplyIfFiniteState, 'apply_if_finite')
    inner_state = state.inner_state
    isfinite = _all_finite(updates)
    notfinite_count = jnp.where(isfinite, jnp.zeros([], jnp.int32),
                                tree.safe_increment(state.notfinite_count))
    total_notfinite = jnp.where(isfinite, state.total_notfinite,
                                tree.safe_increment(state.total_notfinite))

    def apply(_):
      new_updates, new_state = inner.update(updates, inner_state, params, **extra_args)
      return new_updates, _cast_like(new_state, inner_state)

    def skip(_):
      return _inner_output_zeros(inner, updates, inner_state, params, extra_args), inner_state

    new_updates, new_inner_state = _cond(
        jnp.logical_or(isfinite, notfinite_count > limit), apply, skip)
    return new_updates, ApplyIfFiniteState(
        notfinite_count=notfinite_count,
        last_finite=isfinite,
        total_notfinite=total_notfinite,
        inner_state=new_inner_state)

  return base.GradientTransformationExtraArgs(init_fn, update_fn)


# ----------------------------------------------------------------------------------------------
# conditionally_transform / conditionally_mask


class ConditionallyTransformState(NamedTuple):
  """State of ``conditionally_transform``: the inner state and the int32 step counter."""
  inner_state: Any
  step: jax.typing.ArrayLike


class ConditionallyMaskState(NamedTuple):
  """State of ``conditionally_mask``: the int32 step counter and the inner state."""
  step: jax.typing.ArrayLike
  inner_state: Any


def _check_condition(fn: Any, name: str) -> None:
  if not callable(fn):
    raise TypeError(
        f'{name}: `should_transform_fn` must be a callable of the step count, '
        f'got {type(fn).__name__}: {fn!r:.80}')


def conditionally_transform(inner: base.GradientTransformation,
                            should_transform_fn: ConditionFn,
                            forward_extra_args: bool = False
                            ) -> base.GradientTransformationExtraArgs:
  r"""Runs ``inner`` only at the steps where ``should_transform_fn(step)`` holds.

  .. math::
    (u_t, s_t) = \begin{cases} \mathrm{inner}(g_t, s_{t-1}) & \mathrm{fn}(t) \\
                                (g_t,\ s_{t-1}) & \text{otherwise} \end{cases}

  where :math:`t` counts calls to ``update`` from 0. Skipped steps pass the updates through
  unchanged. With ``forward_extra_args`` the extra keyword arguments of ``update`` are also
  passed to ``should_transform_fn``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> tx = ox.conditionally_transform(ox.scale(10.0), lambda step: step % 2 == 0)
    >>> s = tx.init(None)
    >>> for _ in range(3):
    ...   u, s = tx.update(jnp.ones(1), s)
    ...   print(u.tolist())
    [10.0]
    [1.0]
    [10.0]
  """
  validation.check_transformation(inner, 'conditionally_transform: `inner`')
  _check_condition(should_transform_fn, 'conditionally_transform')
  inner = base.with_extra_args_support(inner)

  def init_fn(params):
    return ConditionallyTransformState(inner_state=inner.init(params),
                                       step=jnp.zeros([], jnp.int32))

  def update_fn(updates, state, params=None, **extra_args):
    validation.check_state(state, ConditionallyTransformState, 'conditionally_transform')
    condition_kwargs = extra_args if forward_extra_args else {}

    def apply(_):
      new_updates, new_state = inner.update(updates, state.inner_state, params, **extra_args)
      return new_updates, _cast_like(new_state, state.inner_state)

    def skip(_):
      return updates, state.inner_state

    new_updates, new_inner_state = _cond(
        should_transform_fn(state.step, **condition_kwargs), apply, skip)
    return new_updates, ConditionallyTransformState(new_inner_state,
                                                    tree.safe_increment(state.step))

  return base.GradientTransformationExtraArgs(init_fn, update_fn)


def conditionally_mask(inner: base.GradientTransformation,
                       should_transform_fn: ConditionFn,
                       forward_extra_args: bool = False
                       ) -> base.GradientTransformationExtraArgs:
  r"""Runs ``inner`` where ``should_transform_fn(step)`` holds and returns zeros elsewhere.

  .. math::
    (u_t, s_t) = \begin{cases} \mathrm{inner}(g_t, s_{t-1}) & \mathrm{fn}(t) \\
                                (0,\ s_{t-1}) & \text{otherwise} \end{cases}

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> tx = ox.conditionally_mask(ox.scale(10.0), lambda step: step >= 1)
    >>> s = tx.init(None)
    >>> for _ in range(2):
    ...   u, s = tx.update(jnp.ones(1), s)
    ...   print(u.tolist())
    [0.0]
    [10.0]
  """
  validation.check_transformation(inner, 'conditionally_mask: `inner`')
  _check_condition(should_transform_fn, 'conditionally_mask')
  inner = base.with_extra_args_support(inner)

  def init_fn(params):
    return ConditionallyMaskState(step=jnp.zeros([], jnp.int32), inner_state=inner.init(params))

  def update_fn(updates, state, params=None, **extra_args):
    validation.check_state(state, ConditionallyMaskState, 'conditionally_mask')
    condition_kwargs = extra_args if forward_extra_args else {}

    def apply(_):
      new_updates, new_state = inner.update(updates, state.inner_state, params, **extra_args)
      return new_updates, _cast_like(new_state, state.inner_state)

    def skip(_):
      zeros = _inner_output_zeros(inner, updates, state.inner_state, params, extra_args)
      return zeros, state.inner_state

    new_updates, new_inner_state = _cond(
        should_transform_fn(state.step, **condition_kwargs), apply, skip)
    return new_updates, ConditionallyMaskState(step=tree.safe_increment(state.step),
                                               inner_state=new_inner_state)

  return base.GradientTransformationExtraArgs(init_fn, update_fn)

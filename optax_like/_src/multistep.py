"""Gradient accumulation: ``MultiSteps`` applies the inner optimizer once every k mini-steps."""

from __future__ import annotations

import functools
import numbers
from typing import Any, Callable, NamedTuple, Optional, Protocol, Union

import chex
import jax
import jax.numpy as jnp
from jax import lax

from optax_like._src import base, tree, validation


class ShouldSkipUpdateFunction(Protocol):
  """``fn(updates, gradient_step, params) -> (should_skip: bool scalar, skip_state: pytree)``."""

  def __call__(self, updates: base.Updates, gradient_step: chex.Numeric,
               params: Optional[base.Params]) -> tuple[jax.Array, chex.ArrayTree]:
    ...


def skip_not_finite(updates: base.Updates, gradient_step: chex.Numeric,
                    params: Optional[base.Params]) -> tuple[jax.Array, chex.ArrayTree]:
  r"""Skip rule for ``MultiSteps``: skip a mini-step whose updates hold a NaN or an inf.

  .. math::
    n = \sum_{\text{leaves}} \#\{i : u_i \notin \mathbb{R}\}, \qquad \text{skip} = n > 0

  Returns ``(skip, {'should_skip': skip, 'num_not_finite': n})`` with ``n`` an int32 scalar
  (also for an empty tree, where optax gives a float32 0).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> skip, info = ox.skip_not_finite({'a': jnp.array([1.0, jnp.inf, jnp.nan])}, 0, None)
    >>> bool(skip), int(info['num_not_finite'])
    (True, 2)
  """
  del gradient_step, params
  counts = [jnp.sum(jnp.logical_not(jnp.isfinite(x))).astype(jnp.int32)
            for x in jax.tree.leaves(updates)]
  num_not_finite = jnp.sum(jnp.array(counts, jnp.int32))
  should_skip = num_not_finite > 0
  return should_skip, {'should_skip': should_skip, 'num_not_finite': num_not_finite}


def skip_large_updates(updates: base.Updates, gradient_step: chex.Numeric,
                       params: Optional[base.Params],
                       max_squared_norm: chex.Numeric) -> tuple[jax.Array, chex.ArrayTree]:
  r"""Skip rule for ``MultiSteps``: skip a mini-step whose squared global norm is too large.

  .. math::
    \nu = \sum_{\text{leaves}} \sum_i u_i^2, \qquad \text{skip} = \neg(\nu < \text{max\_squared\_norm})

  (so a NaN norm is skipped too). Bind ``max_squared_norm`` with ``functools.partial``.
  Returns ``(skip, {'should_skip': skip, 'norm_squared': nu})``; 16-bit leaves are summed
  in float32.

  Example:
    >>> import functools, jax.numpy as jnp, optax_like as ox
    >>> fn = functools.partial(ox.skip_large_updates, max_squared_norm=10.0)
    >>> skip, info = fn(jnp.array([3.0, 2.0]), 0, None)
    >>> bool(skip), float(info['norm_squared'])
    (True, 13.0)
  """
  del gradient_step, params
  sums = [jnp.sum(tree.upcast(x) ** 2) for x in jax.tree.leaves(updates)]
  norm_sq = jnp.sum(jnp.array(sums)) if sums else jnp.zeros([], jnp.float32)
  should_skip = jnp.logical_not(norm_sq < max_squared_norm)
  return should_skip, {'should_skip': should_skip, 'norm_squared': norm_sq}


class MultiStepsState(NamedTuple):
  """State of ``MultiSteps``.

  Attributes:
    mini_step: mini-steps accumulated since the last inner update (int32), in ``[0, k)``.
    gradient_step: number of inner updates made so far (int32).
    inner_opt_state: the state of the wrapped optimizer.
    acc_grads: the running mean (or sum) of the accumulated updates, in ``accumulator_dtype``.
    skip_state: the second output of ``should_skip_update_fn`` at the last call (``()``
      without one).
  """
  mini_step: chex.Array
  gradient_step: chex.Array
  inner_opt_state: Any
  acc_grads: Any
  skip_state: chex.ArrayTree = ()


def _never_skip(*args, **kwargs):
  del args, kwargs
  return jnp.array(False, jnp.bool_), ()


def _check_every_k(every_k_schedule: Any) -> Callable[[chex.Numeric], chex.Numeric]:
  if isinstance(every_k_schedule, bool):
    raise TypeError('MultiSteps: `every_k_schedule` must be an int >= 1 or a schedule, got '
                    f'{every_k_schedule!r}.')
  if isinstance(every_k_schedule, numbers.Integral):
    k = int(every_k_schedule)
    if k < 1:
      raise ValueError(f'MultiSteps: `every_k_schedule` must be >= 1, got {every_k_schedule!r}.')
    return lambda step: k
  if callable(every_k_schedule):
    return every_k_schedule
  raise TypeError(
      'MultiSteps: `every_k_schedule` must be an int >= 1 or a callable of the gradient step, '
      f'got {type(every_k_schedule).__name__}: {every_k_schedule!r:.80}')


class MultiSteps:
  r"""Accumulates updates over k mini-steps and applies the inner optimizer once per k.

  With :math:`m` the mini-step counter, :math:`n` the gradient-step counter and
  :math:`k = \text{every\_k\_schedule}(n)`, each call to ``update`` does

  .. math::
    a \leftarrow \begin{cases} a + (g - a)/(m + 1) & \text{use\_grad\_mean (Welford mean)} \\
                              a + g & \text{otherwise} \end{cases}

  and, on the k-th mini-step (:math:`m = k - 1`), returns ``inner.update(a)``, advances the
  inner state and :math:`n`, and resets :math:`a` to 0; on the other mini-steps it returns
  zeros and keeps the inner state. :math:`m \leftarrow (m + 1) \bmod k`.

  ``should_skip_update_fn(updates, gradient_step, params) -> (skip, skip_state)`` (e.g.
  ``skip_not_finite``) may reject a mini-step: then nothing but ``skip_state`` changes and the
  returned updates are zeros. The accumulator is kept in ``accumulator_dtype`` (float32) and
  handed to the inner optimizer in the dtype of the incoming updates; with
  ``accumulator_dtype=None`` it has each parameter's dtype (16-bit accumulators are updated in
  float32 and rounded when stored; optax fails on that configuration for bfloat16).

  Beyond optax (same numbers for finite updates): ``every_k_schedule`` is validated (an int
  must be >= 1; any integral number such as ``numpy.int64`` is accepted), and the
  non-emitting mini-steps return exact zeros and the accumulator restarts from exact zeros
  even when it holds an inf or a NaN (optax multiplies by 0, so a single non-finite gradient
  makes every later update and accumulator NaN).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> opt = ox.MultiSteps(ox.sgd(1.0), every_k_schedule=2)
    >>> s = opt.init(jnp.zeros(1))
    >>> for g in [1.0, 3.0, 5.0]:
    ...   u, s = opt.update(jnp.array([g]), s)
    ...   print(u.tolist(), bool(opt.has_updated(s)))
    [0.0] False
    [-2.0] True
    [0.0] False
  """

  def __init__(self, opt: base.GradientTransformation,
               every_k_schedule: Union[int, Callable[[chex.Numeric], chex.Numeric]],
               use_grad_mean: bool = True,
               should_skip_update_fn: Optional[ShouldSkipUpdateFunction] = None,
               accumulator_dtype: Any = jnp.float32):
    validation.check_transformation(opt, 'MultiSteps: `opt`')
    self._opt = base.with_extra_args_support(opt)
    self._every_k_schedule = _check_every_k(every_k_schedule)
    self._use_grad_mean = use_grad_mean
    self._accumulator_dtype = tree.canonicalize_dtype(accumulator_dtype)
    if should_skip_update_fn is None:
      should_skip_update_fn = _never_skip
    elif not callable(should_skip_update_fn):
      raise TypeError(
          'MultiSteps: `should_skip_update_fn` must be callable, got '
          f'{type(should_skip_update_fn).__name__}: {should_skip_update_fn!r:.80}')
    self._should_skip_update_fn = should_skip_update_fn

  @property
  def inner_opt(self) -> base.GradientTransformationExtraArgs:
    return self._opt

  def _accumulate(self, g, acc, n_acc):
    g, acc = tree.upcast(g), tree.upcast(acc)   # 16-bit accumulators are updated in float32
    if self._use_grad_mean:
      return acc + (g - acc) / (n_acc + 1)
    return g + acc

  def init(self, params: base.Params) -> MultiStepsState:
    """Zero accumulator (in ``accumulator_dtype``), counters at 0, inner state from ``opt``."""
    gradient_step = jnp.zeros([], jnp.int32)
    zeros = tree.tree_zeros_like(params)
    _, skip_state = self._should_skip_update_fn(zeros, gradient_step, params)
    return MultiStepsState(
        mini_step=jnp.zeros([], jnp.int32),
        gradient_step=gradient_step,
        inner_opt_state=self._opt.init(params),
        acc_grads=tree.tree_zeros_like(params, self._accumulator_dtype),
        skip_state=skip_state)

  def update(self, updates: base.Updates, state: MultiStepsState,
             params: Optional[base.Params] = None,
             **extra_args: Any) -> tuple[base.Updates, MultiStepsState]:
    """Accumulates ``updates``; every k-th mini-step returns the inner optimizer's update."""
    validation.check_state(state, MultiStepsState, 'MultiSteps')
    k_steps = self._every_k_schedule(state.gradient_step)
    should_skip, skip_state = self._should_skip_update_fn(updates, state.gradient_step, params)
    should_skip = jnp.asarray(should_skip)
    if (should_skip.dtype, should_skip.shape) != (jnp.bool_, ()):
      raise ValueError(
          'MultiSteps: `should_skip_update_fn` must return a bool scalar as its first output, '
          f'got dtype {should_skip.dtype} and shape {should_skip.shape}.')

    def do_update(updates, state, params):
      acc_grads = jax.tree.map(lambda g, a: self._accumulate(g, a, state.mini_step),
                               updates, state.acc_grads)
      inner_in = jax.tree.map(lambda a, g: a.astype(jnp.result_type(g)), acc_grads, updates)
      final_updates, new_inner_state = self._opt.update(
          inner_in, state.inner_opt_state, params=params, **extra_args)
      emit = state.mini_step == (k_steps - 1)
      new_state = MultiStepsState(
          mini_step=(tree.safe_increment(state.mini_step) % k_steps).astype(jnp.int32),
          gradient_step=jnp.where(emit, tree.safe_increment(state.gradient_step),
                                  state.gradient_step),
          inner_opt_state=jax.tree.map(
              lambda old, new: jnp.where(emit, new, old).astype(old.dtype),
              state.inner_opt_state, new_inner_state),
          acc_grads=jax.tree.map(
              lambda a, old: jnp.where(emit, jnp.zeros_like(a), a).astype(old.dtype),
              acc_grads, state.acc_grads),
          skip_state=skip_state)
      final_updates = jax.tree.map(lambda u: jnp.where(emit, u, jnp.zeros_like(u)),
                                   final_updates)
      return final_updates, new_state

    def skip_update(updates, state, params):
      # Zeros shaped like the inner optimizer's output, found without running it.
      static_args = {k: v for k, v in extra_args.items() if not isinstance(v, jax.Array)}
      dynamic_args = {k: v for k, v in extra_args.items() if isinstance(v, jax.Array)}
      inner_in = jax.tree.map(lambda a, g: a.astype(jnp.result_type(g)), state.acc_grads, updates)
      out, _ = jax.eval_shape(functools.partial(self._opt.update, **static_args),
                              inner_in, state.inner_opt_state, params=params, **dynamic_args)
      zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), out)
      return zeros, state._replace(skip_state=skip_state)

    if not isinstance(should_skip, jax.core.Tracer):
      # Eagerly, branch in Python: lax.cond would compile both branches at every call.
      branch = skip_update if bool(should_skip) else do_update
      return branch(updates, state, params)
    return lax.cond(should_skip, skip_update, do_update, updates, state, params)

  def has_updated(self, state: Union[MultiStepsState, chex.ArrayTree]) -> jax.Array:
    """True iff the last ``update`` applied the inner optimizer: ``mini_step == 0 and gradient_step > 0``."""
    return jnp.logical_and(getattr(state, 'mini_step') == 0,
                           getattr(state, 'gradient_step') > 0)

  def gradient_transformation(self) -> base.GradientTransformation:
    """This wrapper as a ``GradientTransformation`` (e.g. to put it in a ``chain``)."""
    return base.GradientTransformation(init=self.init, update=self.update)

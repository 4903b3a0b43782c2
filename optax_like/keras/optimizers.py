"""tf.keras 2 (legacy ``OptimizerV2``) and tf-models LARS as stateful optimizers over JAX.

``SGD``, ``Adam``, ``RMSprop`` and ``LARS`` hold their slots and iteration count as
``Variable``\\ s and apply the Keras-numerics chains of ``optax_like`` (``keras_sgd``,
``keras_adam``, ``keras_rmsprop``, ``keras_lars`` with ``keras_gradient_clipping`` and
``keras_learning_rate``): the wrapper keeps state, it does not re-implement the math.

How a step runs. ``apply_gradients`` drops ``None`` gradients (with a warning), creates the
iteration counter and the slots of variables seen for the first time (appended to
``weights``), then calls ONE compiled function that does, in Keras 2's order: the
``gradient_aggregator``, ``clipvalue``, ``clipnorm``, ``global_clipnorm``, each of the
``gradient_transformers``, the optimizer update of every variable, the variables'
constraints, and ``iterations + 1``. The slots map to the chain's state leaves (signs
included: Keras's RMSprop and classic-LARS velocities are ``+``, the trace behind
``scale_by_learning_rate`` holds ``-lr * ...``), and every step count of the chain state is
``optimizer.iterations``, so ``set_weights`` and ``opt.iterations.assign(n)`` act exactly.

Compilation. A compiled step is cached per (optimizer class and static configuration, the
learning-rate schedule, clipping, the user functions, the variables' shapes/dtypes/constraints
and which of them have gradients); hyperparameters (``learning_rate``, ``momentum``,
``beta_1``, ``beta_2``, ``rho``, LARS's ``momentum`` and ``eeta``) and the iteration count are
inputs, so ``opt.learning_rate = 0.05`` or a schedule stepping never recompiles. Float
hyperparameters are float32 variables as in Keras (cast to the variable's dtype at use);
``epsilon`` is a constant in the variable's dtype. Set ``opt.jit_compile = False`` to run the
same program op by op (no compilation; useful for a handful of steps).

``minimize(loss, var_list)`` traces ``loss`` (a callable of no arguments) with the values of
``var_list`` replaced by tracers, differentiates it with ``jax.vjp`` and applies the update in
the same compiled function. The loss is traced on every call, so arrays it reads (the batch,
other Variables) are fresh inputs each time; the compiled program is reused while the traced
program is the same. A variable the loss does not depend on gets a ``None`` gradient, as
under ``tf.GradientTape``.

Sparse gradients (``IndexedSlices``) follow Keras 2 per optimizer: SGD without momentum
scatter-adds ``-lr * values`` (repeated indices add up); SGD with momentum and RMSprop with
momentum sum repeated indices and update the rows of the variable and of its slots only;
Adam and RMSprop without momentum decay their slots densely (a dense step with the summed
gradient, zero elsewhere; RMSprop changes only the gradient's rows of the variable); LARS
raises ``NotImplementedError`` as tf-models does; a variable with a constraint raises
``RuntimeError``. Indices outside the variable raise ``ValueError`` (TF's CPU kernels reject
them too).

Deliberate differences from tf.keras 2: ``iterations`` is int32 (``get_weights()`` still gives
an int64 first entry), ``opt.iterations = n`` assigns instead of raising, a learning rate may
also be an optax-style schedule (a callable of the step count), the default
``gradient_aggregator`` is the identity (JAX's gradients of a global loss are already
summed) unless ``data_axis`` is set, and LARS validates ``momentum``/``eeta``/``weight_decay_rate`` (``>= 0``) at
construction and deserializes a schedule in ``from_config``.

On a mesh (see ``docs/distributed.md``). Under ``jax.jit`` with sharded arrays (GSPMD):
place the Variables with a ``NamedSharding`` (``Variable(x, sharding=...)``); slots are
created with their variable's sharding, and every step keeps the sharding of both.
Inside ``jax.shard_map``/``jax.pmap``: ``build(var_list)``, then the pure
``stateless_apply(optimizer_values, grads, values)`` (Keras 3's name) with ``data_axis``
(the default aggregator sums the replicas' gradients over it) and ``variable_axes`` (the
axes each variable is split over, for ``clipnorm``/``global_clipnorm`` and LARS's trust
ratio).
"""

from __future__ import annotations

import collections
import functools
import inspect
import numbers
import re
import threading
import types
import warnings
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from optax_like._src import base
from optax_like._src import distributed
from optax_like._src import keras_numerics as kn
from optax_like.keras import schedules
from optax_like.keras.variables import (VARIABLE_IN_JAX_FUNCTION, IndexedSlices, Variable,
                                        _keep_placement, _zeros_like_value)

__all__ = ['Optimizer', 'SGD', 'Adam', 'RMSprop', 'LARS', 'schedules', 'legacy', 'get',
           'serialize', 'deserialize']

_ALLOWED_KWARGS = {'clipnorm', 'clipvalue', 'lr', 'decay', 'global_clipnorm'}
_VALID_DTYPES = ('float16', 'bfloat16', 'float32', 'float64', 'complex64', 'complex128')
_VALID_DTYPE_SET = frozenset(jnp.dtype(d) for d in _VALID_DTYPES)

# Compiled programs shared by all optimizers: key -> callable. ``_STATS['traces']`` counts how
# often a step program was traced (i.e. compiled); tests use it to check for recompilation.
_PROGRAMS: 'collections.OrderedDict[Any, Callable]' = collections.OrderedDict()
_MAX_PROGRAMS = 512
_STATS = {'traces': 0}
_NAME_COUNTS: Dict[str, int] = collections.defaultdict(int)


# ----------------------------------------------------------------------------------------
# Small helpers.
# ----------------------------------------------------------------------------------------

class _Id:
  """Hashes and compares a user object by identity (for cache keys)."""
  __slots__ = ('obj',)

  def __init__(self, obj):
    self.obj = obj

  def __hash__(self):
    return id(self.obj)

  def __eq__(self, other):
    return isinstance(other, _Id) and other.obj is self.obj


def _freeze(value: Any) -> Any:
  """A hashable rendering of a (config) value."""
  if isinstance(value, dict):
    return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
  if isinstance(value, (list, tuple)):
    return tuple(_freeze(v) for v in value)
  if isinstance(value, (np.ndarray, jax.Array)):
    return ('array', np.asarray(value).dtype.name, np.asarray(value).tolist().__repr__())
  try:
    hash(value)
  except TypeError:
    return _Id(value)
  return value


def _to_snake_case(name: str) -> str:
  s = re.sub(r'(.)([A-Z][a-z]+)', r'\1_\2', name)
  return re.sub(r'([a-z])([A-Z])', r'\1_\2', s).lower()


def _f32_number(value: Any) -> float:
  """A float hyperparameter as Keras stores it (a float32 variable), as a short Python float."""
  return float(str(np.float32(value)))


def _is_number(value: Any) -> bool:
  return isinstance(value, numbers.Number) and not isinstance(value, bool)


def _accepts_one_argument(fn: Callable) -> bool:
  """True for a callable of one required positional argument (an optax-style schedule)."""
  try:
    sig = inspect.signature(fn)
  except (TypeError, ValueError):
    return False
  required = [p for p in sig.parameters.values()
              if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
  return len(required) == 1


def _is_schedule(value: Any) -> bool:
  if isinstance(value, schedules.LearningRateSchedule):
    return True
  return (callable(value) and not isinstance(value, (Variable, jax.Array, np.ndarray))
          and _accepts_one_argument(value))


def _as_input(value: Any) -> Any:
  """A hyperparameter value as an input of the compiled step."""
  if isinstance(value, Variable):
    return value._value  # pylint: disable=protected-access
  if _is_number(value):
    return np.float32(value)
  return jnp.asarray(value)


def _check_scalar_hyper(name: str, value: Any) -> Any:
  """``value`` if it is a scalar (a vector hyperparameter would broadcast per element)."""
  shape = np.shape(getattr(value, '_value', value))
  if shape != ():
    raise ValueError(f'The hyperparameter `{name}` must be a scalar (a number, a scalar '
                     f'Variable, a schedule or a callable returning a scalar); got a value of '
                     f'shape {shape}: {value!r:.80}')
  return value


def _call_hyper(value: Any) -> Any:
  """A zero-argument callable hyperparameter is called each step (Keras ``_get_hyper``)."""
  result = value()
  if isinstance(result, Variable):
    return result._value  # pylint: disable=protected-access
  if _is_number(result):
    return float(result)  # weakly typed: takes the variable's dtype, as TF casts it
  return jnp.asarray(result)


def _initial_value(initializer: Any, shape: Tuple[int, ...], dtype: Any,
                   like: Optional[jax.Array] = None) -> jax.Array:
  if isinstance(initializer, str):
    kind = initializer.lower()
    if kind in ('zeros', 'zero'):
      if like is not None and tuple(like.shape) == tuple(shape) and like.dtype == dtype:
        return _zeros_like_value(like)
      return jnp.zeros(shape, dtype)
    if kind in ('ones', 'one'):
      return jnp.ones(shape, dtype)
    raise ValueError(f"Unknown initializer {initializer!r}: use 'zeros', 'ones', a callable "
                     '`f(shape, dtype)` or an array.')
  if callable(initializer):
    try:
      value = initializer(shape, dtype=dtype)
    except TypeError:
      value = initializer(shape)
    return jnp.asarray(value, dtype)
  value = jnp.asarray(getattr(initializer, '_value', initializer), dtype)
  if shape is not None and tuple(value.shape) != tuple(shape):
    value = jnp.broadcast_to(value, shape)
  return value


# ----------------------------------------------------------------------------------------
# The chain state <-> Keras slots.
# ----------------------------------------------------------------------------------------

def _map_state(state: Any, fn: Callable[[str, str, Any], Any]) -> Any:
  """Rebuilds a chain state, replacing NamedTuple fields for which ``fn`` returns non-None."""
  if isinstance(state, tuple) and hasattr(state, '_fields'):
    fields = {}
    for field in state._fields:
      value = getattr(state, field)
      new = fn(type(state).__name__, field, value)
      fields[field] = _map_state(value, fn) if new is None else new
    return type(state)(**fields)
  if isinstance(state, (tuple, list)):
    return type(state)(_map_state(s, fn) for s in state)
  return state


def _load_state(state: Any, slot_map: Dict[Tuple[str, str], Tuple[str, int]], key: str,
                slots: Dict[str, jax.Array], iterations: jax.Array) -> Any:
  """Writes the Keras slots (and ``iterations`` into every step count) into a fresh state."""
  found = set()

  def fn(cls, field, value):
    entry = slot_map.get((cls, field))
    if entry is not None:
      name, sign = entry
      found.add(name)
      slot = slots[name].astype(value[key].dtype)
      return {key: slot if sign > 0 else -slot}
    if field == 'count' and hasattr(value, 'dtype') and jnp.ndim(value) == 0:
      return jnp.asarray(iterations).astype(value.dtype)
    return None

  state = _map_state(state, fn)
  missing = set(slots) - found
  if missing:  # a wiring error in this module, never a user error
    raise AssertionError(f'slots {sorted(missing)} not found in the chain state')
  return state


def _read_state(state: Any, slot_map: Dict[Tuple[str, str], Tuple[str, int]],
                key: str) -> Dict[str, jax.Array]:
  out = {}

  def fn(cls, field, value):
    entry = slot_map.get((cls, field))
    if entry is not None:
      name, sign = entry
      out[name] = value[key] if sign > 0 else -value[key]
      return value
    return None

  _map_state(state, fn)
  return out


# ----------------------------------------------------------------------------------------
# The compiled step.
# ----------------------------------------------------------------------------------------

class _StepConfig:
  """Everything static about one compiled step (built on the host, closed over when traced)."""

  def __init__(self, **kwargs):
    self.__dict__.update(kwargs)


class _Bound:
  """Temporarily gives Variables (traced) values, e.g. while user functions or a loss run."""

  def __init__(self, variables: Sequence[Variable], values: Sequence[Any]):
    self.variables = list(variables)
    self.values = list(values)

  def __enter__(self):
    self.saved = [v._value for v in self.variables]  # pylint: disable=protected-access
    for v, x in zip(self.variables, self.values):
      v._value = x  # pylint: disable=protected-access
    return self

  def __exit__(self, *exc):
    for v, x in zip(self.variables, self.saved):
      v._value = x  # pylint: disable=protected-access
    return False


def _run_pairs_fn(fn: Callable, grads: List[Any], cfg: _StepConfig, values: Sequence[Any],
                  what: str) -> List[Any]:
  """Calls a user ``[(grad, var)] -> [(grad, var)]`` function; returns grads in our order."""
  with _Bound(cfg.variables, values):
    result = fn(list(zip(grads, cfg.variables)))
  try:
    pairs = list(result)
  except TypeError:
    raise TypeError(f'{what} must return a list of (gradient, variable) pairs, '
                    f'got {type(result).__name__}.') from None
  by_var = {}
  for pair in pairs:
    try:
      g, v = pair
    except (TypeError, ValueError):
      raise TypeError(f'{what} must return (gradient, variable) pairs, got {pair!r:.80}') from None
    by_var[id(v)] = g
  out = []
  for v in cfg.variables:
    if id(v) not in by_var:
      raise ValueError(f'{what} dropped the variable {v.name}; it must return a '
                       '(gradient, variable) pair for every variable it was given.')
    g = by_var[id(v)]
    if g is None:
      raise ValueError(f'{what} returned a None gradient for {v.name}.')
    out.append(g.value() if isinstance(g, Variable) else g)
  return out


def _chain_step(cfg: _StepConfig, tx: base.GradientTransformation, key: str, p: jax.Array,
                g: jax.Array, slots: Dict[str, jax.Array], iterations: jax.Array):
  """One variable through the optimizer chain, its slots loaded into / read from the state."""
  params = {key: p}
  state = _load_state(tx.init(params), cfg.slot_map, key, slots, iterations)
  updates, new_state = tx.update({key: g.astype(p.dtype)}, state, params)
  new_p = jnp.asarray(p + updates[key]).astype(p.dtype)
  new_slots = _read_state(new_state, cfg.slot_map, key)
  return new_p, {k: v.astype(slots[k].dtype) for k, v in new_slots.items()}


def _dense_from_slices(g: IndexedSlices, shape: Tuple[int, ...], dtype) -> jax.Array:
  return jnp.zeros(shape, dtype).at[g.indices].add(g.values.astype(dtype), mode='drop')


def _sparse_step(cfg: _StepConfig, tx, key, p, g: IndexedSlices, slots, iterations):
  """The Keras 2 sparse update of one variable (see the module docstring)."""
  strategy = cfg.sparse_strategy
  if strategy == 'unsupported':
    raise NotImplementedError('Applying sparse gradients is not implemented.')
  values = g.values.astype(p.dtype)
  indices = g.indices.astype(jnp.int32)
  g = IndexedSlices(values, indices, g.dense_shape)
  n_rows = p.shape[0]
  if strategy == 'scatter':
    # Stateless elementwise chain (SGD without momentum): duplicates add up in the scatter.
    rows = p.at[indices].get(mode='fill', fill_value=0)
    updates = _scatter_updates(cfg, tx, key, rows, values, iterations)
    return p.at[indices].add(updates, mode='drop'), slots
  if strategy == 'rows':
    n = indices.shape[0]
    unique, inverse = jnp.unique(indices, return_inverse=True, size=n, fill_value=n_rows)
    summed = jax.ops.segment_sum(values, inverse.reshape(-1), num_segments=n)
    gather = lambda x: x.at[unique].get(mode='fill', fill_value=0)
    new_rows, new_slot_rows = _chain_step(cfg, tx, key, gather(p), summed,
                                          {k: gather(v) for k, v in slots.items()}, iterations)
    scatter = lambda x, r: x.at[unique].set(r.astype(x.dtype), mode='drop')
    return scatter(p, new_rows), {k: scatter(slots[k], r) for k, r in new_slot_rows.items()}
  dense = _dense_from_slices(g, p.shape, p.dtype)
  new_p, new_slots = _chain_step(cfg, tx, key, p, dense, slots, iterations)
  if strategy == 'dense_slots_rows_var':
    touched = jnp.zeros((n_rows,), bool).at[indices].set(True, mode='drop')
    touched = touched.reshape((n_rows,) + (1,) * (p.ndim - 1))
    new_p = jnp.where(touched, new_p, p)
  return new_p, new_slots


def _scatter_updates(cfg, tx, key, rows, values, iterations):
  """Per-row updates of a stateless chain, computed on the gradient's rows."""
  params = {key: rows}
  state = _load_state(tx.init(params), cfg.slot_map, key, {}, iterations)
  updates, _ = tx.update({key: values}, state, params)
  return updates[key].astype(rows.dtype)


def _apply_core(cfg: _StepConfig, values, grads, slots, hypers, iterations):
  """The traced body of a step: aggregate, clip, transform, update, constrain, count."""
  grads = list(grads)
  if cfg.aggregator is not None:
    grads = _run_pairs_fn(cfg.aggregator, grads, cfg, values, '`gradient_aggregator`')
  elif cfg.data_axis is not None:
    grads = _sum_over_replicas(grads, cfg)
  if cfg.clip is not None:
    leaves = [g.values if isinstance(g, IndexedSlices) else g for g in grads]
    clip_axes = None
    if cfg.axes is not None:  # sparse values are not split like their variable
      clip_axes = [None if isinstance(g, IndexedSlices) else a for g, a in zip(grads, cfg.axes)]
      clip_axes = None if all(a is None for a in clip_axes) else clip_axes
    clip = kn.keras_gradient_clipping(*cfg.clip, axis_name=clip_axes)
    leaves, _ = clip.update(leaves, clip.init(leaves))
    grads = [IndexedSlices(x, g.indices, g.dense_shape) if isinstance(g, IndexedSlices) else x
             for g, x in zip(grads, leaves)]
  for i, fn in enumerate(cfg.transformers):
    grads = _run_pairs_fn(fn, grads, cfg, values, f'`gradient_transformers[{i}]`')

  tx = cfg.make_chain(cfg, hypers)
  new_values, new_slots = [], []
  for i, (p, g) in enumerate(zip(values, grads)):
    key = cfg.keys[i]
    tx_i = tx
    if cfg.chain_axes and cfg.axes is not None and cfg.axes[i] is not None:
      tx_i = cfg.make_chain(cfg, hypers, axis_name=cfg.axes[i])
    slot_values = dict(zip(cfg.slot_names, slots[i]))
    constraint = cfg.constraints[i]
    if isinstance(g, IndexedSlices):
      if constraint is not None:
        raise RuntimeError(
            'Cannot use a constraint function on a sparse variable. Received: '
            f'grad={g}, var.constraint={constraint}.')
      new_p, new_s = _sparse_step(cfg, tx_i, key, p, g, slot_values, iterations)
    else:
      g = jnp.asarray(g)
      if g.shape != p.shape:
        raise ValueError(f'The gradient of {cfg.names[i]} has shape {g.shape}, '
                         f'but the variable has shape {p.shape}.')
      new_p, new_s = _chain_step(cfg, tx_i, key, p, g, slot_values, iterations)
      if constraint is not None:
        constrained = jnp.asarray(constraint(new_p))
        if constrained.shape != p.shape:
          raise ValueError(
              f'The constraint of {cfg.names[i]} returned a value of shape '
              f'{constrained.shape}; a constraint must keep the variable\'s shape {p.shape}.')
        new_p = constrained.astype(p.dtype)
    if cfg.shardings is not None and cfg.shardings[i] is not None:
      # A variable split over a mesh, and its slots, keep their sharding (GSPMD).
      new_p = _place(new_p, cfg.shardings[i])
      new_s = {k: _place(x, cfg.shardings[i]) for k, x in new_s.items()}
    new_values.append(new_p)
    new_slots.append(tuple(new_s[name] for name in cfg.slot_names))
  return tuple(new_values), tuple(new_slots), jnp.asarray(iterations + 1, jnp.int32)


def _sum_over_replicas(grads: List[Any], cfg: _StepConfig) -> List[Any]:
  """The default aggregator under ``data_axis``: the sum of the replicas' gradients."""
  if any(isinstance(g, IndexedSlices) for g in grads):
    raise NotImplementedError(
        'Sparse (IndexedSlices) gradients cannot be summed over `data_axis`; densify them, or '
        'pass a `gradient_aggregator`.')
  agg = distributed.aggregate_gradients(cfg.data_axis, op='sum')
  return list(agg.update([jnp.asarray(g) for g in grads], base.EmptyState())[0])


def _place(x: jax.Array, sharding: Any) -> jax.Array:
  mesh = sharding.mesh
  explicit = any(t == jax.sharding.AxisType.Explicit for t in getattr(mesh, 'axis_types', ()))
  move = jax.sharding.reshard if explicit else jax.lax.with_sharding_constraint
  return move(x, sharding)


def _mesh_sharding(value: Any) -> Any:
  """The ``NamedSharding`` of a value split over a mesh of several devices, else None."""
  sharding = getattr(value, 'sharding', None)
  if isinstance(sharding, jax.sharding.NamedSharding) and sharding.mesh.size > 1:
    return sharding
  return None


def _apply_program(cfg: _StepConfig) -> Callable:
  def step(values, grads, slots, hypers, iterations):
    _STATS['traces'] += 1
    return _apply_core(cfg, values, grads, slots, hypers, iterations)
  return jax.jit(step) if cfg.jit else step


def _loss_program(cfg: Optional[_StepConfig], jaxpr, mask: Tuple[bool, ...],
                  jit: bool) -> Callable:
  """``loss, grads`` (and, with ``cfg``, the whole optimizer step) from a traced gradient.

  ``jaxpr`` is the program ``_trace_value_and_grads`` traced: ``(values..., [grad_loss]) ->
  (loss, grad of every value...)``, derivative rules already applied, so evaluating it never
  calls back into Python (a cached program depends on nothing but its fingerprint).
  """

  def value_and_grads(consts, values, grad_loss):
    args = list(values) + ([] if grad_loss is None else [grad_loss])
    out, *grads = jax.core.eval_jaxpr(jaxpr, consts, *args)
    return out, [g for g, m in zip(grads, mask) if m]

  if cfg is None:
    def grads_only(consts, values, grad_loss):
      _STATS['traces'] += 1
      return value_and_grads(consts, values, grad_loss)
    return jax.jit(grads_only) if jit else grads_only

  def step(consts, values, grad_loss, slots, hypers, iterations):
    _STATS['traces'] += 1
    loss, grads = value_and_grads(consts, values, grad_loss)
    selected = [v for v, m in zip(values, mask) if m]
    new_values, new_slots, new_it = _apply_core(cfg, selected, grads, slots, hypers, iterations)
    return loss, new_values, new_slots, new_it

  return jax.jit(step) if jit else step


_PROGRAMS_LOCK = threading.Lock()


def _cached_program(key: Any, build: Callable[[], Callable]) -> Callable:
  """The program cached under ``key``; with ``key`` None (identity unknown), a new one."""
  if key is None:
    return build()
  with _PROGRAMS_LOCK:
    program = _PROGRAMS.get(key)
    if program is not None:
      _PROGRAMS.move_to_end(key)
      return program
  program = build()   # building only wraps (jit compiles on the first call): no lock held
  with _PROGRAMS_LOCK:
    program = _PROGRAMS.setdefault(key, program)
    if len(_PROGRAMS) > _MAX_PROGRAMS:
      _PROGRAMS.popitem(last=False)
  return program


def _serialized(method: Callable) -> Callable:
  """``method`` run under the optimizer's lock (one step at a time per optimizer)."""
  @functools.wraps(method)
  def locked(self, *args, **kwargs):
    with self._lock:  # pylint: disable=protected-access
      return method(self, *args, **kwargs)
  return locked


_VARIABLE_IN_JAX_FUNCTION = ('The loss failed: ' + VARIABLE_IN_JAX_FUNCTION
                             + ' The error JAX raised follows.')


def _passed_a_variable_to_jax(err: Exception) -> bool:
  """Whether ``err`` is JAX rejecting a Variable as an argument of one of its functions."""
  text = str(err)
  return 'Variable' in text and ('not a valid JAX type' in text or 'as a JAX value' in text
                                 or '__jax_array__' in text or 'requires ndarray' in text)


class _Opaque(Exception):
  """A jaxpr holds a Python callable: the computation it stands for cannot be identified."""


# Parameters of custom-derivative equations that hold the derivative rules (Python callables).
# A traced gradient has already applied them, and a cached program only evaluates it, never
# differentiates it again: the rules never run, so they are not part of its identity.
_RULE_PARAMS = {
    'custom_jvp_call': frozenset({'jvp_jaxpr_fun', 'jvp_jaxpr_thunk', 'jvp'}),
    'custom_vjp_call': frozenset({'fwd_jaxpr_thunk', 'bwd', 'out_trees', 'fwd'}),
    'custom_vjp_call_jaxpr': frozenset({'fwd_jaxpr_thunk', 'bwd', 'out_trees'}),
}


def _freeze_array(x: Any) -> Tuple[Any, ...]:
  a = np.asarray(x)
  return ('array', a.shape, a.dtype.str, a.tobytes())


def _freeze_param(x: Any) -> Any:
  """A hashable, value-based rendering of an equation parameter (for program fingerprints).

  Raises ``_Opaque`` for a Python function (a ``pure_callback``'s callback, ...): two traces
  may hold different functions under the same name, so such a program is never cached.
  """
  from jax.extend import core as jex_core  # pylint: disable=g-import-not-at-top
  if x is None or isinstance(x, (bool, int, float, complex, str)):
    return x
  if isinstance(x, jex_core.ClosedJaxpr):
    return ('closed', _jaxpr_fingerprint(x.jaxpr), tuple(_freeze_array(c) for c in x.consts))
  if isinstance(x, jex_core.Jaxpr):
    return ('jaxpr', _jaxpr_fingerprint(x))
  if isinstance(x, (tuple, list)):
    return (type(x).__name__,) + tuple(_freeze_param(v) for v in x)
  if isinstance(x, dict):
    return ('dict',) + tuple(sorted((str(k), _freeze_param(v)) for k, v in x.items()))
  if isinstance(x, (np.ndarray, np.generic, jax.Array)):
    return _freeze_array(x)
  if isinstance(x, (types.FunctionType, types.MethodType, types.BuiltinFunctionType,
                    functools.partial)) or hasattr(x, 'call_wrapped'):
    raise _Opaque(getattr(x, '__qualname__', type(x).__name__))
  try:
    hash(x)   # meshes, shardings, dtypes, enums: compared by value
    return (type(x), x)
  except TypeError:
    raise _Opaque(type(x).__name__) from None


def _jaxpr_fingerprint(jaxpr) -> Tuple[Any, ...]:
  """A hashable description of a jaxpr's program: equal fingerprints, same computation.

  Variables are numbered in order of appearance, literals and parameters are compared by
  value (nested jaxprs recursively, with their constants). Much cheaper than ``str(jaxpr)``.
  Raises ``_Opaque`` where a parameter is a Python function that matters to the result.
  """
  from jax.extend.core import Literal  # pylint: disable=g-import-not-at-top
  ids: Dict[Any, int] = {}

  def atom(v):
    if isinstance(v, Literal):
      return ('lit', v.aval, _freeze_param(v.val))
    i = ids.get(v)
    if i is None:
      i = ids[v] = len(ids)
    return i

  parts = [tuple((atom(v), v.aval) for v in jaxpr.constvars),
           tuple((atom(v), v.aval) for v in jaxpr.invars)]
  for eqn in jaxpr.eqns:
    skip = _RULE_PARAMS.get(eqn.primitive.name, frozenset())
    params = tuple(sorted((k, _freeze_param(v)) for k, v in eqn.params.items() if k not in skip))
    parts.append((eqn.primitive.name, tuple(atom(v) for v in eqn.invars), params,
                  tuple((atom(v), v.aval) for v in eqn.outvars), tuple(eqn.effects)))
  parts.append(tuple(atom(v) for v in jaxpr.outvars))
  return tuple(parts)


def _fingerprint_or_none(jaxpr) -> Optional[Tuple[Any, ...]]:
  """``_jaxpr_fingerprint``, or None when the program cannot be identified (do not cache)."""
  try:
    return _jaxpr_fingerprint(jaxpr)
  except _Opaque:
    return None


def _check_unique(variables: Sequence[Variable]) -> None:
  """One step updates each variable once (Keras would apply a repeated pair twice in turn)."""
  if len({v._uid for v in variables}) != len(variables):  # pylint: disable=protected-access
    seen, repeated = set(), []
    for v in variables:
      if v._uid in seen:  # pylint: disable=protected-access
        repeated.append(v.name)
      seen.add(v._uid)  # pylint: disable=protected-access
    raise ValueError(f'The variables {repeated} appear more than once; pass each variable once '
                     '(sum its gradients first).')


def _dependence_mask(jaxpr, n_inputs: int) -> Tuple[bool, ...]:
  """Which inputs the (first) output of a jaxpr depends on (``None`` gradients otherwise)."""
  from jax.extend.core import Literal  # pylint: disable=g-import-not-at-top
  deps = {v: 1 << i for i, v in enumerate(jaxpr.invars)}
  for eqn in jaxpr.eqns:
    mask = 0
    for v in eqn.invars:
      if not isinstance(v, Literal):
        mask |= deps.get(v, 0)
    for v in eqn.outvars:
      deps[v] = mask
  out = jaxpr.outvars[0]
  bits = 0 if isinstance(out, Literal) else deps.get(out, 0)
  return tuple(bool(bits >> i & 1) for i in range(n_inputs))


# ----------------------------------------------------------------------------------------
# The base class.
# ----------------------------------------------------------------------------------------

class Optimizer:
  """Base class of the tf.keras-2-style optimizers (``tf.keras.optimizers.legacy.Optimizer``).

  Args:
    name: the optimizer's name (prefix of ``iterations``' name). Falsy gives a unique
      snake-case name.
    gradient_aggregator: ``[(grad, var)] -> [(grad, var)]`` applied first when
      ``experimental_aggregate_gradients`` is True. None: the identity (there is no
      cross-replica sum to do: JAX's gradient of a global loss is already the total), or,
      when the attribute ``data_axis`` is set (steps inside ``jax.shard_map``), the sum of
      the replicas' gradients over that axis.
    gradient_transformers: functions ``[(grad, var)] -> [(grad, var)]`` applied after the
      aggregation and clipping, in order. Inside the compiled step, the variables they
      receive hold their (traced) pre-update values.
    **kwargs: ``clipvalue``, ``clipnorm``, ``global_clipnorm``, ``lr`` (deprecated alias of
      ``learning_rate``), ``decay`` (inverse-time decay: ``lr / (1 + decay * iterations)``).

  Subclasses define the update by ``_build_chain(cfg, hypers)`` (a ``GradientTransformation``
  from traced hyperparameters), ``_create_slots``, ``_SLOT_MAP`` (chain state field ->
  (slot, sign)), ``_step_slot_names``, ``_static_config`` and ``_step_hypers``.

  Example:
    >>> from optax_like.keras import SGD, Variable
    >>> var1, var2 = Variable(2.0), Variable(5.0)
    >>> opt = SGD(learning_rate=0.1)
    >>> loss = lambda: 3 * var1 * var1 + 2 * var2 * var2
    >>> int(opt.minimize(loss, var_list=[var1, var2]))
    1
    >>> round(float(var1), 6), round(float(var2), 6)
    (0.8, 3.0)
  """

  _HYPER_NAMES: Tuple[str, ...] = ('learning_rate', 'decay')
  _SLOT_MAP: Dict[Tuple[str, str], Tuple[str, int]] = {}
  _SPARSE_STRATEGY = 'unsupported'

  def __init__(self, name: Optional[str], gradient_aggregator: Optional[Callable] = None,
               gradient_transformers: Optional[Sequence[Callable]] = None, **kwargs: Any):
    for k in kwargs:
      if k not in _ALLOWED_KWARGS:
        raise TypeError(f'Unexpected keyword argument passed to optimizer: {k!s}. '
                        f'Allowed kwargs are {_ALLOWED_KWARGS}.')
      if kwargs[k] is not None and kwargs[k] < 0:
        raise ValueError(f'Expected {k} >= 0, received: {kwargs[k]}')
      if k == 'lr':
        warnings.warn('The `lr` argument is deprecated, use `learning_rate` instead.',
                      stacklevel=3)
    object.__setattr__(self, '_hyper', {})
    # One step at a time per optimizer: a step reads, updates and writes back the variables,
    # slots and ``iterations``; two threads interleaving those would lose updates.
    object.__setattr__(self, '_lock', threading.RLock())
    self._init_set_name(name)
    self._slots: Dict[int, Dict[str, Variable]] = {}
    self._slot_names: List[str] = []
    self._weights: List[Variable] = []
    self._iterations: Optional[Variable] = None
    self._hypers_created = False
    self._slots_built: Dict[int, Any] = {}
    self.jit_compile = True
    decay = kwargs.pop('decay', 0.0)
    if decay < 0.0:
      raise ValueError(f'decay cannot be less than 0. Received: decay={decay}.')
    self._initial_decay = decay
    if gradient_transformers is None:
      gradient_transformers = []
    self._gradient_transformers = list(gradient_transformers)
    self.gradient_aggregator = gradient_aggregator
    self.clipnorm = kwargs.pop('clipnorm', None)
    self.global_clipnorm = kwargs.pop('global_clipnorm', None)
    if self.clipnorm is not None and self.global_clipnorm is not None:
      raise ValueError(
          'Cannot accept both `clipnorm` and `global_clipnorm`. Received: '
          f'`clipnorm`={self.clipnorm}, `global_clipnorm`={self.global_clipnorm}.')
    self.clipvalue = kwargs.pop('clipvalue', None)
    self._built_variables: Optional[List[Variable]] = None
    self.data_axis = None
    self.variable_axes = None

  # -- data parallelism and sharded variables --------------------------------------------
  @property
  def data_axis(self) -> Any:
    """The data-parallel mesh axis (or tuple of axes) the step runs replicated over, or None.

    Set it when the step runs inside ``jax.shard_map`` (or ``jax.pmap``) with a batch split
    over this axis, through ``stateless_apply``: the default ``gradient_aggregator`` (None)
    then sums the replicas' gradients over the axis (``aggregate_gradients(axis, 'sum')``:
    Keras divides the loss by the global batch size, so the sum is the global gradient).
    Leave it None under ``jax.jit`` with sharded arrays (GSPMD): there the gradient of the
    global loss is already the sum over replicas and the default aggregator is the identity.
    """
    return self._data_axis

  @data_axis.setter
  def data_axis(self, value: Any) -> None:
    if value is not None and not (isinstance(value, str) or (
        type(value) is tuple and value and all(isinstance(a, str) for a in value))):
      raise TypeError('`data_axis` must be None, a mesh axis name (str) or a non-empty tuple '
                      f'of axis names, got {value!r}.')
    self._data_axis = value

  @property
  def variable_axes(self) -> Any:
    """The mesh axes the variables are split over inside ``jax.shard_map``, or None.

    Used by ``clipnorm``/``global_clipnorm`` and LARS's trust ratio so that their norms are
    those of the whole variables (``psum`` of the blocks' squared norms over these axes):
    None (no collective; right under GSPMD ``jax.jit`` and for replicated variables), one
    axis name / tuple of names / ``PartitionSpec`` for every variable, or a list of those
    (``None`` for a replicated variable) aligned with the ``var_list`` given to ``build`` --
    typically the ``in_specs`` given to ``shard_map`` for the variables' values.
    """
    return self._variable_axes

  @variable_axes.setter
  def variable_axes(self, value: Any) -> None:
    entries = value if isinstance(value, list) else [value]
    for entry in entries:
      if isinstance(entry, list) or not distributed._is_spec_leaf(entry):  # pylint: disable=protected-access
        raise TypeError('`variable_axes` must be None, an axis name, a tuple of axis names, a '
                        'PartitionSpec, or a list of those aligned with `build(var_list)`; '
                        f'got {entry!r}.')
      distributed.axes_of(entry, 'variable_axes')
    self._variable_axes = list(value) if isinstance(value, list) else value

  def _axes_of_variables(self, variables: Sequence[Variable]) -> Optional[Tuple[Any, ...]]:
    spec = self._variable_axes
    if spec is None:
      return None
    if isinstance(spec, list):
      built = self._built_variables or []
      if len(spec) != len(built):
        raise ValueError(f'`variable_axes` is a list of {len(spec)} entries; it must be aligned '
                         f'with the {len(built)} variables given to `build(var_list)`.')
      by_uid = {v._uid: a for v, a in zip(built, spec)}  # pylint: disable=protected-access
      out = []
      for v in variables:
        if v._uid not in by_uid:  # pylint: disable=protected-access
          raise ValueError(f'`variable_axes` has no entry for {v.name}: it is aligned with the '
                           'variables given to `build(var_list)`.')
        out.append(by_uid[v._uid])  # pylint: disable=protected-access
    else:
      out = [spec] * len(variables)
    return None if all(a is None for a in out) else tuple(out)

  # -- names, attributes and hyperparameters ----------------------------------------------
  def _init_set_name(self, name: Optional[str], zero_based: bool = True) -> None:
    if not name:
      base_name = _to_snake_case(type(self).__name__)
      count = _NAME_COUNTS[base_name]
      _NAME_COUNTS[base_name] += 1
      name = base_name if (zero_based and count == 0) else f'{base_name}_{count + (not zero_based)}'
    self._name = name

  @property
  def name(self) -> str:
    return self._name

  @property
  def gradient_transformers(self) -> List[Callable]:
    return self._gradient_transformers

  @gradient_transformers.setter
  def gradient_transformers(self, value: Sequence[Callable]) -> None:
    self._gradient_transformers = list(value or [])

  def _check_clip_setter(self, arg: str, val: Any) -> None:
    if val is not None and self.gradient_transformers:
      raise ValueError(
          f'`{arg}` cannot be set when `gradient_transformers` is set. Instead, use the '
          '`gradient_transformers` to specify clipping and other transformations. Received: '
          f'val={val}, gradient_transformers={self.gradient_transformers}.')

  @property
  def clipnorm(self) -> Optional[float]:
    return self._clipnorm

  @clipnorm.setter
  def clipnorm(self, val: Optional[float]) -> None:
    self._check_clip_setter('clipnorm', val)
    self._clipnorm = val

  @property
  def global_clipnorm(self) -> Optional[float]:
    return self._global_clipnorm

  @global_clipnorm.setter
  def global_clipnorm(self, val: Optional[float]) -> None:
    self._check_clip_setter('global_clipnorm', val)
    self._global_clipnorm = val

  @property
  def clipvalue(self) -> Optional[float]:
    return self._clipvalue

  @clipvalue.setter
  def clipvalue(self, val: Optional[float]) -> None:
    self._check_clip_setter('clipvalue', val)
    self._clipvalue = val

  def __getattr__(self, name: str) -> Any:
    # Only reached when normal lookup fails: hyperparameters read as attributes.
    if name == '_hyper' or name.startswith('__'):
      raise AttributeError(name)
    hyper = self.__dict__.get('_hyper', {})
    if name == 'lr':
      name = 'learning_rate'
    if name in hyper:
      return self._get_hyper(name)
    raise AttributeError(f"'{type(self).__name__}' object has no attribute {name!r}")

  def __setattr__(self, name: str, value: Any) -> None:
    if name == 'lr':
      name = 'learning_rate'
    if name in self.__dict__.get('_hyper', {}):
      self._set_hyper(name, value)
    else:
      object.__setattr__(self, name, value)
    # Any attribute change may change the compiled step (epsilon, nesterov, clipping, a
    # schedule...): the cached step configuration is rebuilt on the next apply.
    self.__dict__['_config_version'] = self.__dict__.get('_config_version', 0) + 1

  def __dir__(self):
    result = set(super().__dir__()) | set(self._hyper)
    if 'learning_rate' in self._hyper:
      result.add('lr')
    return sorted(result)

  def _set_hyper(self, name: str, value: Any) -> None:
    """Sets a hyperparameter: a number is written into its variable, anything else replaces it."""
    if not callable(value) or isinstance(value, Variable):
      _check_scalar_hyper(name, value)
    if name not in self._hyper:
      self._hyper[name] = value
      return
    prev = self._hyper[name]
    replace = (not isinstance(prev, Variable) or callable(value)
               or isinstance(value, (Variable, schedules.LearningRateSchedule)))
    if replace:
      if self._hypers_created and _is_number(value):
        value = self._new_hyper_variable(name, value)
      self._hyper[name] = value
    else:
      prev.assign(value)  # a variable (ours, float32, or the user's) keeps its identity

  def _new_hyper_variable(self, name: str, value: Any) -> Variable:
    return Variable(np.float32(value), name=name, trainable=False, dtype=jnp.float32)

  def _create_hypers(self) -> None:
    if self._hypers_created:
      return
    for name, value in sorted(self._hyper.items()):
      if _is_number(value):
        self._hyper[name] = self._new_hyper_variable(name, value)
    self._hypers_created = True

  def _get_hyper(self, name: str, dtype: Any = None) -> Any:
    """A hyperparameter as Keras returns it: its variable, schedule, or a callable's value."""
    if not self._hypers_created:
      self._create_hypers()
    value = self._hyper[name]
    if isinstance(value, schedules.LearningRateSchedule):
      return value
    if callable(value) and not isinstance(value, Variable):
      if name == 'learning_rate' and _is_schedule(value):
        return value
      value = value()
    if dtype is not None:
      return jnp.asarray(getattr(value, '_value', value)).astype(dtype)
    return value

  def _serialize_hyperparameter(self, name: str) -> Any:
    value = self._hyper[name]
    if isinstance(value, schedules.LearningRateSchedule):
      return schedules.serialize(value)
    if isinstance(value, Variable):
      value = value._value  # pylint: disable=protected-access
    elif callable(value):
      value = value(self._iteration_count()) if _is_schedule(value) else value()
    if isinstance(value, (jax.Array, np.ndarray, np.generic)):
      array = np.asarray(value)
      if array.ndim == 0 and np.issubdtype(array.dtype, np.floating):
        return _f32_number(array) if array.dtype == np.float32 else float(array)
      return array.item() if array.ndim == 0 else array.tolist()
    return value

  def _hyper_input(self, name: str) -> Any:
    value = self._hyper[name]
    if callable(value) and not isinstance(value, Variable):
      return _check_scalar_hyper(name, _call_hyper(value))
    return _check_scalar_hyper(name, _as_input(value))

  def _lr_schedule(self) -> Optional[Callable]:
    value = self._hyper.get('learning_rate')
    return value if value is not None and _is_schedule(value) else None

  def _decayed_lr(self, var_dtype: Any = jnp.float32) -> jax.Array:
    """The learning rate of the next step (schedule and ``decay`` applied), as Keras."""
    schedule = self._lr_schedule()
    lr = schedule if schedule is not None else self._hyper_input('learning_rate')
    fn = kn.keras_learning_rate(lr, decay=self._initial_decay)
    value = fn(self._iteration_count()) if callable(fn) else fn
    return jnp.asarray(value).astype(var_dtype)

  # -- iterations, slots and weights ------------------------------------------------------
  @property
  def iterations(self) -> Variable:
    """The number of steps run (a Variable; assign to it, or set ``opt.iterations = n``)."""
    if self._iterations is None:
      self._iterations = Variable(np.int32(0), name=f'{self._name}/iter', trainable=False,
                                  dtype=jnp.int32)
      self._weights.append(self._iterations)
    return self._iterations

  @iterations.setter
  def iterations(self, value: Any) -> None:
    if isinstance(value, Variable):
      if self._iterations is not None:
        raise RuntimeError(
            'Cannot set `iterations` to a new Variable after the Optimizer weights have been '
            f'created. Here it is attempting to set `iterations` to {value}.')
      self._iterations = value
      self._weights.append(value)
      return
    self.iterations.assign(np.asarray(value).astype(np.int32))

  def _iteration_count(self) -> jax.Array:
    return self.iterations._value  # pylint: disable=protected-access

  def get_slot_names(self) -> List[str]:
    """Slot names in creation order (``momentum``; ``m, v, vhat``; ``rms, momentum, mg``)."""
    return self._slot_names

  def add_slot(self, var: Variable, slot_name: str, initializer: Any = 'zeros',
               shape: Optional[Sequence[int]] = None) -> Variable:
    """Creates (once) the slot ``slot_name`` of ``var``, named ``'{var}/{slot}'``."""
    if slot_name not in self._slot_names:
      self._slot_names.append(slot_name)
    slot_dict = self._slots.setdefault(var._uid, {})  # pylint: disable=protected-access
    weight = slot_dict.get(slot_name)
    if weight is None:
      slot_shape = tuple(var.shape if shape is None else shape)
      value = _initial_value(initializer, slot_shape, var.dtype, like=var._value)  # pylint: disable=protected-access
      if tuple(value.shape) == tuple(var.shape):
        value = _keep_placement(value, var._value)  # slots split like their variable  # pylint: disable=protected-access
      weight = Variable(value, name=f'{var._shared_name}/{slot_name}', trainable=False)  # pylint: disable=protected-access
      slot_dict[slot_name] = weight
      self._weights.append(weight)
    return weight

  def get_slot(self, var: Variable, slot_name: str) -> Variable:
    try:
      return self._slots[var._uid][slot_name]  # pylint: disable=protected-access
    except (KeyError, AttributeError):
      raise KeyError(f'The optimizer {self._name} has no slot {slot_name!r} for variable '
                     f'{getattr(var, "name", var)}; slots: {self._slot_names}.') from None

  def add_weight(self, name: str, shape: Sequence[int], dtype: Any = None,
                 initializer: Any = 'zeros', trainable: Optional[bool] = None,
                 synchronization: Any = None, aggregation: Any = None) -> Variable:
    """A new Variable owned by the optimizer (not part of ``weights``, as in Keras)."""
    del synchronization, aggregation
    dtype = jnp.float32 if dtype is None else dtype
    value = _initial_value(initializer, tuple(shape), dtype)
    return Variable(value, name=name, trainable=True if trainable is None else trainable)

  def _create_slots(self, var_list: Sequence[Variable]) -> None:
    del var_list

  def _create_all_weights(self, var_list: Sequence[Variable]) -> None:
    _ = self.iterations
    self._create_hypers()
    flags = self._slot_flags()
    new = [v for v in var_list if self._slots_built.get(v._uid) != flags]  # pylint: disable=protected-access
    if new:
      self._create_slots(new)
      for v in new:
        self._slots_built[v._uid] = flags  # pylint: disable=protected-access

  def build(self, var_list: Sequence[Variable]) -> None:
    """Creates ``iterations`` and the slots of ``var_list`` now (Keras creates them lazily).

    ``var_list`` is also the list that ``stateless_apply`` and a list ``variable_axes`` are
    aligned with.
    """
    var_list = self._resolve_var_list(lambda: None, list(var_list))
    self._create_all_weights(var_list)
    self._built_variables = var_list

  def _slot_flags(self) -> Tuple[Any, ...]:
    return ()

  def variables(self) -> List[Variable]:
    """The optimizer's variables in creation order: ``iterations``, then the slots."""
    return self._weights

  @property
  def weights(self) -> List[Variable]:
    return self._weights

  def get_weights(self) -> List[np.ndarray]:
    """``[iterations (int64), slots grouped by slot name in creation order]`` as NumPy arrays."""
    out = [np.asarray(w._value) for w in self._weights]  # pylint: disable=protected-access
    if self._iterations is not None:
      i = next(k for k, w in enumerate(self._weights) if w is self._iterations)
      out[i] = out[i].astype(np.int64)
    return out

  @_serialized
  def set_weights(self, weights: Sequence[Any]) -> None:
    params = self.weights
    if len(params) != len(weights):
      raise ValueError(
          f'You called `set_weights(weights)` on optimizer {self._name} with a  weight list '
          f'of length {len(weights)}, but the optimizer was expecting {len(params)} weights. '
          f'Provided weights: {str(weights)[:50]}...')
    if not params:
      return
    # Every weight is converted and checked before any is written: a rejected call changes
    # nothing (``iterations`` included).
    new_values = []
    for p, w in zip(params, weights):
      w = np.asarray(getattr(w, '_value', w))
      if tuple(p.shape) != tuple(w.shape):
        raise ValueError(f'Optimizer weight shape {tuple(p.shape)} not compatible with '
                         f'provided weight shape {tuple(w.shape)}.')
      new_values.append(p._check_new_value(w, 'set_weights'))  # pylint: disable=protected-access
    for p, w in zip(params, new_values):
      p._value = w  # pylint: disable=protected-access

  # -- configuration ----------------------------------------------------------------------
  def get_config(self) -> Dict[str, Any]:
    """The constructor arguments (schedules serialized as Keras does; no slot values)."""
    config = {'name': self._name}
    if self.clipnorm is not None:
      config['clipnorm'] = self.clipnorm
    if self.clipvalue is not None:
      config['clipvalue'] = self.clipvalue
    if self.global_clipnorm is not None:
      config['global_clipnorm'] = self.global_clipnorm
    return config

  @classmethod
  def from_config(cls, config: Dict[str, Any], custom_objects: Optional[Dict[str, Any]] = None):
    """Rebuilds an optimizer from ``get_config()`` (``lr`` renamed, schedules deserialized)."""
    config = dict(config)
    if 'lr' in config:
      config['learning_rate'] = config.pop('lr')
    if isinstance(config.get('learning_rate'), dict):
      config['learning_rate'] = schedules.deserialize(config['learning_rate'],
                                                      custom_objects=custom_objects)
    return cls(**config)

  # -- the step ---------------------------------------------------------------------------
  def _static_config(self) -> Tuple[Any, ...]:
    return ()

  def _step_slot_names(self) -> Tuple[str, ...]:
    return ()

  def _step_hypers(self) -> Dict[str, Any]:
    hypers = {}
    if 'learning_rate' in self._hyper and self._lr_schedule() is None:
      hypers['learning_rate'] = self._hyper_input('learning_rate')
    return hypers

  @classmethod
  def _build_chain(cls, cfg: _StepConfig, hypers: Dict[str, Any]) -> base.GradientTransformation:
    raise NotImplementedError('Subclasses define `_build_chain`.')

  @staticmethod
  def _learning_rate(cfg: _StepConfig, hypers: Dict[str, Any]) -> base.ScalarOrSchedule:
    lr = cfg.schedule if cfg.schedule is not None else hypers['learning_rate']
    return kn.keras_learning_rate(lr, decay=cfg.decay)

  def _step_config(self, variables: Sequence[Variable], aggregate: bool, stateless: bool = False):
    """The cache key and static configuration of a step over ``variables`` (memoized)."""
    shardings = None if stateless else tuple(_mesh_sharding(v._value) for v in variables)  # pylint: disable=protected-access
    if shardings is not None and not any(shardings):
      shardings = None
    memo_key = (self.__dict__.get('_config_version', 0), aggregate, shardings,
                tuple(v._uid for v in variables),  # pylint: disable=protected-access
                id(self.gradient_aggregator), tuple(map(id, self.gradient_transformers)))
    memo = self.__dict__.get('_config_memo')
    if memo is not None and memo[0] == memo_key:
      return memo[1]
    result = self._build_step_config(variables, aggregate, shardings)
    self.__dict__['_config_memo'] = (memo_key, result)
    return result

  def _build_step_config(self, variables: Sequence[Variable], aggregate: bool,
                         shardings: Optional[Tuple[Any, ...]] = None):
    schedule = self._lr_schedule()
    if schedule is None:
      schedule_key = None
    elif isinstance(schedule, schedules.LearningRateSchedule):
      try:
        schedule_key = (type(schedule), _freeze(schedule.get_config()))
      except Exception:  # pylint: disable=broad-except
        schedule_key = _Id(schedule)
    else:
      schedule_key = _Id(schedule)
    aggregator = self.gradient_aggregator if aggregate else None
    transformers = tuple(self.gradient_transformers)
    clip = (self.clipvalue, self.clipnorm, self.global_clipnorm)
    clip = None if clip == (None, None, None) else clip
    user_fns = aggregator is not None or bool(transformers)
    uses_names = type(self)._USES_NAMES
    constraints = tuple(v.constraint for v in variables)
    axes = self._axes_of_variables(variables)
    data_axis = self._data_axis if aggregate else None
    key = (type(self), data_axis, axes, shardings, self._static_config(), schedule_key, float(self._initial_decay), clip,
           _Id(aggregator) if aggregator is not None else None,
           tuple(_Id(t) for t in transformers),
           tuple(_Id(c) if c is not None else None for c in constraints),
           tuple(v.name for v in variables) if uses_names else len(variables),
           tuple(v._uid for v in variables) if user_fns else None,  # pylint: disable=protected-access
           self.jit_compile)
    cfg = _StepConfig(
        make_chain=type(self)._build_chain, static=self._static_config(), schedule=schedule,
        decay=float(self._initial_decay), clip=clip, aggregator=aggregator,
        transformers=transformers, constraints=constraints,
        names=tuple(v.name for v in variables),
        keys=tuple(v.name for v in variables) if uses_names else
        tuple(f'v{i}' for i in range(len(variables))),
        variables=tuple(variables), slot_names=self._step_slot_names(),
        slot_map=self._slot_map(), sparse_strategy=self._sparse_strategy(),
        jit=self.jit_compile, data_axis=data_axis, axes=axes, shardings=shardings,
        chain_axes=type(self)._CHAIN_TAKES_AXIS_NAME)
    return key, cfg

  _USES_NAMES = False
  # Whether ``_build_chain`` takes ``axis_name=`` (a chain with norms: LARS's trust ratio).
  _CHAIN_TAKES_AXIS_NAME = False

  def _slot_map(self) -> Dict[Tuple[str, str], Tuple[str, int]]:
    return dict(self._SLOT_MAP)

  def _sparse_strategy(self) -> str:
    return self._SPARSE_STRATEGY

  def _slot_inputs(self, variables: Sequence[Variable], names: Sequence[str]):
    return tuple(tuple(self._slots[v._uid][n]._value for n in names) for v in variables)  # pylint: disable=protected-access

  def _write_back(self, variables, names, new_values, new_slots, new_it) -> None:
    for v, x in zip(variables, new_values):
      v._value = x  # pylint: disable=protected-access
    if names:
      for v, s in zip(variables, new_slots):
        slots = self._slots[v._uid]  # pylint: disable=protected-access
        for n, x in zip(names, s):
          slots[n]._value = x  # pylint: disable=protected-access
    self._iterations._value = new_it  # pylint: disable=protected-access

  @staticmethod
  def _check_dtypes(variables: Iterable[Variable]) -> None:
    for v in variables:
      if v._value.dtype not in _VALID_DTYPE_SET:  # pylint: disable=protected-access
        raise ValueError(f'Invalid type {jnp.dtype(v.dtype).name} for {v.name}, expected: '
                         f'{list(_VALID_DTYPES)}.')

  @staticmethod
  def _prepare_gradient(g: Any, v: Variable) -> Any:
    """Host-side checks and conversion of one gradient (arrays pass through untouched)."""
    if isinstance(g, Variable):
      g = g._value  # pylint: disable=protected-access
    if isinstance(g, IndexedSlices):
      values = g.values if isinstance(g.values, (jax.Array, np.ndarray)) else np.asarray(g.values)
      indices = g.indices if isinstance(g.indices, (jax.Array, np.ndarray)) else np.asarray(g.indices)
      if g.dense_shape is not None and tuple(g.dense_shape) != tuple(v.shape):
        raise ValueError(f'The IndexedSlices gradient of {v.name} has dense_shape '
                         f'{tuple(g.dense_shape)}, but the variable has shape {v.shape}.')
      if v.ndim == 0:
        raise ValueError(f'An IndexedSlices gradient needs a variable of rank >= 1; {v.name} '
                         'is a scalar.')
      if indices.ndim != 1 or values.ndim < 1 or values.shape[0] != indices.shape[0] or (
          tuple(values.shape[1:]) != tuple(v.shape[1:])):
        raise ValueError(
            f'The IndexedSlices gradient of {v.name} (shape {v.shape}) has values of shape '
            f'{tuple(values.shape)} and indices of shape {tuple(indices.shape)}; expected '
            f'[n, {", ".join(map(str, v.shape[1:]))}] and [n].')
      if not isinstance(indices, jax.core.Tracer):
        host = np.asarray(indices)
        if not np.issubdtype(host.dtype, np.integer):
          raise TypeError(f'IndexedSlices indices must be integers, got {host.dtype}.')
        bad = host[(host < 0) | (host >= v.shape[0])]
        if bad.size:
          raise ValueError(f'indices[{int(np.flatnonzero((host < 0) | (host >= v.shape[0]))[0])}]'
                           f' = {int(bad[0])} is not in [0, {v.shape[0]}) for variable {v.name}.')
      return IndexedSlices(values, indices, tuple(v.shape))
    if not isinstance(g, (jax.Array, np.ndarray)):
      g = np.asarray(g)
    if tuple(g.shape) != tuple(v.shape):
      raise ValueError(f'The gradient of {v.name} has shape {tuple(g.shape)}, but the variable '
                       f'has shape {v.shape}.')
    return g

  @_serialized
  def apply_gradients(self, grads_and_vars: Iterable[Tuple[Any, Variable]],
                      name: Optional[str] = None,
                      experimental_aggregate_gradients: bool = True) -> Variable:
    """Applies ``(gradient, variable)`` pairs and returns ``iterations`` (incremented by 1).

    ``None`` gradients are skipped with a warning; all ``None`` raises ``ValueError``.
    A gradient is an array of the variable's shape or an ``IndexedSlices``.
    """
    del name
    pairs = []
    for i, item in enumerate(tuple(grads_and_vars)):
      try:
        g, v = item
      except (TypeError, ValueError):
        raise TypeError('`grads_and_vars` must be an iterable of (gradient, variable) pairs; '
                        f'item {i} is {item!r:.80}') from None
      if not isinstance(v, Variable):
        raise TypeError(f'Item {i} of `grads_and_vars` holds {type(v).__name__} where an '
                        f'optax_like.keras.Variable is expected: {v!r:.80}')
      pairs.append((g, v))
    pairs = self._filter_empty_gradients(pairs)
    if not pairs:
      return self.iterations
    _check_unique([v for _, v in pairs])
    grads = [self._prepare_gradient(g, v) for g, v in pairs]
    variables = [v for _, v in pairs]
    self._check_dtypes(variables)
    self._create_all_weights(variables)
    key, cfg = self._step_config(variables, experimental_aggregate_gradients)
    program = _cached_program(('apply', key), lambda: _apply_program(cfg))
    names = cfg.slot_names
    new_values, new_slots, new_it = program(
        tuple(v._value for v in variables), tuple(grads),  # pylint: disable=protected-access
        self._slot_inputs(variables, names), self._step_hypers(), self._iteration_count())
    self._write_back(variables, names, new_values, new_slots, new_it)
    return self._iterations

  @staticmethod
  def _filter_empty_gradients(pairs: List[Tuple[Any, Variable]]) -> List[Tuple[Any, Variable]]:
    if not pairs:
      return pairs
    filtered = [(g, v) for g, v in pairs if g is not None]
    if not filtered:
      variable = ([v.name for _, v in pairs],)
      raise ValueError(f'No gradients provided for any variable: {variable}. '
                       f'Provided `grads_and_vars` is {tuple(pairs)}.')
    empty = [v.name for g, v in pairs if g is None]
    if empty:
      warnings.warn(
          f'Gradients do not exist for variables {empty} when minimizing the loss. If '
          "you're using `model.compile()`, did you forget to provide a `loss` argument?",
          stacklevel=3)
    return filtered

  # -- minimize and gradients -------------------------------------------------------------
  @staticmethod
  def _resolve_var_list(loss: Callable, var_list: Any) -> List[Variable]:
    if callable(var_list):
      # Keras calls ``loss()`` before ``var_list()``: the callable exists for variables that
      # the first call of ``loss`` creates (a model built on first call). Evaluate ``loss``
      # abstractly first (no computation); if it cannot be (it creates a variable from a
      # traced value), run it once eagerly, as Keras would.
      def first_call():
        out = loss()
        return jnp.asarray(out._value if isinstance(out, Variable) else out)  # pylint: disable=protected-access
      try:
        jax.eval_shape(first_call)
      except Exception:  # pylint: disable=broad-except
        loss()
      var_list = var_list()
    if var_list is None:
      raise ValueError('`var_list` must be a list or tuple of Variables (or a callable '
                       'returning one), got None.')
    var_list = list(jax.tree_util.tree_leaves(
        var_list, is_leaf=lambda x: isinstance(x, Variable)))
    for v in var_list:
      if not isinstance(v, Variable):
        raise ValueError('`var_list` must contain only optax_like.keras.Variable objects, '
                         f'got {type(v).__name__}: {v!r:.80}')
    _check_unique(var_list)
    return var_list

  @staticmethod
  def _check_loss(loss: Any) -> None:
    if not callable(loss):
      raise TypeError(
          '`loss` must be a callable taking no arguments that returns the value to minimize '
          f'(e.g. `lambda: (var ** 2) / 2.0`), got {type(loss).__name__}. JAX differentiates '
          'functions, not recorded values: there is no GradientTape, so a loss that was '
          'already computed cannot be differentiated. Pass the computation as a callable, or '
          'compute gradients with jax.grad and call `apply_gradients`.')

  @staticmethod
  def _trace_value_and_grads(loss: Callable, var_list: List[Variable], grad_loss: Any):
    """``(closed jaxpr, dependence mask)`` of ``loss`` and its gradients, or ``(None, mask)``.

    The jaxpr maps ``(values..., [grad_loss])`` to ``(loss, gradient of each value...)``. Custom
    derivative rules (``custom_jvp``/``custom_vjp``) are applied while tracing, so the program
    is identified by its fingerprint alone. The mask says which variables the loss depends on
    (the others get ``None``). An integer or boolean loss has no gradient (as in TF): the jaxpr
    is None and the mask all False.
    """
    differentiable = []

    def fn(values, ct):
      def primal(vals):
        with _Bound(var_list, vals):
          out = loss()
        out = out._value if isinstance(out, Variable) else out  # pylint: disable=protected-access
        return jnp.asarray(out)
      out, vjp = jax.vjp(primal, list(values))
      if not jnp.issubdtype(out.dtype, jnp.inexact):
        return (out,)
      differentiable.append(True)
      ct = jnp.ones_like(out) if ct is None else jnp.broadcast_to(
          jnp.asarray(ct, out.dtype), out.shape)
      (grads,) = vjp(ct)
      return (out, *grads)

    values = [v._value for v in var_list]  # pylint: disable=protected-access
    try:
      closed = jax.make_jaxpr(fn)(values, None if grad_loss is None else jnp.asarray(grad_loss))
    except (TypeError, ValueError) as err:
      if _passed_a_variable_to_jax(err) and VARIABLE_IN_JAX_FUNCTION not in str(err):
        raise TypeError(_VARIABLE_IN_JAX_FUNCTION) from err
      raise
    if not differentiable:
      return None, (False,) * len(var_list)
    return closed, _dependence_mask(closed.jaxpr, len(var_list))

  def _compute_gradients(self, loss: Callable, var_list: Any, grad_loss: Any = None,
                         tape: Any = None) -> List[Tuple[Optional[jax.Array], Variable]]:
    """``[(gradient or None, variable)]`` of a zero-argument loss (``None``: no dependence)."""
    del tape
    self._check_loss(loss)
    var_list = self._resolve_var_list(loss, var_list)
    closed, mask = self._trace_value_and_grads(loss, var_list, grad_loss)
    if closed is None:
      return [(None, v) for v in var_list]
    fingerprint = _fingerprint_or_none(closed.jaxpr)
    key = None if fingerprint is None else ('grads', fingerprint, mask, self.jit_compile)
    program = _cached_program(key, lambda: _loss_program(None, closed.jaxpr, mask,
                                                         self.jit_compile))
    _, grads = program(list(closed.consts), [v._value for v in var_list],  # pylint: disable=protected-access
                       None if grad_loss is None else jnp.asarray(grad_loss))
    grads = iter(grads)
    out = [(next(grads) if m else None, v) for v, m in zip(var_list, mask)]
    self._check_dtypes([v for g, v in out if g is not None])
    return out

  compute_gradients = _compute_gradients

  @_serialized
  def minimize(self, loss: Callable[[], Any], var_list: Any, grad_loss: Any = None,
               name: Optional[str] = None, tape: Any = None) -> Variable:
    """Minimizes ``loss()`` over ``var_list`` with one step; returns ``iterations``.

    ``loss`` is a callable of no arguments (it is traced and differentiated by JAX);
    ``var_list`` a list/tuple of Variables or a callable returning one. Gradients and the
    update run in one compiled function.
    """
    del name, tape
    self._check_loss(loss)
    var_list = self._resolve_var_list(loss, var_list)
    closed, mask = self._trace_value_and_grads(loss, var_list, grad_loss)
    pairs = self._filter_empty_gradients(
        [(True if m else None, v) for v, m in zip(var_list, mask)])
    if not pairs:
      return self.iterations
    variables = [v for _, v in pairs]
    self._check_dtypes(variables)
    self._create_all_weights(variables)
    key, cfg = self._step_config(variables, True)
    fingerprint = _fingerprint_or_none(closed.jaxpr)
    program = _cached_program(
        None if fingerprint is None else ('minimize', fingerprint, mask, key),
        lambda: _loss_program(cfg, closed.jaxpr, mask, cfg.jit))
    names = cfg.slot_names
    _, new_values, new_slots, new_it = program(
        list(closed.consts), [v._value for v in var_list],  # pylint: disable=protected-access
        None if grad_loss is None else jnp.asarray(grad_loss),
        self._slot_inputs(variables, names), self._step_hypers(), self._iteration_count())
    self._write_back(variables, names, new_values, new_slots, new_it)
    return self._iterations

  def stateless_apply(self, optimizer_variables: Sequence[Any], grads: Sequence[Any],
                      trainable_variables: Sequence[Any]) -> Tuple[List[Any], List[Any]]:
    """One step as a pure function of arrays (Keras 3's ``stateless_apply``): no Variable changes.

    Call ``build(var_list)`` first. ``trainable_variables`` and ``grads`` are the values and
    gradients of ``var_list``, in its order (a ``None`` gradient leaves its variable as is);
    ``optimizer_variables`` the values of ``opt.variables()`` (``iterations``, then the slots).
    Returns ``(new trainable values, new optimizer values)`` in the same orders. The step is the
    one ``apply_gradients`` runs (aggregator, clipping, transformers, update, constraints,
    ``iterations + 1``), so it can be used inside ``jax.jit``, ``jax.shard_map`` or
    ``jax.pmap``, where ``data_axis`` and ``variable_axes`` name the mesh axes. Hyperparameters
    are read when the step is traced; write the results back with ``assign`` if needed.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from optax_like.keras import SGD, Variable
      >>> var = Variable(1.0)
      >>> opt = SGD(learning_rate=0.1, momentum=0.9)
      >>> opt.build([var])
      >>> step = jax.jit(lambda o, g, t: opt.stateless_apply(o, g, t))
      >>> values, state = step([w.value() for w in opt.variables()], [jnp.float32(1.0)],
      ...                      [var.value()])
      >>> round(float(values[0]), 6), int(state[0])
      (0.9, 1)
    """
    built = self._built_variables
    if built is None:
      raise ValueError('Call `optimizer.build(var_list)` before `stateless_apply`: the values '
                       'passed are those of `var_list`, in its order.')
    trainable_variables, grads = list(trainable_variables), list(grads)
    optimizer_variables = list(optimizer_variables)
    for what, seq, n in (('trainable_variables', trainable_variables, len(built)),
                         ('grads', grads, len(built)),
                         ('optimizer_variables', optimizer_variables, len(self._weights))):
      if len(seq) != n:
        raise ValueError(f'stateless_apply: `{what}` has {len(seq)} entries; expected {n} '
                         '(`trainable_variables` and `grads` follow `build(var_list)`, '
                         '`optimizer_variables` follows `optimizer.variables()`).')
    flags = self._slot_flags()
    stale = [v.name for v in built if self._slots_built.get(v._uid) != flags]  # pylint: disable=protected-access
    if stale:
      raise ValueError(f'stateless_apply: the slots of {stale} do not exist (or changed with the '
                       'configuration); call `optimizer.build(var_list)` again first.')
    index = [i for i, g in enumerate(grads) if g is not None]
    new_trainable = list(trainable_variables)
    if not index:
      return new_trainable, optimizer_variables
    variables = [built[i] for i in index]
    self._check_dtypes(variables)
    key, cfg = self._step_config(variables, True, stateless=True)
    program = _cached_program(('apply', key), lambda: _apply_program(cfg))
    position = {id(w): k for k, w in enumerate(self._weights)}
    names = cfg.slot_names
    slot_pos = [tuple(position[id(self._slots[v._uid][n])] for n in names)  # pylint: disable=protected-access
                for v in variables]
    it_pos = position[id(self._iterations)]
    grads_in = tuple(g.value() if isinstance(g, Variable) else g for g in (grads[i] for i in index))
    new_values, new_slots, new_it = program(
        tuple(jnp.asarray(trainable_variables[i]) for i in index), grads_in,
        tuple(tuple(optimizer_variables[k] for k in ks) for ks in slot_pos),
        self._step_hypers(), optimizer_variables[it_pos])
    new_optimizer = list(optimizer_variables)
    for i, x in zip(index, new_values):
      new_trainable[i] = x
    for ks, xs in zip(slot_pos, new_slots):
      for k, x in zip(ks, xs):
        new_optimizer[k] = x
    new_optimizer[it_pos] = new_it
    return new_trainable, new_optimizer

  def get_gradients(self, loss: Callable[[], Any], params: Sequence[Variable]) -> List[jax.Array]:
    """Gradients of ``loss()`` w.r.t. ``params``; ``ValueError`` if one does not exist."""
    grads_and_vars = self._compute_gradients(loss, params)
    for g, v in grads_and_vars:
      if g is None:
        raise ValueError(
            f'Variable {v} has `None` for gradient. Please make sure that all of your ops have '
            'a gradient defined (i.e. are differentiable). Common ops without gradient: '
            'K.argmax, K.round, K.eval.')
    return [g for g, _ in grads_and_vars]

  def get_updates(self, loss: Callable[[], Any], params: Sequence[Variable]) -> List[Variable]:
    """Computes gradients and applies them (one step); returns ``[iterations]``."""
    grads = self.get_gradients(loss, params)
    return [self.apply_gradients(list(zip(grads, params)))]

  def __repr__(self) -> str:
    return f'<optax_like.keras.{type(self).__name__} name={self._name!r}>'


# ----------------------------------------------------------------------------------------
# The optimizers.
# ----------------------------------------------------------------------------------------

def _momentum_flag(momentum: Any) -> bool:
  """Keras's ``_momentum``: a tensor or callable momentum, or a number > 0."""
  if isinstance(momentum, (Variable, jax.Array, np.ndarray)) or callable(momentum):
    return True
  return momentum > 0


def _check_momentum(momentum: Any) -> None:
  if isinstance(momentum, (int, float)) and (momentum < 0 or momentum > 1):
    raise ValueError(f'`momentum` must be between [0, 1]. Received: momentum={momentum} '
                     f'(of type {type(momentum)}).')


def _check_learning_rate(learning_rate: Any) -> None:
  if learning_rate is None or isinstance(learning_rate, (str, bytes, bool)) or not (
      _is_number(learning_rate) or callable(learning_rate)
      or isinstance(learning_rate, (Variable, jax.Array, np.ndarray, np.generic))):
    raise TypeError('`learning_rate` must be a float, a LearningRateSchedule, a callable or a '
                    f'scalar array, got {type(learning_rate).__name__}: {learning_rate!r:.80}')


class SGD(Optimizer):
  r"""Gradient descent with optional (Nesterov) momentum, as ``tf.keras.optimizers.legacy.SGD``.

  .. math::
    v \leftarrow \mu v - \eta g; \qquad
    w \leftarrow w + v \;\; (\text{nesterov: } w + \mu v - \eta g)

  and ``w -= lr * g`` when ``momentum == 0`` (no slot). The chain is ``keras_sgd``.

  Example:
    >>> from optax_like.keras import SGD, Variable
    >>> opt = SGD(learning_rate=0.1)
    >>> var = Variable(1.0)
    >>> loss = lambda: (var ** 2) / 2.0         # d(loss)/d(var) = var
    >>> step_count = opt.minimize(loss, [var]).numpy()
    >>> round(var.numpy().item(), 6)
    0.9
  """

  _HYPER_NAMES = ('learning_rate', 'decay', 'momentum')
  _SLOT_MAP = {('TraceState', 'trace'): ('momentum', 1)}

  def __init__(self, learning_rate: Any = 0.01, momentum: Any = 0.0, nesterov: bool = False,
               name: str = 'SGD', **kwargs: Any):
    super().__init__(name, **kwargs)
    learning_rate = kwargs.get('lr', learning_rate)
    _check_learning_rate(learning_rate)
    self._set_hyper('learning_rate', learning_rate)
    self._set_hyper('decay', self._initial_decay)
    self._momentum = _momentum_flag(momentum)
    _check_momentum(momentum)
    self._set_hyper('momentum', momentum)
    self.nesterov = nesterov

  def _slot_flags(self):
    return (self._momentum,)

  def _create_slots(self, var_list):
    if self._momentum:
      for var in var_list:
        self.add_slot(var, 'momentum')

  def _static_config(self):
    return (self._momentum, bool(self.nesterov))

  def _step_slot_names(self):
    return ('momentum',) if self._momentum else ()

  def _sparse_strategy(self):
    return 'rows' if self._momentum else 'scatter'

  def _step_hypers(self):
    hypers = super()._step_hypers()
    if self._momentum:
      hypers['momentum'] = self._hyper_input('momentum')
    return hypers

  @classmethod
  def _build_chain(cls, cfg, hypers):
    momentum_path, nesterov = cfg.static
    lr = cls._learning_rate(cfg, hypers)
    # A traced momentum selects keras_sgd's momentum branch; 0.0 the plain one.
    return kn.keras_sgd(lr, momentum=hypers['momentum'] if momentum_path else 0.0,
                        nesterov=nesterov)

  def get_config(self):
    config = super().get_config()
    config.update({
        'learning_rate': self._serialize_hyperparameter('learning_rate'),
        'decay': self._initial_decay,
        'momentum': self._serialize_hyperparameter('momentum'),
        'nesterov': self.nesterov,
    })
    return config


class Adam(Optimizer):
  r"""Adam with epsilon-hat, as ``tf.keras.optimizers.legacy.Adam`` (TF's ``ResourceApplyAdam``).

  .. math::
    m \leftarrow m + (g - m)(1 - \beta_1); \quad v \leftarrow v + (g^2 - v)(1 - \beta_2); \quad
    w \leftarrow w - \eta \frac{\sqrt{1 - \beta_2^t}}{1 - \beta_1^t} \frac{m}{\sqrt{v} + \hat\epsilon}

  with ``t = iterations + 1``; AMSGrad uses ``vhat = max(vhat, v)`` in the root. Slots
  ``m``, ``v`` (and ``vhat``). The chain is ``keras_adam``.

  Example:
    >>> from optax_like.keras import Adam, Variable
    >>> opt = Adam(learning_rate=0.1)
    >>> var = Variable(1.0)
    >>> _ = opt.minimize(lambda: (var ** 2) / 2.0, [var])
    >>> round(var.numpy().item(), 6), opt.get_slot_names()
    (0.9, ['m', 'v'])
  """

  _HYPER_NAMES = ('learning_rate', 'decay', 'beta_1', 'beta_2')
  _SLOT_MAP = {('ScaleByAdamState', 'mu'): ('m', 1), ('ScaleByAdamState', 'nu'): ('v', 1),
               ('ScaleByAmsgradState', 'mu'): ('m', 1), ('ScaleByAmsgradState', 'nu'): ('v', 1),
               ('ScaleByAmsgradState', 'nu_max'): ('vhat', 1)}
  _SPARSE_STRATEGY = 'dense'

  def __init__(self, learning_rate: Any = 0.001, beta_1: Any = 0.9, beta_2: Any = 0.999,
               epsilon: Optional[float] = 1e-7, amsgrad: bool = False, name: str = 'Adam',
               **kwargs: Any):
    super().__init__(name, **kwargs)
    learning_rate = kwargs.get('lr', learning_rate)
    _check_learning_rate(learning_rate)
    self._set_hyper('learning_rate', learning_rate)
    self._set_hyper('decay', self._initial_decay)
    self._set_hyper('beta_1', beta_1)
    self._set_hyper('beta_2', beta_2)
    self.epsilon = epsilon or 1e-7
    self.amsgrad = amsgrad

  def _slot_flags(self):
    return (bool(self.amsgrad),)

  def _create_slots(self, var_list):
    for var in var_list:
      self.add_slot(var, 'm')
    for var in var_list:
      self.add_slot(var, 'v')
    if self.amsgrad:
      for var in var_list:
        self.add_slot(var, 'vhat')

  def _static_config(self):
    return (float(self.epsilon), bool(self.amsgrad))

  def _step_slot_names(self):
    return ('m', 'v', 'vhat') if self.amsgrad else ('m', 'v')

  def _step_hypers(self):
    hypers = super()._step_hypers()
    hypers['beta_1'] = self._hyper_input('beta_1')
    hypers['beta_2'] = self._hyper_input('beta_2')
    return hypers

  @classmethod
  def _build_chain(cls, cfg, hypers):
    epsilon, amsgrad = cfg.static
    return kn.keras_adam(cls._learning_rate(cfg, hypers), beta_1=hypers['beta_1'],
                         beta_2=hypers['beta_2'], epsilon=epsilon, amsgrad=amsgrad)

  def set_weights(self, weights):
    params = self.weights
    num_vars = int((len(params) - 1) / 2)
    if len(weights) == 3 * num_vars + 1:
      weights = weights[:len(params)]
    super().set_weights(weights)

  def get_config(self):
    config = super().get_config()
    config.update({
        'learning_rate': self._serialize_hyperparameter('learning_rate'),
        'decay': self._initial_decay,
        'beta_1': self._serialize_hyperparameter('beta_1'),
        'beta_2': self._serialize_hyperparameter('beta_2'),
        'epsilon': self.epsilon,
        'amsgrad': self.amsgrad,
    })
    return config


class RMSprop(Optimizer):
  r"""RMSprop, as ``tf.keras.optimizers.legacy.RMSprop`` (both of its epsilon placements).

  With momentum (TF's ``ResourceApply[Centered]RMSProp``):

  .. math::
    r \leftarrow r + (g^2 - r)(1 - \rho); \quad
    m \leftarrow \mu m + \eta g / \sqrt{r - [\bar g^2] + \epsilon}; \quad w \leftarrow w - m

  without: ``r = rho r + (1 - rho) g^2``, ``w -= lr g / (sqrt(r - [mg^2]) + eps)``. Centered
  keeps ``mg``, the average gradient. Slots ``rms`` (starts at 0), ``momentum``, ``mg``.

  Example:
    >>> from optax_like.keras import RMSprop, Variable
    >>> opt = RMSprop(learning_rate=0.1, rho=0.0, epsilon=1e-12)
    >>> var = Variable(1.0)
    >>> _ = opt.minimize(lambda: (var ** 2) / 2.0, [var])
    >>> round(var.numpy().item(), 6), opt.get_slot_names()
    (0.9, ['rms'])
  """

  _HYPER_NAMES = ('learning_rate', 'decay', 'rho', 'momentum')
  _SLOT_MAP = {('ScaleByRmsState', 'nu'): ('rms', 1), ('ScaleByRStdDevState', 'nu'): ('rms', 1),
               ('ScaleByRStdDevState', 'mu'): ('mg', 1), ('TraceState', 'trace'): ('momentum', -1)}

  def __init__(self, learning_rate: Any = 0.001, rho: Any = 0.9, momentum: Any = 0.0,
               epsilon: Optional[float] = 1e-07, centered: bool = False, name: str = 'RMSprop',
               **kwargs: Any):
    super().__init__(name, **kwargs)
    learning_rate = kwargs.get('lr', learning_rate)
    _check_learning_rate(learning_rate)
    self._set_hyper('learning_rate', learning_rate)
    self._set_hyper('decay', self._initial_decay)
    self._set_hyper('rho', rho)
    self._momentum = _momentum_flag(momentum)
    _check_momentum(momentum)
    self._set_hyper('momentum', momentum)
    self.epsilon = epsilon or 1e-7
    self.centered = centered

  def _slot_flags(self):
    return (self._momentum, bool(self.centered))

  def _create_slots(self, var_list):
    for var in var_list:
      self.add_slot(var, 'rms')
    if self._momentum:
      for var in var_list:
        self.add_slot(var, 'momentum')
    if self.centered:
      for var in var_list:
        self.add_slot(var, 'mg')

  def _static_config(self):
    return (self._momentum, float(self.epsilon), bool(self.centered))

  def _step_slot_names(self):
    return (('rms',) + (('momentum',) if self._momentum else ())
            + (('mg',) if self.centered else ()))

  def _sparse_strategy(self):
    return 'rows' if self._momentum else 'dense_slots_rows_var'

  def _step_hypers(self):
    hypers = super()._step_hypers()
    hypers['rho'] = self._hyper_input('rho')
    if self._momentum:
      hypers['momentum'] = self._hyper_input('momentum')
    return hypers

  @classmethod
  def _build_chain(cls, cfg, hypers):
    momentum_path, epsilon, centered = cfg.static
    lr = cls._learning_rate(cfg, hypers)
    # A traced momentum selects keras_rmsprop's momentum branch (eps inside the root).
    return kn.keras_rmsprop(lr, rho=hypers['rho'],
                            momentum=hypers['momentum'] if momentum_path else 0.0,
                            epsilon=epsilon, centered=centered)

  def set_weights(self, weights):
    params = self.weights
    if len(params) == len(weights) + 1:
      weights = [np.array(0)] + list(weights)
    super().set_weights(weights)

  def get_config(self):
    config = super().get_config()
    config.update({
        'learning_rate': self._serialize_hyperparameter('learning_rate'),
        'decay': self._initial_decay,
        'rho': self._serialize_hyperparameter('rho'),
        'momentum': self._serialize_hyperparameter('momentum'),
        'epsilon': self.epsilon,
        'centered': self.centered,
    })
    return config


class LARS(Optimizer):
  r"""Layer-wise Adaptive Rate Scaling, as tf-models' ``official.modeling.optimization.LARS``.

  With ``d = g + wd w`` (unless the variable's name matches ``exclude_from_weight_decay``)
  and the trust ratio ``tr(x, y) = eeta ||x|| / ||y||`` (1.0 when a norm is 0 or the name
  matches ``exclude_from_layer_adaptation``, which defaults to the weight-decay list):

  * classic momentum: ``v = m v + lr tr(w, d) d``; ``w -= v`` (nesterov: ``m v + lr tr d``);
  * popular momentum: ``v = m v + d``; ``w -= lr tr(w, v) v`` (nesterov: ``m v + d``).

  Names are matched with ``re.search`` against ``Variable.name`` (``'dense/kernel:0'``). One
  slot, ``momentum``. ``lr=`` is accepted and ignored, as in tf-models. The chain is
  ``keras_lars``.

  Example:
    >>> from optax_like.keras import LARS, Variable
    >>> opt = LARS(learning_rate=0.1, momentum=0.0)
    >>> bias = Variable([0.0, 0.0], name='dense/bias')   # zero norm: trust ratio 1.0
    >>> _ = opt.apply_gradients([([1.0, 1.0], bias)])
    >>> [round(x, 6) for x in bias.numpy().tolist()]
    [-0.1, -0.1]
  """

  _HYPER_NAMES = ('learning_rate', 'decay')
  _USES_NAMES = True
  _CHAIN_TAKES_AXIS_NAME = True

  def __init__(self, learning_rate: Any = 0.01, momentum: float = 0.9,
               weight_decay_rate: float = 0.0, eeta: float = 0.001, nesterov: bool = False,
               classic_momentum: bool = True,
               exclude_from_weight_decay: Optional[List[str]] = None,
               exclude_from_layer_adaptation: Optional[List[str]] = None, name: str = 'LARS',
               **kwargs: Any):
    super().__init__(name, **kwargs)
    _check_learning_rate(learning_rate)
    self._set_hyper('learning_rate', learning_rate)
    self._set_hyper('decay', self._initial_decay)
    self.momentum = momentum
    self.weight_decay_rate = weight_decay_rate
    self.eeta = eeta
    self.nesterov = nesterov
    self.classic_momentum = classic_momentum
    self.exclude_from_weight_decay = exclude_from_weight_decay
    if exclude_from_layer_adaptation:
      self.exclude_from_layer_adaptation = exclude_from_layer_adaptation
    else:
      self.exclude_from_layer_adaptation = exclude_from_weight_decay
    # Validation (and regex compilation) of the chain, with the concrete values.
    kn.keras_lars(0.0, momentum=momentum, weight_decay_rate=weight_decay_rate, eeta=eeta,
                  exclude_from_weight_decay=exclude_from_weight_decay,
                  exclude_from_layer_adaptation=exclude_from_layer_adaptation)

  def _create_slots(self, var_list):
    for v in var_list:
      self.add_slot(v, 'momentum')

  def _slot_map(self):
    return {('TraceState', 'trace'): ('momentum', -1 if self.classic_momentum else 1)}

  def _static_config(self):
    freeze = lambda x: None if x is None else tuple(x)
    return (float(self.weight_decay_rate), bool(self.nesterov), bool(self.classic_momentum),
            freeze(self.exclude_from_weight_decay), freeze(self.exclude_from_layer_adaptation))

  def _step_slot_names(self):
    return ('momentum',)

  def _step_hypers(self):
    hypers = super()._step_hypers()
    # Plain Python floats in tf-models (cast to the variable's dtype at use): weakly typed.
    for name in ('momentum', 'eeta'):
      value = getattr(self, name)
      hypers[name] = float(value) if _is_number(value) else _as_input(value)
    return hypers

  @classmethod
  def _build_chain(cls, cfg, hypers, axis_name=None):
    wd, nesterov, classic, exclude_wd, exclude_la = cfg.static
    return kn.keras_lars(cls._learning_rate(cfg, hypers), momentum=hypers['momentum'],
                         weight_decay_rate=wd, eeta=hypers['eeta'], nesterov=nesterov,
                         classic_momentum=classic,
                         exclude_from_weight_decay=None if exclude_wd is None else list(exclude_wd),
                         exclude_from_layer_adaptation=None if exclude_la is None else list(exclude_la),
                         axis_name=axis_name)

  def get_config(self):
    config = super().get_config()
    config.update({
        'learning_rate': self._serialize_hyperparameter('learning_rate'),
        'decay': self._serialize_hyperparameter('decay'),
        'momentum': self.momentum,
        'classic_momentum': self.classic_momentum,
        'weight_decay_rate': self.weight_decay_rate,
        'eeta': self.eeta,
        'nesterov': self.nesterov,
    })
    return config


# ----------------------------------------------------------------------------------------
# Keras-style module helpers.
# ----------------------------------------------------------------------------------------

_CLASSES = {'SGD': SGD, 'Adam': Adam, 'RMSprop': RMSprop, 'LARS': LARS}
_ALIASES = {'sgd': 'SGD', 'adam': 'Adam', 'rmsprop': 'RMSprop', 'lars': 'LARS'}


def serialize(optimizer: Optimizer) -> Dict[str, Any]:
  """``{"class_name", "config"}`` of an optimizer (its ``get_config``)."""
  return {'class_name': type(optimizer).__name__, 'config': optimizer.get_config()}


def deserialize(config: Dict[str, Any], custom_objects: Optional[Dict[str, Any]] = None):
  """Rebuilds an optimizer from ``serialize``'s output."""
  classes = dict(_CLASSES)
  classes.update(custom_objects or {})
  name = config['class_name']
  name = _ALIASES.get(name.lower(), name) if name not in classes else name
  if name not in classes:
    raise ValueError(f'Unknown optimizer: {config["class_name"]!r}. Known: {sorted(_CLASSES)}.')
  return classes[name].from_config(config['config'], custom_objects=custom_objects)


def get(identifier: Any) -> Optimizer:
  """An optimizer from an instance, a name (``'sgd'``, ``'adam'``...) or a config dict."""
  if isinstance(identifier, Optimizer):
    return identifier
  if isinstance(identifier, dict):
    return deserialize(identifier)
  if isinstance(identifier, str):
    name = _ALIASES.get(identifier.lower(), identifier)
    if name in _CLASSES:
      return _CLASSES[name]()
  raise ValueError(f'Could not interpret optimizer identifier: {identifier!r}')


legacy = types.SimpleNamespace(Optimizer=Optimizer, SGD=SGD, Adam=Adam, RMSprop=RMSprop)

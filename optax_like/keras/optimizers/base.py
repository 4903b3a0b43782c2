"""The public Optimizer API (``tf.keras.optimizers.legacy.Optimizer``): hyperparameters, slots,
weights, configs, ``apply_gradients``, ``minimize``, ``stateless_apply``.

A subclass declares its update as a chain of functional transforms (``_build_chain``) with
its slot mapping (``_SLOT_MAP``); or, following tf.keras 2's recipe, overrides
``_create_slots``/``_resource_apply_dense``/``_resource_apply_sparse`` (see ``custom.py``).
"""

from __future__ import annotations

import collections
import functools
import inspect
import operator
import threading
import warnings
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from optax_like._src import base
from optax_like._src import distributed
from optax_like._src import keras_numerics as kn
from optax_like.keras import schedules
from optax_like.keras import variables as _variables_lib
from optax_like.keras.optimizers._helpers import (_Id, _as_input, _call_hyper, _check_scalar_hyper, _f32_number,
    _freeze, _initial_value, _is_number, _is_schedule, _to_snake_case)
from optax_like.keras.optimizers.programs import (_VARIABLE_IN_JAX_FUNCTION, _cached_program, _dependence_mask,
    _fingerprint_or_none, _passed_a_variable_to_jax, _strict_fingerprint_or_none)
from optax_like.keras.optimizers.step import (_StepConfig, _Bound, _apply_program, _forward_loss_program,
    _loss_program, _mesh_sharding)
from optax_like.keras.variables import (VARIABLE_IN_JAX_FUNCTION, IndexedSlices, Variable,
                                        INT32_MAX, _check_counter, _counter_count, _keep_placement,
                                        _note_counter)

_ALLOWED_KWARGS = {'clipnorm', 'clipvalue', 'lr', 'decay', 'global_clipnorm'}
_VALID_DTYPES = ('float16', 'bfloat16', 'float32', 'float64', 'complex64', 'complex128')
_VALID_DTYPE_SET = frozenset(jnp.dtype(d) for d in _VALID_DTYPES)
_NAME_COUNTS: Dict[str, int] = collections.defaultdict(int)


def _serialized(method: Callable) -> Callable:
  """``method`` run under the optimizer's lock (one step at a time per optimizer)."""
  @functools.wraps(method)
  def locked(self, *args, **kwargs):
    with self._lock:  # pylint: disable=protected-access
      return method(self, *args, **kwargs)
  return locked


@functools.lru_cache(maxsize=None)
def _several_devices() -> bool:
  return jax.device_count() > 1


def _takes_apply_state(fn: Callable) -> bool:
  """Keras 2 passes ``apply_state`` only to methods that declare it (or ``**kwargs``)."""
  try:
    params = inspect.signature(fn).parameters.values()
  except (TypeError, ValueError):
    return True
  return any(p.name == 'apply_state' or p.kind == p.VAR_KEYWORD for p in params)


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


_ARRAY_TYPE = type(jnp.zeros(()))


def _called_hyper(value: Any) -> bool:
  """A hyperparameter called every step (a zero-argument callable, not a schedule)."""
  return callable(value) and not isinstance(value, (Variable, schedules.LearningRateSchedule))


class _RepeatedApply:
  """``apply_gradients`` repeated over the variables of the previous call, without re-checking.

  A training loop applies gradients to the same variables every step. When the next call
  passes the same variables in the same order, each with a concrete JAX array, no Variable is
  being traced, and the optimizer's configuration is unchanged, the step reuses the compiled
  program and the slot Variables found last time. (A gradient of another shape makes the
  program trace again, which rejects it before anything is written.) Anything else (``None``,
  NumPy or ``IndexedSlices`` gradients, other variables, a changed attribute) takes the full
  path, which validates it.
  """

  def __init__(self, opt: 'Optimizer', variables: Sequence[Variable],
               slot_vars: Sequence[Variable], program: Callable, aggregate: Any):
    self.variables = tuple(variables)
    self.slot_vars = tuple(slot_vars)
    self.program = program
    self.aggregate = aggregate
    self.version = self._version(opt)
    sources = opt._hyper_sources()  # pylint: disable=protected-access
    # A zero-argument callable hyperparameter is called every step; the others are inputs
    # that change only with the value of their Variable (or with the configuration).
    self.called_hypers = any(_called_hyper(h) for h in sources)
    self.hyper_vars = tuple(h for h in sources if isinstance(h, Variable))
    self.hyper_values: Optional[List[Any]] = None
    self.hypers: Dict[str, Any] = {}

  @staticmethod
  def _version(opt: 'Optimizer') -> List[Any]:
    """What the step was built from: the configuration's version, aggregator, transformers."""
    return [opt.__dict__.get('_config_version', 0), opt.gradient_aggregator,
            *opt._gradient_transformers]  # pylint: disable=protected-access

  def run(self, opt: 'Optimizer', items: Tuple[Any, ...], aggregate: Any) -> bool:
    """Runs the step for ``items`` if it is a repeat (True), else changes nothing (False)."""
    variables = self.variables
    if len(items) != len(variables) or aggregate != self.aggregate or _variables_lib._ACTIVE[0]:  # pylint: disable=protected-access
      return False
    grads = []
    try:
      for (g, var), v in zip(items, variables):
        if var is not v or type(g) is not _ARRAY_TYPE:  # pylint: disable=unidiomatic-typecheck
          return False
        grads.append(g)
    except (TypeError, ValueError):  # not a (gradient, variable) pair: the full path says so
      return False
    if self._version(opt) != self.version:
      return False
    if self.called_hypers:
      hypers = opt._hyper_inputs()  # pylint: disable=protected-access
    else:
      values = [h.__dict__['_v'] for h in self.hyper_vars]
      if self.hyper_values is None or not all(map(operator.is_, values, self.hyper_values)):
        self.hypers, self.hyper_values = opt._hyper_inputs(), values  # pylint: disable=protected-access
      hypers = self.hypers
    count = opt._count_before_step()  # pylint: disable=protected-access
    iterations = opt._iterations  # pylint: disable=protected-access
    new_values, new_slots, new_it, new_shared = self.program(
        tuple([v.__dict__['_v'] for v in variables]), tuple(grads),
        tuple([s.__dict__['_v'] for s in self.slot_vars]), hypers, iterations.__dict__['_v'])
    opt._write_back(variables, self.slot_vars, new_values, new_slots, new_it, new_shared, count)  # pylint: disable=protected-access
    return True


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

  A user-defined optimizer follows tf.keras 2's recipe: subclass, create slots in
  ``_create_slots(var_list)`` with ``add_slot``, override ``_resource_apply_dense(grad, var,
  apply_state)`` (and ``_resource_apply_sparse(grad, var, indices, apply_state)``) updating
  ``var`` and its slots (``get_slot``) with ``assign``/``assign_sub``, read hyperparameters
  with ``_get_hyper(name, dtype)``/``_decayed_lr(dtype)`` (set with ``_set_hyper``), and
  ``get_config``. The methods run inside the compiled step with every Variable bound to the
  step's values; what they assign is the step's result (see ``_resource_apply_dense``). The
  built-in optimizers instead give their update as a chain of functional transforms
  (``_build_chain``) with a slot mapping (``_SLOT_MAP``: chain state field -> (slot, sign)).

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

  # The hyperparameters a built-in class sets with ``_set_hypers`` (and ``_hyper_config`` writes).
  _HYPER_NAMES: Tuple[str, ...] = ('learning_rate', 'decay')
  # tf.keras 2's Adagrad, Adadelta and RMSprop accept ``set_weights`` without ``iterations``.
  _WEIGHTS_MAY_OMIT_ITERATIONS = False
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
      # Plain attributes may be read by a user-defined optimizer's traced methods.
      self.__dict__['_attr_version'] = self.__dict__.get('_attr_version', 0) + 1
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
    # A new or replaced entry changes the step's inputs (see ``_RepeatedApply``).
    self.__dict__['_config_version'] = self.__dict__.get('_config_version', 0) + 1
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

  def _set_hypers(self, learning_rate: Any, **hypers: Any) -> None:
    """``learning_rate`` (checked), ``decay`` and ``hypers``, in ``_HYPER_NAMES`` order."""
    _check_learning_rate(learning_rate)
    values = dict(learning_rate=learning_rate, decay=self._initial_decay, **hypers)
    assert tuple(values) == self._HYPER_NAMES, (tuple(values), self._HYPER_NAMES)
    for name, value in values.items():
      self._set_hyper(name, value)

  def _hyper_config(self) -> Dict[str, Any]:
    """The ``get_config`` entries of ``_HYPER_NAMES`` (``decay`` as the constructor's number)."""
    return {name: self._initial_decay if name == 'decay' else
            self._serialize_hyperparameter(name) for name in self._HYPER_NAMES}

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
      # tf.keras 2 counts in int64; JAX has int64 only with jax_enable_x64.
      dtype = np.int64 if jax.config.jax_enable_x64 else np.int32
      self._iterations = Variable(dtype(0), name=f'{self._name}/iter', trainable=False,
                                  dtype=dtype)
      self._iterations.__dict__['_is_counter'] = True   # overflow-checked by keras.function
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
      value.__dict__['_is_counter'] = True
      self._weights.append(value)
      return
    self.iterations.assign(np.asarray(value))

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
      with jax.ensure_compile_time_eval():   # concrete, even while a step is traced
        value = _initial_value(initializer, slot_shape, var.dtype, like=var._v)  # pylint: disable=protected-access
      if tuple(value.shape) == tuple(var.shape):
        value = _keep_placement(value, var._v)  # slots split like their variable  # pylint: disable=protected-access
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
    with jax.ensure_compile_time_eval():
      value = _initial_value(initializer, tuple(shape), dtype)
    return Variable(value, name=name, trainable=True if trainable is None else trainable)

  def _create_slots(self, var_list: Sequence[Variable]) -> None:
    """Creates the slots ``_step_slot_names`` names, in Keras's order (``get_weights``'s).

    tf.keras 2 creates each slot over all variables in turn (``m`` of every variable, then
    ``v``); a class with ``_SLOTS_PER_VARIABLE`` creates all slots of one variable first
    (Ftrl). A user-defined optimizer overrides this with ``add_slot`` calls.
    """
    names = self._step_slot_names()
    if self._SLOTS_PER_VARIABLE:
      pairs = [(v, n) for v in var_list for n in names]
    else:
      pairs = [(v, n) for n in names for v in var_list]
    for v, n in pairs:
      self.add_slot(v, n, self._slot_initializer(n))

  _SLOTS_PER_VARIABLE = False

  def _slot_initializer(self, slot_name: str) -> Any:
    del slot_name
    return 'zeros'

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
    """What the slots were created for: a change (``amsgrad``, momentum) creates the new ones."""
    return tuple(self._step_slot_names())

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
    if self._WEIGHTS_MAY_OMIT_ITERATIONS and len(params) == len(weights) + 1:
      weights = [np.array(0)] + list(weights)   # iterations restarts at 0, as in tf.keras 2
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
    """The slots of this configuration, each in the step and in creation order (declared once)."""
    return ()

  def _step_hypers(self) -> Dict[str, Any]:
    hypers = {}
    if self._uses_recipe():
      # Every hyperparameter but a schedule (evaluated in the step at ``iterations``) is an
      # input: changing one never recompiles.
      for name, value in self._hyper.items():
        if not (isinstance(value, schedules.LearningRateSchedule)
                or (name == 'learning_rate' and _is_schedule(value))):
          hypers[name] = self._hyper_input(name)
      return hypers
    if 'learning_rate' in self._hyper and self._lr_schedule() is None:
      hypers['learning_rate'] = self._hyper_input('learning_rate')
    for name in self._step_hyper_names():
      hypers[name] = self._hyper_input(name)
    return hypers

  # Hyperparameters (besides the learning rate) that are inputs of every step.
  _STEP_HYPERS: Tuple[str, ...] = ()

  def _step_hyper_names(self) -> Tuple[str, ...]:
    """``_STEP_HYPERS``, or those of this configuration (a momentum only when it is used)."""
    return self._STEP_HYPERS

  @classmethod
  def _build_chain(cls, cfg: _StepConfig, hypers: Dict[str, Any]) -> base.GradientTransformation:
    """The built-in optimizers' update as a chain of functional transforms (see ``sgd.py``)."""
    raise NotImplementedError(
        f'{cls.__name__} defines no update: a subclass of Optimizer overrides '
        '`_resource_apply_dense(grad, var, apply_state)` (and `_resource_apply_sparse(grad, var, '
        'indices, apply_state)` for IndexedSlices gradients), creating its slots in '
        '`_create_slots(var_list)` with `add_slot`, as in tf.keras 2.')

  # -- user-defined optimizers: tf.keras 2's recipe ---------------------------------------
  @classmethod
  def _uses_recipe(cls) -> bool:
    """Whether the update is the class's ``_resource_apply_*`` methods (not a chain)."""
    return (getattr(cls._build_chain, '__func__', None) is Optimizer._build_chain.__func__
            and (cls._resource_apply_dense is not Optimizer._resource_apply_dense
                 or cls._resource_apply_sparse is not Optimizer._resource_apply_sparse
                 or cls._resource_apply_sparse_duplicate_indices
                 is not Optimizer._resource_apply_sparse_duplicate_indices))

  def _resource_apply_dense(self, grad: jax.Array, handle: Variable,
                            apply_state: Optional[Dict[Any, Dict[str, Any]]] = None) -> Any:
    """Updates ``handle`` (a Variable) with the dense gradient ``grad``: override it.

    It runs inside the compiled step: ``handle``, its slots (``self.get_slot(handle, name)``),
    ``self.iterations`` and the hyperparameters (``self._get_hyper(name, dtype)``,
    ``self._decayed_lr(dtype)``) hold the step's values; update them with
    ``assign``/``assign_add``/``assign_sub`` (the assigned values are the step's results).
    ``apply_state[(handle.device, handle.dtype)]`` holds ``lr_t`` (see ``_prepare_local``).
    """
    raise NotImplementedError(
        f'{type(self).__name__} must override `_resource_apply_dense(grad, var, apply_state)` '
        'to apply dense gradients.')

  def _resource_apply_sparse(self, grad: jax.Array, handle: Variable, indices: jax.Array,
                             apply_state: Optional[Dict[Any, Dict[str, Any]]] = None) -> Any:
    """Updates the rows ``indices`` (unique) of ``handle`` with ``grad`` (one row each): override it.

    Update rows with ``self._resource_scatter_add(var, indices, values)`` /
    ``_resource_scatter_update`` (or ``var.scatter_add(IndexedSlices(...))``). Inside the
    compiled step the unique indices are padded to a fixed length with an index past the
    last row (its gradient row is 0): scatters drop it, gathers clamp it.
    """
    raise NotImplementedError(
        f'{type(self).__name__} must override `_resource_apply_sparse(grad, var, indices, '
        'apply_state)` to apply sparse (IndexedSlices) gradients.')

  def _resource_apply_sparse_duplicate_indices(self, grad: jax.Array, handle: Variable,
                                               indices: jax.Array, **kwargs: Any) -> Any:
    """Sums the rows of repeated indices, then calls ``_resource_apply_sparse`` (as Keras 2)."""
    n = indices.shape[0]
    unique, inverse = jnp.unique(indices, return_inverse=True, size=n,
                                 fill_value=handle.shape[0])
    summed = jax.ops.segment_sum(grad, inverse.reshape(-1), num_segments=n)
    return self._resource_apply_sparse(summed, handle, unique, **kwargs)

  def _resource_scatter_add(self, x: Variable, i: Any, v: Any) -> jax.Array:
    """``x[i] += v`` (repeated indices add up; indices past the end are dropped)."""
    x.assign(x.value().at[i].add(jnp.asarray(v).astype(x.dtype), mode='drop'))
    return x.value()

  def _resource_scatter_update(self, x: Variable, i: Any, v: Any) -> jax.Array:
    """``x[i] = v`` (indices past the end are dropped)."""
    x.assign(x.value().at[i].set(jnp.asarray(v).astype(x.dtype), mode='drop'))
    return x.value()

  def _prepare(self, var_list: Sequence[Variable]) -> Dict[Any, Dict[str, Any]]:
    """``apply_state``: coefficients per ``(device, dtype)`` (``_prepare_local`` fills them)."""
    keys = {(v.device, v.dtype) for v in var_list}
    apply_state: Dict[Any, Dict[str, Any]] = {}
    for var_device, var_dtype in keys:
      apply_state[(var_device, var_dtype)] = {}
      self._prepare_local(var_device, var_dtype, apply_state)
    return apply_state

  def _prepare_local(self, var_device: Any, var_dtype: Any,
                     apply_state: Dict[Any, Dict[str, Any]]) -> None:
    if 'learning_rate' in self._hyper:
      apply_state[(var_device, var_dtype)]['lr_t'] = self._decayed_lr(var_dtype)

  def _fallback_apply_state(self, var_device: Any, var_dtype: Any) -> Dict[str, Any]:
    apply_state = {(var_device, var_dtype): {}}
    self._prepare_local(var_device, var_dtype, apply_state)
    return apply_state[(var_device, var_dtype)]

  def _recipe_apply(self, variables: Sequence[Variable], grads: Sequence[Any]) -> None:
    """Calls the ``_resource_apply_*`` methods (variables already bound to the step's values)."""
    apply_state = self._prepare(variables)
    for v, g in zip(variables, grads):
      if isinstance(g, IndexedSlices):
        fn = self._resource_apply_sparse_duplicate_indices
        args = (jnp.asarray(g.values).astype(v.dtype), v, jnp.asarray(g.indices, jnp.int32))
      else:
        fn = self._resource_apply_dense
        args = (jnp.asarray(g).astype(v.dtype), v)
      if _takes_apply_state(fn):
        fn(*args, apply_state=apply_state)
      else:
        fn(*args)

  @staticmethod
  def _learning_rate(cfg: _StepConfig, hypers: Dict[str, Any]) -> base.ScalarOrSchedule:
    lr = cfg.schedule if cfg.schedule is not None else hypers['learning_rate']
    return kn.keras_learning_rate(lr, decay=cfg.decay)

  def _step_config(self, variables: Sequence[Variable], aggregate: bool, stateless: bool = False):
    """The cache key and static configuration of a step over ``variables`` (memoized)."""
    shardings = None
    if not stateless and _several_devices():   # (one device: nothing can be split)
      shardings = tuple(_mesh_sharding(v._value) for v in variables)  # pylint: disable=protected-access
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
    recipe = self._uses_recipe()
    if recipe:
      var_slot_names = tuple(tuple(self._slots.get(v._uid, {})) for v in variables)  # pylint: disable=protected-access
    else:
      var_slot_names = (tuple(self._step_slot_names()),) * len(variables)
    key = (type(self), data_axis, axes, shardings, self._static_config(), schedule_key, float(self._initial_decay), clip,
           _Id(aggregator) if aggregator is not None else None,
           tuple(_Id(t) for t in transformers),
           tuple(_Id(c) if c is not None else None for c in constraints),
           tuple(v.name for v in variables) if uses_names else len(variables),
           tuple(v._uid for v in variables) if user_fns or recipe else None,  # pylint: disable=protected-access
           self.jit_compile, var_slot_names,
           # A recipe optimizer's methods run in the traced step: the program is its own.
           (_Id(self), self.__dict__.get('_attr_version', 0)) if recipe else None)
    cfg = _StepConfig(
        make_chain=type(self)._build_chain, static=self._static_config(), schedule=schedule,
        decay=float(self._initial_decay), clip=clip, aggregator=aggregator,
        transformers=transformers, constraints=constraints,
        names=tuple(v.name for v in variables),
        keys=tuple(v.name for v in variables) if uses_names else
        tuple(f'v{i}' for i in range(len(variables))),
        variables=tuple(variables), var_slot_names=var_slot_names,
        recipe=self if recipe else None, shared_names=tuple(self._shared_variables()),
        updates_are_values=type(self)._UPDATES_ARE_VALUES,
        slot_map=self._slot_map(), sparse_strategy=self._sparse_strategy(),
        jit=self.jit_compile, data_axis=data_axis, axes=axes, shardings=shardings,
        chain_axes=type(self)._CHAIN_TAKES_AXIS_NAME)
    return key, cfg

  _USES_NAMES = False
  # Whether the chain's updates are the new values (assigned) rather than deltas (added).
  _UPDATES_ARE_VALUES = False
  # Whether ``_build_chain`` takes ``axis_name=`` (a chain with norms: LARS's trust ratio).
  _CHAIN_TAKES_AXIS_NAME = False

  def _slot_map(self) -> Dict[Tuple[str, str], Tuple[str, int]]:
    return dict(self._SLOT_MAP)

  def _sparse_strategy(self) -> str:
    return self._SPARSE_STRATEGY

  def _slot_variables(self, variables: Sequence[Variable],
                      var_slot_names: Sequence[Sequence[str]]) -> Tuple[Variable, ...]:
    """The slot Variables of a step, flat: each variable's (``cfg.var_slot_names``) in turn."""
    return tuple(self._slots[v._uid][n]  # pylint: disable=protected-access
                 for v, names in zip(variables, var_slot_names) for n in names)

  def _hyper_inputs(self) -> Dict[str, Any]:
    """``_step_hypers()``, reused while no hyperparameter changed (the hot path of a step).

    Recomputed when a hyperparameter is replaced or assigned (a Variable's value is compared
    by identity), when a shared weight (Nadam's momentum cache) changes, or the configuration
    does; a zero-argument callable hyperparameter is called every step. Python numbers become
    device arrays once, not a host-to-device copy per call.
    """
    if _variables_lib._context() is not None:  # pylint: disable=protected-access
      return self._step_hypers()   # traced values: nothing to reuse
    snapshot = [self.__dict__.get('_config_version', 0), tuple(self._hyper)]
    for value in self._hyper_sources():
      if isinstance(value, Variable):
        snapshot.append(value._value)  # pylint: disable=protected-access
      elif _called_hyper(value):
        return self._step_hypers()
      else:
        snapshot.append(value)
    memo = self.__dict__.get('_hyper_memo')
    if (memo is not None and len(memo[0]) == len(snapshot) and memo[0][:2] == snapshot[:2]
        and all(a is b for a, b in zip(memo[0][2:], snapshot[2:]))):
      return memo[1]
    hypers = {k: jnp.asarray(v) if _is_number(v) or isinstance(v, np.generic) else v
              for k, v in self._step_hypers().items()}
    self.__dict__['_hyper_memo'] = (snapshot, hypers)
    return hypers

  # Plain attributes that ``_step_hypers`` reads as inputs (LARS's ``momentum`` and ``eeta``).
  _ATTR_HYPERS: Tuple[str, ...] = ()

  def _hyper_sources(self) -> List[Any]:
    """Everything ``_step_hypers`` reads: hyperparameters, shared weights, attribute inputs.

    ``_hyper_inputs`` and ``_RepeatedApply`` reuse the inputs while these objects (and the
    values of those that are Variables) stay the same.
    """
    return (list(self._hyper.values()) + list(self._shared_variables().values())
            + [getattr(self, name) for name in self._ATTR_HYPERS])

  def _shared_variables(self) -> Dict[str, Variable]:
    """Optimizer weights shared by all variables and updated by the step (Nadam's cache)."""
    return {}

  def _count_before_step(self) -> Optional[int]:
    """``iterations`` on the host (None while traced); OverflowError before an int32 wrap."""
    it = self._iterations
    if isinstance(it._value, jax.core.Tracer):  # pylint: disable=protected-access
      return None     # inside optax_like.keras.function, which checks the counter itself
    count = _counter_count(it)
    if count >= INT32_MAX:
      _check_counter(it, 1, f'{type(self).__name__} step')   # raises before an int32 wrap
    return count

  def _write_back(self, variables, slot_vars, new_values, new_slots, new_it,
                  new_shared=None, count=None) -> None:
    if count is not None:
      _note_counter(self._iterations, new_it, count + 1)
    if new_shared:
      for name, var in self._shared_variables().items():
        if name in new_shared:
          var._value = new_shared[name]  # pylint: disable=protected-access
    if not _variables_lib._ACTIVE[0] or _variables_lib._context() is None:  # pylint: disable=protected-access
      # Outside a traced step: store directly (the hot path of every step).
      for v, x in zip(variables, new_values):
        v.__dict__['_v'] = x
      for s, x in zip(slot_vars, new_slots):
        s.__dict__['_v'] = x
      self._iterations.__dict__['_v'] = new_it
      return
    for v, x in zip(variables, new_values):
      v._value = x  # pylint: disable=protected-access
    for s, x in zip(slot_vars, new_slots):
      s._value = x  # pylint: disable=protected-access
    self._iterations._value = new_it  # pylint: disable=protected-access

  def _run_step(self, program: Callable, variables: Sequence[Variable],
                slot_vars: Sequence[Variable], *leading: Any) -> Any:
    """Calls a compiled step with the current state and writes the new state back.

    ``program(*leading, slots, hypers, iterations)`` returns ``(..., new values, new slots,
    new iterations, new shared weights)``; what comes before those is returned.
    """
    count = self._count_before_step()
    *head, new_values, new_slots, new_it, new_shared = program(
        *leading, tuple(s._value for s in slot_vars), self._hyper_inputs(),  # pylint: disable=protected-access
        self._iteration_count())
    self._write_back(variables, slot_vars, new_values, new_slots, new_it, new_shared, count)
    return head

  @staticmethod
  def _check_dtypes(variables: Iterable[Variable]) -> None:
    for v in variables:
      if v._value.dtype not in _VALID_DTYPE_SET:  # pylint: disable=protected-access
        raise ValueError(f'Invalid type {jnp.dtype(v.dtype).name} for {v.name}, expected: '
                         f'{list(_VALID_DTYPES)}.')

  @staticmethod
  def _prepare_gradient(g: Any, v: Variable) -> Any:
    """Host-side checks and conversion of one gradient (arrays pass through untouched)."""
    if isinstance(g, jax.Array) and g.shape == v.__dict__['_v'].shape:
      return g   # the common case, checked first
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
    items = tuple(grads_and_vars)
    repeat = self.__dict__.get('_repeat_apply')
    if repeat is not None and repeat.run(self, items, experimental_aggregate_gradients):
      return self._iterations
    pairs = []
    for i, item in enumerate(items):
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
    slot_vars = self._slot_variables(variables, cfg.var_slot_names)
    self._run_step(program, variables, slot_vars,
                   tuple(v._value for v in variables), tuple(grads))  # pylint: disable=protected-access
    if not _several_devices() and not self._uses_recipe():
      self.__dict__['_repeat_apply'] = _RepeatedApply(
          self, variables, slot_vars, program, experimental_aggregate_gradients)
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

  @staticmethod
  def _trace_forward(loss: Callable, var_list: List[Variable]):
    """``(closed jaxpr of values -> loss, strict fingerprint, dependence mask)``.

    ``(None, None, mask)`` for a loss without gradients (integer or boolean).
    """
    def primal(vals):
      with _Bound(var_list, vals):
        out = loss()
      out = out._value if isinstance(out, Variable) else out  # pylint: disable=protected-access
      return jnp.asarray(out)

    values = [v._value for v in var_list]  # pylint: disable=protected-access
    try:
      closed = jax.make_jaxpr(primal)(values)
    except (TypeError, ValueError) as err:
      if _passed_a_variable_to_jax(err) and VARIABLE_IN_JAX_FUNCTION not in str(err):
        raise TypeError(_VARIABLE_IN_JAX_FUNCTION) from err
      raise
    out_aval = closed.out_avals[0]
    if not jnp.issubdtype(out_aval.dtype, jnp.inexact):
      return None, None, (False,) * len(var_list)
    return closed, _strict_fingerprint_or_none(closed.jaxpr), _dependence_mask(
        closed.jaxpr, len(var_list))

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
    # The forward pass alone is traced when its program identifies the gradient (no custom
    # derivative rules or callbacks); otherwise the gradient itself is traced.
    forward, fingerprint, mask = self._trace_forward(loss, var_list)
    if forward is not None and fingerprint is not None and any(mask):
      pairs = self._filter_empty_gradients(
          [(True if m else None, v) for v, m in zip(var_list, mask)])
      variables = [v for _, v in pairs]
      self._check_dtypes(variables)
      self._create_all_weights(variables)
      key, cfg = self._step_config(variables, True)
      program = _cached_program(
          ('minimize-forward', fingerprint, mask, key, grad_loss is None),
          lambda: _forward_loss_program(cfg, forward.jaxpr, mask, cfg.jit, grad_loss is not None))
      self._run_step(program, variables, self._slot_variables(variables, cfg.var_slot_names),
                     list(forward.consts), [v._value for v in var_list],  # pylint: disable=protected-access
                     None if grad_loss is None else jnp.asarray(grad_loss))
      return self._iterations
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
    self._run_step(program, variables, self._slot_variables(variables, cfg.var_slot_names),
                   list(closed.consts), [v._value for v in var_list],  # pylint: disable=protected-access
                   None if grad_loss is None else jnp.asarray(grad_loss))
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
    slot_pos = [position[id(s)] for s in self._slot_variables(variables, cfg.var_slot_names)]
    it_pos = position[id(self._iterations)]
    shared_pos = {n: position[id(w)] for n, w in self._shared_variables().items()}
    grads_in = tuple(g.value() if isinstance(g, Variable) else g for g in (grads[i] for i in index))
    hypers = self._step_hypers()
    hypers.update({n: optimizer_variables[k] for n, k in shared_pos.items()})
    new_values, new_slots, new_it, new_shared = program(
        tuple(jnp.asarray(trainable_variables[i]) for i in index), grads_in,
        tuple(optimizer_variables[k] for k in slot_pos),
        hypers, optimizer_variables[it_pos])
    new_optimizer = list(optimizer_variables)
    for i, x in zip(index, new_values):
      new_trainable[i] = x
    for k, x in zip(slot_pos, new_slots):
      new_optimizer[k] = x
    new_optimizer[it_pos] = new_it
    for n, k in shared_pos.items():
      new_optimizer[k] = new_shared[n]
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

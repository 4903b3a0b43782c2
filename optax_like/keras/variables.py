"""``Variable`` and ``IndexedSlices``: the mutable state and the sparse gradients of ``optax_like.keras``.

A ``Variable`` is a mutable box around a JAX array, shaped like ``tf.Variable``: ``value()``,
``numpy()``, ``assign``/``assign_add``/``assign_sub``, ``shape``, ``dtype``, ``name``,
``trainable``, ``constraint``, and the arithmetic operators, which return plain JAX arrays. A
loss written against Variables, such as ``lambda: (var ** 2) / 2.0``, is therefore a JAX
function of the variables' values: ``Optimizer.minimize`` traces it with the values of
``var_list`` replaced by tracers and differentiates it with ``jax.vjp``.

``jax.numpy`` functions do not accept a Variable directly (JAX no longer converts objects
through ``__jax_array__`` inside its operations); write ``jnp.sum(var ** 2)`` or
``jnp.tanh(var.value())``. NumPy functions work through ``__array__``.
"""

from __future__ import annotations

import itertools
import operator
import re
import threading
from typing import Any, Callable, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from optax_like._src import tree as tree_lib

__all__ = ['Variable', 'IndexedSlices']

_UIDS = itertools.count(1)

# While ``optax_like.keras.function`` traces a step, every Variable read and write of this
# thread goes through its ``_StateContext`` (the Variables are the step's state).
_STATE = threading.local()
# How many such contexts are active in all threads: while 0, reads and writes skip the
# thread-local lookup (the hot path of every eager step).
_ACTIVE = [0]
_ACTIVE_LOCK = threading.Lock()


def _context():
  return getattr(_STATE, 'ctx', None) if _ACTIVE[0] else None


def _activate(ctx: Any) -> Any:
  """Makes ``ctx`` this thread's context; returns the previous one (for ``_deactivate``)."""
  with _ACTIVE_LOCK:
    _ACTIVE[0] += 1
  saved = getattr(_STATE, 'ctx', None)
  _STATE.ctx = ctx
  return saved


def _deactivate(saved: Any) -> None:
  _STATE.ctx = saved
  with _ACTIVE_LOCK:
    _ACTIVE[0] -= 1

VARIABLE_IN_JAX_FUNCTION = (
    'a Variable was passed to a JAX function (e.g. `jnp.dot(x, w)`, `jax.nn.relu(w)`). JAX '
    '0.10 accepts only arrays there (it no longer converts objects through `__jax_array__`): '
    'write `jnp.dot(x, w.value())`, or use operators, which return arrays (`x @ w`, `w * 2`, '
    '`w ** 2`).')
_NAME_SUFFIX = re.compile(r':\d+$')


def _unwrap(x: Any) -> Any:
  return x._value if isinstance(x, Variable) else x  # pylint: disable=protected-access


def _binary(op: Callable[[Any, Any], Any], reflected: bool = False):
  if reflected:
    def method(self, other):
      return op(_unwrap(other), self._value)
  else:
    def method(self, other):
      return op(self._value, _unwrap(other))
  return method


def _unary(op: Callable[[Any], Any]):
  def method(self):
    return op(self._value)
  return method


class Variable:
  """A mutable, named JAX array, in the shape of ``tf.Variable``.

  Args:
    initial_value: an array-like, or a zero-argument callable returning one.
    name: the variable's name; ``.name`` appends ``':0'`` as TensorFlow does
      (``Variable(1.0, name='x').name == 'x:0'``). Defaults to ``'Variable'``.
    trainable: recorded; ``optax_like.keras`` does not filter on it.
    dtype: the dtype; defaults to that of ``initial_value`` (Python floats are float32).
    constraint: optional function applied by the optimizers to the variable's new value
      after each dense update (``w = constraint(w)``); it must be a JAX function of an array.
    sharding: optional ``jax.sharding.Sharding`` (e.g. ``NamedSharding(mesh, P(None,
      'model'))``) to place the value with (``jax.device_put``); the same as passing an
      already placed array. (An extension: tf.Variable has no such argument.)

  Placement. A value that is split over several devices (a ``NamedSharding``, from this
  argument or from the initial array) keeps its sharding: ``assign``/``assign_add``/
  ``assign_sub`` (and so ``Optimizer.set_weights``) place the new value like the old one, the
  optimizers create the variable's slots with its sharding and keep both after each step.

  Arithmetic operators (``+ - * / // % ** @``, comparisons, unary ``- + abs``, indexing)
  act on the current value and return JAX arrays; ``__eq__`` is elementwise, as in TF2.

  Example:
    >>> from optax_like.keras import Variable
    >>> v = Variable(1.0, name='v')
    >>> float((v ** 2) / 2.0)
    0.5
    >>> v.assign_sub(0.25).numpy().item()
    0.75
  """

  __array_priority__ = 100  # NumPy defers ``ndarray <op> Variable`` to our reflected methods.

  @property
  def _value(self) -> Any:
    if _ACTIVE[0]:
      ctx = getattr(_STATE, 'ctx', None)
      if ctx is not None:
        return ctx.read(self)
    return self._v

  @_value.setter
  def _value(self, x: Any) -> None:
    ctx = getattr(_STATE, 'ctx', None) if _ACTIVE[0] else None
    if ctx is not None and '_v' in self.__dict__:
      ctx.write(self, x)
    else:
      self._v = x

  def __init__(self, initial_value: Any, name: Optional[str] = None, trainable: bool = True,
               dtype: Any = None, constraint: Optional[Callable[[jax.Array], jax.Array]] = None,
               sharding: Any = None, **kwargs: Any):
    unknown = set(kwargs) - {'shape', 'validate_shape', 'caching_device', 'synchronization',
                             'aggregation', 'import_scope', 'experimental_enable_variable_lifting'}
    if unknown:
      raise TypeError(f'Variable got unexpected keyword arguments: {sorted(unknown)}')
    if initial_value is None:
      raise ValueError('`initial_value` must be set.')
    if callable(initial_value) and not isinstance(initial_value, Variable):
      initial_value = initial_value()
    initial_value = _unwrap(initial_value)
    if isinstance(initial_value, jax.core.Tracer):
      raise TypeError('A Variable cannot be created from a traced value (inside jax.jit or '
                      'jax.grad); create it outside and `assign` to it there instead.')
    if constraint is not None and not callable(constraint):
      raise ValueError(f'The `constraint` argument must be a callable. Received: {constraint!r}')
    value = _owned_array(initial_value, dtype)
    # Strongly typed (a Python float gives float32, not a weak type), so that the dtype the
    # compiled steps see never changes between the first and later calls.
    self._value = jnp.asarray(value, dtype=value.dtype)
    if sharding is not None:
      if not isinstance(sharding, jax.sharding.Sharding):
        raise TypeError('`sharding` must be a jax.sharding.Sharding (e.g. a NamedSharding), '
                        f'got {type(sharding).__name__}: {sharding!r:.80}')
      self._value = jax.device_put(self._value, sharding)
    base = 'Variable' if name is None else str(name)
    self._shared_name = _NAME_SUFFIX.sub('', base)
    self._name = base if _NAME_SUFFIX.search(base) else base + ':0'
    self._trainable = bool(trainable)
    self._constraint = constraint
    self._uid = next(_UIDS)

  # -- state -----------------------------------------------------------------------------
  def value(self) -> jax.Array:
    """The current value, a JAX array (a snapshot: later assignments do not change it)."""
    return self._value

  def read_value(self) -> jax.Array:
    return self._value

  def numpy(self) -> np.ndarray:
    return np.asarray(self._value)

  def _check_new_value(self, value: Any, what: str) -> jax.Array:
    value = _unwrap(value)
    dtype = self._value.dtype
    if (jnp.issubdtype(dtype, jnp.integer) and not isinstance(value, jax.core.Tracer)
        and np.size(value) and jnp.issubdtype(np.result_type(value), jnp.integer)):
      info = np.iinfo(dtype)
      host = np.asarray(value)
      if host.min() < info.min or host.max() > info.max:
        raise OverflowError(f'Cannot {what} {host.max()} to {self._name}: it does not fit in '
                            f'{np.dtype(dtype).name}.' + (
                                f' ({COUNTER_OVERFLOW})' if dtype == np.int32 else ''))
    value = _owned_array(value, dtype)
    if value.shape != self._value.shape:
      raise ValueError(
          f'Cannot {what} to variable {self._name}: the shape of the value {value.shape} is '
          f'not compatible with the variable shape {self._value.shape}.')
    return _keep_placement(value, self._value)

  def assign(self, value: Any, use_locking: Any = None, name: Any = None,
             read_value: bool = True) -> 'Variable':
    """Sets the value (same shape; cast to the variable's dtype). Returns the variable."""
    del use_locking, name, read_value
    self._value = self._check_new_value(value, 'assign')
    return self

  def assign_add(self, delta: Any, use_locking: Any = None, name: Any = None,
                 read_value: bool = True) -> 'Variable':
    del use_locking, name, read_value
    self._value = self._check_new_value(self._value + _unwrap(delta), 'assign_add')
    return self

  def assign_sub(self, delta: Any, use_locking: Any = None, name: Any = None,
                 read_value: bool = True) -> 'Variable':
    del use_locking, name, read_value
    self._value = self._check_new_value(self._value - _unwrap(delta), 'assign_sub')
    return self

  def scatter_add(self, sparse_delta: 'IndexedSlices', use_locking: Any = None,
                  name: Any = None) -> 'Variable':
    """``self[indices] += values`` for an ``IndexedSlices`` (repeated indices add up)."""
    del use_locking, name
    return self.assign(self._value.at[jnp.asarray(sparse_delta.indices)].add(
        jnp.asarray(sparse_delta.values).astype(self.dtype), mode='drop'))

  def scatter_sub(self, sparse_delta: 'IndexedSlices', use_locking: Any = None,
                  name: Any = None) -> 'Variable':
    """``self[indices] -= values`` for an ``IndexedSlices`` (repeated indices add up)."""
    del use_locking, name
    return self.assign(self._value.at[jnp.asarray(sparse_delta.indices)].add(
        -jnp.asarray(sparse_delta.values).astype(self.dtype), mode='drop'))

  def scatter_update(self, sparse_delta: 'IndexedSlices', use_locking: Any = None,
                     name: Any = None) -> 'Variable':
    """``self[indices] = values`` for an ``IndexedSlices``."""
    del use_locking, name
    return self.assign(self._value.at[jnp.asarray(sparse_delta.indices)].set(
        jnp.asarray(sparse_delta.values).astype(self.dtype), mode='drop'))

  # -- metadata --------------------------------------------------------------------------
  @property
  def name(self) -> str:
    return self._name

  @property
  def device(self) -> str:
    """``''``: JAX places arrays itself (a key for ``apply_state``, as ``tf.Variable.device``)."""
    return ''

  @property
  def shape(self) -> Tuple[int, ...]:
    return tuple(self._value.shape)

  @property
  def dtype(self) -> np.dtype:
    return self._value.dtype

  @property
  def ndim(self) -> int:
    return self._value.ndim

  @property
  def size(self) -> int:
    return self._value.size

  @property
  def trainable(self) -> bool:
    return self._trainable

  @property
  def constraint(self) -> Optional[Callable[[jax.Array], jax.Array]]:
    return self._constraint

  def ref(self) -> 'Variable':
    """A hashable handle (the variable itself: it hashes by identity)."""
    return self

  def deref(self) -> 'Variable':
    return self

  def __hash__(self) -> int:
    return object.__hash__(self)

  def __repr__(self) -> str:
    if isinstance(self._value, jax.core.Tracer):   # while a loss or a step is traced
      return f"<Variable '{self._name}' shape={self.shape} dtype={self.dtype.name} (traced)>"
    return (f"<Variable '{self._name}' shape={self.shape} dtype={self.dtype.name}, "
            f'numpy={np.array2string(np.asarray(self._value), separator=", ")}>')

  # -- conversions -----------------------------------------------------------------------
  def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
    del copy
    if isinstance(self._value, jax.core.Tracer):
      # JAX converts a non-array argument of a jax.numpy function through NumPy; a Variable
      # being traced (inside ``minimize``) has no NumPy value. Say what to write instead.
      raise TypeError(f'{self._name}: {VARIABLE_IN_JAX_FUNCTION}')
    return np.asarray(self._value, dtype=dtype)

  def __float__(self) -> float:
    return float(self._value)

  def __int__(self) -> int:
    return int(self._value)

  def __index__(self) -> int:
    return operator.index(self._value)

  def __bool__(self) -> bool:
    return bool(self._value)

  def __complex__(self) -> complex:
    return complex(self._value)

  def __len__(self) -> int:
    return len(self._value)

  def __iter__(self):
    return iter(self._value)

  def __format__(self, spec: str) -> str:
    return format(np.asarray(self._value), spec) if spec else repr(self)

  def __getitem__(self, index: Any) -> jax.Array:
    return self._value[_unwrap(index)]

  def __getattr__(self, name: str) -> Any:
    # Array methods and properties (``.T``, ``.sum()``, ``.reshape()``...) act on the value.
    if name.startswith('_'):
      raise AttributeError(name)
    try:
      return getattr(self._value, name)
    except AttributeError:
      raise AttributeError(f"'Variable' object has no attribute {name!r}") from None

  # -- operators -------------------------------------------------------------------------
  __add__ = _binary(operator.add)
  __radd__ = _binary(operator.add, reflected=True)
  __sub__ = _binary(operator.sub)
  __rsub__ = _binary(operator.sub, reflected=True)
  __mul__ = _binary(operator.mul)
  __rmul__ = _binary(operator.mul, reflected=True)
  __truediv__ = _binary(operator.truediv)
  __rtruediv__ = _binary(operator.truediv, reflected=True)
  __floordiv__ = _binary(operator.floordiv)
  __rfloordiv__ = _binary(operator.floordiv, reflected=True)
  __mod__ = _binary(operator.mod)
  __rmod__ = _binary(operator.mod, reflected=True)
  __pow__ = _binary(operator.pow)
  __rpow__ = _binary(operator.pow, reflected=True)
  __matmul__ = _binary(operator.matmul)
  __rmatmul__ = _binary(operator.matmul, reflected=True)
  __and__ = _binary(operator.and_)
  __rand__ = _binary(operator.and_, reflected=True)
  __or__ = _binary(operator.or_)
  __ror__ = _binary(operator.or_, reflected=True)
  __xor__ = _binary(operator.xor)
  __rxor__ = _binary(operator.xor, reflected=True)
  __lt__ = _binary(operator.lt)
  __le__ = _binary(operator.le)
  __gt__ = _binary(operator.gt)
  __ge__ = _binary(operator.ge)
  __eq__ = _binary(operator.eq)  # type: ignore[assignment]
  __ne__ = _binary(operator.ne)  # type: ignore[assignment]
  __neg__ = _unary(operator.neg)
  __pos__ = _unary(operator.pos)
  __abs__ = _unary(operator.abs)
  __invert__ = _unary(operator.invert)


@jax.tree_util.register_pytree_node_class
class IndexedSlices:
  """A sparse gradient: rows ``values[i]`` of a dense tensor at row ``indices[i]``.

  As ``tf.IndexedSlices``: ``values`` has shape ``[n, *dense_shape[1:]]``, ``indices`` is a
  1-D integer array of length ``n`` (indices may repeat; repeated rows add up), and
  ``dense_shape`` is the shape of the dense tensor (defaults to the variable's shape when the
  gradient is applied). It is a pytree (children ``values`` and ``indices``), so it can cross
  ``jax.jit`` boundaries.

  Example:
    >>> import numpy as np
    >>> from optax_like.keras import IndexedSlices
    >>> g = IndexedSlices(np.ones((2, 3)), np.array([0, 2]), dense_shape=(4, 3))
    >>> g.to_dense().sum(axis=1).tolist()
    [3.0, 0.0, 3.0, 0.0]
  """

  def __init__(self, values: Any, indices: Any, dense_shape: Optional[Sequence[int]] = None):
    self.values = _unwrap(values)
    self.indices = _unwrap(indices)
    if dense_shape is not None:
      dense_shape = tuple(int(d) for d in np.asarray(_unwrap(dense_shape)).reshape(-1))
    self.dense_shape = dense_shape

  @property
  def dtype(self):
    return jnp.asarray(self.values).dtype if not hasattr(self.values, 'dtype') else self.values.dtype

  @property
  def shape(self):
    return self.dense_shape

  def to_dense(self, dense_shape: Optional[Sequence[int]] = None) -> jax.Array:
    """The dense tensor: zeros with the rows scatter-added (repeated indices sum)."""
    shape = tuple(dense_shape or self.dense_shape or ())
    if not shape:
      raise ValueError('IndexedSlices.to_dense needs a `dense_shape`.')
    values = jnp.asarray(self.values)
    return jnp.zeros(shape, values.dtype).at[jnp.asarray(self.indices)].add(values)

  def __repr__(self) -> str:
    return (f'IndexedSlices(indices={self.indices!r}, values={self.values!r}, '
            f'dense_shape={self.dense_shape!r})')

  def tree_flatten(self):
    return (self.values, self.indices), self.dense_shape

  @classmethod
  def tree_unflatten(cls, dense_shape, children):
    obj = object.__new__(cls)
    obj.values, obj.indices = children
    obj.dense_shape = dense_shape
    return obj


INT32_MAX = 2 ** 31 - 1
COUNTER_OVERFLOW = (
    'an int32 counter would pass 2**31 - 1 and wrap. tf.keras 2 counts in int64; JAX holds '
    'int64 only with 64-bit mode on: call `jax.config.update("jax_enable_x64", True)` before '
    'creating the optimizer (its `iterations` is then int64), or reset the counter '
    '(`opt.iterations.assign(0)`, which restarts schedules).')


def _counter_count(var: 'Variable') -> int:
  """The host value of a step counter, without a device read while it is known.

  ``_shadow`` = (the array last written by a step, its value); any other value (the user
  assigned one) is read once from the device.
  """
  value = var.__dict__['_v']
  shadow = var.__dict__.get('_shadow')
  if shadow is not None and shadow[0] is value:
    return shadow[1]
  count = int(np.asarray(value))
  var.__dict__['_shadow'] = (value, count)
  return count


def _note_counter(var: 'Variable', value: Any, count: int) -> None:
  var.__dict__['_shadow'] = (value, count)


def _check_counter(var: 'Variable', increments: int, what: str) -> int:
  """The counter's value; ``OverflowError`` if ``increments`` more would pass int32's range."""
  count = _counter_count(var)
  if count + increments > INT32_MAX and var.dtype == np.int32:
    raise OverflowError(f'{what}: {var.name} is {count}; {COUNTER_OVERFLOW}')
  return count


def _owned_array(value: Any, dtype: Any) -> jax.Array:
  """``value`` as a JAX array that shares no memory with the caller's buffer.

  On CPU, ``jnp.asarray`` of a large aligned NumPy array may alias its buffer, and even
  ``jnp.array(copy=True)`` reads it asynchronously; so a host copy is taken first, which no
  one else holds. JAX arrays are immutable and need no copy.
  """
  if isinstance(value, np.ndarray):
    value = np.array(value, copy=True)
  # A concrete array even while a loss is being traced (a variable created on first call).
  with jax.ensure_compile_time_eval():
    return jnp.asarray(value, dtype=dtype)


def _keep_placement(value: jax.Array, old: Any) -> jax.Array:
  """``value`` placed like ``old`` when ``old`` is split over a mesh (``NamedSharding``)."""
  sharding = getattr(old, 'sharding', None)
  if (not isinstance(sharding, jax.sharding.NamedSharding)
      or isinstance(value, jax.core.Tracer) or isinstance(old, jax.core.Tracer)
      or getattr(value, 'sharding', None) == sharding):
    return value
  return jax.device_put(value, sharding)


def _zeros_like_value(value: jax.Array) -> jax.Array:
  """Zeros with ``value``'s shape, dtype and sharding (slot initialisation)."""
  return tree_lib.full_like(value, 0)

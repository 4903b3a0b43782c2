"""``optax_like.keras.function``: a compiled train step in the ``tf.function`` habit.

``@function`` turns a Python function that reads and writes ``Variable``\\ s (a train step
calling ``opt.minimize`` or ``opt.apply_gradients``, a metric update...) into one compiled
program:

* **Traced once per input signature.** Array arguments (JAX or NumPy arrays, anywhere in the
  argument pytrees) are traced inputs: a new batch of the same shape and dtype reuses the
  program. Anything else in the arguments (Python numbers, strings, ``None``...) is part of
  the signature: a new value traces again, as ``tf.function`` does for Python values.
* **Variables are state.** Every Variable the function reads or writes (found by tracing it
  once abstractly) is an input of the program, and every Variable it assigns is an output
  written back after the call: the model's variables, the optimizer's slots, its
  ``iterations``, and its hyperparameters, which are Variables, so ``opt.learning_rate =
  0.05`` takes effect on the next call without recompiling. Variables created by the first
  call (slots, ``iterations``) are created once, for real, while tracing.
* **What is captured (constants of the program).** Python values the function closes over
  (numbers, arrays that are not Variables, a Python ``if`` on them) and Python attributes read
  while tracing (``opt.epsilon``, ``clipnorm``, a schedule's configuration, ...) are fixed at
  trace time. Change them through Variables or arguments, or call ``step.reset()`` to trace
  again. A Variable assigned in a Python branch not taken while tracing is not state: call
  ``reset()`` (a read of a Variable the trace did not know makes it trace again by itself).
* **Return values** may be arrays, Variables (their value after the step) or pytrees of them.

``jit_compile=False`` runs the function as plain Python (for debugging), as
``tf.function(jit_compile=...)`` has no exact analogue here.

Example:
  >>> import numpy as np
  >>> from optax_like import keras as K
  >>> w = K.Variable(np.ones(2, np.float32))
  >>> opt = K.SGD(learning_rate=0.1)
  >>> @K.function
  ... def train_step(x):
  ...   opt.minimize(lambda: ((x * w) ** 2).sum() / 2.0, [w])
  ...   return opt.iterations
  >>> int(train_step(np.ones(2, np.float32)))
  1
  >>> w.numpy().tolist()
  [0.8999999761581421, 0.8999999761581421]
  >>> opt.learning_rate = 0.5            # a Variable: no new trace
  >>> _ = train_step(np.ones(2, np.float32))
  >>> round(float(w.numpy()[0]), 6), train_step.trace_count
  (0.45, 1)
"""

from __future__ import annotations

import functools
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

import jax
import numpy as np

from optax_like.keras import variables as variables_lib
from optax_like.keras.variables import Variable

__all__ = ['function']

_MAX_RETRACES = 4


class _NewVariable(Exception):
  """A Variable unknown to the current trace was read: trace again with it as state."""

  def __init__(self, var: Variable):
    super().__init__(var.name)
    self.var = var


class _StateContext:
  """Routes Variable reads and writes while a step is traced (see ``Variable._value``)."""

  def __init__(self, bound: Optional[Dict[Variable, Any]]):
    self.discover = bound is None
    self.values: Dict[Variable, Any] = {} if bound is None else dict(bound)
    self.order: List[Variable] = list(self.values)   # first-touch order
    self.written: Dict[Variable, None] = {}

  def read(self, var: Variable) -> Any:
    try:
      return self.values[var]
    except KeyError:
      pass
    if not self.discover:
      raise _NewVariable(var)
    value = var.__dict__['_v']
    self.values[var] = value
    self.order.append(var)
    return value

  def write(self, var: Variable, value: Any) -> None:
    if var not in self.values:
      if not self.discover:
        raise _NewVariable(var)
      self.order.append(var)
    self.values[var] = value
    self.written[var] = None


class _Activate:
  def __init__(self, ctx: _StateContext):
    self.ctx = ctx

  def __enter__(self):
    self.saved = variables_lib._activate(self.ctx)  # pylint: disable=protected-access
    return self.ctx

  def __exit__(self, *exc):
    variables_lib._deactivate(self.saved)  # pylint: disable=protected-access
    return False


# Argument types that are traced inputs as they are (no pytree to flatten).
_PLAIN_ARRAYS = frozenset({type(jax.numpy.zeros(())), np.ndarray})


def _plain_arrays(args: Tuple[Any, ...]) -> Optional[Tuple[Any, List[Any]]]:
  """``(signature, arrays)`` when every argument is an array or a list/tuple of arrays.

  The arrays come in the order ``jax.tree.flatten`` gives, so the program built from the full
  path's split of the same arguments takes them as they are.
  """
  layout, arrays = [], []
  for a in args:
    kind = type(a)
    if kind in _PLAIN_ARRAYS:
      arrays.append(a)
      layout.append(None)
    elif kind is list or kind is tuple:
      for x in a:
        if type(x) not in _PLAIN_ARRAYS:  # pylint: disable=unidiomatic-typecheck
          return None
      arrays.extend(a)
      layout.append((kind, len(a)))
    else:
      return None
  return ('plain', tuple(layout)), arrays


def _is_array(x: Any) -> bool:
  return isinstance(x, (jax.Array, np.ndarray, np.generic))


def _outputs(result: Any, ctx: _StateContext) -> Any:
  """The function's result with Variables replaced by their value after the step."""
  return jax.tree.map(lambda x: ctx.values.get(x, x.__dict__['_v'])
                      if isinstance(x, Variable) else x,
                      result, is_leaf=lambda x: isinstance(x, Variable))


class Function:
  """A compiled step (see the module docstring). Call it like the function it wraps."""

  def __init__(self, fn: Callable, jit_compile: bool = True):
    functools.update_wrapper(self, fn)
    self._fn = fn
    self._jit_compile = jit_compile
    self._programs: Dict[Any, Tuple[Tuple[Variable, ...], Callable]] = {}
    self._lock = threading.RLock()
    self.trace_count = 0

  def reset(self) -> None:
    """Forgets the compiled programs: the next call traces again."""
    with self._lock:
      self._programs.clear()

  def __get__(self, obj, objtype=None):
    if obj is None:
      return self
    return functools.partial(self.__call__, obj)

  def _split(self, args, kwargs):
    leaves, treedef = jax.tree.flatten((args, kwargs),
                                       is_leaf=lambda x: isinstance(x, Variable))
    dynamic, static, arg_vars = [], [], []
    for i, x in enumerate(leaves):
      if isinstance(x, Variable):
        static.append((i, 'var'))
        arg_vars.append(x)
      elif _is_array(x):
        dynamic.append(i)
      else:
        try:
          hash(x)
          static.append((i, x))
        except TypeError:
          static.append((i, ('id', id(x))))
    return leaves, treedef, dynamic, tuple(static), arg_vars

  def __call__(self, *args, **kwargs):
    if not self._jit_compile:
      return self._fn(*args, **kwargs)
    # The signature is the arguments' structure and their non-array values; array shapes and
    # dtypes are the jitted program's own business (a new one traces it again).
    split = None
    plain = None if kwargs else _plain_arrays(args)
    if plain is not None:   # the common case, a train step's batch: no pytree to flatten
      signature, arrays = plain
    else:
      split = self._split(args, kwargs)
      leaves, treedef, dynamic, static, arg_vars = split
      signature = (treedef, static, tuple(id(v) for v in arg_vars))
      arrays = [leaves[i] for i in dynamic]
    with self._lock:
      entry = self._programs.get(signature)
      for _ in range(_MAX_RETRACES):
        if entry is None or isinstance(entry, _NewVariable):
          if split is None:
            split = self._split(args, kwargs)
          leaves, treedef, dynamic = split[:3]
          known = (self._discover(leaves, treedef, dynamic) if entry is None
                   else list(state_vars) + [entry.var])
          entry = self._build(leaves, treedef, dynamic, known)
          self._programs[signature] = entry
        state_vars, program, increments, counters = entry
        # int32 step counters (optimizers' ``iterations``): never wrap silently. Known values
        # are tracked on the host, so this reads the device only after a user assignment.
        counts = [(i, variables_lib._check_counter(  # pylint: disable=protected-access
                       state_vars[i], increments.get(i, 1), self.__name__))
                  for i in counters]
        try:
          out, written = program([v.__dict__['_v'] for v in state_vars], arrays)
        except _NewVariable as err:   # read while tracing, unknown to the discovery
          entry = err
          continue
        for i, x in written.items():
          state_vars[i].__dict__['_v'] = x
        for i, count in counts:
          if i in written:
            if i not in increments:   # learnt once per program (one device read)
              increments[i] = int(np.asarray(written[i])) - count
            variables_lib._note_counter(state_vars[i], written[i], count + increments[i])  # pylint: disable=protected-access
        return out
    raise RuntimeError(f'{self.__name__}: the Variables it reads kept changing between traces.')

  @staticmethod
  def _caller(fn, leaves, treedef, dynamic):
    def call(arrays):
      full = list(leaves)
      for i, a in zip(dynamic, arrays):
        full[i] = a
      fn_args, fn_kwargs = jax.tree.unflatten(treedef, full)
      return fn(*fn_args, **fn_kwargs)
    return call

  def _discover(self, leaves, treedef, dynamic) -> List[Variable]:
    """The Variables ``fn`` touches, by tracing it abstractly (no Variable changes)."""
    call = self._caller(self._fn, leaves, treedef, dynamic)
    ctx = _StateContext(None)
    with _Activate(ctx):
      jax.eval_shape(lambda arrays: _strip(call(arrays), ctx), [leaves[i] for i in dynamic])
    return [v for v in ctx.order if '_v' in v.__dict__]

  def _build(self, leaves, treedef, dynamic, known):
    """The jitted pure step over the Variables ``known``."""
    call = self._caller(self._fn, leaves, treedef, dynamic)
    state_vars = tuple(known)

    def pure(values, arrays):
      self.trace_count += 1
      ctx = _StateContext(dict(zip(state_vars, values)))
      with _Activate(ctx):
        result = call(arrays)
        out = _outputs(result, ctx)
      index = {v: i for i, v in enumerate(state_vars)}
      written = {index[v]: ctx.values[v] for v in ctx.written if v in index}
      return out, written

    return state_vars, jax.jit(pure), {}, self._counters(state_vars)

  @staticmethod
  def _counters(state_vars):
    return [i for i, v in enumerate(state_vars)
            if v.__dict__.get('_is_counter') and v.dtype == np.int32]


def _strip(result: Any, ctx: _StateContext) -> Any:
  """Arrays only (for ``eval_shape``): Variables become their traced value."""
  out = _outputs(result, ctx)
  return jax.tree.map(lambda x: x if _is_array(x) or isinstance(x, jax.core.Tracer) else None,
                      out)


def function(fn: Optional[Callable] = None, *, jit_compile: bool = True) -> Any:
  """Compiles ``fn`` into one program with the Variables it uses as state (``tf.function``).

  Usable as ``@function``, ``@function(jit_compile=False)`` or ``function(fn)``. See the
  module docstring for what is traced, what is state and what is captured.
  """
  if fn is None:
    return lambda f: Function(f, jit_compile=jit_compile)
  return Function(fn, jit_compile=jit_compile)

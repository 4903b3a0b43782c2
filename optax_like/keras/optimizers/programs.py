"""Tracing and caching: a loss traced into a gradient program, program fingerprints, the cache.

A compiled program is cached under a key that identifies the computation it performs. For
``minimize`` the key holds the fingerprint of the traced gradient (a value-based rendering of
its jaxpr, custom derivative rules already applied); where a jaxpr holds a Python callable
(``pure_callback``, ...) its identity cannot be established and the program is not cached.
``STATS['traces']`` counts how often a step program was traced (tests check recompilation).
"""

from __future__ import annotations

import collections
import functools
import threading
import types
from typing import Any, Callable, Dict, Optional, Tuple

import jax
import numpy as np

from optax_like.keras.variables import VARIABLE_IN_JAX_FUNCTION

# Compiled programs shared by all optimizers: key -> callable. ``_STATS['traces']`` counts how
# often a step program was traced (i.e. compiled); tests use it to check for recompilation.
_PROGRAMS: 'collections.OrderedDict[Any, Callable]' = collections.OrderedDict()
_MAX_PROGRAMS = 512
_STATS = {'traces': 0}


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
  strict = getattr(_STRICT, 'on', False)
  for eqn in jaxpr.eqns:
    skip = frozenset() if strict else _RULE_PARAMS.get(eqn.primitive.name, frozenset())
    params = tuple(sorted((k, _freeze_param(v)) for k, v in eqn.params.items() if k not in skip))
    parts.append((eqn.primitive.name, tuple(atom(v) for v in eqn.invars), params,
                  tuple((atom(v), v.aval) for v in eqn.outvars), tuple(eqn.effects)))
  parts.append(tuple(atom(v) for v in jaxpr.outvars))
  return tuple(parts)


_STRICT = threading.local()


def _strict_fingerprint_or_none(jaxpr) -> Optional[Tuple[Any, ...]]:
  """The fingerprint of a program that will be differentiated again (a loss's forward pass).

  Custom derivative rules are Python callables there, which the program's derivative depends
  on: a jaxpr holding any (``custom_jvp``/``custom_vjp``, callbacks) gives None.
  """
  _STRICT.on = True
  try:
    return _jaxpr_fingerprint(jaxpr)
  except _Opaque:
    return None
  finally:
    _STRICT.on = False


def _fingerprint_or_none(jaxpr) -> Optional[Tuple[Any, ...]]:
  """``_jaxpr_fingerprint``, or None when the program cannot be identified (do not cache)."""
  try:
    return _jaxpr_fingerprint(jaxpr)
  except _Opaque:
    return None



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


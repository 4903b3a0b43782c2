"""Shared test helpers: random pytrees, tree comparison by leaf path, and running our transform
and optax's side by side (``lockstep``), with the largest deviation logged (``ErrorLog``) for
the terminal summary of ``tests/conftest.py``."""

import doctest
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optax_like._src import base
from optax_like._src import tree as ours_tree

RTOL, ATOL = 1e-6, 1e-7

# --------------------------------------------------------------------------- random trees

# Tree layouts: nested dicts, lists and tuples whose leaves are shapes (tuples of ints) or None.
TREE_KINDS = {
    # dict / list / tuple containers, a scalar, a vector and a 3-d leaf.
    'mixed': {'dense': {'kernel': (3, 4), 'bias': (4,)}, 'blocks': [(2, 2, 3), ((),)],
              'scale': (5,)},
    # nested dicts under a list, a scalar leaf.
    'nested': {'dense': {'kernel': (3, 4), 'bias': (4,)}, 'layers': [(2,), {'w': (2, 2)}],
               'scale': ()},
    # a list at the root, a tuple inside it.
    'list': [(5,), ((2, 3), {'a': (1,)}), ()],
    # a None leaf (no parameter) beside an array.
    'with_none': {'x': (7,), 'none': None},
    # four small leaves: a matrix, two vectors and a scalar.
    'small': {'dense': {'kernel': (3, 2), 'bias': (2,)}, 'blocks': [(2, 2), ((),)]},
}

# The kinds the differential tests cycle through (``seed % 3``).
DIFFERENTIAL_KINDS = ('nested', 'list', 'with_none')


def _is_shape(node):
  return isinstance(node, tuple) and all(isinstance(d, int) for d in node)


def random_tree(rng, kind='mixed', scale=1.0, dtype=np.float32):
  """A pytree of ``scale * normal`` leaves rounded to ``dtype``.

  ``kind`` names a layout of ``TREE_KINDS`` or is a layout itself. Leaves are drawn from ``rng``
  (a ``RandomState`` or a ``Generator``) in the layout's written order, so a seed gives the
  same tree whatever the key order of the dicts.
  """
  layout = TREE_KINDS[kind] if isinstance(kind, str) else kind

  def fill(node):
    if node is None:
      return None
    if _is_shape(node):
      return jnp.asarray((scale * rng.normal(size=node)).astype(dtype))
    if isinstance(node, dict):
      return {k: fill(v) for k, v in node.items()}
    return type(node)(fill(v) for v in node)

  return fill(layout)


def random_grads(rng, kind, steps, low=0.2, high=2.0):
  """``steps`` random trees of ``kind``, each scaled by ``uniform(low, high)``, drawn lazily."""
  return (random_tree(rng, kind, rng.uniform(low, high)) for _ in range(steps))


def random_like(rng, tree, scale=1.0):
  """Normal values with the shape and dtype of every leaf of ``tree`` (in its leaf order)."""
  return jax.tree.map(lambda x: jnp.asarray(scale * rng.normal(size=x.shape), x.dtype), tree)


# --------------------------------------------------------------------------- comparison


def leaves_by_path(tree):
  """The array leaves of ``tree`` by key path: ``{"['dense']['bias']": leaf, ...}``."""
  flat, _ = jax.tree_util.tree_flatten_with_path(tree)
  return {jax.tree_util.keystr(path): leaf for path, leaf in flat}


def _wide(x):
  x = np.asarray(x)
  if x.dtype == bool or np.issubdtype(x.dtype, np.integer):
    return x
  return x.astype(np.complex128 if np.iscomplexobj(x) else np.float64)


def _leaf_errors(x, y):
  """(max abs error, max rel error) of two arrays; equal values (also NaN, inf) count 0."""
  x, y = _wide(x), _wide(y)
  if x.dtype == bool:
    x, y = x.astype(np.float64), y.astype(np.float64)
  with np.errstate(invalid='ignore', divide='ignore'):
    d = np.where((x == y) | (np.isnan(x) & np.isnan(y)), 0.0, np.abs(x - y))
    rel = np.where(d == 0, 0.0, d / np.maximum(np.abs(y), 1e-30))
  return float(d.max(initial=0.0)), float(rel.max(initial=0.0))


def _worst(errors):
  errors = list(errors)
  return (max((e[0] for e in errors), default=0.0), max((e[1] for e in errors), default=0.0))


# Every ErrorLog made in this process, in creation order (for ``report_rows``).
_LOGS = []


class ErrorLog:
  """The largest deviation from a reference (optax, golden data) seen in a test module, per key.

  Tests add to it; nothing asserts on it. ``tests/conftest.py`` prints every log's worst
  deviations in pytest's terminal summary (also under pytest-xdist).
  """

  def __init__(self, name):
    self.name = name
    self.worst = {}   # key -> (max abs error, max rel error)
    self.count = {}   # key -> number of comparisons added
    _LOGS.append(self)

  def add(self, errors, key=None):
    key = self.name if key is None else key
    self.worst[key] = _worst([self.worst.get(key, (0.0, 0.0)), errors])
    self.count[key] = self.count.get(key, 0) + 1

  def rows(self):
    """``[(name, key, max abs, max rel, comparisons), ...]`` sorted by key."""
    return [(self.name, key, a, r, self.count[key]) for key, (a, r) in sorted(self.worst.items())]

  def summary(self):
    return format_rows(self.rows())


def report_rows():
  """The rows of every ErrorLog of this process that saw a comparison."""
  return [row for log in _LOGS for row in log.rows()]


def merge_rows(rows):
  """Rows of several processes (pytest-xdist workers) merged: worst errors, summed counts."""
  merged = {}
  for name, key, a, r, n in rows:
    a0, r0, n0 = merged.get((name, key), (0.0, 0.0, 0))
    merged[(name, key)] = (max(a0, a), max(r0, r), n0 + n)
  return [(name, key, *merged[(name, key)]) for name, key in sorted(merged)]


def format_rows(rows):
  return [f'{name if key == name else f"{name} {key}"}: max abs {a:.2e}, max rel {r:.2e} '
          f'({n} comparisons)' for name, key, a, r, n in rows]


def assert_trees_close(ours, theirs, *, rtol=RTOL, atol=ATOL, allow_extra=False,
                       check_dtype=True, err_msg='', log: Optional[ErrorLog] = None):
  """Asserts that two pytrees hold the same leaves under the same key paths, leaf by leaf.

  Floats (and complex numbers) agree to ``rtol``/``atol`` (NaN equals NaN), integers and bools
  exactly; shapes agree and, with ``check_dtype``, dtypes. ``allow_extra`` lets ``ours`` hold
  leaves that ``theirs`` lacks (reporting state such as the last clip norm); only the shared
  paths are compared then. Returns the (max abs error, max rel error) and adds it to ``log``.
  """
  a, b = leaves_by_path(ours), leaves_by_path(theirs)
  missing, extra = sorted(set(b) - set(a)), sorted(set(a) - set(b))
  assert not missing, f'{err_msg} missing in ours: {missing}'.strip()
  assert allow_extra or not extra, f'{err_msg} only in ours: {extra}'.strip()
  errors = []
  for k in b:
    x, y = np.asarray(a[k]), np.asarray(b[k])
    msg = f'{err_msg} {k}'.strip()
    assert x.shape == y.shape, (msg, x.shape, y.shape)
    assert not check_dtype or x.dtype == y.dtype, (msg, x.dtype, y.dtype)
    if x.dtype == bool or np.issubdtype(x.dtype, np.integer):
      np.testing.assert_array_equal(x, y, err_msg=msg)
    else:
      np.testing.assert_allclose(_wide(x), _wide(y), rtol=rtol, atol=atol, err_msg=msg)
    errors.append(_leaf_errors(x, y))
  worst = _worst(errors)
  if log is not None:
    log.add(worst)
  return worst


def _is_namedtuple(x):
  return isinstance(x, tuple) and hasattr(x, '_fields')


def compare_states(a, b, rtol=RTOL, atol=ATOL):
  """Compares optimizer states where both sides hold the same kind of state.

  Where our transform keeps extra reporting state (e.g. the last clip norm) and optax's has
  ``EmptyState``, the pair is skipped; same-named NamedTuples are compared field by field.
  Returns the number of array leaves compared.
  """
  if _is_namedtuple(a) and _is_namedtuple(b):
    if type(a).__name__ != type(b).__name__:
      return 0
    assert a._fields == b._fields, (type(a).__name__, a._fields, b._fields)
    return sum(compare_states(x, y, rtol, atol) for x, y in zip(a, b))
  if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
    assert len(a) == len(b)
    return sum(compare_states(x, y, rtol, atol) for x, y in zip(a, b))
  if isinstance(a, dict) and isinstance(b, dict):
    assert set(a) == set(b), (set(a), set(b))
    return sum(compare_states(a[k], b[k], rtol, atol) for k in a)
  if a is None or b is None:
    assert a is None and b is None
    return 0
  if hasattr(a, 'shape') or isinstance(a, (int, float)):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64),
                               rtol=rtol, atol=atol)
    return 1
  la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
  assert len(la) == len(lb), (type(a), type(b))
  for x, y in zip(la, lb):
    np.testing.assert_allclose(np.asarray(x, np.float64), np.asarray(y, np.float64),
                               rtol=rtol, atol=atol)
  return len(la)


# --------------------------------------------------------------------------- running side by side


class Step(NamedTuple):
  """One step of ``lockstep``: our updates, state and params after it, then optax's."""
  updates: Any
  state: Any
  params: Any
  their_updates: Any
  their_state: Any
  their_params: Any


def lockstep(ours, theirs, params, grads, *, jit=False, jit_theirs=None, move_params=True,
             check: Callable = assert_trees_close, check_state: Optional[Callable] = None,
             extra_args: Optional[Callable] = None, states: Optional[tuple] = None):
  """Runs ``ours`` and ``theirs`` side by side over ``grads``; yields a ``Step`` after each update.

  ``check(ours, theirs)`` is asserted on the initial states, then on the updates and the states
  of every step (``check_state``, where given, replaces it for the states). ``jit`` compiles our
  update, ``jit_theirs`` optax's (default: as ``jit``). With ``move_params`` both apply their
  updates to their params (ours with our ``apply_updates``), else the params stay fixed.
  ``extra_args(g)`` gives extra keyword arguments of ``update``. ``grads`` is consumed one step
  at a time, so a generator may draw from the same RNG as the loop body, and the body may change
  the yielded states in place (e.g. injected hyperparameters) before the next step. ``states``,
  where given, is the pair (ours, optax's) to start from instead of ``init(params)`` (e.g. a
  restored checkpoint).
  """
  check_state = check if check_state is None else check_state
  jit_theirs = jit if jit_theirs is None else jit_theirs
  update_a = jax.jit(ours.update) if jit else ours.update
  update_b = jax.jit(theirs.update) if jit_theirs else theirs.update
  pa = pb = params
  sa, sb = (ours.init(params), theirs.init(params)) if states is None else states
  check_state(sa, sb)
  for g in grads:
    kw = {} if extra_args is None else extra_args(g)
    ua, sa = update_a(g, sa, pa, **kw)
    ub, sb = update_b(g, sb, pb, **kw)
    check(ua, ub)
    check_state(sa, sb)
    if move_params:
      pa, pb = ours_tree.apply_updates(pa, ua), optax.apply_updates(pb, ub)
    yield Step(ua, sa, pa, ub, sb, pb)


def value_fn_trajectory(lib, tx, f, w, steps, jit):
  """``steps`` updates of ``tx`` (a line search or L-BFGS) on ``f`` from ``w``, reusing the
  state's value and gradient (``lib.value_and_grad_from_state``): [(params, updates, state)]."""
  value_and_grad = lib.value_and_grad_from_state(f)
  update = jax.jit(tx.update, static_argnames='value_fn') if jit else tx.update
  state, out = tx.init(w), []
  for _ in range(steps):
    value, grad = value_and_grad(w, state=state)
    u, state = update(grad, state, w, value=value, grad=grad, value_fn=f)
    w = lib.apply_updates(w, u)
    out.append((w, u, state))
  return out


def extra_args_recorder():
  """An identity ``GradientTransformationExtraArgs`` taking the extra argument ``value``.

  Returns the transform and the list of ``(value, updates)`` it appends to at every update.
  """
  calls = []

  def update_fn(updates, state, params=None, *, value=None):
    del params
    calls.append((value, updates))
    return updates, state

  return base.GradientTransformationExtraArgs(base.init_empty_state, update_fn), calls


# --------------------------------------------------------------------------- documentation


def assert_doctests_pass(module, at_least):
  """Every docstring example of ``module`` prints what it says; there are ``at_least`` of them."""
  result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
  assert result.attempted >= at_least
  assert result.failed == 0


def assert_documented_with_math(module, names):
  """Each public function has a docstring with an example (``>>>``) and its rule in math."""
  for name in names:
    doc = getattr(module, name).__doc__
    assert doc and '>>>' in doc and 'math::' in doc, name


# --------------------------------------------------------------------------- state layouts


def layout(tree):
  """Every node of ``tree`` by key path: class names of containers, shapes and dtypes of leaves.

  ``[(path, class name) or (path, shape, dtype), ...]`` in flattening order; empty containers
  (``EmptyState()``, ``None``) are nodes too.
  """
  out = []

  def visit(node, path):
    children, _ = jax.tree_util.tree_flatten_with_path(node, is_leaf=lambda x: x is not node)
    if children == [((), node)]:
      out.append((jax.tree_util.keystr(path), tuple(np.shape(node)),
                  str(getattr(node, 'dtype', type(node).__name__))))
      return
    out.append((jax.tree_util.keystr(path), type(node).__name__))
    for key, child in children:
      visit(child, path + key)

  visit(tree, ())
  return out


def assert_same_layout(ours, theirs, what=''):
  a, b = layout(ours), layout(theirs)
  assert a == b, (f'{what}: state layout differs from optax\'s\n  only in ours: '
                  f'{[x for x in a if x not in b]}\n  only in optax\'s: '
                  f'{[x for x in b if x not in a]}')

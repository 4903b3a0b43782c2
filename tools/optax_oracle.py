#!/usr/bin/env python3
"""Run optax's own shipped tests against optax_like's names: an external oracle.

optax 0.2.8 ships its test files inside its wheel (``optax/_src/*_test.py``,
``optax/transforms/*_test.py``, ``optax/schedules/*_test.py``, ...). This tool
copies them, at run time, into a temporary directory (never into this repo) and
runs each file with pytest in its own process, with this module loaded as a
pytest plugin (``-p optax_oracle``). The plugin makes every name a test file
reaches through ``optax`` resolve to optax_like's object of the same name:

* An import hook answers the test module's ``import optax``, ``from optax._src
  import alias``, ``from optax.transforms import _clipping``, ... with proxies of
  those modules. Only the test modules see proxies; optax's own code keeps its
  own names, so an optax-only optimizer stays pure optax.
* A proxy attribute resolves to optax_like's object when optax_like exports it:
  under the same public optax path (``optax.X``, ``optax.transforms.X``, ...,
  looked up in ``optax_like`` and its same-named submodules, when it has them),
  else under the same name at optax_like's top level. Everything else is optax's.
* Every access and call made by a running test is recorded (also the transforms a
  test gets through its parameters, built at import time), so each test is
  classified by what it touched:

  ``shared``   it used at least one optax_like object, no optax-only
               optimizer/transform/schedule factory, and its file tests a module
               that exports a name we share;
  ``interop``  it used optax_like objects, but its file tests an optax-only module
               (``tree_utils``, ``lookahead``, ``contrib``, ...): a failure may show a
               difference of ours (state layout) or optax-only behaviour;
  ``not_ours`` it used no optax_like object, or it called an optax-only factory
               (``alias.adabelief``, ``lookahead``, ``freeze``, ...): its subject is
               a name we do not have. Such a test is skipped the moment it calls
               that factory, which saves most of the run time. With ``--interop``
               it runs to the end and is reported as ``interop`` instead.

  An optax-only call counts as a factory when it returns a transform (has
  ``init`` and ``update``) or another callable (a schedule); helpers that return
  arrays or pytrees (``optax.tree.*``, ``numerics``, losses, ``test_utils``)
  do not change the class. Type aliases (``ScalarOrSchedule``) resolve to ours but
  do not make a test ours.

Failing and skipped ``shared``/``interop`` tests are then run again against plain
optax (no redirection). A failure that optax has too is ``baseline_fails`` and is
not counted against optax_like; a test skipped only with optax_like (it checks
something of ours first, e.g. the ``learning_rate`` annotation) counts as failed,
``skipped_only_here``.

Files whose source reaches none of our names through optax (losses,
tree_math, ...) are only collected, to count their tests. The copied sources get
one run-time fix, listed in the JSON: optax 0.2.8's sharding_test compares jax
version strings ('0.10.2' < '0.7.2'), which would skip its sharding tests.
A file that sets ``XLA_FLAGS`` at import (sharding_test: 8 host devices) gets
them in its process environment.

Usage (from the repository root, with the venv active)::

    python tools/optax_oracle.py                      # everything
    python tools/optax_oracle.py --only transforms/   # files whose path matches
    python tools/optax_oracle.py --only alias -k adam # and pytest -k
    python tools/optax_oracle.py --reference          # plain optax, no redirection
    python tools/optax_oracle.py --interop            # also run optax-only subjects

It prints a table per test file and every failing test with the first line of
its error, and writes a JSON report (``--out``, default docs/optax_oracle.json).
Exit status: 0 when every shared test passes, 1 otherwise, 2 on a tool error.
"""

from __future__ import annotations

import argparse
import builtins
import functools
import importlib
import importlib.util
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import types
import unittest

TOOLS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(TOOLS_DIR)
PLUGIN_NAME = os.path.splitext(os.path.basename(__file__))[0]

# Environment handed from the runner to the pytest child (plugin side).
ENV_MODE = 'OPTAX_ORACLE_MODE'          # 'ours' or 'reference'
ENV_RESULTS = 'OPTAX_ORACLE_RESULTS'    # JSON-lines file the plugin appends to
ENV_TESTDIR = 'OPTAX_ORACLE_TESTDIR'    # root of the copied test files
ENV_FILE = 'OPTAX_ORACLE_FILE'          # relative path of the file under test
ENV_SKIP_THEIRS = 'OPTAX_ORACLE_SKIP_THEIRS'  # '1': skip a test once it calls an
                                              # optax-only factory

# Public optax modules whose names make up optax's public surface.
PUBLIC_MODULES = (
    '', 'transforms', 'schedules', 'contrib', 'losses', 'tree', 'tree_utils',
    'projections', 'second_order', 'perturbations', 'assignment',
    'microbatching', 'experimental',
)


# =============================================================================
# Plugin side: runs inside the pytest child process.
# =============================================================================

class _Recorder:
  """What the running test touched, by public name."""

  def __init__(self):
    self.current = None  # dict while a test runs, None otherwise

  def start(self):
    self.current = {'ours': set(), 'ctor': set(), 'helper': set()}

  def stop(self):
    cur, self.current = self.current, None
    return cur

  def add(self, kind, name):
    if self.current is not None:
      self.current[kind].add(name)


_REC = _Recorder()
# id -> (side, name, object) of every transform made by a wrapped factory, also at
# import time: a test that gets one through its parameters (sharding_test builds
# its optimizers at module level) uses that factory.
_PRODUCTS: dict[int, tuple] = {}


def _note_product(side, name, value):
  if hasattr(value, 'init') and hasattr(value, 'update'):
    _PRODUCTS[id(value)] = (side, name, value)


def _products_in(obj, depth=0, seen=None):
  """(side, name) of the factory products reachable from a test's parameters."""
  seen = set() if seen is None else seen
  if depth > 4 or id(obj) in seen:
    return []
  seen.add(id(obj))
  hit = _PRODUCTS.get(id(obj))
  if hit is not None and hit[2] is obj:
    return [hit[:2]]
  found = []
  if isinstance(obj, (tuple, list)):
    children = list(obj)
  elif isinstance(obj, dict):
    children = list(obj.values())
  elif isinstance(obj, functools.partial):
    children = [obj.func, *obj.args, *obj.keywords.values()]
  elif inspect.ismethod(obj):
    children = [obj.__func__]
  elif inspect.isfunction(obj):
    children = [c.cell_contents for c in (obj.__closure__ or ())
                if _cell_filled(c)]
    if hasattr(obj, '__wrapped__'):
      children.append(obj.__wrapped__)
  else:
    return []
  for child in children:
    found += _products_in(child, depth + 1, seen)
  return found


def _cell_filled(cell):
  try:
    cell.cell_contents  # pylint: disable=pointless-statement
    return True
  except ValueError:
    return False
_REPORTS: dict[str, list[dict]] = {}
_COLLECT_ERRORS: list[dict] = []
_OURS_DIR = None


def _is_typing(obj):
  return type(obj).__module__ in ('typing', 'types', 'typing_extensions')


def _is_factory_result(value):
  """A transform, or a function (a schedule); not arrays, pytrees, context managers."""
  if hasattr(value, 'init') and hasattr(value, 'update'):
    return True
  return inspect.isfunction(value) or isinstance(value, functools.partial)


class _Shim:
  """Maps (optax module, attribute) to optax_like's object when we share it."""

  def __init__(self):
    import optax
    import optax_like
    self.optax = optax
    self.ours = optax_like
    self.ours_top = {n for n in dir(optax_like) if not n.startswith('_')}
    # id(optax object) -> public optax paths ('adam', 'transforms.clip', ...).
    self.public_paths: dict[int, list[str]] = {}
    self._keep = []
    for sub in PUBLIC_MODULES:
      mod = optax if not sub else getattr(optax, sub, None)
      if not isinstance(mod, types.ModuleType):
        continue
      for name in dir(mod):
        if name.startswith('_'):
          continue
        obj = getattr(mod, name)
        if isinstance(obj, types.ModuleType) or not callable(obj):
          continue
        self._keep.append(obj)
        self.public_paths.setdefault(id(obj), []).append(
            f'{sub}.{name}' if sub else name)
    self.proxies: dict[str, types.ModuleType] = {}
    self.wrappers: dict[tuple, object] = {}

  def ours_for(self, name, obj):
    """optax_like's object standing for optax's `obj` (reached as `name`), or None."""
    if isinstance(obj, types.ModuleType) or not callable(obj):
      return None, None
    paths = sorted(self.public_paths.get(id(obj), ()),
                   key=lambda p: p.rpartition('.')[2] != name)  # `name` itself first
    for path in paths:
      sub, _, leaf = path.rpartition('.')
      target = self.ours
      if sub:
        target = getattr(self.ours, sub, None)
        if not isinstance(target, types.ModuleType):
          continue
      elif leaf not in self.ours_top:
        continue
      found = getattr(target, leaf, None)
      if found is not None:
        return path, found
    if name in self.ours_top and str(getattr(obj, '__module__', '') or '').startswith('optax'):
      return name, getattr(self.ours, name)
    return None, None

  def public_name(self, name, obj):
    paths = self.public_paths.get(id(obj))
    return paths[0] if paths else name

  def proxy(self, module):
    key = module.__name__
    if key not in self.proxies:
      self.proxies[key] = _ModuleProxy(module, self)
    return self.proxies[key]

  def resolve(self, module, name):
    obj = getattr(module, name)
    if isinstance(obj, types.ModuleType):
      if obj.__name__ == 'optax' or obj.__name__.startswith('optax.'):
        return self.proxy(obj)
      return obj
    if name.startswith('_') or not callable(obj):
      return obj
    path, ours = self.ours_for(name, obj)
    if ours is not None:
      # Type aliases (ScalarOrSchedule, Params, ...) resolve to ours but are not
      # behaviour: using one does not make a test ours.
      if inspect.isclass(ours) or inspect.isroutine(ours) or not _is_typing(ours):
        _REC.add('ours', path)
      return self._wrap('ours', path, ours)
    if str(getattr(obj, '__module__', '') or '').startswith('optax'):
      return self._wrap('theirs', self.public_name(name, obj), obj)
    return obj

  def _wrap(self, side, name, obj):
    # Classes (state NamedTuples, MultiSteps, ...) and jitted callables are handed
    # out as they are, so isinstance and identity hold; access was recorded above.
    if not inspect.isfunction(obj):
      return obj
    key = (side, name, id(obj))
    if key in self.wrappers:
      return self.wrappers[key]

    if side == 'ours':
      @functools.wraps(obj)
      def wrapper(*args, **kwargs):
        _REC.add('ours', name)
        result = obj(*args, **kwargs)
        _note_product('ours', name, result)
        return result
    else:
      @functools.wraps(obj)
      def wrapper(*args, **kwargs):
        result = obj(*args, **kwargs)
        _note_product('theirs', name, result)
        if _is_factory_result(result):
          _REC.add('ctor', name)
          if _REC.current is not None and os.environ.get(ENV_SKIP_THEIRS) == '1':
            raise unittest.SkipTest(f'optax_oracle: optax-only subject {name}')
        else:
          _REC.add('helper', name)
        return result

    self.wrappers[key] = wrapper
    return wrapper


class _ModuleProxy(types.ModuleType):
  """A module whose attributes resolve through the shim (test modules only)."""

  def __init__(self, real, shim):
    super().__init__(real.__name__, real.__doc__)
    object.__setattr__(self, '_oracle_real', real)
    object.__setattr__(self, '_oracle_shim', shim)
    for attr in ('__file__', '__path__', '__package__', '__spec__', '__loader__'):
      if hasattr(real, attr):
        object.__setattr__(self, attr, getattr(real, attr))

  def __getattr__(self, name):
    return self._oracle_shim.resolve(self._oracle_real, name)

  def __setattr__(self, name, value):
    setattr(self._oracle_real, name, value)

  def __delattr__(self, name):
    delattr(self._oracle_real, name)

  def __dir__(self):
    return dir(self._oracle_real)


def _install_import_hook(shim, testdir):
  real_import = builtins.__import__
  testdir = os.path.realpath(testdir) + os.sep
  test_module = re.compile(r'^optax(\..+)?\.[^.]+_test$')

  def importer_is_test(globals_):
    if not globals_:
      return False
    path = globals_.get('__file__') or ''
    if path and os.path.realpath(path).startswith(testdir):
      return True
    return bool(test_module.match(globals_.get('__name__') or ''))

  def oracle_import(name, globals=None, locals=None, fromlist=(), level=0):
    module = real_import(name, globals, locals, fromlist, level)
    if (level == 0 and isinstance(module, types.ModuleType)
        and not isinstance(module, _ModuleProxy)
        and (module.__name__ == 'optax' or module.__name__.startswith('optax.'))
        and importer_is_test(globals)):
      return shim.proxy(module)
    return module

  builtins.__import__ = oracle_import


def _install_sklearn_stub():
  """optax's alias_test imports sklearn at module level; without it, skip its users."""
  if importlib.util.find_spec('sklearn') is not None:
    return

  class _Stub(types.ModuleType):
    def __getattr__(self, name):
      if name.startswith('__'):
        raise AttributeError(name)
      def missing(*args, **kwargs):
        raise unittest.SkipTest('sklearn is not installed')
      return missing

  for name in ('sklearn', 'sklearn.datasets', 'sklearn.linear_model'):
    sys.modules[name] = _Stub(name)
  sys.modules['sklearn'].datasets = sys.modules['sklearn.datasets']
  sys.modules['sklearn'].linear_model = sys.modules['sklearn.linear_model']


def pytest_configure(config):
  mode = os.environ.get(ENV_MODE)
  if not mode:
    return
  global _OURS_DIR
  try:  # absltest features (tempdirs, flags) want parsed flags.
    from absl import flags
    if not flags.FLAGS.is_parsed():
      flags.FLAGS(['pytest'], known_only=True)
  except Exception:  # pylint: disable=broad-except
    pass
  _install_sklearn_stub()
  if mode == 'ours':
    import optax_like
    _OURS_DIR = os.path.dirname(os.path.abspath(optax_like.__file__)) + os.sep
    _install_import_hook(_Shim(), os.environ[ENV_TESTDIR])


def _first_line(text):
  for line in str(text).splitlines():
    line = line.strip()
    if line:
      return line[:400]
  return ''


def _where_ours(excinfo):
  """Deepest traceback frame inside optax_like: 'optax_like/_src/x.py:12 in f'."""
  if _OURS_DIR is None or excinfo is None:
    return None
  where = None
  tb = excinfo.tb
  while tb is not None:
    path = os.path.abspath(tb.tb_frame.f_code.co_filename)
    if path.startswith(_OURS_DIR):
      rel = os.path.relpath(path, os.path.dirname(os.path.dirname(_OURS_DIR)))
      where = f'{rel}:{tb.tb_lineno} in {tb.tb_frame.f_code.co_name}'
    tb = tb.tb_next
  return where


def _message(report):
  longrepr = report.longrepr
  if longrepr is None:
    return ''
  if isinstance(longrepr, tuple):  # skip: (path, lineno, reason)
    return _first_line(longrepr[2])
  crash = getattr(longrepr, 'reprcrash', None)
  if crash is not None and crash.message:
    return _first_line(crash.message)
  text = str(longrepr)
  for line in text.splitlines():
    if line.startswith('E '):
      return _first_line(line[2:])
  return _first_line(text.splitlines()[-1] if text else '')


try:
  import pytest as _pytest

  @_pytest.hookimpl(hookwrapper=True)
  def pytest_runtest_makereport(item, call):
    outcome = yield
    if not os.environ.get(ENV_MODE):
      return
    report = outcome.get_result()
    if report.failed and call.excinfo is not None:
      report.user_properties.append(('oracle_where', _where_ours(call.excinfo)))

  def pytest_runtest_setup(item):
    if os.environ.get(ENV_MODE) != 'ours':
      return
    theirs = []
    for side, name in _products_in(getattr(item, 'obj', None)):
      if side == 'ours':
        _REC.add('ours', name)
      else:
        _REC.add('ctor', name)
        theirs.append(name)
    if theirs and os.environ.get(ENV_SKIP_THEIRS) == '1':
      _pytest.skip(f'optax_oracle: optax-only subject {theirs[0]}')

  @_pytest.hookimpl(hookwrapper=True)
  def pytest_runtest_protocol(item, nextitem):
    if not os.environ.get(ENV_MODE):
      yield
      return
    _REC.start()
    t0 = time.perf_counter()
    yield
    used = _REC.stop() or {}
    reports = _REPORTS.pop(item.nodeid, [])
    record = {
        'id': item.nodeid,
        'duration_s': round(time.perf_counter() - t0, 3),
        'reports': reports,
        'ours': sorted(used.get('ours', ())),
        'ctor': sorted(used.get('ctor', ())),
        'helper': sorted(used.get('helper', ())),
    }
    _write(record)
except ImportError:  # the runner side imports this file without pytest hooks.
  pass


def pytest_runtest_logreport(report):
  if not os.environ.get(ENV_MODE):
    return
  where = dict(report.user_properties).get('oracle_where')
  entry = {'when': report.when, 'outcome': report.outcome}
  if report.outcome != 'passed':
    entry['message'] = _message(report)
    if where:
      entry['where'] = where
  context = getattr(report, 'context', None)  # pytest's native subtests
  if context is not None:
    entry['subtest'] = True
  _REPORTS.setdefault(report.nodeid, []).append(entry)


def pytest_collection_finish(session):
  if os.environ.get(ENV_MODE) and session.config.option.collectonly:
    for item in session.items:
      _write({'id': item.nodeid, 'duration_s': 0.0, 'reports': [], 'ours': [],
              'ctor': [], 'helper': [], 'not_run': True})


def pytest_collectreport(report):
  if not os.environ.get(ENV_MODE) or not report.failed:
    return
  _write({'collect_error': report.nodeid, 'message': _message(report)})


def _write(record):
  with open(os.environ[ENV_RESULTS], 'a', encoding='utf-8') as f:
    f.write(json.dumps(record) + '\n')


# =============================================================================
# Runner side.
# =============================================================================

def _optax_dir():
  spec = importlib.util.find_spec('optax')
  if spec is None or not spec.submodule_search_locations:
    sys.exit('optax_oracle: optax is not installed in this Python')
  return list(spec.submodule_search_locations)[0]


def _version(package):
  try:
    from importlib import metadata
    return metadata.version(package)
  except Exception:  # pylint: disable=broad-except
    return None


def _test_files(optax_dir, patterns):
  files = []
  for root, _, names in os.walk(optax_dir):
    for name in names:
      if name.endswith('_test.py'):
        rel = os.path.relpath(os.path.join(root, name), optax_dir)
        files.append(rel.replace(os.sep, '/'))
  files.sort()
  if patterns:
    files = [f for f in files if any(re.search(p, f) for p in patterns)]
  return files


def _names_used(src, ours):
  """Names of ours a test file can reach through optax: attributes of the names its
  optax imports bind, the names it imports from optax, and string constants
  (``getattr(alias, opt_name)``)."""
  import ast
  tree = ast.parse(src)
  bound, tokens = set(), set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      for alias in node.names:
        if alias.name == 'optax' or alias.name.startswith('optax.'):
          bound.add(alias.asname or alias.name.split('.')[0])
          tokens.update(alias.name.split('.'))
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and (
        node.module == 'optax' or node.module.startswith('optax.')):
      for alias in node.names:
        bound.add(alias.asname or alias.name)
        tokens.add(alias.name)
    elif isinstance(node, ast.Constant) and isinstance(node.value, str):
      tokens.add(node.value)
  for node in ast.walk(tree):
    if isinstance(node, ast.Attribute):
      chain, root = [], node
      while isinstance(root, ast.Attribute):
        chain.append(root.attr)
        root = root.value
      if isinstance(root, ast.Name) and root.id in bound:
        tokens.update(chain)
  return sorted(tokens & set(ours))


_VERSION_CMP = re.compile(r"jax\.__version__\s*(<|>=)\s*'(\d+)\.(\d+)\.(\d+)'")
_XLA_FLAGS = re.compile(r"os\.environ\[['\"]XLA_FLAGS['\"]\]\s*=\s*['\"]([^'\"]*)['\"]")


def _compat(src):
  """Run-time fixes to the copied test source, returned with what they changed.

  optax 0.2.8's sharding_test compares version strings ('0.10.2' < '0.7.2' is
  True), which skips its sharding tests on jax >= 0.10; compare numbers instead.
  """
  def numeric(m):
    return (f"tuple(int(_v) for _v in __import__('re').findall(r'\\d+', jax.__version__)[:3])"
            f" {m.group(1)} ({int(m.group(2))}, {int(m.group(3))}, {int(m.group(4))})")
  new, count = _VERSION_CMP.subn(numeric, src)
  return new, ([f'{count} jax version string comparison(s) made numeric'] if count else [])


_SUBJECT_PROBE = r'''
import importlib, inspect, json, sys
import optax, optax_like
ours = {n for n in dir(optax_like) if not n.startswith('_')}
# Names of optax_like's public submodules (optax_like.contrib.muon, ...) are ours too.
for sub in json.loads(sys.argv[2]):
    mod = getattr(optax_like, sub, None)
    if mod is not None:
        ours |= {n for n in dir(mod) if not n.startswith('_')}
out = {}
for rel in json.loads(sys.argv[1]):
    modname = 'optax' if rel == 'optax_test.py' else 'optax.' + rel[:-len('_test.py')].replace('/', '.')
    try:
        mod = importlib.import_module(modname)
    except ImportError:
        # No module of that name: contrib/_common_test tests the contrib package,
        # _src/float64_test and sharding_test cut across everything (None).
        parent = modname.rpartition('.')[0]
        if parent in ('optax', 'optax._src'):
            out[rel] = None
            continue
        mod = importlib.import_module(parent)
    names = sorted(n for n, o in vars(mod).items()
                   if not n.startswith('_') and callable(o) and n in ours
                   and str(getattr(o, '__module__', '') or '').startswith('optax'))
    out[rel] = names
print(json.dumps({'subjects': out, 'ours': sorted(ours)}))
'''


def _child_env(args, testdir, results, mode, rel):
  env = dict(os.environ)
  paths = [TOOLS_DIR, REPO_ROOT]
  if env.get('PYTHONPATH'):
    paths.append(env['PYTHONPATH'])
  env['PYTHONPATH'] = os.pathsep.join(paths)
  env[ENV_MODE] = mode
  env[ENV_RESULTS] = results
  env[ENV_TESTDIR] = testdir
  env[ENV_FILE] = rel
  env[ENV_SKIP_THEIRS] = '0' if args.interop or mode != 'ours' else '1'
  env.setdefault('JAX_PLATFORMS', 'cpu')
  env['PYTHONDONTWRITEBYTECODE'] = '1'
  return env


def _run_pytest(args, tmp, rel, mode, nodeids=None, tag='main', collect_only=None,
                extra_env=None):
  """One pytest process for one test file; returns (records, seconds, note).

  With `collect_only` (a list of files), only collects those files.
  """
  testdir = os.path.join(tmp, 't')
  results = os.path.join(tmp, 'results', f'{tag}_{rel.replace("/", "__")}.jsonl')
  if os.path.exists(results):
    os.remove(results)
  cmd = [sys.executable, '-m', 'pytest', '-c', os.path.join(tmp, 'pytest.ini'),
         '--rootdir', tmp, '-p', PLUGIN_NAME, '-p', 'no:cacheprovider',
         '--import-mode=importlib', '-q', '--no-header', '-W', 'ignore']
  if args.k and nodeids is None:
    cmd += ['-k', args.k]
  if collect_only:
    cmd += ['--collect-only'] + [os.path.join('t', f) for f in collect_only]
  else:
    cmd += nodeids if nodeids else [os.path.join('t', rel)]
  env = _child_env(args, testdir, results, mode, rel)
  env.update(extra_env or {})
  t0 = time.perf_counter()
  note = None
  log_path = os.path.join(tmp, 'logs', f'{tag}_{rel.replace("/", "__")}.log')
  with open(log_path, 'w', encoding='utf-8') as log:
    try:
      proc = subprocess.run(cmd, cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT,
                            timeout=args.timeout, check=False)
      if proc.returncode not in (0, 1, 5):  # 5: nothing collected
        note = f'pytest exited with status {proc.returncode} (log: {log_path})'
    except subprocess.TimeoutExpired:
      note = f'timed out after {args.timeout}s (log: {log_path})'
  seconds = time.perf_counter() - t0
  records = []
  if os.path.exists(results):
    with open(results, encoding='utf-8') as f:
      records = [json.loads(line) for line in f if line.strip()]
  return records, seconds, note


def _outcome(reports):
  """One outcome for a test from its setup/call/teardown/subtest reports."""
  failed = [r for r in reports if r['outcome'] == 'failed']
  if failed:
    first = failed[0]
    kind = 'error' if first['when'] in ('setup', 'teardown') else 'failed'
    return kind, first.get('message', ''), first.get('where')
  skipped = [r for r in reports if r['outcome'] == 'skipped']
  if skipped:
    return 'skipped', skipped[0].get('message', ''), None
  return ('passed' if reports else 'unknown'), '', None


def _classify(record, subject_names, interop):
  if not record['ours']:
    return 'not_ours'
  if record['ctor']:
    return 'interop' if interop else 'not_ours'
  if subject_names is not None and not subject_names:
    return 'interop'
  return 'shared'


def _empty_counts():
  return {'passed': 0, 'failed': 0, 'skipped': 0, 'baseline_fails': 0}


def main(argv=None):
  parser = argparse.ArgumentParser(
      description="Run optax's shipped tests against optax_like's names.",
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--only', action='append', metavar='PATTERN', default=[],
                      help='run only test files whose path (relative to the optax '
                           'package, e.g. "transforms/_clipping_test.py") matches this '
                           'regex; repeatable')
  parser.add_argument('-k', metavar='EXPR', help='pytest -k expression within the files')
  parser.add_argument('--out', default=os.path.join(REPO_ROOT, 'docs', 'optax_oracle.json'),
                      help='JSON report path (default: docs/optax_oracle.json); "-" for none')
  parser.add_argument('--jobs', type=int, default=1,
                      help='test files run in parallel (default 1)')
  parser.add_argument('--timeout', type=int, default=1800,
                      help='seconds per test file before it is stopped (default 1800)')
  parser.add_argument('--reference', action='store_true',
                      help='run against plain optax (no redirection): checks the '
                           'environment; every test is then "not_ours"')
  parser.add_argument('--no-baseline', action='store_true',
                      help='do not rerun failing tests against plain optax')
  parser.add_argument('--interop', action='store_true',
                      help='run to the end the tests that pair our names with an '
                           'optax-only optimizer/transform/schedule factory and report '
                           'them as "interop" (slower); by default such a test is '
                           'skipped when it calls that factory and counts as "not_ours"')
  parser.add_argument('--no-prefilter', action='store_true',
                      help='also run the files whose source names none of our names '
                           '(by default they are only collected, all "not_ours")')
  parser.add_argument('--keep-tmp', action='store_true',
                      help='keep the temporary directory (copied tests, logs)')
  parser.add_argument('--list', action='store_true', help='list the test files and exit')
  parser.add_argument('--max-message', type=int, default=200,
                      help='characters of each error line printed (default 200)')
  args = parser.parse_args(argv)

  optax_dir = _optax_dir()
  files = _test_files(optax_dir, args.only)
  if args.list:
    print('\n'.join(files))
    return 0
  if not files:
    print('optax_oracle: no test file matches', args.only, file=sys.stderr)
    return 2
  if _version('optax') != '0.2.8':
    print(f'optax_oracle: warning: optax {_version("optax")} installed, the contract '
          'is optax 0.2.8', file=sys.stderr)

  t_start = time.perf_counter()
  commit = _git('rev-parse', 'HEAD')
  dirty = bool(_git('status', '--porcelain', '--', 'optax_like'))
  tmp = tempfile.mkdtemp(prefix='optax_oracle_')
  try:
    for sub in ('t', 'results', 'logs'):
      os.makedirs(os.path.join(tmp, sub))
    sources, patches, file_env = {}, {}, {}
    for rel in files:
      with open(os.path.join(optax_dir, rel), encoding='utf-8') as f:
        sources[rel] = f.read()
      src, patches[rel] = _compat(sources[rel])
      # A file that sets XLA_FLAGS at import (sharding_test: 8 host devices) gets
      # them from the start, before our plugin imports jax.
      flags = _XLA_FLAGS.search(sources[rel])
      file_env[rel] = {'XLA_FLAGS': flags.group(1)} if flags else {}
      dest = os.path.join(tmp, 't', rel)
      os.makedirs(os.path.dirname(dest), exist_ok=True)
      with open(dest, 'w', encoding='utf-8') as f:
        f.write(src)
    with open(os.path.join(tmp, 'pytest.ini'), 'w', encoding='utf-8') as f:
      f.write('[pytest]\naddopts =\npython_files = *_test.py\n')

    env = _child_env(args, os.path.join(tmp, 't'), os.devnull, 'probe', '')
    probe = subprocess.run([sys.executable, '-c', _SUBJECT_PROBE, json.dumps(files),
                            json.dumps([m for m in PUBLIC_MODULES if m])],
                           env=env, capture_output=True, text=True, check=False)
    if probe.returncode != 0:
      print(probe.stderr, file=sys.stderr)
      return 2
    probed = json.loads(probe.stdout.strip().splitlines()[-1])
    subjects = probed['subjects']
    # A file that names none of our names anywhere cannot reach our objects
    # through the shim: collect it (to count its tests) but do not run it.
    unreachable = [] if args.no_prefilter else [
        rel for rel in files
        if not _names_used(sources[rel], probed['ours'])]

    mode = 'reference' if args.reference else 'ours'
    order = sorted((f for f in files if f not in unreachable),
                   key=lambda r: -os.path.getsize(os.path.join(optax_dir, r)))
    runs = {}
    if unreachable:
      records, seconds, note = _run_pytest(args, tmp, '_unreachable', mode,
                                           tag='collect', collect_only=unreachable)
      for rel in unreachable:
        prefix = f't/{rel}::'
        runs[rel] = ([r for r in records if r.get('id', '').startswith(prefix)
                      or r.get('collect_error', '').startswith(f't/{rel}')], 0.0,
                     'not run: names none of ours')
      print(f'  {len(unreachable)} files name none of ours: collected only '
            f'({seconds:.1f}s)', file=sys.stderr, flush=True)

    def run_one(rel):
      runs[rel] = _run_pytest(args, tmp, rel, mode, extra_env=file_env[rel])
      records, seconds, note = runs[rel]
      print(f'  {rel:45s} {len([r for r in records if "id" in r]):5d} tests  '
            f'{seconds:6.1f}s{"  " + note if note else ""}', file=sys.stderr, flush=True)

    print(f'optax_oracle: {len(files)} test files, {args.jobs} at a time, mode={mode}',
          file=sys.stderr, flush=True)
    if args.jobs > 1:
      from concurrent.futures import ThreadPoolExecutor
      with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(run_one, order))
    else:
      for rel in order:
        run_one(rel)

    tests, file_rows = [], {}
    for rel in files:
      records, seconds, note = runs[rel]
      row = {'collected': 0, 'not_ours': 0, 'shared': _empty_counts(),
             'interop': _empty_counts(), 'seconds': round(seconds, 1),
             'subject_names': subjects.get(rel), 'collect_errors': [], 'note': note,
             'compat_patches': patches[rel]}
      file_rows[rel] = row
      for rec in records:
        if 'collect_error' in rec:
          row['collect_errors'].append(rec['message'])
          continue
        outcome, message, where = _outcome(rec['reports'])
        category = _classify(rec, subjects.get(rel), args.interop)
        row['collected'] += 1
        if category == 'not_ours':
          row['not_ours'] += 1
          continue
        row[category][outcome if outcome in ('passed', 'skipped') else 'failed'] += 1
        tests.append({
            'id': rec['id'][2:] if rec['id'].startswith('t/') else rec['id'],
            'file': rel, 'category': category, 'outcome': outcome,
            'message': message, 'where': where, 'ours': rec['ours'],
            'optax_factories': rec['ctor'], 'seconds': rec['duration_s'],
        })

    # Rerun failures and skips against plain optax: a test that fails there too
    # says nothing about optax_like; one skipped only here (optax_like's `adam`
    # lacks the annotation the test checks, say) is a difference of ours.
    recheck = [t for t in tests if t['outcome'] in ('failed', 'error', 'skipped')]
    if recheck and not args.no_baseline and not args.reference:
      by_file = {}
      for t in recheck:
        by_file.setdefault(t['file'], []).append('t/' + t['id'])
      print(f'optax_oracle: rerunning {len(recheck)} failing or skipped tests against '
            'plain optax', file=sys.stderr, flush=True)
      baseline = {}
      for rel, ids in by_file.items():
        records, _, _ = _run_pytest(args, tmp, rel, 'reference', nodeids=ids,
                                    tag='baseline', extra_env=file_env[rel])
        for rec in records:
          if 'id' in rec:
            baseline[rec['id'][2:]] = _outcome(rec['reports'])
      for t in recheck:
        base = baseline.get(t['id'])
        t['baseline_outcome'] = base[0] if base else 'not_run'
        counts = file_rows[t['file']][t['category']]
        if t['outcome'] == 'skipped':
          if base and base[0] == 'passed':
            t['outcome'] = 'skipped_only_here'
            t['message'] = 'skipped with optax_like, runs and passes with optax: ' + t['message']
            counts['skipped'] -= 1
            counts['failed'] += 1
        elif base and base[0] in ('failed', 'error'):
          t['baseline_message'] = base[1]
          counts['failed'] -= 1
          counts['baseline_fails'] += 1
    elapsed = time.perf_counter() - t_start
  finally:
    if args.keep_tmp:
      print(f'optax_oracle: kept {tmp}', file=sys.stderr)
    else:
      shutil.rmtree(tmp, ignore_errors=True)

  totals = {'collected': 0, 'not_ours': 0, 'shared': _empty_counts(),
            'interop': _empty_counts(), 'collect_errors': 0}
  for row in file_rows.values():
    totals['collected'] += row['collected']
    totals['not_ours'] += row['not_ours']
    totals['collect_errors'] += len(row['collect_errors'])
    for cat in ('shared', 'interop'):
      for key, value in row[cat].items():
        totals[cat][key] += value

  _print_report(file_rows, totals, tests, elapsed, args)

  if args.out != '-':
    report = {
        'meta': {
            'tool': 'tools/optax_oracle.py',
            'argv': sys.argv[1:] if argv is None else list(argv),
            'optax': _version('optax'), 'jax': _version('jax'),
            'optax_like_commit': commit, 'optax_like_dirty': dirty,
            'mode': 'reference' if args.reference else 'ours',
            'seconds': round(elapsed, 1), 'jobs': args.jobs,
            'categories': {
                'shared': 'uses optax_like objects; subject is a name we share',
                'interop': 'uses optax_like objects; subject is optax-only',
                'not_ours': 'uses no optax_like object, or calls an optax-only factory '
                            '(then skipped at that call unless --interop)',
            },
        },
        'totals': totals,
        'files': file_rows,
        'tests': sorted(tests, key=lambda t: t['id']),
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w', encoding='utf-8') as f:
      json.dump(report, f, indent=1, sort_keys=True)
      f.write('\n')
    print(f'\nJSON report: {os.path.relpath(args.out)}')
  return 0 if totals['shared']['failed'] == 0 and not totals['collect_errors'] else 1


def _git(*cmd):
  try:
    return subprocess.run(['git', *cmd], cwd=REPO_ROOT, capture_output=True, text=True,
                          check=False).stdout.strip()
  except OSError:
    return None


def _print_report(file_rows, totals, tests, elapsed, args):
  head = (f'{"test file":42s} {"tests":>5s} {"ours":>5s} | {"shared":^17s} | '
          f'{"interop":^17s} | {"secs":>6s}')
  sub = f'{"":42s} {"":>5s} {"":>5s} | {"pass":>5s} {"fail":>5s} {"skip":>5s} | ' \
        f'{"pass":>5s} {"fail":>5s} {"skip":>5s} |'
  print(head)
  print(sub)
  print('-' * len(head))
  for rel, row in file_rows.items():
    s, i = row['shared'], row['interop']
    ours = row['collected'] - row['not_ours']
    flag = ''
    if row['collect_errors']:
      flag = '  COLLECTION ERROR: ' + row['collect_errors'][0][:100]
    elif row['note']:
      flag = '  ' + row['note']
    print(f'{rel:42s} {row["collected"]:5d} {ours:5d} | {s["passed"]:5d} {s["failed"]:5d} '
          f'{s["skipped"]:5d} | {i["passed"]:5d} {i["failed"]:5d} {i["skipped"]:5d} | '
          f'{row["seconds"]:6.1f}{flag}')
  print('-' * len(head))
  s, i = totals['shared'], totals['interop']
  ours = totals['collected'] - totals['not_ours']
  print(f'{"TOTAL":42s} {totals["collected"]:5d} {ours:5d} | {s["passed"]:5d} {s["failed"]:5d} '
        f'{s["skipped"]:5d} | {i["passed"]:5d} {i["failed"]:5d} {i["skipped"]:5d} | '
        f'{elapsed:6.1f}')
  ran = s['passed'] + s['failed']
  print(f'\nshared: {s["passed"]} of {ran} pass, {s["failed"]} fail'
        + (f' ({100.0 * s["passed"] / ran:.1f}%)' if ran else '')
        + f'; {s["skipped"]} skipped; {s["baseline_fails"]} also fail on plain optax (not counted)')
  ran_i = i['passed'] + i['failed']
  print(f'interop: {i["passed"]} of {ran_i} pass, {i["failed"]} fail; '
        f'{i["baseline_fails"]} also fail on plain optax (not counted)')
  print(f'not ours: {totals["not_ours"]} tests use no optax_like object')
  print(f'time: {elapsed:.0f}s with --jobs {args.jobs}')

  width = args.max_message
  for cat in ('shared', 'interop'):
    bad = [t for t in tests if t['category'] == cat
           and t['outcome'] in ('failed', 'error', 'skipped_only_here')
           and t.get('baseline_outcome') not in ('failed', 'error')]
    if not bad:
      continue
    print(f'\nFailing {cat} tests ({len(bad)}):')
    for t in sorted(bad, key=lambda t: t['id']):
      extra = f'  [{t["where"]}]' if t.get('where') else ''
      print(f'  {t["id"]}  ({", ".join(t["ours"])[:80]})')
      print(f'      {t["outcome"]}: {t["message"][:width]}{extra}')
  base = [t for t in tests if t['outcome'] in ('failed', 'error')
          and t.get('baseline_outcome') in ('failed', 'error')]
  if base:
    print(f'\nAlso failing on plain optax, not counted ({len(base)}):')
    for t in sorted(base, key=lambda t: t['id']):
      print(f'  {t["id"]}: {t.get("baseline_message", "")[:width]}')


if __name__ == '__main__':
  sys.exit(main())

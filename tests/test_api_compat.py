"""Drop-in contract: every public name of optax 0.2.8's modules exists here, with optax's signature.

The names are enumerated from optax itself, module by module (``optax``, ``optax.transforms``,
``optax.schedules``, ``optax.contrib``, ``optax.microbatching``, ``optax.losses``, ``optax.tree``,
``optax.tree_utils``, ``optax.projections``, ``optax.second_order``, ``optax.perturbations``,
``optax.assignment``): no hand list. A name optax has and we lack fails ``test_name_exists``
unless ``NOT_PROVIDED`` gives the reason.

Our functions may add keyword-only options (with defaults) after optax's parameters; nothing
else may differ. State classes have optax's class name and fields.
"""

import importlib
import inspect
import types
import warnings

import optax
import pytest

import optax_like as ox

# optax's public modules that optax_like mirrors (``''`` is the top level).
MODULES = ('', 'transforms', 'schedules', 'contrib', 'microbatching', 'losses', 'tree',
           'tree_utils', 'projections', 'second_order', 'perturbations', 'assignment')

# Public optax names we deliberately do not provide, with the reason.
NOT_PROVIDED = {
    # optax's deprecated experimental namespace; not part of the scope.
    ('', 'experimental'): 'optax.experimental is an unstable namespace, outside the drop-in scope',
}


def _module(lib: str, sub: str) -> types.ModuleType:
  return importlib.import_module(lib if not sub else f'{lib}.{sub}')


def public_names(module: types.ModuleType) -> list:
  """Public names of ``module``: its ``__all__`` and every other public, non-module attribute
  (optax.transforms exports ``unitwise_clip`` without listing it in ``__all__``)."""
  names = set(getattr(module, '__all__', ()))
  names |= {n for n in dir(module) if not n.startswith('_')
            and not isinstance(getattr(module, n), types.ModuleType)}
  if module is optax:   # the submodules users reach as attributes (optax.losses, ...)
    names |= {n for n in dir(module) if isinstance(getattr(module, n), types.ModuleType)
              and n in MODULES}
  return sorted(names)


def _theirs(sub: str, name: str):
  with warnings.catch_warnings():   # optax's deprecated top-level aliases (dpsgd, ...) warn
    warnings.simplefilter('ignore', DeprecationWarning)
    return getattr(_module('optax', sub), name)


def optax_names() -> list:
  """``(module, name)`` for every public optax name, submodules of the top level included."""
  return [(sub, name) for sub in MODULES for name in public_names(_module('optax', sub))]


OPTAX_NAMES = optax_names()


def _ours(sub: str, name: str):
  try:
    module = _module('optax_like', sub)
  except ImportError:
    return None
  return getattr(module, name, None)


def test_the_enumeration_sees_every_module():
  assert len(OPTAX_NAMES) > 400
  by_module = {sub for sub, _ in OPTAX_NAMES}
  assert by_module == set(MODULES)


@pytest.mark.parametrize('sub,name', OPTAX_NAMES, ids=lambda x: x or 'optax')
def test_name_exists(sub, name):
  if (sub, name) in NOT_PROVIDED:
    pytest.skip(NOT_PROVIDED[(sub, name)])
  theirs = _theirs(sub, name)
  ours = _ours(sub, name)
  label = f"optax{'.' + sub if sub else ''}.{name}"
  assert ours is not None, f'{label} is missing from optax_like'
  if isinstance(theirs, types.ModuleType):
    assert isinstance(ours, types.ModuleType), f'{label} should be a module'


def test_subpackages_are_attributes_of_the_top_level():
  # ``import optax_like as optax; optax.losses.l2_loss`` works without importing the submodule.
  for sub in MODULES[1:]:
    assert isinstance(getattr(ox, sub, None), types.ModuleType), sub


def test_the_same_name_is_the_same_object_across_modules():
  # optax.adam is optax.transforms...: where optax exports one object under two module paths,
  # ours are one object too (no second implementation).
  for sub, name in OPTAX_NAMES:
    if not sub or (sub, name) in NOT_PROVIDED or not hasattr(optax, name):
      continue
    theirs_top, theirs_sub = _theirs('', name), _theirs(sub, name)
    ours_top, ours_sub = getattr(ox, name, None), _ours(sub, name)
    if theirs_top is theirs_sub and ours_top is not None and ours_sub is not None:
      assert ours_top is ours_sub, f'optax_like.{sub}.{name} is not optax_like.{name}'


def _params(fn):
  try:
    return inspect.signature(fn).parameters
  except (TypeError, ValueError):
    return None


def _comparable(sub, name):
  theirs = _theirs(sub, name)
  if isinstance(theirs, types.ModuleType) or not callable(theirs):
    return False
  if inspect.isclass(theirs) and (issubclass(theirs, tuple) or name.endswith('State')):
    return False   # state containers: compared by fields below
  return _params(theirs) is not None


SIGNED = [(sub, name) for sub, name in OPTAX_NAMES
          if _comparable(sub, name) and _ours(sub, name) is not None]


# Defaults that are lambdas in optax (compared by what they return for a probe argument, as two
# lambdas are never equal): (module, name, parameter) -> probe.
CALLABLE_DEFAULTS = {
    ('microbatching', 'micro_grad', 'transform_fn'): 3.0,   # identity
    ('microbatching', 'micro_grad', 'metrics_fn'): 3.0,     # returns None
    ('', 'scale_by_factored_rms', 'decay_rate_fn'): 3.0,    # Adafactor's 1 - (i + 1)**-0.8
    ('contrib', 'adopt', 'clip_value_fn'): 3.0,             # ADOPT's step ** 0.25
    ('contrib', 'scale_by_adopt', 'clip_value_fn'): 3.0,
}

# Defaults that are transformation instances (two instances never compare equal, and their repr
# holds addresses): compared by the state class their init gives and one update of
# f(w) = sum(w^2) along -grad f (the keyword arguments of a line search's update).
TRANSFORM_DEFAULTS = {('', 'lbfgs', 'linesearch')}   # a zoom line search
# Defaults that are transformation instances compared by the state class and leaf shapes their
# init gives (Sophia's Hutchinson estimator needs a loss function to update).
INIT_TRANSFORM_DEFAULTS = {('contrib', 'sophia', 'hessian_diagonal_fn')}


def _same_transform(a, b):
  import jax, jax.numpy as jnp, numpy as np   # pylint: disable=import-outside-toplevel
  w = jnp.array([1.0, 2.0])
  f = lambda x: jnp.sum(x ** 2)
  value, grad = jax.value_and_grad(f)(w)
  (ua, sa), (ub, sb) = [tx.update(-grad, tx.init(w), w, value=value, grad=grad, value_fn=f)
                        for tx in (a, b)]
  return type(sa).__name__ == type(sb).__name__ and np.allclose(ua, ub)


@pytest.mark.parametrize('sub,name', SIGNED, ids=lambda x: x or 'optax')
def test_signature_matches_optax(sub, name):
  ours, theirs = _params(_ours(sub, name)), _params(_theirs(sub, name))
  assert ours is not None, name
  ours_list, theirs_list = list(ours.values()), list(theirs.values())
  assert [p.name for p in ours_list[:len(theirs_list)]] == [p.name for p in theirs_list], name
  for a, b in zip(ours_list, theirs_list):
    assert a.kind == b.kind, (name, a.name)
    if (sub, name, a.name) in CALLABLE_DEFAULTS:
      probe = CALLABLE_DEFAULTS[(sub, name, a.name)]
      assert a.default(probe) is b.default(probe) or a.default(probe) == b.default(probe), (
          name, a.name)
      continue
    if (sub, name, a.name) in INIT_TRANSFORM_DEFAULTS:
      import jax, jax.numpy as jnp   # pylint: disable=import-outside-toplevel
      sa, sb = a.default.init(jnp.ones(3)), b.default.init(jnp.ones(3))
      assert type(sa).__name__ == type(sb).__name__, (name, a.name)
      assert jax.tree.map(jnp.shape, tuple(sa)) == jax.tree.map(jnp.shape, tuple(sb))
      continue
    if (sub, name, a.name) in TRANSFORM_DEFAULTS:
      assert _same_transform(a.default, b.default), (name, a.name)
      continue
    assert a.default == b.default or (a.default is inspect.Parameter.empty) == (
        b.default is inspect.Parameter.empty) and repr(a.default) == repr(b.default), (
            name, a.name, a.default, b.default)
  for extra in ours_list[len(theirs_list):]:
    assert extra.kind is inspect.Parameter.KEYWORD_ONLY, (name, extra.name)
    assert extra.default is not inspect.Parameter.empty, (name, extra.name)


STATE_CLASSES = [(sub, name) for sub, name in OPTAX_NAMES
                 if inspect.isclass(_theirs(sub, name))
                 and hasattr(_theirs(sub, name), '_fields')
                 and _ours(sub, name) is not None]


@pytest.mark.parametrize('sub,name', STATE_CLASSES, ids=lambda x: x or 'optax')
def test_state_classes_have_optax_fields(sub, name):
  ours, theirs = _ours(sub, name), _theirs(sub, name)
  assert getattr(ours, '_fields', None) == getattr(theirs, '_fields', None), name
  # Where optax's name is an alias (e.g. ClipByGlobalNormState = EmptyState), ours has the same
  # class name, so printed tree structures and state class names agree.
  assert ours.__name__ == theirs.__name__, (name, ours.__name__, theirs.__name__)


def test_the_core_surface_is_shared():
  # A guard on the enumeration itself: these must be found as comparable signatures.
  required = {'chain', 'clip_by_global_norm', 'adam', 'sgd', 'lars', 'inject_hyperparams',
              'warmup_cosine_decay_schedule', 'masked', 'MultiSteps'}
  assert required <= {name for sub, name in SIGNED if not sub}

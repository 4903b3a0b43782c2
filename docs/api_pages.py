"""Generates the API reference from the package itself (an mkdocs hook; also used by the tests).

Every public name of ``optax_like``, of its public submodules and of ``optax_like.keras`` gets a
page under ``api/<namespace>/<name>.md``, rendered by mkdocstrings from its docstring, and the
pages are grouped in the nav as a user looks for them. Nothing here lists names by hand: a name
exported tomorrow gets its page at the next build, and ``tests/test_docs.py`` fails if one does
not. A name that a namespace re-exports from an earlier one (``optax_like.transforms.clip`` is
``optax_like.clip``, ``optax_like.keras.optimizers.Adam`` is ``optax_like.keras.Adam``) gets a
short page pointing at the first one.
"""

from __future__ import annotations

import collections
import importlib
import inspect
import types

# The namespaces documented, in nav order: optax's public submodules, then the Keras layer.
NAMESPACES = (
    'optax_like',
    'optax_like.transforms',
    'optax_like.schedules',
    'optax_like.losses',
    'optax_like.tree',
    'optax_like.tree_utils',
    'optax_like.contrib',
    'optax_like.projections',
    'optax_like.second_order',
    'optax_like.perturbations',
    'optax_like.assignment',
    'optax_like.microbatching',
    'optax_like.keras',
    'optax_like.keras.optimizers',
    'optax_like.keras.schedules',
)

# Groups of the top-level names, in nav order, chosen by the module that defines each name.
GROUPS = (
    'Core',
    'Optimizers',
    'Transforms',
    'Wrappers',
    'Schedules',
    'Losses',
    'Tree utilities and numerics',
    'Line search and linear algebra',
    'Fused execution',
    'Distributed',
    'State classes and types',
    'Keras layer',
)

_MODULE_GROUPS = {
    'base': 'Core',
    'schedules': 'Schedules',
    'injection': 'Wrappers',
    'masking': 'Wrappers',
    'multistep': 'Wrappers',
    'conditionality': 'Wrappers',
    'lookahead': 'Wrappers',
    'periodic': 'Wrappers',
    'freezing': 'Wrappers',
    'microbatching': 'Wrappers',
    'monitoring': 'Wrappers',
    'tree_map_transform': 'Wrappers',
    'constraining': 'Wrappers',
    'tree': 'Tree utilities and numerics',
    'tree_math': 'Tree utilities and numerics',
    'tree_utils': 'Tree utilities and numerics',
    'state_utils': 'Tree utilities and numerics',
    'numerics': 'Tree utilities and numerics',
    'linesearch': 'Line search and linear algebra',
    'linear_algebra': 'Line search and linear algebra',
    'fused': 'Fused execution',
    'layouts': 'Fused execution',
    'distributed': 'Distributed',
    'zero': 'Distributed',
}

# Submodules whose names are grouped under the submodule itself.
_SUBMODULE_GROUPS = {
    'optax_like.transforms': 'Transforms',
    'optax_like.schedules': 'Schedules',
    'optax_like.losses': 'Losses',
    'optax_like.tree': 'Tree utilities and numerics',
    'optax_like.tree_utils': 'Tree utilities and numerics',
    'optax_like.keras': 'Keras layer',
    'optax_like.keras.optimizers': 'Keras layer',
    'optax_like.keras.schedules': 'Keras layer',
}

Entry = collections.namedtuple('Entry', 'namespace name obj group path alias_of')


def public_names(namespace: str) -> list[str]:
  """The public names of a namespace: its ``__all__``, else what it binds without underscore."""
  module = importlib.import_module(namespace)
  names = getattr(module, '__all__', None)
  if names is None:
    names = [n for n, v in vars(module).items()
             if not n.startswith('_') and not _imported_helper(v)]
  return sorted(n for n in names
                if not isinstance(getattr(module, n, None), types.ModuleType))


def _imported_helper(value):
  """A module, or a function/class some other library defines (``Any``, ``partial``)."""
  if isinstance(value, types.ModuleType):
    return True
  if inspect.isclass(value) or inspect.isroutine(value):
    return not (getattr(value, '__module__', '') or '').startswith('optax_like')
  return False


def _is_state_or_type(name, obj):
  if inspect.isclass(obj) and (name.endswith('State') or issubclass(obj, tuple)):
    return True
  if not inspect.isclass(obj) and not inspect.isfunction(obj) and not callable(obj):
    return True
  module = getattr(obj, '__module__', None) or ''
  return module == 'typing' or not module.startswith('optax_like')


# The few top-level names a user looks for among the core API rather than where they are defined.
_CORE_NAMES = {'apply_updates', 'incremental_update', 'global_norm'}


def _group(namespace, name, obj):
  if namespace in _SUBMODULE_GROUPS:
    return _SUBMODULE_GROUPS[namespace]
  if namespace != 'optax_like':
    return 'Submodule ' + namespace.split('.', 1)[1]
  module = (getattr(obj, '__module__', '') or '').rsplit('.', 1)[-1]
  if name in _CORE_NAMES:
    return 'Core'
  if inspect.isclass(obj) and name.endswith('State') and name != 'EmptyState':
    return 'State classes and types'
  if module == 'base':
    return 'Core'
  if _is_state_or_type(name, obj):
    return 'State classes and types'
  if module in _MODULE_GROUPS:
    return _MODULE_GROUPS[module]
  if '.losses' in (obj.__module__ or ''):
    return 'Losses'
  try:
    params = list(inspect.signature(obj).parameters)
  except (TypeError, ValueError):
    params = []
  if params[:1] == ['learning_rate']:
    return 'Optimizers'
  return 'Transforms'


def entries() -> list[Entry]:
  """Every documented (namespace, name), with its group, page path and the page it aliases.

  A name that an earlier namespace (in ``NAMESPACES`` order) already exports under the same
  name, as the same object, gets a short page pointing there (``alias_of``, a dotted name).
  """
  result = []
  first_seen = {}
  for namespace in NAMESPACES:
    module = importlib.import_module(namespace)
    for name in public_names(namespace):
      obj = getattr(module, name)
      key = (id(obj), name)
      alias_of = first_seen.get(key)
      if alias_of is None:
        first_seen[key] = f'{namespace}.{name}'
      result.append(Entry(namespace, name, obj, _group(namespace, name, obj),
                          f'api/{namespace}/{name}.md', alias_of))
  return result


def alias_page(entry: Entry) -> str:
  """The page path (under api/) of the entry an alias points to."""
  namespace, name = entry.alias_of.rsplit('.', 1)
  return f'{namespace}/{name}'


def page_text(entry: Entry) -> str:
  """The Markdown source of one API page."""
  full = f'{entry.namespace}.{entry.name}'
  if entry.alias_of:
    target = f'../{alias_page(entry)}.md'
    return (f'# {full}\n\n`{full}` is the same object as '
            f'[`{entry.alias_of}`]({target}), re-exported here (as optax does).\n')
  return f'::: {full}\n'


def index_text(all_entries) -> str:
  """The API index page: every name, grouped, linked."""
  lines = ['# API reference', '', ('One page per public name, generated from the docstrings by `docs/api_pages.py` at '
              'each build: a name exported by the package gets its page without any hand edit. '
              'Pages are grouped as in the navigation.')]
  for group, members in _grouped(all_entries):
    lines += ['', f'## {group}', '']
    for entry in members:
      lines.append(f'- [`{entry.namespace}.{entry.name}`]({entry.path[len("api/"):]})')
  return '\n'.join(lines) + '\n'


def _grouped(all_entries):
  order = {g: i for i, g in enumerate(GROUPS)}
  groups = collections.defaultdict(list)
  for entry in all_entries:
    groups[entry.group].append(entry)
  return sorted(groups.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))


def nav(all_entries):
  """The 'API reference' nav section."""
  section = [{'Index': 'api/index.md'}]
  for group, members in _grouped(all_entries):
    section.append({group: [{f'{e.namespace}.{e.name}'.replace('optax_like.', '', 1)
                             if e.namespace != 'optax_like' else e.name: e.path}
                            for e in members]})
  return {'API reference': section}


# ---- mkdocs hook ----------------------------------------------------------------------------

_ENTRIES = []


def on_config(config, **kwargs):  # pylint: disable=unused-argument
  _ENTRIES[:] = entries()
  config['nav'] = [item for item in (config['nav'] or [])
                   if not (isinstance(item, dict) and 'API reference' in item)]
  config['nav'].append(nav(_ENTRIES))
  return config


def on_files(files, config, **kwargs):  # pylint: disable=unused-argument
  from mkdocs.structure.files import File  # pylint: disable=import-outside-toplevel
  files.append(File.generated(config, 'api/index.md', content=index_text(_ENTRIES)))
  for entry in _ENTRIES:
    files.append(File.generated(config, entry.path, content=page_text(entry)))
  return files

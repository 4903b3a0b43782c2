"""The documentation site builds in strict mode, with a page for every public name, and every
Python block of the guides runs as written.

The build takes about 15 s of CPU (mkdocs + mkdocstrings over ~500 generated API pages); it is
one test so the site is built once per run.
"""

import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / 'docs'
sys.path.insert(0, str(DOCS))
import api_pages  # pylint: disable=g-import-not-at-top,wrong-import-position

GUIDES = sorted((DOCS / 'guides').glob('*.md')) + [DOCS / 'design.md', DOCS / 'index.md']


def test_site_builds_strict_with_a_page_for_every_public_name(tmp_path):
  pytest.importorskip('mkdocstrings')
  site = tmp_path / 'site'
  result = subprocess.run(
      # Not --quiet: it hides the warnings from the counter that makes --strict fail.
      [sys.executable, '-m', 'mkdocs', 'build', '--strict', '--site-dir', str(site)],
      cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
  log = result.stdout + result.stderr
  assert result.returncode == 0, log[-8000:]
  assert 'WARNING' not in log, [line for line in log.splitlines() if 'WARNING' in line][:20]
  entries = api_pages.entries()
  assert len(entries) > 400
  missing = []
  for entry in entries:
    page = site / 'api' / entry.namespace / entry.name / 'index.html'
    if not page.exists():
      missing.append(f'{entry.namespace}.{entry.name}')
      continue
    text = page.read_text()
    # A page rendered by mkdocstrings (or, for a re-export, a link to the one that is).
    marker = (f'../../{api_pages.alias_page(entry)}/' if entry.alias_of
              else 'class="doc doc-')
    if marker not in text:
      missing.append(f'{entry.namespace}.{entry.name} (not rendered)')
  assert not missing, missing
  # Every guide is in the site, and the API index lists every page.
  for guide in GUIDES:
    rel = guide.relative_to(DOCS).with_suffix('')
    assert (site / rel / 'index.html').exists() or rel.name == 'index', rel
  index = (site / 'api' / 'index.html').read_text()
  assert all(f'{e.namespace}/{e.name}/' in index for e in entries)


def test_every_public_name_is_grouped_and_top_level_names_are_all_there():
  import optax_like  # pylint: disable=g-import-not-at-top
  entries = api_pages.entries()
  top = {e.name for e in entries if e.namespace == 'optax_like'}
  assert top == set(optax_like.__all__)
  assert {e.group for e in entries if e.namespace == 'optax_like'} <= set(api_pages.GROUPS)
  by_name = {(e.namespace, e.name): e for e in entries}
  assert by_name[('optax_like', 'adam')].group == 'Optimizers'
  assert by_name[('optax_like', 'warmup_cosine_decay_schedule')].group == 'Schedules'
  assert by_name[('optax_like', 'fused')].group == 'Fused execution'
  assert by_name[('optax_like.keras', 'Variable')].group == 'Keras layer'
  assert by_name[('optax_like', 'apply_updates')].group == 'Core'
  assert by_name[('optax_like', 'ScaleByAdamState')].group == 'State classes and types'
  assert by_name[('optax_like.keras.optimizers', 'Adam')].alias_of == 'optax_like.keras.Adam'
  # Re-exports point at the top-level page instead of duplicating it.
  assert (by_name[('optax_like.transforms', 'add_decayed_weights')].alias_of
          == 'optax_like.add_decayed_weights')


def test_config_is_strict_and_the_docs_toolchain_is_pinned_in_the_test_extra():
  config = (ROOT / 'mkdocs.yml').read_text()
  assert re.search(r'^strict: true$', config, flags=re.M)
  pyproject = (ROOT / 'pyproject.toml').read_text()
  test_extra = re.search(r'^test = \[(.*?)\]', pyproject, flags=re.S | re.M).group(1)
  for package in ('mkdocs', 'mkdocstrings', 'mkdocstrings-python', 'griffe', 'equinox'):
    assert re.search(rf'"{package}==[0-9.]+"', test_extra), package


def _python_blocks(path):
  return re.findall(r'^```python\n(.*?)^```', path.read_text(), flags=re.S | re.M)


@pytest.mark.parametrize('guide', GUIDES, ids=lambda p: p.stem)
def test_guide_python_blocks_run(guide, monkeypatch, tmp_path):
  """Each guide's ```python blocks run in order in one namespace, as a reader would paste them."""
  monkeypatch.chdir(tmp_path)
  namespace = {'__name__': f'guide_{guide.stem}'}
  for number, block in enumerate(_python_blocks(guide)):
    code = compile(block, f'{guide.name} [python block {number}]', 'exec')
    exec(code, namespace)  # pylint: disable=exec-used


def test_docstring_rewriting_for_the_site():
  pytest.importorskip('griffe')
  import griffe_rest  # pylint: disable=g-import-not-at-top
  text = 'Rule :math:`u = -g`.\n\n.. math::\n  a = b\n  + c\n\nExample:\n  >>> 1 + 1\n  2\n\nEnd.'
  rendered = griffe_rest.doctest_to_fences(griffe_rest.rest_math_to_markdown(text))
  assert rendered == ('Rule $u = -g$.\n\n$$\na = b\n+ c\n$$\n\nExample:\n  ```pycon\n'
                      '  >>> 1 + 1\n  2\n  ```\n\nEnd.')

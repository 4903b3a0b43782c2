"""Session hooks: the worst deviations from optax and the golden data, in the terminal summary.

Differential tests add their errors to ``differential.ErrorLog``s; no test prints them. After
the run, ``pytest_terminal_summary`` prints one line per (log, key): the largest absolute and
relative error and the number of comparisons. Under pytest-xdist each worker sends its rows to
the controller, which merges them.
"""

import sys

import pytest

_XDIST_KEY = 'differential_rows'
_ROWS = pytest.StashKey[list]()   # rows the xdist workers sent


def _rows():
  differential = sys.modules.get('differential')   # only where a test module imported it
  return differential.report_rows() if differential is not None else []


def pytest_configure(config):
  config.stash[_ROWS] = []


def pytest_sessionfinish(session):
  workeroutput = getattr(session.config, 'workeroutput', None)
  if workeroutput is not None:   # an xdist worker: hand the rows to the controller
    workeroutput[_XDIST_KEY] = [list(row) for row in _rows()]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
  del error
  node.config.stash[_ROWS].extend(
      tuple(row) for row in getattr(node, 'workeroutput', {}).get(_XDIST_KEY, []))


def pytest_terminal_summary(terminalreporter, config):
  if hasattr(config, 'workeroutput'):
    return
  rows = config.stash[_ROWS] + _rows()
  if not rows:
    return
  import differential   # pylint: disable=import-outside-toplevel  (tests/ is on the path)
  terminalreporter.section('largest deviations from the references')
  for line in differential.format_rows(differential.merge_rows(rows)):
    terminalreporter.write_line(line)

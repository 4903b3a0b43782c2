"""Every docstring example in the library runs and prints what it says.

On the CPU the printed numbers must match exactly. On an accelerator the last bit of a float
may differ (XLA's GPU division and fused multiply-adds: seen on an H200, e.g. ``[-1.0]``
printed as ``[-0.9999999403953552]``), so there numbers are compared to 1e-6 relative while
everything else must match as on the CPU.
"""

import doctest
import importlib
import math
import pkgutil
import re

import jax
import pytest

import optax_like

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(optax_like.__path__, 'optax_like.')
    if info.name != 'optax_like.demo')
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
_NUMBER = re.compile(r'[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?')


class FloatTolerantChecker(doctest.OutputChecker):
  """Accepts output that differs from the expected one only in numbers within 1e-6."""

  def check_output(self, want, got, optionflags):
    if super().check_output(want, got, optionflags):
      return True
    text = lambda s: [' '.join(part.split()) for part in _NUMBER.split(s)]
    if text(want) != text(got):
      return False
    return all(math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-7)
               for a, b in zip(_NUMBER.findall(want), _NUMBER.findall(got)))


def run_examples(module, checker=None):
  runner = doctest.DocTestRunner(checker=checker, optionflags=FLAGS, verbose=False)
  for test in doctest.DocTestFinder().find(module, module.__name__):
    runner.run(test)
  return runner.summarize(verbose=False)


@pytest.mark.parametrize('name', MODULES)
def test_docstring_examples(name):
  module = importlib.import_module(name)
  exact = jax.default_backend() == 'cpu'
  result = run_examples(module, None if exact else FloatTolerantChecker())
  assert result.failed == 0, f'{result.failed} of {result.attempted} examples failed in {name}'


@pytest.mark.parametrize('want,got,ok', [
    # What an H200 printed for examples that print exact values on the CPU.
    ('[-1.0]\n', '[-0.9999999403953552]\n', True),
    ('[(1-1j)]\n', '[(0.9999999403953552-1j)]\n', True),
    ('(10.0, 8.333333015441895)\n', '(10.0, 8.333333969116211)\n', True),
    ('([[1.0, 0.0], [1.0, 1.0]], [[9.0, 16.0]])\n',
     '([[0.9999999403953552, 0.0], [1.0, 1.0]], [[9.0, 16.0]])\n', True),
    # Real differences still fail.
    ('[-1.0]\n', '[-0.999]\n', False),
    ('[1.0, 2.0]\n', '[1.0]\n', False),
    ("['m', 'v']\n", "['m', 'w']\n", False),
    ('(0.9, 1)\n', '[0.9, 1]\n', False),
])
def test_the_accelerator_checker_tolerates_only_last_bit_differences(want, got, ok):
  assert FloatTolerantChecker().check_output(want, got, FLAGS) == ok

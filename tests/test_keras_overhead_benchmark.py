"""Smoke test: ``python -m benchmarks.keras_overhead`` runs and prints its table (no timings)."""

import os
import sys

# benchmarks/ lives at the repository root, next to tests/ (not an installed package).
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import keras_overhead  # pylint: disable=g-import-not-at-top,wrong-import-position


def test_keras_overhead_benchmark_runs(capsys, tmp_path):
  out = tmp_path / 'r.json'
  keras_overhead.main(['--no-tf', '--rounds', '1', '--calls', '1', '--min-calls', '1',
                       '--sizes', '4,3', '--batch', '2', '--optimizer', 'sgd',
                       '--json', str(out)])
  text = capsys.readouterr().out
  for name in ('optax (jit)', 'keras.apply_gradients', 'keras.minimize',
               'keras.function(minimize)', 'keras.function(apply_gradients)',
               'jit grad + keras.apply', 'tf-keras columns skipped: disabled by --no-tf'):
    assert name in text
  assert out.exists()

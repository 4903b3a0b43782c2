"""Smoke tests of the benchmark harness (benchmarks/): structure and sanity, never timings."""

import dataclasses
import io
import json
import math
import os
import sys

import pytest

# benchmarks/ lives at the repository root, next to tests/ (not an installed package).
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import harness, report, run, workloads
from benchmarks.workloads import LEAVES_SWEEP, PARAMS_SWEEP, TABLE

# The quick suite's code paths at even smaller sizes, so the whole harness runs in seconds.
TINY = dataclasses.replace(
    workloads.QUICK, name='tiny', big=2_000, bigger=3_000, mixed_leaves=3, many_leaves=8,
    small_leaf=10, params_sweep=(2_000, 3_000), leaves_sweep=(1, 8), leaves_total=80,
    bandwidth_n=100_000, bandwidth_reps=2, rounds=2, round_target_s=0.0, min_steps=2,
    max_steps=2)


@pytest.fixture(scope='module')
def results():
  stream = io.StringIO()
  res = run.run_suite(TINY, use_torch=False, stream=stream)
  res['_progress'] = stream.getvalue()
  return res


def test_workload_list_matches_issue():
  names = [w.name for w in workloads.build_workloads(workloads.FULL)]
  for name in ['adam_20M', 'adam_50M', 'rmsprop_momentum_20M', 'sgd_momentum_20M',
               'lars_wd_20M', 'lars_wd_1000_mixed', 'clip_adam_1000_mixed', 'clip_adam_4000x100']:
    assert name in names
  assert len(names) == len(set(names))
  by_name = {w.name: w for w in workloads.build_workloads(workloads.FULL)}
  # Shared points are one workload with both tags (measured and compiled once).
  assert by_name['adam_20M'].tags == {TABLE, PARAMS_SWEEP}
  assert by_name['clip_adam_4000x100'].tags == {TABLE, LEAVES_SWEEP}
  assert by_name['clip_adam_1000_mixed'].n_leaves == 1000
  assert by_name['adam_50M'].n_params == 50_000_000
  assert by_name['adam_20M'].passes == 7 and by_name['sgd_momentum_20M'].passes == 5
  # Every leaves-sweep point has the same total size.
  sweep = [w for w in by_name.values() if LEAVES_SWEEP in w.tags]
  assert len({w.n_params for w in sweep}) == 1 and len(sweep) == 5
  assert not [w for w in workloads.build_workloads(workloads.FULL, max_leaves=100)
              if w.n_leaves > 100]


def test_human():
  assert [workloads.human(n) for n in (20_000_000, 400_000, 100, 1234, 2_500)] == \
      ['20M', '400k', '100', '1234', '2.5k']


def test_results_structure(results):
  assert results['suite'] == 'tiny'
  assert results['bandwidth']['xla']['gb_per_s'] > 0
  assert results['bandwidth']['torch'] is None
  assert results['versions']['optax'] and results['versions']['jax']
  assert results['machine']['cores'] >= 1
  names = [r['name'] for r in results['workloads']]
  assert len(names) == len(set(names)) == len(workloads.build_workloads(TINY))
  for r in results['workloads']:
    assert set(r['libs']) == {report.OPTAX, report.OURS}
    for lib in r['libs'].values():
      assert len(lib['step_ms_rounds']) == TINY.rounds
      assert all(math.isfinite(t) and t > 0 for t in lib['step_ms_rounds'])
      assert lib['compile_s'] > 0 and lib['finite'] is True
      assert lib['hlo']['fusions'] >= 1
      assert math.isfinite(lib['fraction_of_limit']) and lib['fraction_of_limit'] > 0
    assert len(r['ratio_rounds']) == TINY.rounds
    assert math.isfinite(r['ratio']) and r['ratio'] > 0
    assert math.isfinite(r['compile_ratio']) and r['compile_ratio'] > 0
    assert r['limit_ms'] == pytest.approx(
        1e3 * r['passes'] * 4 * r['n_params'] / (results['bandwidth']['limit_basis_gb_per_s']
                                                 * 1e9))
    assert r['steps_per_round'] == 2
  # The progress bar wrote to its stream (not a tty: one line per stage).
  assert results['_progress'].count('\n') >= len(names)
  assert f'{len(names) * 4 + 2}/{len(names) * 4 + 2}' in results['_progress']


def test_json_round_trip(results, tmp_path):
  path = tmp_path / 'b.json'
  clean = {k: v for k, v in results.items() if not k.startswith('_')}
  report.write_json(clean, str(path))
  loaded = json.loads(path.read_text())
  assert loaded['workloads'][0]['libs']['optax']['step_ms'] == \
      clean['workloads'][0]['libs']['optax']['step_ms']


def test_table(results):
  text = report.format_tables(results)
  lines = text.splitlines()
  assert 'GB/s' in lines[0]
  header = next(l for l in lines if l.startswith('workload') and 'optax ms' in l)
  for col in ['optax ms', 'ours ms', 'ratio', 'frac of limit', 'torch fused ms']:
    assert col in header
  for r in results['workloads']:
    assert any(l.startswith(r['name'] + ' ') for l in lines)
  assert '(sweep points)' in text
  assert 'optax compile s' in text


def test_plots(results, tmp_path, capsys):
  written = report.write_plots(results, str(tmp_path))
  try:
    import matplotlib  # noqa: F401
  except ImportError:
    assert written == [] and 'matplotlib is not installed' in capsys.readouterr().out
    return
  assert sorted(os.path.basename(p) for p in written) == [
      'benchmarks_compile.png', 'benchmarks_leaves.png', 'benchmarks_params.png']
  assert all(os.path.getsize(p) > 1000 for p in written)


def test_cli_only_writes_out_dir(tmp_path, capsys):
  res = run.main(['--quick', '--only', '^sgd', '--rounds', '1', '--out-dir', str(tmp_path),
                  '--no-torch', '--no-progress', '--no-plots'])
  assert [r['name'] for r in res['workloads']] == ['sgd_momentum_20k']
  out = capsys.readouterr().out
  assert 'sgd_momentum_20k' in out and 'ratio' in out
  assert json.loads((tmp_path / 'benchmarks.json').read_text())['workloads'][0]['rounds'] == 1


def test_cli_rejects_unknown_only():
  with pytest.raises(SystemExit, match='matches no workload'):
    run.run_suite(TINY, only='^no_such_workload$', use_torch=False, show_progress=False)


def test_torch_runner_if_installed():
  torch = pytest.importorskip('torch')
  w = workloads.build_workloads(TINY)[0]
  assert w.make_torch_opt is not None
  params, grads = harness.make_data(w)
  runner = harness.TorchRunner(torch, w, params, grads)
  assert runner.steps(2) > 0 and runner.check_finite()
  runner.close()


def test_compile_again_takes_the_median():
  import optax_like
  w = next(w for w in workloads.build_workloads(TINY) if w.name.startswith('sgd'))
  params, grads = harness.make_data(w)
  runner = harness.JaxRunner(optax_like, w, params, grads)
  runner.compile_again()
  runner.compile_again()
  assert len(runner.compile_samples) == 3
  assert runner.compile_s == sorted(runner.compile_samples)[1]
  assert runner.steps(2) > 0 and runner.check_finite()
  runner.close()


def test_rounds_alternate_order():
  calls = []

  class Fake:
    def __init__(self, name):
      self.name = name

    def steps(self, k):
      calls.append((self.name, k))
      return 1.0

  times = harness.run_rounds({'a': Fake('a'), 'b': Fake('b')}, rounds=2, steps_per_round=3)
  assert times == {'a': [1.0, 1.0], 'b': [1.0, 1.0]}
  # Round 0: a then b; round 1: b then a; each a warm-up step then the timed steps.
  assert calls == [('a', 1), ('a', 3), ('b', 1), ('b', 3), ('b', 1), ('b', 3), ('a', 1), ('a', 3)]


def test_bucket_threshold_smoke(capsys):
  """The threshold A/B runs end to end on tiny sizes (no timing assertions)."""
  from benchmarks import bucket_threshold
  bucket_threshold.main(['--rounds', '1', '--steps', '1', '--sizes', '3x10,2x5000'])
  out = capsys.readouterr().out
  assert 'adam' in out and 'clip_adam' in out and '3 x 10' in out and '2 x 5000' in out

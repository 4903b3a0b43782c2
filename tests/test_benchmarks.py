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

from benchmarks import budget, harness, report, run, workloads
from benchmarks.workloads import LEAVES_SWEEP, PARAMS_SWEEP, TABLE

# The quick suite's code paths at even smaller sizes, so the whole harness runs in seconds.
TINY = dataclasses.replace(
    workloads.QUICK, name='tiny', big=2_000, bigger=3_000, mixed_leaves=3, many_leaves=8,
    small_leaf=10, params_sweep=(2_000, 3_000), leaves_sweep=(1, 8), leaves_total=80,
    bandwidth_n=100_000, bandwidth_reps=2, rounds=2, round_target_s=0.0, min_steps=2,
    max_steps=2)


def jax_platform():
  import jax
  return jax.devices()[0].platform


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
  assert results['suite'] == 'tiny' and results['smoke'] is True
  assert results['device']['platform'] == jax_platform()
  assert results['torch']['status'].startswith('disabled')
  assert results['budget'] is None and results['skipped'] == []
  variants = set(run.jax_variants())
  assert {report.OPTAX, report.OURS} <= variants
  assert results['bandwidth']['xla']['gb_per_s'] > 0
  assert results['bandwidth']['torch'] is None
  assert results['versions']['optax'] and results['versions']['jax']
  assert results['machine']['cores'] >= 1
  names = [r['name'] for r in results['workloads']]
  assert len(names) == len(set(names)) == len(workloads.build_workloads(TINY))
  for r in results['workloads']:
    assert set(r['libs']) == variants
    for lib in r['libs'].values():
      assert len(lib['step_ms_rounds']) == TINY.rounds
      assert all(math.isfinite(t) and t > 0 for t in lib['step_ms_rounds'])
      assert lib['compile_s'] > 0 and lib['finite'] is True
      assert lib['hlo']['fusions'] >= 1
      assert math.isfinite(lib['fraction_of_limit']) and lib['fraction_of_limit'] > 0
    assert len(r['ratio_rounds']) == TINY.rounds
    assert math.isfinite(r['ratio']) and r['ratio'] > 0
    assert math.isfinite(r['compile_ratio']) and r['compile_ratio'] > 0
    if report.FUSED in variants:
      assert math.isfinite(r['fused_ratio']) and r['fused_compile_ratio'] > 0
      assert r['fused_fraction_of_limit'] > 0
    assert r['limit_ms'] == pytest.approx(
        1e3 * r['passes'] * 4 * r['n_params'] / (results['bandwidth']['limit_basis_gb_per_s']
                                                 * 1e9))
    assert r['steps_per_round'] == 2
  # The progress bar wrote to its stream (not a tty: one line per stage).
  assert results['_progress'].count('\n') >= len(names)
  per = len(variants) + TINY.rounds
  assert f'{len(names) * per + 2}/{len(names) * per + 2}' in results['_progress']


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
  assert any(l.startswith('memory bandwidth') and 'GB/s' in l for l in lines)
  header = next(l for l in lines if l.startswith('workload') and 'optax ms' in l)
  for col in ['optax ms', 'ours ms', 'ratio', 'fused ms', 'fused ratio', 'ours frac',
              'fused frac', 'torch fused ms']:
    assert col in header
  assert lines[0].startswith('SMOKE RUN')  # tiny sizes are labelled, never read as benchmarks
  assert any(l.startswith('device: ' + jax_platform()) for l in lines)
  assert any(l.startswith('PyTorch Adam(fused=True): disabled') for l in lines)
  for r in results['workloads']:
    assert any(l.startswith(r['name'] + ' ') for l in lines)
  assert '(sweep points)' in text
  assert 'optax compile s' in text and 'fused compile s' in text


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
                  '--no-torch', '--no-progress', '--no-plots', '--aa'])
  assert [r['name'] for r in res['workloads']] == ['sgd_momentum_20k']
  out = capsys.readouterr().out
  assert 'sgd_momentum_20k' in out and 'ratio' in out
  # --aa: optax timed twice, its ratio reported as the noise floor.
  assert 'A/A (optax/optax)' in out and res['workloads'][0]['aa_ratio'] > 0
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


def _estimate(total_fixed, round_s):
  return budget.Estimate(setup_s=total_fixed, compile_s=0.0, compile_each={},
                         compile_samples=1, step_s=round_s, steps=0, runners=1)


def test_budget_plan_takes_priority_order_and_spends_the_rest_on_rounds():
  ws = [workloads.Workload(n, '', workloads.adam, ((10,),), 7, frozenset()) for n in 'abcd']
  # total_s(r) = fixed + 4 calibration steps + r rounds: a 14 + r, b 104 + r, c 13 + 2r, ...
  est = {'a': _estimate(10, 1), 'b': _estimate(100, 1), 'c': _estimate(5, 2),
         'd': _estimate(1000, 1)}
  assert est['a'].total_s(3) == 17 and est['c'].total_s(3) == 19
  p = budget.plan(ws, est, available_s=40, max_rounds=6)
  # a (17 s) and c (19 s) fit with 3 rounds each; b and d do not (c, after b, still runs).
  assert list(p.rounds) == ['a', 'c']
  assert [s['name'] for s in p.skipped] == ['b', 'd']
  assert all('budget' in s['reason'] for s in p.skipped)
  # The 4 s left buy more rounds, one at a time in priority order: a, c, a.
  assert p.rounds == {'a': 5, 'c': 4}
  assert sum(est[n].total_s(r) for n, r in p.rounds.items()) == 40
  assert budget.plan(ws, est, available_s=1, max_rounds=6).rounds == {}


def test_fit_rounds():
  assert budget.fit_rounds(10, 1.0, 100.0) == 10
  assert budget.fit_rounds(10, 1.0, 5.5) == 5
  # Later workloads keep their time beyond MIN_ROUNDS, not below it; at least one round.
  assert budget.fit_rounds(10, 1.0, 20.0, later_s=18.0) == budget.MIN_ROUNDS
  assert budget.fit_rounds(10, 1.0, 0.5) == 1


def test_budget_priority_puts_the_issue_rows_first_and_many_leaves_last():
  order = [w.name for w in budget.priority(workloads.build_workloads(workloads.FULL),
                                           workloads.FULL)]
  assert order[:4] == ['adam_20M', 'clip_adam_1000_mixed', 'lars_wd_20M', 'lars_wd_1000_mixed']
  assert order[-1] == 'clip_adam_4000x100'


def test_budget_estimates_grow_with_leaves_and_size():
  m = budget.Machine(bandwidth_bps=20e9, launch_s=5e-6, compile_s_per_kernel=1e-3)
  by = {w.name: w for w in workloads.build_workloads(workloads.FULL)}
  est = {n: budget.estimate(by[n], m, workloads.FULL, ['optax', 'optax_like'], False)
         for n in ('adam_1M', 'adam_50M', 'clip_adam_1000_mixed', 'clip_adam_4000x100')}
  assert est['adam_1M'].total_s(3) < est['adam_50M'].total_s(3)
  assert est['clip_adam_1000_mixed'].compile_s < est['clip_adam_4000x100'].compile_s / 10
  # Cheap compiles get the suite's extra compile-time samples, expensive ones one.
  assert est['adam_1M'].compile_samples == workloads.FULL.compile_reps
  assert est['clip_adam_4000x100'].compile_samples == 1


def test_kernel_probe():
  k = harness.kernel_probe(n_leaves=20, reps=2)
  assert k['kernels'] >= 1 and k['launch_s'] > 0 and k['compile_s_per_kernel'] > 0


def test_cli_budget_finishes_within_it(tmp_path, capsys):
  import time
  t0 = time.perf_counter()
  res = run.main(['--quick', '--budget', '12', '--out-dir', str(tmp_path), '--no-torch',
                  '--no-progress', '--no-plots'])
  assert time.perf_counter() - t0 < 12
  ran = [r['name'] for r in res['workloads']]
  assert ran  # the first workloads of the priority list fit in 12 s
  # Every workload of the suite either ran or is listed as skipped, with a reason.
  every = {w.name for w in workloads.build_workloads(workloads.QUICK)}
  assert set(ran) | {s['name'] for s in res['skipped']} == every
  assert res['budget']['budget_s'] == 12 and res['budget']['used_s'] < 12
  out = capsys.readouterr().out
  assert 'budget 12 s:' in out and 'SMOKE RUN' in out


def test_requirements_are_checked(monkeypatch):
  import builtins
  real_import = builtins.__import__

  def no(*missing):
    def fake(name, *args, **kwargs):
      if name.split('.')[0] in missing:
        raise ImportError(name)
      return real_import(name, *args, **kwargs)
    return fake

  monkeypatch.setattr(builtins, '__import__', no('optax', 'matplotlib'))
  with pytest.raises(SystemExit, match=r"(?s)optax==0\.2\.8 and matplotlib.*pip install"):
    run.check_requirements(plots=True)
  monkeypatch.setattr(builtins, '__import__', no('matplotlib'))
  with pytest.raises(SystemExit, match='--no-plots'):
    run.main(['--quick', '--no-torch'])
  run.check_requirements(plots=False)  # no plots: matplotlib is not needed


def test_fused_variant_is_a_wrapper_of_the_same_optimizer():
  import optax_like
  if not hasattr(optax_like, 'fused'):
    pytest.skip('this optax_like has no fused wrapper')
  w = next(w for w in workloads.build_workloads(TINY) if w.name.startswith('clip_adam'))
  params, grads = harness.make_data(w)
  runner = harness.JaxRunner(optax_like, w, params, grads, wrap=optax_like.fused)
  assert sorted(runner.state) == ['inner_state', 'leaf_index']  # the fused state
  assert runner.steps(2) > 0 and runner.check_finite()
  runner.close()


def test_eager_step_smoke(capsys):
  """The eager A/B runs end to end on tiny sizes (no timing assertions)."""
  from benchmarks import eager_step
  eager_step.main(['--leaves', '3', '--rounds', '1', '--only', 'clip_adam'])
  out = capsys.readouterr().out
  assert 'clip_adam' in out and 'wall ratio' in out

"""Every script of examples/ runs at a small size, in its own process, and prints what it claims.

Each example prints a ``RESULT key=value ...`` line (or, for the data-parallel scripts, their
own summary); the checks are on numbers: the loss went down, a run resumed from a checkpoint
ends bit for bit where the uninterrupted run ends, optax_like agrees with optax.
"""

import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / 'examples'


def _run(script, *args, timeout=300):
  env = dict(os.environ)
  env.pop('XLA_FLAGS', None)   # the scripts choose their own device counts
  env['PYTHONPATH'] = str(ROOT) + os.pathsep + env.get('PYTHONPATH', '')
  result = subprocess.run([sys.executable, str(EXAMPLES / script), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
  return result.stdout


def _result(stdout):
  line = [l for l in stdout.splitlines() if l.startswith('RESULT ')][-1]
  return {k: (v == 'True' if v in ('True', 'False') else float(v))
          for k, v in re.findall(r'(\w+)=(\S+)', line)}


def test_flax_linen_train_state_orbax_checkpoint_resumes_bit_exactly_in_a_new_process():
  out = _run('flax_linen_orbax.py', '--steps', '16', '--hidden', '8')
  result = _result(out)
  assert 'resumed at step 8, finished at step 16' in out
  assert result['bit_exact'] is True
  assert result['last_loss'] < result['first_loss']


@pytest.mark.parametrize('script, size_flag', [('flax_nnx.py', '--hidden'),
                                               ('equinox_train.py', '--width')])
def test_flax_nnx_and_equinox_train_and_match_optax(script, size_flag):
  result = _result(_run(script, '--steps', '15', size_flag, '8'))
  assert result['last_loss'] < 0.9 * result['first_loss']
  assert result['max_diff_vs_optax'] <= 1e-5   # optax is in the test extra


def test_keras_style_loop_with_schedule_and_get_weights_checkpoint_resumes_bit_exactly():
  out = _run('keras_style_training.py', '--steps', '12', '--hidden', '4')
  result = _result(out)
  assert 'restored at iteration 6, finished at 12' in out
  assert result['bit_exact'] is True
  assert result['last_loss'] < result['first_loss']


def test_data_parallel_example_modes_agree(tmp_path):
  out_file = tmp_path / 'result.json'
  out = _run('train_data_parallel.py', '--cpu-devices', '2', '--steps', '2',
             '--out', str(out_file))
  report = json.loads(out_file.read_text())
  assert report['device_count'] == 2, out
  runs = report['runs']
  assert set(runs) == {'gspmd/adamw', 'shard_map/adamw', 'zero1/adamw'}
  reference = runs['gspmd/adamw']['params']
  for name, run in runs.items():
    flat_ref = np.concatenate([np.ravel(x) for x in _leaves(reference)])
    flat = np.concatenate([np.ravel(x) for x in _leaves(run['params'])])
    np.testing.assert_allclose(flat, flat_ref, rtol=1e-5, atol=1e-6, err_msg=name)


def test_zero1_memory_example_halves_the_state_on_two_devices():
  out = _run('zero1_memory.py', '--cpu-devices', '2', '--rounds', '1', '--iters', '1',
             '--width', '32', '--optimizers', 'adam')
  zero1 = [l for l in out.splitlines() if re.match(r'adam\s+zero1\s', l)][0]
  assert float(zero1.split()[3]) == pytest.approx(0.5, abs=0.01)   # "x of repl" column
  assert re.search(r'after \d+ steps: 0\.00e\+00', out)


def _leaves(tree):
  if isinstance(tree, dict):
    return [leaf for key in sorted(tree) for leaf in _leaves(tree[key])]
  if isinstance(tree, list) and tree and isinstance(tree[0], (dict, list)):
    return [leaf for item in tree for leaf in _leaves(item)]
  return [np.asarray(tree, dtype=np.float64)]

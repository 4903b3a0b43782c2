"""A training script written for optax runs unchanged with ``import optax_like as optax``.

``tests/scripts/flax_optax_training.py`` (flax linen ``TrainState``, a loss from optax.losses with
label smoothing, a warmup-cosine schedule under ``inject_hyperparams``, global-norm clipping,
``optax.tree`` calls) is run in two fresh processes: as written, and with ``sys.modules['optax']``
set to ``optax_like`` before it runs, so its own ``import optax`` gets optax_like (flax keeps the
real optax for its internals). The results must be optax's numbers.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).parent / 'scripts' / 'flax_optax_training.py'
AS_OPTAX_LIKE = ("import sys, runpy, flax.training.train_state, optax_like; "
                 "sys.modules['optax'] = optax_like; "
                 f"runpy.run_path({str(SCRIPT)!r}, run_name='__main__')")


def _run(args):
  out = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600,
                       check=False)
  assert out.returncode == 0, out.stderr[-3000:]
  return json.loads(out.stdout.strip().splitlines()[-1])


def test_flax_script_for_optax_runs_unchanged_with_optax_like():
  theirs = _run([str(SCRIPT)])
  ours = _run(['-c', AS_OPTAX_LIKE])
  assert (theirs['optax_module'], ours['optax_module']) == ('optax', 'optax_like')
  np.testing.assert_allclose(ours['losses'], theirs['losses'], rtol=2e-5, atol=1e-6)
  np.testing.assert_allclose(ours['grad_norms'], theirs['grad_norms'], rtol=2e-5, atol=1e-6)
  np.testing.assert_allclose(ours['param_sum'], theirs['param_sum'], rtol=1e-5)
  assert ours['learning_rate'] == theirs['learning_rate']
  assert ours['counts'] == theirs['counts'] == [60, 60, 60]
  assert ours['accuracy'] == theirs['accuracy'] and ours['accuracy'] > 0.8
  assert ours['ones_in_param_shaped_state'] == theirs['ones_in_param_shaped_state']
  assert theirs['losses'][-1] < 0.5 * theirs['losses'][0]   # it trained

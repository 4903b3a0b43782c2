"""The recorded tf.keras 2 / tf-models golden data agree with an independent numpy model.

``tools/gen_keras_golden.py --verify-only`` replays every case of ``tests/data/keras_golden.json``
and ``keras_golden_more.json`` with numpy implementations of TF's kernels (not ours): a
recording mistake (wrong kwargs, a case that recorded something else) fails here, apart from
any mistake of ``optax_like``, whose replays are in test_keras_golden.py and
test_keras_optimizers_golden.py.
"""

import importlib.util
import pathlib

import pytest

TOOL = pathlib.Path(__file__).resolve().parents[1] / 'tools' / 'gen_keras_golden.py'


@pytest.fixture(scope='module')
def tool():
  spec = importlib.util.spec_from_file_location('gen_keras_golden', TOOL)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.mark.parametrize('attr', ['DEFAULT_OUT', 'DEFAULT_OUT_MORE'])
def test_golden_file_agrees_with_the_numpy_model(tool, attr, capsys):
  failures = tool.verify(getattr(tool, attr))
  out = capsys.readouterr().out
  assert failures == 0, '\n'.join(line for line in out.splitlines() if ' BAD ' in line)
  assert ' OK ' in out

"""The README's main job: the demo trains a real model and prints the table."""

import math

from optax_like import demo


def test_demo_trains_every_optimizer_and_prints_table(capsys):
  results = demo.main(['--steps', '40', '--batch', '64'])
  out = capsys.readouterr()
  assert [r.name for r in results] == list(demo.optimizers())
  for r in results:
    assert math.isfinite(r.loss) and r.ms_per_step > 0
    assert r.loss < math.log(3.0), r          # better than the uniform prediction
    assert r.name in out.out
  assert 'test acc' in out.out and 'ms/step' in out.out
  # Not a terminal: no redraws, one final progress line per optimizer.
  assert '\r' not in out.err
  lines = [line for line in out.err.splitlines() if '40/40' in line]
  assert len(lines) == len(results), out.err


def test_spirals_are_deterministic_and_balanced():
  x1, y1 = demo.make_spirals(50, seed=3)
  x2, y2 = demo.make_spirals(50, seed=3)
  assert (x1 == x2).all() and (y1 == y2).all()
  assert x1.shape == (150, 2) and sorted(set(y1.tolist())) == [0, 1, 2]

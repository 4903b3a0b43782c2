"""The shared differential helpers themselves: lockstep, ErrorLog rows and their merging."""

import jax.numpy as jnp
import optax
import pytest

import optax_like as ox
from differential import ErrorLog, format_rows, lockstep, merge_rows


def test_lockstep_checks_every_step_and_starts_from_given_states():
  params = {'w': jnp.ones(2)}
  grads = [{'w': jnp.full(2, x)} for x in (1.0, 2.0)]
  steps = list(lockstep(ox.sgd(0.1, momentum=0.9), optax.sgd(0.1, momentum=0.9), params, grads))
  assert len(steps) == 2 and float(steps[-1].params['w'][0]) == pytest.approx(1 - 0.1 - 0.29)
  # From the states after the first step, the second step is the same.
  resumed, = lockstep(ox.sgd(0.1, momentum=0.9), optax.sgd(0.1, momentum=0.9), params,
                      grads[1:], states=(steps[0].state, steps[0].their_state))
  assert float(resumed.updates['w'][0]) == pytest.approx(float(steps[1].updates['w'][0]))
  # A mismatch fails at the step where it appears.
  with pytest.raises(AssertionError):
    list(lockstep(ox.sgd(0.1), optax.sgd(0.2), params, grads))


def test_error_log_rows_merge_across_processes():
  log = ErrorLog('unit')
  log.add((1e-7, 2e-7), key='a')
  log.add((3e-7, 1e-7), key='a')
  assert log.rows() == [('unit', 'a', 3e-7, 2e-7, 2)]
  # pytest-xdist workers each send rows; the controller keeps the worst and sums the counts.
  merged = merge_rows(log.rows() + [('unit', 'a', 1e-8, 5e-7, 3), ('unit', 'b', 0.0, 0.0, 1)])
  assert merged == [('unit', 'a', 3e-7, 5e-7, 5), ('unit', 'b', 0.0, 0.0, 1)]
  assert format_rows(merged[:1]) == ['unit a: max abs 3.00e-07, max rel 5.00e-07 (5 comparisons)']
  log.worst.clear()   # keep this log out of the session's summary
  log.count.clear()

"""Drop-in contract: every public name shared with optax has optax's signature and defaults.

Our functions may add keyword-only options (with defaults) after optax's parameters; nothing
else may differ.
"""

import inspect

import optax
import pytest

import optax_like as ox

SHARED = sorted(name for name in dir(ox)
                if not name.startswith('_') and hasattr(optax, name)
                and callable(getattr(ox, name)))


def test_the_shared_surface_is_broad():
  required = {'chain', 'named_chain', 'identity', 'stateless', 'set_to_zero', 'apply_updates',
              'incremental_update', 'global_norm', 'clip', 'clip_by_global_norm',
              'clip_by_block_rms', 'trace', 'ema', 'scale', 'scale_by_learning_rate',
              'scale_by_schedule', 'scale_by_adam', 'scale_by_amsgrad', 'scale_by_rms',
              'scale_by_stddev', 'scale_by_trust_ratio', 'add_decayed_weights', 'masked',
              'multi_transform', 'partition', 'apply_if_finite', 'MultiSteps',
              'inject_hyperparams', 'zero_nans', 'keep_params_nonnegative', 'flatten', 'sgd',
              'adam', 'adamw', 'amsgrad', 'nadam', 'rmsprop', 'lars', 'lamb', 'lion', 'adagrad',
              'constant_schedule', 'linear_schedule', 'polynomial_schedule',
              'exponential_decay', 'piecewise_constant_schedule', 'cosine_decay_schedule',
              'warmup_cosine_decay_schedule', 'warmup_exponential_decay_schedule',
              'sgdr_schedule', 'join_schedules'}
  assert required <= set(SHARED), required - set(SHARED)


def _params(fn):
  try:
    return inspect.signature(fn).parameters
  except (TypeError, ValueError):
    return None


@pytest.mark.parametrize('name', SHARED)
def test_signature_matches_optax(name):
  ours, theirs = _params(getattr(ox, name)), _params(getattr(optax, name))
  if theirs is None or inspect.isclass(getattr(optax, name)) and name.endswith('State'):
    pytest.skip('no comparable signature')
  assert ours is not None
  ours_list, theirs_list = list(ours.values()), list(theirs.values())
  assert [p.name for p in ours_list[:len(theirs_list)]] == [p.name for p in theirs_list], name
  for a, b in zip(ours_list, theirs_list):
    assert a.kind == b.kind, (name, a.name)
    assert a.default == b.default or (a.default is inspect.Parameter.empty) == (
        b.default is inspect.Parameter.empty) and repr(a.default) == repr(b.default), (
            name, a.name, a.default, b.default)
  for extra in ours_list[len(theirs_list):]:
    assert extra.kind is inspect.Parameter.KEYWORD_ONLY, (name, extra.name)
    assert extra.default is not inspect.Parameter.empty, (name, extra.name)


@pytest.mark.parametrize('name', [n for n in SHARED if n.endswith('State') or n == 'MaskedNode'])
def test_state_classes_have_optax_fields(name):
  ours, theirs = getattr(ox, name), getattr(optax, name)
  assert getattr(ours, '_fields', None) == getattr(theirs, '_fields', None), name
  # Where optax's name is an alias (e.g. ClipByGlobalNormState = EmptyState), ours has the same
  # class name, so printed tree structures and state class names agree.
  assert ours.__name__ == theirs.__name__, (name, ours.__name__, theirs.__name__)

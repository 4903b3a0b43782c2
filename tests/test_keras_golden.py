"""Golden trajectories from real tf.keras 2 / tf-models LARS against our Keras-numerics chains.

The data comes from ``tools/gen_keras_golden.py`` (real TensorFlow, never installed in CI).
Each dense case is replayed through ``keras_gradient_clipping`` + ``keras_sgd/adam/rmsprop/lars``
(and ``keras_adagrad/adadelta/adamax/nadam/ftrl``)
with ``keras_learning_rate`` over the Keras schedule classes. Sparse cases belong to the
stateful layer (``optax_like.keras``) and are skipped here.
"""

import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optax_like as ox
from optax_like.keras import schedules as keras_schedules
from differential import ErrorLog

_DIR = pathlib.Path(__file__).parent / 'data'
# keras_golden.json: SGD, Adam, RMSprop, LARS; keras_golden_more.json: Adagrad, Adadelta,
# Adamax, Nadam, Ftrl (both written by tools/gen_keras_golden.py).
CASES = {case['name']: case
         for file in ('keras_golden.json', 'keras_golden_more.json')
         for case in json.loads((_DIR / file).read_text())['cases']}
DENSE = sorted(name for name, case in CASES.items()
               if not any(isinstance(g, dict) for step in case['grads'] for g in step))

ERRORS = ErrorLog('keras golden chains')   # worst deviation from real tf.keras, per optimizer


def _f32(x):
  """Keras 2 stores float hyperparameters in float32 variables."""
  return float(np.float32(x))


def build_chain(case):
  kw = dict(case['kwargs'])
  opt = case['optimizer']
  clip = ox.keras_gradient_clipping(kw.pop('clipvalue', None), kw.pop('clipnorm', None),
                                    kw.pop('global_clipnorm', None))
  lr = kw.pop('learning_rate', 0.01 if opt in ('SGD', 'LARS') else 0.001)
  if opt == 'Nadam':
    kw.pop('decay', None)   # tf.keras 2's legacy Nadam ignores `decay`
  alias = kw.pop('lr', None)
  if alias is not None and opt != 'LARS':   # tf-models LARS ignores `lr=`
    lr = alias
  if isinstance(lr, dict):
    lr = keras_schedules.deserialize({'class_name': lr['schedule'], 'config': lr['config']})
  else:
    lr = _f32(lr)
  lr = ox.keras_learning_rate(lr, decay=_f32(kw.pop('decay', 0.0)))
  if opt == 'SGD':
    core = ox.keras_sgd(lr, momentum=_f32(kw.pop('momentum', 0.0)),
                        nesterov=kw.pop('nesterov', False))
  elif opt == 'Adam':
    core = ox.keras_adam(lr, beta_1=_f32(kw.pop('beta_1', 0.9)), beta_2=_f32(kw.pop('beta_2', 0.999)),
                         epsilon=kw.pop('epsilon', 1e-7) or 1e-7, amsgrad=kw.pop('amsgrad', False))
  elif opt == 'RMSprop':
    core = ox.keras_rmsprop(lr, rho=_f32(kw.pop('rho', 0.9)), momentum=_f32(kw.pop('momentum', 0.0)),
                            epsilon=kw.pop('epsilon', 1e-7) or 1e-7,
                            centered=kw.pop('centered', False))
  elif opt == 'Adagrad':
    core = ox.keras_adagrad(lr, initial_accumulator_value=_f32(kw.pop('initial_accumulator_value', 0.1)),
                            epsilon=kw.pop('epsilon', 1e-7))
  elif opt == 'Adadelta':
    core = ox.keras_adadelta(lr, rho=_f32(kw.pop('rho', 0.95)), epsilon=kw.pop('epsilon', 1e-7))
  elif opt == 'Adamax':
    core = ox.keras_adamax(lr, beta_1=_f32(kw.pop('beta_1', 0.9)),
                           beta_2=_f32(kw.pop('beta_2', 0.999)), epsilon=kw.pop('epsilon', 1e-7))
  elif opt == 'Nadam':
    core = ox.keras_nadam(lr, beta_1=_f32(kw.pop('beta_1', 0.9)),
                          beta_2=_f32(kw.pop('beta_2', 0.999)), epsilon=kw.pop('epsilon', 1e-7),
                          schedule_decay=_f32(kw.pop('schedule_decay', 0.004)))
  elif opt == 'Ftrl':
    core = ox.keras_ftrl(lr, **{k: _f32(kw.pop(k)) for k in list(kw)})
  else:
    core = ox.keras_lars(lr, **kw)
    kw = {}
  assert not kw, f'unhandled kwargs {kw}'
  return ox.chain(clip, core)


def replay(case):
  """Runs the chain over the case's gradients; a None gradient leaves that variable and its
  state untouched (Keras filters it) while the shared step count still advances."""
  dtype = jnp.dtype(case['dtype'])
  names = [v['name'] for v in case['variables']]
  params = {n: jnp.asarray(v['initial'], dtype) for n, v in zip(names, case['variables'])}
  opt = build_chain(case)
  state = opt.init(params)
  update = jax.jit(opt.update)
  trajectory = []
  for step in case['grads']:
    present = {n: g is not None for n, g in zip(names, step)}
    grads = {n: jnp.asarray(g, dtype) if g is not None else jnp.zeros_like(params[n])
             for n, g in zip(names, step)}
    updates, new_state = update(grads, state, params)
    new_params = ox.apply_updates(params, updates)
    params = {n: new_params[n] if present[n] else params[n] for n in names}
    state = _select_state(new_state, state, present)
    trajectory.append([np.asarray(params[n]) for n in names])
  return trajectory


def _select_state(new, old, present):
  """Keeps the old state for the leaves of variables without a gradient this step."""
  def pick(path, a, b):
    for key in path:
      name = getattr(key, 'key', None)
      if isinstance(name, str) and name in present:
        return a if present[name] else b
    return a   # shared leaves such as step counts always advance
  return jax.tree_util.tree_map_with_path(pick, new, old)


@pytest.mark.parametrize('name', DENSE)
def test_chain_reproduces_keras_trajectory(name):
  case = CASES[name]
  ctx = jax.enable_x64(True) if case['dtype'] == 'float64' else jax.enable_x64(False)
  with ctx:
    got = replay(case)
  for step, (ours, theirs) in enumerate(zip(got, case['trajectory'])):
    for a, b in zip(ours, theirs):
      b = np.asarray(b, np.float64)
      assert a.dtype == np.dtype(case['dtype'])
      err = np.abs(a - b)
      ERRORS.add((float(err.max(initial=0.0)),
                  float((err / np.maximum(np.abs(b), 1e-6)).max(initial=0.0))),
                 key=case['optimizer'])
      np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7, err_msg=f'step {step}')


def test_golden_data_covers_all_optimizers():
  kinds = {CASES[n]['optimizer'] for n in DENSE}
  assert kinds == {'SGD', 'Adam', 'RMSprop', 'LARS', 'Adagrad', 'Adadelta', 'Adamax', 'Nadam',
                   'Ftrl'}
  assert len(DENSE) >= 60 + 40

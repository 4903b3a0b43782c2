"""Every optimizer alias against optax over random configurations: trajectories to 1e-6."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optax_like as ox
from differential import ErrorLog, assert_trees_close, lockstep, random_tree

N_CONFIGS = 6
N_STEPS = 5


def _lr(rng, with_schedules=True):
  if with_schedules and rng.rand() < 0.3:
    init = float(rng.uniform(1e-3, 0.1))
    return lambda mod: mod.exponential_decay(init, transition_steps=2, decay_rate=0.5)
  value = float(rng.uniform(1e-3, 0.1))
  return lambda mod: value


def _beta(rng, low=0.0, high=0.999):
  return float(rng.uniform(low, high))


def config_sgd(rng):
  lr = _lr(rng)
  kw = {}
  if rng.rand() < 0.7:
    kw['momentum'] = _beta(rng)
    kw['nesterov'] = bool(rng.rand() < 0.5)
  return lambda mod: mod.sgd(lr(mod), **kw)


def config_adam(rng, name='adam'):
  lr = _lr(rng)
  kw = dict(b1=_beta(rng), b2=_beta(rng, 0.5), eps=float(10 ** rng.uniform(-8, -3)))
  if rng.rand() < 0.3:
    kw['eps_root'] = float(10 ** rng.uniform(-8, -4))
  if name in ('adam', 'adamw') and rng.rand() < 0.3:
    kw['nesterov'] = True
  if name == 'adamw':
    kw['weight_decay'] = float(rng.uniform(0, 0.1))
  if name == 'amsgrad' and rng.rand() < 0.5:
    kw['bias_correction_nu'] = False
  return lambda mod: getattr(mod, name)(lr(mod), **kw)


def config_rmsprop(rng):
  lr = _lr(rng)
  kw = dict(decay=_beta(rng, 0.5), eps=float(10 ** rng.uniform(-8, -2)),
            eps_in_sqrt=bool(rng.rand() < 0.5), centered=bool(rng.rand() < 0.5),
            bias_correction=bool(rng.rand() < 0.3))
  if kw['centered'] and kw['bias_correction']:
    # At step 1 the bias-corrected variance nu_hat - mu_hat^2 is exactly 0 mathematically, so
    # results are float32 rounding noise amplified by 1/sqrt(eps): not a meaningful comparison.
    kw['bias_correction'] = False
  if rng.rand() < 0.6:
    kw['momentum'] = _beta(rng)
    kw['nesterov'] = bool(rng.rand() < 0.3)
  return lambda mod: mod.rmsprop(lr(mod), **kw)


def config_lars(rng):
  lr = _lr(rng)
  kw = dict(weight_decay=float(rng.uniform(0, 0.01)), momentum=_beta(rng),
            nesterov=bool(rng.rand() < 0.5), trust_coefficient=float(rng.uniform(1e-3, 0.1)),
            eps=float(rng.choice([0.0, 1e-6])))
  return lambda mod: mod.lars(lr(mod), **kw)


def config_lamb(rng):
  lr = _lr(rng)
  kw = dict(b1=_beta(rng), b2=_beta(rng, 0.5), eps=float(10 ** rng.uniform(-8, -4)),
            weight_decay=float(rng.uniform(0, 0.1)))
  return lambda mod: mod.lamb(lr(mod), **kw)


def config_lion(rng):
  lr = _lr(rng)
  kw = dict(b1=_beta(rng), b2=_beta(rng), weight_decay=float(rng.uniform(0, 0.01)))
  return lambda mod: mod.lion(lr(mod), **kw)


def config_adagrad(rng):
  lr = _lr(rng)
  kw = dict(initial_accumulator_value=float(rng.uniform(0, 1)),
            eps=float(10 ** rng.uniform(-8, -4)))
  return lambda mod: mod.adagrad(lr(mod), **kw)


CONFIGS = {
    'sgd': config_sgd,
    'adam': config_adam,
    'adamw': functools.partial(config_adam, name='adamw'),
    'nadam': functools.partial(config_adam, name='nadam'),
    'amsgrad': functools.partial(config_adam, name='amsgrad'),
    'rmsprop': config_rmsprop,
    'lars': config_lars,
    'lamb': config_lamb,
    'lion': config_lion,
    'adagrad': config_adagrad,
}

# The worst deviation of the params from optax per optimizer, for the terminal summary.
ERRORS = ErrorLog('alias')


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_alias_matches_optax_over_random_configs(name):
  for seed in range(N_CONFIGS):
    rng = np.random.RandomState(1000 + seed)
    make = CONFIGS[name](rng)
    params = random_tree(rng)
    grads = [random_tree(rng) for _ in range(N_STEPS)]
    # Updates and states (optax's layout, leaf by leaf) at every step, then the params.
    for step in lockstep(make(ox), make(optax), params, grads, jit=(seed == 0)):
      ERRORS.add(assert_trees_close(step.params, step.their_params), key=name)


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_alias_signature_matches_optax(name):
  import inspect
  ours = inspect.signature(getattr(ox, name)).parameters
  theirs = inspect.signature(getattr(optax, name)).parameters
  assert list(ours) == list(theirs)
  for key in theirs:
    assert ours[key].default == theirs[key].default, key
    assert ours[key].kind == theirs[key].kind, key


def test_sgd_hand_computed_momentum_trajectory():
  opt = ox.sgd(0.1, momentum=0.9)
  p = jnp.array([1.0])
  s = opt.init(p)
  traj = []
  for _ in range(3):
    u, s = opt.update(jnp.array([1.0]), s, p)
    p = ox.apply_updates(p, u)
    traj.append(p.item())
  # velocities 1, 1.9, 2.71 -> steps of 0.1, 0.19, 0.271
  np.testing.assert_allclose(traj, [0.9, 0.71, 0.439], rtol=1e-6)


def test_adam_hand_computed_first_steps():
  opt = ox.adam(0.1, b1=0.5, b2=0.5, eps=0.0)
  s = opt.init(jnp.zeros(1))
  u1, s = opt.update(jnp.array([2.0]), s)
  u2, s = opt.update(jnp.array([4.0]), s)
  # step 2: m = 0.5*1 + 0.5*4 = 2.5 -> /0.75; v = 0.5*2 + 0.5*16 = 9 -> /0.75
  np.testing.assert_allclose(u1, [-0.1], rtol=1e-6)
  np.testing.assert_allclose(u2, [-0.1 * (2.5 / 0.75) / np.sqrt(9 / 0.75)], rtol=1e-6)


def test_rmsprop_hand_computed_eps_placement():
  g = jnp.array([3.0])
  inside = ox.rmsprop(1.0, decay=0.0, eps=16.0, eps_in_sqrt=True)
  outside = ox.rmsprop(1.0, decay=0.0, eps=1.0, eps_in_sqrt=False)
  np.testing.assert_allclose(inside.update(g, inside.init(g))[0], [-3.0 / 5.0], rtol=1e-6)
  np.testing.assert_allclose(outside.update(g, outside.init(g))[0], [-3.0 / 4.0], rtol=1e-6)


def test_lars_zero_param_falls_back_to_unit_trust_ratio():
  opt = ox.lars(0.5, momentum=0.0, trust_coefficient=0.001)
  p = {'k': jnp.array([3.0, 4.0]), 'b': jnp.zeros(2)}
  g = {'k': jnp.array([0.0, 2.0]), 'b': jnp.array([1.0, 1.0])}
  u, _ = opt.update(g, opt.init(p), p)
  # kernel: ratio 0.001 * 5 / 2; bias: zero norm -> ratio 1.
  np.testing.assert_allclose(u['k'], -0.5 * 0.0025 * np.array([0.0, 2.0]), rtol=1e-6)
  np.testing.assert_allclose(u['b'], [-0.5, -0.5], rtol=1e-6)


def test_learning_rate_must_be_number_or_schedule():
  with pytest.raises(TypeError, match='`learning_rate` must be a number or a schedule'):
    ox.adam('fast')
  with pytest.raises(ValueError, match='`learning_rate` must be a scalar or a schedule'):
    ox.sgd(jnp.ones(3))


def test_negative_momentum_is_rejected():
  with pytest.raises(ValueError, match='`momentum` must be >= 0'):
    ox.sgd(0.1, momentum=-0.5)


def test_keras_chains_take_a_traced_momentum_as_the_momentum_path():
  # Keras 2: a tensor momentum always takes the momentum path, whatever its value.
  g = jnp.array([1.0])
  for make in (lambda m: ox.keras_sgd(0.1, momentum=m),
               lambda m: ox.keras_rmsprop(0.1, momentum=m)):
    eager = make(0.5)

    @jax.jit
    def two_steps(m):
      opt = make(m)
      s = opt.init(g)
      _, s = opt.update(g, s)
      return opt.update(g, s)[0]

    s = eager.init(g)
    _, s = eager.update(g, s)
    np.testing.assert_allclose(two_steps(jnp.float32(0.5)), eager.update(g, s)[0], rtol=1e-6)

"""Adam variants (AdaBelief, AdaDelta, Adamax(W), Adan, NAdamW, RAdam, Yogi, NovoGrad) and the
top-level numerics helpers: optax parity over random trees, hand values, 16-bit precision,
``fused``, and input errors."""

import functools
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optax_like as ox
from optax_like._src import adaptive_variants as av
from optax_like._src import alias_adaptive
from optax_like._src import numerics
from differential import (DIFFERENTIAL_KINDS, ErrorLog, assert_doctests_pass,
                          assert_documented_with_math, assert_trees_close, lockstep, random_grads,
                          random_tree)

TRANSFORMS = ['scale_by_belief', 'scale_by_adadelta', 'scale_by_adamax', 'scale_by_adan',
              'scale_by_radam', 'scale_by_yogi', 'scale_by_novograd']
ALIASES = ['adabelief', 'adadelta', 'adamax', 'adamaxw', 'adan', 'nadamw', 'radam', 'yogi',
           'novograd']
NUMERICS = ['bias_correction', 'update_moment', 'update_moment_per_elem_norm',
            'update_infinity_moment', 'safe_norm', 'safe_root_mean_squares', 'safe_increment']
STATES = ['ScaleByBeliefState', 'ScaleByAdaDeltaState', 'ScaleByAdanState',
          'ScaleByNovogradState']

ERRORS = ErrorLog('adaptive_variants')   # worst deviation from optax per name, for the summary


def _states_close(ours, theirs, err=''):
  """Same class names and fields at every NamedTuple node, every leaf close."""
  if hasattr(theirs, '_fields'):
    assert type(ours).__name__ == type(theirs).__name__ and ours._fields == theirs._fields, err
  if isinstance(theirs, tuple):
    for a, b in zip(ours, theirs):
      if isinstance(b, tuple):
        _states_close(a, b, err)
  return assert_trees_close(ours, theirs, err_msg=err)


def _config(name, rng):
  """Random hyperparameters (every argument) for a transform or an alias."""
  u, coin = rng.uniform, lambda: bool(rng.integers(2))
  decay = lambda: float(u(0.0, 0.99))
  eps = lambda: float(10 ** u(-8, -2))
  if name in ('scale_by_belief', 'adabelief'):
    return dict(b1=decay(), b2=decay(), eps=eps(), eps_root=eps(), nesterov=coin())
  if name in ('scale_by_adadelta', 'adadelta'):
    extra = dict(weight_decay=float(u(0, 0.1))) if name == 'adadelta' else {}
    return dict(rho=decay(), eps=eps(), **extra)
  if name in ('scale_by_adamax', 'adamax', 'adamaxw'):
    extra = dict(weight_decay=float(u(0, 0.1))) if name == 'adamaxw' else {}
    return dict(b1=decay(), b2=float(u(0.5, 1.0)), eps=eps(), **extra)
  if name in ('scale_by_adan', 'adan'):
    extra = dict(weight_decay=float(u(0, 0.1))) if name == 'adan' else {}
    return dict(b1=decay(), b2=decay(), b3=decay(), eps=eps(), eps_root=eps(), **extra)
  if name in ('scale_by_radam', 'radam'):
    # b2 low enough that rho_t crosses the threshold within the run.
    return dict(b1=decay(), b2=float(u(0.5, 0.9)), eps=eps(), eps_root=eps(),
                threshold=float(u(3.0, 6.0)), nesterov=coin())
  if name == 'scale_by_yogi':
    return dict(b1=decay(), b2=decay(), eps=eps(), eps_root=eps(),
                initial_accumulator_value=float(u(0, 0.1)))
  if name == 'yogi':
    return dict(b1=decay(), b2=decay(), eps=eps())
  if name in ('scale_by_novograd', 'novograd'):
    extra = dict(mu_dtype=[None, jnp.float32][rng.integers(2)]) if name != 'novograd' else {}
    return dict(b1=decay(), b2=decay(), eps=eps(), eps_root=eps(),
                weight_decay=float(u(0, 0.1)), **extra)
  if name == 'nadamw':
    return dict(b1=decay(), b2=decay(), eps=eps(), eps_root=eps(),
                weight_decay=float(u(0, 0.1)))
  raise AssertionError(name)


def _differential(name, seed, *, jit, n_steps=5, move_params=False):
  rng = np.random.default_rng(seed)
  config = _config(name, rng)
  kind = DIFFERENTIAL_KINDS[seed % len(DIFFERENTIAL_KINDS)]
  params = random_tree(rng, kind)
  if name.startswith('scale_by'):
    ours, theirs = getattr(av, name)(**config), getattr(optax, name)(**config)
  else:
    lr = float(rng.uniform(0.01, 0.5))
    ours, theirs = getattr(ox, name)(lr, **config), getattr(optax, name)(lr, **config)
  err = f'{name} seed={seed} jit={jit} kind={kind} config={config}'
  check = lambda a, b: ERRORS.add(assert_trees_close(a, b, err_msg=err), key=name)
  check_state = lambda a, b: ERRORS.add(_states_close(a, b, err), key=name)
  if jit:
    check_state(jax.jit(ours.init)(params), theirs.init(params))
  list(lockstep(ours, theirs, params, random_grads(rng, kind, n_steps), jit=jit,
                move_params=move_params, check=check, check_state=check_state))


# ----------------------------------------------------------------------------
# Parity with optax.
# ----------------------------------------------------------------------------


@pytest.mark.parametrize('name', TRANSFORMS)
def test_transforms_match_optax(name):
  _differential(name, 2, jit=False, n_steps=4)   # a tree with a None leaf
  _differential(name, 10, jit=True, n_steps=3)   # nested dicts under a list


@pytest.mark.parametrize('name', ALIASES)
def test_aliases_match_optax(name):
  # Jitted runs of every alias at its defaults are test_optimizer_sweep's; here random configs.
  _differential(name, 21, jit=False, n_steps=3, move_params=True)


def test_complex_params_match_optax():
  # The transforms optax runs on complex parameters (AdaDelta and Adan it does not).
  rng = np.random.default_rng(4)
  cplx = lambda shape: jnp.asarray(rng.normal(size=shape) + 1j * rng.normal(size=shape),
                                   jnp.complex64)
  params = {'a': cplx(3), 'b': cplx((2, 2))}
  grads = [jax.tree.map(lambda p: cplx(p.shape), params) for _ in range(3)]
  for name in ('scale_by_belief', 'scale_by_adamax', 'scale_by_radam', 'scale_by_yogi',
               'scale_by_novograd'):
    config = dict(threshold=3.0, b2=0.6) if name == 'scale_by_radam' else {}
    for step in lockstep(getattr(av, name)(**config), getattr(optax, name)(**config), params,
                         grads, move_params=False, check_state=_states_close):
      assert step.updates['a'].dtype == jnp.complex64, name


def test_signatures_defaults_and_state_fields_match_optax():
  for name in TRANSFORMS + ALIASES + NUMERICS + ['safe_int32_increment']:
    assert inspect.signature(getattr(ox, name)).parameters.keys() == \
        inspect.signature(getattr(optax, name)).parameters.keys(), name
    for p, q in zip(inspect.signature(getattr(ox, name)).parameters.values(),
                    inspect.signature(getattr(optax, name)).parameters.values()):
      assert (p.default, p.kind) == (q.default, q.kind), (name, p.name)
  for cls in STATES:
    assert getattr(ox, cls)._fields == getattr(optax, cls)._fields, cls
  # Adamax, RAdam and Yogi keep Adam's state class, as in optax.
  for name in ('scale_by_adamax', 'scale_by_radam', 'scale_by_yogi'):
    assert type(getattr(ox, name)().init(jnp.zeros(1))) is ox.ScaleByAdamState


def test_injected_hyperparameters_match_optax():
  params = random_tree(np.random.default_rng(0), 'small')
  grads = list(random_grads(np.random.default_rng(1), 'small', 5))
  for name, hps in [('scale_by_radam', dict(b1=0.8, b2=0.7, threshold=4.0)),
                    ('scale_by_adan', dict(b1=0.9, b2=0.8, b3=0.95))]:
    ours = optax.inject_hyperparams(getattr(ox, name))(**hps)
    theirs = optax.inject_hyperparams(getattr(optax, name))(**hps)
    list(lockstep(ours, theirs, params, grads, move_params=False))


def test_none_update_keeps_state_leaves():
  for name in TRANSFORMS:
    tx = getattr(av, name)()
    params = {'a': jnp.ones(2), 'b': jnp.ones(2)}
    _, state = tx.update(params, tx.init(params), params)
    updates, new_state = tx.update({'a': None, 'b': jnp.ones(2)}, state, params)
    assert updates['a'] is None, name
    for field, value in new_state._asdict().items():
      if isinstance(value, dict):
        assert value['a'] is state._asdict()[field]['a'], (name, field)


def test_init_under_jit_equals_eager_and_counts_are_int32():
  params = random_tree(np.random.default_rng(0), 'small')
  for name in TRANSFORMS:
    tx = getattr(av, name)()
    eager = tx.init(params)
    assert_trees_close(jax.jit(tx.init)(params), eager)
    for field in ('count', 't'):
      if field in eager._fields:
        assert getattr(eager, field).dtype == jnp.int32, name


# ----------------------------------------------------------------------------
# Hand-computed values (float64 numpy formulas of the papers).
# ----------------------------------------------------------------------------


GRADS = [np.array([0.5, -2.0, 3.0]), np.array([1.5, 1.0, -0.5]), np.array([-1.0, 0.25, 2.0]),
         np.array([2.0, -1.0, 0.5]), np.array([0.1, 3.0, -2.0]), np.array([1.0, 1.0, 1.0]),
         np.array([-0.5, 2.0, 0.3])]


def _ours(tx, params=None):
  params = np.zeros(3) if params is None else params
  state = tx.init(jnp.asarray(params, jnp.float32))
  out = []
  for g in GRADS:
    u, state = tx.update(jnp.asarray(g, jnp.float32), state, jnp.asarray(params, jnp.float32))
    out.append(np.asarray(u, np.float64))
  return np.stack(out)


def test_hand_values_adamax_yogi_belief():
  b1, b2, eps = 0.8, 0.9, 1e-3
  m = v = s = np.zeros(3)
  my, vy = np.full(3, 0.01), np.full(3, 0.01)
  adamax, yogi, belief = [], [], []
  for t, g in enumerate(GRADS, start=1):
    m = (1 - b1) * g + b1 * m
    v = np.maximum(np.abs(g) + eps, b2 * v)
    adamax.append(m / (1 - b1 ** t) / v)
    my = (1 - b1) * g + b1 * my
    vy = vy - (1 - b2) * np.sign(vy - g * g) * g * g
    yogi.append(my / (1 - b1 ** t) / (np.sqrt(vy / (1 - b2 ** t)) + eps))
    s = (1 - b2) * (g - m) ** 2 + b2 * s + 1e-6
    belief.append(m / (1 - b1 ** t) / (np.sqrt(s / (1 - b2 ** t)) + eps))
  np.testing.assert_allclose(_ours(ox.scale_by_adamax(b1, b2, eps)), adamax, rtol=1e-5)
  np.testing.assert_allclose(
      _ours(ox.scale_by_yogi(b1, b2, eps, initial_accumulator_value=0.01)), yogi, rtol=1e-5)
  np.testing.assert_allclose(_ours(ox.scale_by_belief(b1, b2, eps, eps_root=1e-6)), belief,
                             rtol=1e-5)


def test_hand_values_radam_switches_at_the_threshold():
  b1, b2, threshold = 0.9, 0.8, 4.0
  rho_inf = 2 / (1 - b2) - 1   # 9
  m = v = np.zeros(3)
  expected, switched = [], []
  for t, g in enumerate(GRADS, start=1):
    m, v = (1 - b1) * g + b1 * m, (1 - b2) * g * g + b2 * v
    m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
    rho = rho_inf - 2 * t * b2 ** t / (1 - b2 ** t)
    switched.append(rho >= threshold)
    if rho >= threshold:
      r = np.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
      expected.append(r * m_hat / (np.sqrt(v_hat) + 1e-8))
    else:
      expected.append(m_hat)
  assert not switched[0] and switched[-1]   # both branches are exercised
  np.testing.assert_allclose(_ours(ox.scale_by_radam(b1, b2, threshold=threshold)), expected,
                             rtol=1e-5)


def test_hand_values_adan_adadelta_novograd():
  b1, b2, b3 = 0.7, 0.8, 0.9
  m = v = n = prev = np.zeros(3)
  adan = []
  for t, g in enumerate(GRADS, start=1):
    d = np.zeros(3) if t == 1 else g - prev
    m, v = (1 - b1) * g + b1 * m, (1 - b2) * d + b2 * v
    n = (1 - b3) * (g + (1 - b2) * d) ** 2 + b3 * n
    adan.append((m / (1 - b1 ** t) + (1 - b2) * v / (1 - b2 ** t))
                / (np.sqrt(n / (1 - b3 ** t)) + 1e-8))
    prev = g
  np.testing.assert_allclose(_ours(ox.scale_by_adan(b1, b2, b3)), adan, rtol=1e-5)

  rho, eps = 0.7, 1e-2
  e_g = e_x = np.zeros(3)
  adadelta = []
  for g in GRADS:
    e_g = (1 - rho) * g * g + rho * e_g
    u = np.sqrt(e_x + eps) / np.sqrt(e_g + eps) * g
    e_x = (1 - rho) * u * u + rho * e_x
    adadelta.append(u)
  np.testing.assert_allclose(_ours(ox.scale_by_adadelta(rho, eps)), adadelta, rtol=1e-5)

  w, wd = np.array([1.0, -2.0, 0.5]), 0.1
  mu, nu = np.zeros(3), 0.0
  novograd = []
  for t, g in enumerate(GRADS, start=1):
    sq = float(np.sum(g * g))
    nu = sq if t == 1 else (1 - b2) * sq + b2 * nu
    step = g / (np.sqrt(nu) + 1e-8) + wd * w
    mu = step if t == 1 else b1 * mu + step
    novograd.append(mu)
  np.testing.assert_allclose(_ours(ox.scale_by_novograd(b1, b2, weight_decay=wd), w), novograd,
                             rtol=1e-5)


def test_adadelta_without_learning_rate_is_unscaled_as_in_optax():
  p = jnp.zeros(2)
  g = jnp.array([1.0, -2.0])
  ours, _ = ox.adadelta().update(g, ox.adadelta().init(p), p)
  bare, _ = ox.scale_by_adadelta().update(g, ox.scale_by_adadelta().init(p))
  theirs, _ = optax.adadelta().update(g, optax.adadelta().init(p), p)
  np.testing.assert_array_equal(ours, bare)
  np.testing.assert_allclose(ours, theirs, rtol=1e-6)
  assert float(ours[0]) > 0   # no learning rate: not negated


# ----------------------------------------------------------------------------
# Precision: 16-bit leaves computed in float32, rounded when stored or returned.
# ----------------------------------------------------------------------------


@pytest.mark.parametrize('name', TRANSFORMS)
def test_bf16_leaves_compute_in_float32(name):
  """A bf16 run equals a float32 run whose state is rounded to bf16 after every step, with
  each update rounded once to bf16: nothing else is rounded."""
  bf16 = jnp.bfloat16
  rng = np.random.default_rng(7)
  params = {'w': jnp.asarray(rng.normal(size=(2, 3)), bf16), 's': jnp.asarray(0.5, bf16)}
  grads = [jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape), bf16), params)
           for _ in range(3)]
  to32 = lambda t: jax.tree.map(lambda x: x.astype(jnp.float32) if x.dtype == bf16 else x, t)
  round_bf16 = lambda t: jax.tree.map(
      lambda x: x.astype(bf16).astype(jnp.float32) if x.dtype == jnp.float32 else x, t)
  tx = getattr(av, name)(**({'threshold': 3.0, 'b2': 0.6} if name == 'scale_by_radam' else {}))
  state, state32 = tx.init(params), tx.init(to32(params))
  for g in grads:
    u, state = tx.update(g, state, params)
    u32, state32 = tx.update(to32(g), state32, to32(params))
    state32 = round_bf16(state32)
    assert all(x.dtype == bf16 for x in jax.tree.leaves(u))
    assert all(x.dtype in (bf16, jnp.int32) for x in jax.tree.leaves(state))
    assert_trees_close(to32(u), jax.tree.map(lambda x: x.astype(bf16).astype(jnp.float32), u32),
                       rtol=0, atol=0)
    assert_trees_close(to32(state), state32, rtol=0, atol=0)


def test_bf16_second_moment_decays_where_bf16_arithmetic_would_not():
  # 1 - 0.999 and 0.999 are not representable in bf16 (0.999 rounds to 1.0); computed in
  # float32 the belief variance s decays by 0.999 per step and rounds only when stored.
  assert float(jnp.asarray(0.999, jnp.bfloat16)) == 1.0
  tx = ox.scale_by_belief(b1=0.0, eps_root=0.0)
  state = tx.init(jnp.zeros(1, jnp.bfloat16))
  _, state = tx.update(jnp.full(1, 64.0, jnp.bfloat16), state)
  assert float(state.nu[0]) == 0.0   # b1 = 0: m = g, so g - m = 0
  tx = ox.scale_by_adamax(b2=0.5)
  state = tx.init(jnp.zeros(1, jnp.bfloat16))
  _, state = tx.update(jnp.full(1, 3.0, jnp.bfloat16), state)
  _, state = tx.update(jnp.zeros(1, jnp.bfloat16), state)
  assert float(state.nu[0]) == 1.5


# ----------------------------------------------------------------------------
# fused.
# ----------------------------------------------------------------------------


# One alias per transform of this family (adamax's is adamaxw's; nadamw is adamw's chain).
@pytest.mark.parametrize('name', ['adabelief', 'adadelta', 'adamaxw', 'adan', 'radam', 'yogi'])
def test_fused_equals_the_plain_alias(name):
  rng = np.random.default_rng(3)
  config = _config(name, rng)
  kw = dict(mask={'dense': {'kernel': True, 'bias': False}, 'blocks': [True, False]}) \
      if name in ('adamaxw', 'adan', 'nadamw') else {}
  plain = getattr(ox, name)(0.05, **config, **kw)
  fast = ox.fused(getattr(ox, name)(0.05, **config, **kw))
  params = random_tree(rng, 'small')
  p_plain = p_fast = params
  s_plain, s_fast = plain.init(params), fast.init(params)
  # Both jitted: an eager step and a jitted one differ by float rounding already.
  update_plain, update_fast = jax.jit(plain.update), jax.jit(fast.update)
  for g in random_grads(rng, 'small', 3):
    u_plain, s_plain = update_plain(g, s_plain, p_plain)
    u_fast, s_fast = update_fast(g, s_fast, p_fast)
    assert_trees_close(u_fast, u_plain, err_msg=name)
    p_plain, p_fast = ox.apply_updates(p_plain, u_plain), ox.apply_updates(p_fast, u_fast)
  _states_close(ox.to_optax_state(fast, s_fast, p_fast), s_plain, name)


def test_fused_refuses_novograd_naming_it():
  with pytest.raises(ValueError, match='scale_by_novograd'):
    ox.fused(ox.novograd(0.1))


# ----------------------------------------------------------------------------
# Errors.
# ----------------------------------------------------------------------------


@pytest.mark.parametrize('factory,kwargs,match', [
    (ox.scale_by_belief, dict(b1=1.0), r'scale_by_belief: `b1` must be in \[0.0, 1.0\)'),
    (ox.scale_by_belief, dict(eps_root=-1.0), r'scale_by_belief: `eps_root` must be >= 0'),
    (ox.scale_by_adadelta, dict(rho=1.5), r'scale_by_adadelta: `rho` must be in \[0.0, 1.0\]'),
    (ox.scale_by_adadelta, dict(eps=-1e-6), r'scale_by_adadelta: `eps` must be >= 0'),
    (ox.scale_by_adamax, dict(b1=-0.1), r'scale_by_adamax: `b1` must be in'),
    (ox.scale_by_adamax, dict(b2=1.01), r'scale_by_adamax: `b2` must be in \[0.0, 1.0\]'),
    (ox.scale_by_adan, dict(b3=1.0), r'scale_by_adan: `b3` must be in \[0.0, 1.0\)'),
    (ox.scale_by_radam, dict(b2=1.0), r'scale_by_radam: `b2` must be in \[0.0, 1.0\)'),
    (ox.scale_by_radam, dict(threshold=float('nan')),
     r'scale_by_radam: `threshold` must be in \[-inf, inf\], got nan'),
    (ox.scale_by_novograd, dict(weight_decay=np.ones(2)),
     r'scale_by_novograd: `weight_decay` must be a scalar'),
    (ox.scale_by_yogi, dict(initial_accumulator_value=-1.0),
     r'scale_by_yogi: `initial_accumulator_value` must be >= 0'),
    (ox.scale_by_novograd, dict(b2=2.0), r'scale_by_novograd: `b2` must be in'),
    (ox.adabelief, dict(learning_rate=0.1, b2=1.0), r'scale_by_belief: `b2`'),
    (ox.adan, dict(learning_rate=0.1, eps=-1.0), r'scale_by_adan: `eps` must be >= 0'),
    (ox.yogi, dict(learning_rate=jnp.ones(2)), r'yogi: `learning_rate` must be a scalar'),
])
def test_value_errors_name_the_argument(factory, kwargs, match):
  with pytest.raises(ValueError, match=match):
    factory(**kwargs)


@pytest.mark.parametrize('factory,kwargs,match', [
    (ox.scale_by_adan, dict(b1=True), r'scale_by_adan: `b1` must be a number, got the boolean'),
    (ox.scale_by_yogi, dict(eps=False), r'scale_by_yogi: `eps` must be a number'),
    (ox.radam, dict(learning_rate=True), r'radam: `learning_rate` must be a number'),
    (ox.adadelta, dict(learning_rate='fast'), r'adadelta: `learning_rate` must be a number'),
    (ox.scale_by_novograd, dict(weight_decay=lambda t: 0.1),
     r'scale_by_novograd: `weight_decay` must be a number, not a schedule'),
    (ox.scale_by_novograd, dict(mu_dtype=jnp.int32), r'scale_by_novograd: `mu_dtype`'),
])
def test_type_errors_name_the_argument(factory, kwargs, match):
  with pytest.raises(TypeError, match=match):
    factory(**kwargs)


def test_mismatched_trees_name_the_path():
  for name in TRANSFORMS:
    tx = getattr(av, name)()
    state = tx.init({'a': jnp.zeros(2)})
    grads = {'a': jnp.zeros(2), 'b': jnp.zeros(2)}
    with pytest.raises(ValueError, match=rf"{name}: updates and state\.\w+ have different "
                                         r"tree structures.*\['b'\]"):
      tx.update(grads, state, grads)


def test_novograd_needs_params_and_a_state_of_its_own():
  tx = ox.scale_by_novograd()
  with pytest.raises(ValueError, match='scale_by_novograd needs the current parameters'):
    tx.update(jnp.ones(2), tx.init(jnp.zeros(2)))
  with pytest.raises(TypeError, match=r'scale_by_novograd: `state` must be the '
                                      r'ScaleByNovogradState'):
    tx.update(jnp.ones(2), ox.scale_by_adam().init(jnp.zeros(2)), jnp.zeros(2))
  with pytest.raises(ValueError, match=r"scale_by_novograd: updates and params .*\['b'\]"):
    tx.update({'a': jnp.ones(2)}, tx.init({'a': jnp.zeros(2)}),
              {'a': jnp.zeros(2), 'b': jnp.zeros(1)})


# ----------------------------------------------------------------------------
# Numerics helpers.
# ----------------------------------------------------------------------------


def _numerics_inputs():
  rng = np.random.default_rng(11)
  f32 = random_tree(rng, 'with_none')
  moments_tree = jax.tree.map(lambda x: jnp.abs(x) + 0.1, random_tree(rng, 'with_none'))
  bf16 = jax.tree.map(lambda x: x.astype(jnp.bfloat16), f32)
  cplx = {'x': jnp.asarray(rng.normal(size=4) + 1j * rng.normal(size=4), jnp.complex64)}
  return f32, moments_tree, bf16, cplx


@pytest.mark.parametrize('name,extra', [('update_moment', dict(order=1)),
                                        ('update_moment', dict(order=2)),
                                        ('update_moment_per_elem_norm', dict(order=2)),
                                        ('update_moment_per_elem_norm', dict(order=3)),
                                        ('update_infinity_moment', dict(eps=1e-3))])
def test_moment_helpers_match_optax(name, extra):
  f32, m, bf16, cplx = _numerics_inputs()
  ours, theirs = getattr(ox, name), getattr(optax, name)
  for decay in (0.9, jnp.float32(0.5)):
    assert_trees_close(ours(f32, m, decay, **extra), theirs(f32, m, decay, **extra))
    # bf16 against bf16 moments: optax's dtype, our float32 arithmetic rounded once.
    m16 = jax.tree.map(lambda x: x.astype(jnp.bfloat16), m)
    got, want = ours(bf16, m16, decay, **extra), theirs(bf16, m16, decay, **extra)
    assert jax.tree.map(lambda x: x.dtype, got) == jax.tree.map(lambda x: x.dtype, want)
    assert_trees_close(got, theirs(jax.tree.map(lambda x: x.astype(jnp.float32), bf16), m,
                                   decay, **extra), rtol=1e-2, atol=1e-2, check_dtype=False)
  if name != 'update_infinity_moment':   # optax's own maximum over complex is lexicographic
    zeros = jax.tree.map(jnp.zeros_like, cplx)
    assert_trees_close(ours(cplx, zeros, 0.7, **extra), theirs(cplx, zeros, 0.7, **extra))
  # A None update gives None, whatever the moment (optax's test_none_arguments).
  assert ours(None, jnp.ones(3), 1.0, *extra.values()) is None


def test_bias_correction_matches_optax_and_keeps_bf16():
  f32, m, _, _ = _numerics_inputs()
  for count in (1, jnp.asarray(3, jnp.int32), 1000):
    assert_trees_close(ox.bias_correction(m, 0.9, count), optax.bias_correction(m, 0.9, count))
  m16 = jnp.logspace(-10, 10, num=21, dtype=jnp.bfloat16)
  out = ox.bias_correction(m16, 0.9995, 1)
  assert out.dtype == jnp.bfloat16 and bool(jnp.all(jnp.isfinite(out)))
  np.testing.assert_allclose(np.asarray(ox.bias_correction(jnp.array([0.75]), 0.5, 2)), [1.0])


@pytest.mark.parametrize('ord_,axis,keepdims', [(None, None, False), (2, 1, True),
                                                (np.inf, 1, False)])
def test_safe_norm_matches_optax_with_zero_gradient_where_floored(ord_, axis, keepdims):
  x = jnp.asarray(np.random.default_rng(0).normal(size=(3, 4)), jnp.float32)
  x = x.at[1].set(0.0)   # a zero row: floored under axis=1
  for min_norm in (0.0, 0.5):
    ours = ox.safe_norm(x, min_norm, ord_, axis, keepdims)
    theirs = optax.safe_norm(x, min_norm, ord_, axis, keepdims)
    assert_trees_close(ours, theirs)
    jac = jax.jacfwd(functools.partial(ox.safe_norm, ord=ord_, axis=axis, keepdims=keepdims))
    g = jac(jnp.zeros((3, 4)), jnp.float32(min_norm))
    assert bool(jnp.all(g == 0)), (ord_, axis, min_norm)


def test_safe_root_mean_squares():
  assert float(ox.safe_root_mean_squares(jnp.array([3.0, 4.0, 0.0, 0.0]), 0.1)) == 2.5
  assert float(ox.safe_root_mean_squares(jnp.zeros(3), 0.25)) == 0.25
  x = jnp.array([1.0 + 1.0j, 2.0])
  assert_trees_close(ox.safe_root_mean_squares(x, 0.0), optax.safe_root_mean_squares(x, 0.0))
  for floor in (0.0, 3.0):
    assert float(jax.grad(ox.safe_root_mean_squares)(jnp.float32(0.0), floor)) == 0.0


@pytest.mark.parametrize('dtype', ['int8', 'uint16', 'int32', 'float16', 'bfloat16',
                                   'float32'])
def test_safe_increment_saturates(dtype):
  inc = jax.jit(ox.safe_increment)
  assert inc(jnp.asarray(3, dtype)).dtype == jnp.dtype(dtype)
  assert float(inc(jnp.asarray(3, dtype))) == 4
  info = jnp.iinfo(dtype) if jnp.issubdtype(dtype, jnp.integer) else jnp.finfo(dtype)
  top = jnp.asarray(info.max, dtype)
  assert inc(top) == top
  assert ox.safe_int32_increment is ox.safe_increment


@pytest.mark.parametrize('dtype', ['bool', 'complex64'])
def test_safe_increment_rejects_other_dtypes(dtype):
  with pytest.raises(ValueError, match=r'safe_increment: `count` must have an integer or '
                                       r'floating dtype'):
    ox.safe_increment(jnp.asarray(1, dtype))


# ----------------------------------------------------------------------------
# Documentation.
# ----------------------------------------------------------------------------


def test_docstring_examples_run():
  assert_doctests_pass(av, at_least=len(TRANSFORMS))
  assert_doctests_pass(alias_adaptive, at_least=len(ALIASES))
  assert_doctests_pass(numerics, at_least=len(NUMERICS))


def test_every_public_name_documented_with_math_and_example():
  assert_documented_with_math(av, TRANSFORMS)
  assert_documented_with_math(alias_adaptive, ALIASES)
  assert_documented_with_math(numerics, NUMERICS)

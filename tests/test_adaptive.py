"""Tests for optax_like._src.adaptive: hand values, optax parity, Keras numerics, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from optax._src import transform as optax_transform
import pytest

from optax_like._src import adaptive as ad
from differential import (RTOL, ErrorLog, assert_doctests_pass, assert_documented_with_math,
                          assert_trees_close, lockstep, random_tree)

NAMES = ['scale_by_adam', 'scale_by_amsgrad', 'scale_by_rms', 'scale_by_stddev',
         'scale_by_lion', 'scale_by_rss']

ERRORS = ErrorLog('adaptive')   # the worst deviation from optax per transform, for the report


# ----------------------------------------------------------------------------
# Helpers.
# ----------------------------------------------------------------------------


def _run(tx, params, grads_seq, *, jit=False):
  """Runs ``tx`` over ``grads_seq``; returns [(updates, state)] after each step."""
  update = jax.jit(tx.update) if jit else tx.update
  state = (jax.jit(tx.init) if jit else tx.init)(params)
  out = []
  for g in grads_seq:
    u, state = update(g, state, params)
    out.append((u, state))
  return out


def _assert_states_close(ours, theirs, err=''):
  """Same state class and fields; every leaf close (compared by field name and key path)."""
  assert type(ours).__name__ == type(theirs).__name__, err
  assert ours._fields == theirs._fields, err
  return assert_trees_close(ours, theirs, err_msg=err)


def _assert_injected_states_close(ours, theirs):
  """``inject_hyperparams`` states: the whole state, and the inner one by class and fields."""
  _assert_states_close(ours.inner_state, theirs.inner_state)
  return assert_trees_close(ours, theirs)


# A nested pytree with a dict, a list, a matrix and a scalar leaf.
TREE = {'dense': {'kernel': (3, 2), 'bias': (2,)}, 'layers': [(2,), ()]}


def _grad_seq(rng, n_steps):
  # Magnitudes change from step to step so that moments grow and shrink.
  return [random_tree(rng, TREE, 10.0 ** rng.uniform(-3, 1)) for _ in range(n_steps)]


def _random_config(name, rng):
  u = rng.uniform
  pick = lambda *xs: xs[rng.integers(len(xs))]
  if name == 'scale_by_adam':
    return dict(b1=pick(0.0, u(0, 0.99)), b2=u(0.5, 0.9999), eps=10 ** u(-8, -2),
                eps_root=pick(0.0, 10 ** u(-10, -4)), mu_dtype=pick(None, jnp.float32),
                nesterov=bool(rng.integers(2)))
  if name == 'scale_by_amsgrad':
    return dict(b1=u(0, 0.99), b2=u(0.5, 0.9999), eps=10 ** u(-8, -2),
                eps_root=pick(0.0, 10 ** u(-10, -4)), mu_dtype=pick(None, jnp.float32),
                bias_correction_mu=bool(rng.integers(2)),
                bias_correction_nu=bool(rng.integers(2)))
  if name in ('scale_by_rms', 'scale_by_stddev'):
    return dict(decay=u(0, 0.999), eps=10 ** u(-8, -2), initial_scale=pick(0.0, u(0, 1)),
                eps_in_sqrt=bool(rng.integers(2)), bias_correction=bool(rng.integers(2)))
  if name == 'scale_by_lion':
    return dict(b1=u(0, 1), b2=u(0, 1), mu_dtype=pick(None, jnp.float32),
                mode=pick('hard', 'smooth', 'refined'), smooth_beta=u(0.1, 5))
  if name == 'scale_by_rss':
    return dict(initial_accumulator_value=pick(0.0, u(0, 1)), eps=10 ** u(-8, -2))
  raise AssertionError(name)


def _differential_errors(name, seed, *, jit, n_steps=4, log=ERRORS):
  """Runs ours and optax's on the same random config side by side, adding the errors to ``log``.

  Raises on a mismatch beyond rtol=1e-6, atol=1e-7 (updates and state, by field name).
  """
  rng = np.random.default_rng(seed)
  config = _random_config(name, rng)
  params = random_tree(rng, TREE)
  grads = _grad_seq(rng, n_steps)
  ours, theirs = getattr(ad, name)(**config), getattr(optax, name)(**config)
  err = f'{name} seed={seed} jit={jit} config={config}'
  check = lambda a, b: log.add(assert_trees_close(a, b, err_msg=err), key=name)
  check_state = lambda a, b: log.add(_assert_states_close(a, b, err=err), key=name)
  if jit:   # init under jit too
    check_state(jax.jit(ours.init)(params), theirs.init(params))
  list(lockstep(ours, theirs, params, grads, jit=jit, move_params=False, check=check,
                check_state=check_state))


# ----------------------------------------------------------------------------
# Hand-computed trajectories.
# ----------------------------------------------------------------------------


def test_adam_hand_trajectory():
  # b1 = b2 = 0.5, eps = 0: m, v by hand, then m / (1 - .5^t) / sqrt(v / (1 - .5^t)).
  tx = ad.scale_by_adam(b1=0.5, b2=0.5, eps=0.0)
  out = _run(tx, jnp.zeros(1), [jnp.array([2.0]), jnp.array([1.0]), jnp.array([-1.0])])
  # t=1: m=1, v=2 -> 2/2 = 1. t=2: m=1, v=1.5 -> (4/3)/sqrt(2).
  # t=3: m=0, v=1.25 -> 0.
  np.testing.assert_allclose([float(u[0]) for u, _ in out], [1.0, (4 / 3) / np.sqrt(2), 0.0],
                             rtol=RTOL)
  assert [float(s.mu[0]) for _, s in out] == [1.0, 1.0, 0.0]
  assert [float(s.nu[0]) for _, s in out] == [2.0, 1.5, 1.25]
  assert [int(s.count) for _, s in out] == [1, 2, 3]


def test_adam_nesterov_hand_trajectory():
  tx = ad.scale_by_adam(b1=0.5, b2=0.5, eps=0.0, nesterov=True)
  out = _run(tx, jnp.zeros(1), [jnp.array([2.0]), jnp.array([1.0])])
  # t=1: m=1; m^ = .5 * 1/(1-.25) + .5 * 2/(1-.5) = 2/3 + 2 = 8/3; v^ = 4 -> 4/3.
  # t=2: m=1; m^ = .5 * 1/(1-.125) + .5 * 1/(1-.25) = 4/7 + 2/3; v^ = 2.
  expected = [(8 / 3) / 2, (4 / 7 + 2 / 3) / np.sqrt(2)]
  np.testing.assert_allclose([float(u[0]) for u, _ in out], expected, rtol=RTOL)


def test_adam_eps_and_eps_root_positions():
  g = jnp.array([3.0])
  (u,), = [_run(ad.scale_by_adam(b1=0.0, b2=0.0, eps=1.0), jnp.zeros(1), [g])[0][0]]
  np.testing.assert_allclose(u, 3.0 / (3.0 + 1.0), rtol=RTOL)
  (u,), = [_run(ad.scale_by_adam(b1=0.0, b2=0.0, eps=0.0, eps_root=7.0), jnp.zeros(1),
                [g])[0][0]]
  np.testing.assert_allclose(u, 3.0 / 4.0, rtol=RTOL)


def test_amsgrad_hand_trajectory():
  tx = ad.scale_by_amsgrad(b1=0.0, b2=0.5, eps=0.0)
  out = _run(tx, jnp.zeros(1), [jnp.array([4.0]), jnp.array([1.0]), jnp.array([8.0])])
  # v^: 16, 6, (0.5*64 + 0.5*4.5)/0.875 = 39.142857...
  vmax = [16.0, 16.0, (32 + 2.25) / 0.875]
  np.testing.assert_allclose([float(s.nu_max[0]) for _, s in out], vmax, rtol=RTOL)
  np.testing.assert_allclose([float(u[0]) for u, _ in out],
                             [1.0, 0.25, 8 / np.sqrt(vmax[2])], rtol=RTOL)
  # Without corrections (the paper's form) the max is over raw v: 8, 4.5 -> 8, 34.25.
  tx = ad.scale_by_amsgrad(b1=0.0, b2=0.5, eps=0.0, bias_correction_mu=False,
                           bias_correction_nu=False)
  out = _run(tx, jnp.zeros(1), [jnp.array([4.0]), jnp.array([1.0]), jnp.array([8.0])])
  assert [float(s.nu_max[0]) for _, s in out] == [8.0, 8.0, 34.25]


def test_rms_hand_trajectory():
  tx = ad.scale_by_rms(decay=0.5, eps=0.0, initial_scale=1.0)
  out = _run(tx, jnp.zeros(1), [jnp.array([3.0]), jnp.array([1.0])])
  # nu: .5*9 + .5*1 = 5, then .5*1 + .5*5 = 3.
  assert [float(s.nu[0]) for _, s in out] == [5.0, 3.0]
  np.testing.assert_allclose([float(u[0]) for u, _ in out], [3 / np.sqrt(5), 1 / np.sqrt(3)],
                             rtol=RTOL)
  tx = ad.scale_by_rms(decay=0.5, eps=1.0, eps_in_sqrt=False, bias_correction=True)
  out = _run(tx, jnp.zeros(1), [jnp.array([3.0]), jnp.array([1.0])])
  # nu: 4.5 -> /0.5 = 9; 2.75 -> /0.75 = 11/3.
  np.testing.assert_allclose([float(u[0]) for u, _ in out],
                             [3 / (3 + 1), 1 / (np.sqrt(11 / 3) + 1)], rtol=RTOL)
  assert [int(s.count) for _, s in out] == [1, 2]


def test_stddev_hand_trajectory():
  tx = ad.scale_by_stddev(decay=0.5, eps=0.0)
  out = _run(tx, jnp.zeros(1), [jnp.array([2.0]), jnp.array([4.0])])
  # mu: 1, 2.5; nu: 2, 9 -> var 1, 2.75.
  np.testing.assert_allclose([float(u[0]) for u, _ in out], [2.0, 4 / np.sqrt(2.75)],
                             rtol=RTOL)
  assert [float(s.mu[0]) for _, s in out] == [1.0, 2.5]
  tx = ad.scale_by_stddev(decay=0.5, eps=0.0, bias_correction=True)
  out = _run(tx, jnp.zeros(1), [jnp.array([2.0]), jnp.array([4.0])])
  # t=2: mu^ = 2.5/.75 = 10/3, nu^ = 9/.75 = 12 -> var 12 - 100/9 = 8/9.
  np.testing.assert_allclose(float(out[1][0][0]), 4 / np.sqrt(8 / 9), rtol=RTOL)


def test_lion_hand_trajectory():
  tx = ad.scale_by_lion(b1=0.5, b2=0.75)
  out = _run(tx, jnp.zeros(2), [jnp.array([4.0, -2.0]), jnp.array([-1.0, 0.25]),
                                jnp.array([-3.0, 0.0])])
  # mu: [1, -.5]; [.5, -.3125]; [-.375, -.234375]
  # c:  [2, -1];  [0, -.125];   [-1.25, -.15625]
  assert [u.tolist() for u, _ in out] == [[1.0, -1.0], [0.0, -1.0], [-1.0, -1.0]]
  assert [s.mu.tolist() for _, s in out][-1] == [-0.375, -0.234375]
  refined = _run(ad.scale_by_lion(b1=0.5, b2=0.75, mode='refined'), jnp.zeros(2),
                 [jnp.array([4.0, -2.0]), jnp.array([-1.0, 0.25])])
  assert [u.tolist() for u, _ in refined] == [[1.0, -1.0], [0.0, -0.125]]


def test_rss_hand_trajectory():
  tx = ad.scale_by_rss(initial_accumulator_value=1.0, eps=0.0)
  out = _run(tx, jnp.zeros(2), [jnp.array([0.0, 3.0]), jnp.array([2.0, 0.0])])
  assert [s.sum_of_squares.tolist() for _, s in out] == [[1.0, 10.0], [5.0, 10.0]]
  np.testing.assert_allclose(np.stack([u for u, _ in out]),
                             [[0.0, 3 / np.sqrt(10)], [2 / np.sqrt(5), 0.0]], rtol=RTOL)
  # A zero sum gives a zero update, not NaN.
  u, _ = _run(ad.scale_by_rss(0.0, 0.0), jnp.zeros(1), [jnp.zeros(1)])[0]
  assert u.tolist() == [0.0]


def test_docstring_examples():
  assert_doctests_pass(ad, at_least=len(NAMES))


def test_every_public_name_documented():
  assert_documented_with_math(ad, NAMES)


# ----------------------------------------------------------------------------
# Differential tests against optax.
# ----------------------------------------------------------------------------


@pytest.mark.parametrize('name', NAMES)
def test_matches_optax_eager(name):
  for seed in range(3):
    _differential_errors(name, seed, jit=False)


@pytest.mark.parametrize('name', NAMES)
def test_matches_optax_jit(name):
  _differential_errors(name, 100, jit=True, n_steps=3)


def test_signatures_and_state_classes_match_optax():
  import inspect
  for name in NAMES:
    ours = inspect.signature(getattr(ad, name)).parameters
    theirs = inspect.signature(getattr(optax, name)).parameters
    for pname, p in theirs.items():
      assert pname in ours, (name, pname)
      assert ours[pname].default == p.default, (name, pname)
      assert ours[pname].kind == p.kind, (name, pname)
    extra = [p for p in ours if p not in theirs]
    assert all(ours[p].kind == inspect.Parameter.KEYWORD_ONLY for p in extra), (name, extra)
  for cls in ['ScaleByAdamState', 'ScaleByAmsgradState', 'ScaleByRmsState',
              'ScaleByRmsWithCountState', 'ScaleByRStdDevState',
              'ScaleByRStdDevWithCountState', 'ScaleByLionState', 'ScaleByRssState']:
    assert getattr(ad, cls)._fields == getattr(optax_transform, cls)._fields, cls


@pytest.mark.parametrize('name,kwargs', [
    ('scale_by_adam', dict(nesterov=True)),
    ('scale_by_amsgrad', {}),
    ('scale_by_rms', dict(bias_correction=True)),
    ('scale_by_stddev', {}),
    ('scale_by_lion', {}),
    ('scale_by_rss', {}),
])
def test_none_leaves_match_optax(name, kwargs):
  rng = np.random.default_rng(3)
  params = {'a': None, 'b': jnp.asarray(rng.normal(size=3), jnp.float32),
            'c': [None, jnp.asarray(rng.normal(size=(2, 2)), jnp.float32)]}
  grads = [jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape), jnp.float32), params)
           for _ in range(3)]
  for step in lockstep(getattr(ad, name)(**kwargs), getattr(optax, name)(**kwargs), params,
                       grads, move_params=False, check_state=_assert_states_close):
    assert step.updates['a'] is None and step.updates['c'][0] is None


@pytest.mark.parametrize('name,kwargs', [
    ('scale_by_adam', dict(nesterov=True)),
    ('scale_by_amsgrad', {}),
    ('scale_by_rms', dict(bias_correction=True)),
    ('scale_by_stddev', {}),
    ('scale_by_rss', {}),
])
def test_complex_params_match_optax(name, kwargs):
  rng = np.random.default_rng(4)
  cplx = lambda: jnp.asarray(rng.normal(size=3) + 1j * rng.normal(size=3), jnp.complex64)
  params = {'a': cplx()}
  grads = [{'a': cplx()} for _ in range(3)]
  for step in lockstep(getattr(ad, name)(**kwargs), getattr(optax, name)(**kwargs), params,
                       grads, move_params=False, check_state=_assert_states_close):
    assert step.updates['a'].dtype == jnp.complex64


def test_none_update_keeps_state_leaf():
  tx = ad.scale_by_adam()
  params = {'a': jnp.ones(2), 'b': jnp.ones(2)}
  state = tx.init(params)
  _, state = tx.update({'a': jnp.ones(2), 'b': jnp.ones(2)}, state)
  updates, new_state = tx.update({'a': None, 'b': jnp.ones(2)}, state)
  assert updates['a'] is None
  assert new_state.mu['a'] is state.mu['a'] and new_state.nu['a'] is state.nu['a']


def test_inject_hyperparams_traced_hyperparameters_match_optax():
  params = random_tree(np.random.default_rng(0), TREE)
  grads = _grad_seq(np.random.default_rng(1), 3)
  for name, hps in [('scale_by_adam', dict(b1=0.8, b2=0.99, eps=1e-3))]:
    ours = optax.inject_hyperparams(getattr(ad, name))(**hps)
    theirs = optax.inject_hyperparams(getattr(optax, name))(**hps)
    list(lockstep(ours, theirs, params, grads, jit=True, move_params=False,
                  check_state=_assert_injected_states_close))
  # Keras mode with traced betas, epsilon, and a traced eps_root of 0, against ours untraced.
  tx = optax.inject_hyperparams(ad.scale_by_adam)(b1=0.9, b2=0.999, eps=1e-7, eps_root=0.0,
                                                  eps_hat=True)
  ref = ad.scale_by_adam(0.9, 0.999, 1e-7, eps_hat=True)
  list(lockstep(tx, ref, params, grads, jit=True, jit_theirs=False, move_params=False,
                check_state=lambda a, b: _assert_states_close(a.inner_state, b)))


def test_interoperates_with_optax_chain():
  params = random_tree(np.random.default_rng(0), TREE)
  grads = _grad_seq(np.random.default_rng(1), 3)
  ours = optax.chain(ad.scale_by_adam(), optax.scale(-1e-3))
  theirs = optax.adam(1e-3)
  list(lockstep(ours, theirs, params, grads, move_params=False))


# ----------------------------------------------------------------------------
# Keras numerics: eps_hat and lerp, against numpy float32 implementations.
# ----------------------------------------------------------------------------


def _keras_adam_np(grads, b1, b2, eps, *, amsgrad=False, nesterov=False):
  """tf.keras 2 Adam, as TF's ResourceApplyAdam(WithAmsgrad) computes it, without lr.

  Everything is float32: the betas as Keras stores them, epsilon converted to the
  variable dtype, t = iterations + 1 as a float.
  """
  f = np.float32
  b1, b2, eps, one = f(b1), f(b2), f(eps), f(1)
  m = np.zeros_like(grads[0], f)
  v = np.zeros_like(grads[0], f)
  vhat = np.zeros_like(grads[0], f)
  out = []
  for step, g in enumerate(grads):
    t = f(step + 1)
    alpha = np.sqrt(one - np.power(b2, t)) / (one - np.power(b1, t))
    m = m + (g - m) * (one - b1)
    v = v + (g * g - v) * (one - b2)
    vhat = np.maximum(vhat, v)
    denom = np.sqrt(vhat if amsgrad else v) + eps
    num = (g * (one - b1) + b1 * m) * alpha if nesterov else m * alpha
    out.append((num / denom, m, v, vhat))
  return out


def _shrinking_grads(rng, n=8, size=5):
  # |g| shrinks fast: raw v peaks after a couple of steps while the bias-corrected
  # v is largest at t = 1, so the two maxima (and the updates) differ.
  base = rng.uniform(0.5, 2.0, size) * rng.choice([-1, 1], size)
  return [np.float32(base * 0.3 ** t) for t in range(n)]


@pytest.mark.parametrize('nesterov', [False, True])
def test_eps_hat_adam_matches_keras_formula(nesterov):
  rng = np.random.default_rng(0)
  grads = [np.float32(rng.normal(size=5) * 10.0 ** rng.uniform(-4, -2)) for _ in range(8)]
  b1, b2, eps = 0.9, 0.999, 1e-3   # eps comparable to sqrt(v): eps-hat matters
  tx = ad.scale_by_adam(b1, b2, eps, nesterov=nesterov, eps_hat=True)
  ours = _run(tx, jnp.zeros(5), [jnp.asarray(g) for g in grads])
  ref = _keras_adam_np(grads, b1, b2, eps, nesterov=nesterov)
  for (u, s), (ru, rm, rv, _) in zip(ours, ref):
    np.testing.assert_allclose(u, ru, rtol=RTOL, atol=0)
    # The moments' rounding form is TF's, bit for bit.
    np.testing.assert_array_equal(s.mu, rm)
    np.testing.assert_array_equal(s.nu, rv)
  # ...and differs from optax's epsilon (added to the bias-corrected root).
  plain = _run(ad.scale_by_adam(b1, b2, eps, nesterov=nesterov), jnp.zeros(5),
               [jnp.asarray(g) for g in grads])
  assert not np.allclose(ours[-1][0], plain[-1][0], rtol=1e-2)


def test_eps_hat_amsgrad_matches_keras_formula():
  rng = np.random.default_rng(1)
  grads = _shrinking_grads(rng)
  b1, b2, eps = 0.9, 0.99, 1e-7
  ours = _run(ad.scale_by_amsgrad(b1, b2, eps, eps_hat=True), jnp.zeros(5),
              [jnp.asarray(g) for g in grads])
  ref = _keras_adam_np(grads, b1, b2, eps, amsgrad=True)
  for (u, s), (ru, rm, rv, rvhat) in zip(ours, ref):
    np.testing.assert_allclose(u, ru, rtol=RTOL, atol=0)
    np.testing.assert_array_equal(s.mu, rm)
    np.testing.assert_array_equal(s.nu, rv)
    np.testing.assert_array_equal(s.nu_max, rvhat)
  # The max over raw v is not the max over bias-corrected v (optax's form).
  plain = _run(ad.scale_by_amsgrad(b1, b2, eps), jnp.zeros(5), [jnp.asarray(g) for g in grads])
  assert not np.allclose(ours[-1][0], plain[-1][0], rtol=1e-2)
  assert not np.allclose(ours[-1][1].nu_max, plain[-1][1].nu_max, rtol=1e-2)
  # Raw v did go down at some point, so the running max matters.
  raw = np.stack([r[2] for r in ref])
  assert np.any(np.diff(raw, axis=0) < 0)
  assert np.any(np.asarray(ours[-1][1].nu_max) > raw[-1])


def test_eps_hat_amsgrad_without_corrections_drops_alpha_factors():
  grads = [jnp.array([4.0]), jnp.array([1.0])]
  no_corr = _run(ad.scale_by_amsgrad(0.5, 0.5, 0.0, bias_correction_mu=False,
                                     bias_correction_nu=False, eps_hat=True),
                 jnp.zeros(1), grads)
  # m: 2, 1.5; v: 8, 4.5 -> vmax 8; u = m / sqrt(vmax).
  np.testing.assert_allclose([float(u[0]) for u, _ in no_corr],
                             [2 / np.sqrt(8), 1.5 / np.sqrt(8)], rtol=RTOL)
  only_nu = _run(ad.scale_by_amsgrad(0.5, 0.5, 0.0, bias_correction_mu=False, eps_hat=True),
                 jnp.zeros(1), grads)
  np.testing.assert_allclose(float(only_nu[1][0][0]), 1.5 * np.sqrt(0.75) / np.sqrt(8),
                             rtol=RTOL)


def test_keras_modes_jit_equals_eager():
  rng = np.random.default_rng(5)
  params = random_tree(rng, TREE)
  grads = _grad_seq(rng, 3)
  for tx in [ad.scale_by_adam(0.9, 0.999, 1e-7, nesterov=True, eps_hat=True),
             ad.scale_by_amsgrad(0.9, 0.99, 1e-7, eps_hat=True),
             ad.scale_by_rms(0.9, 1e-7, bias_correction=True, lerp=True),
             ad.scale_by_stddev(0.9, 1e-7, lerp=True)]:
    list(lockstep(tx, tx, params, grads, jit=False, jit_theirs=True, move_params=False,
                  check_state=_assert_states_close))


def test_eps_hat_rounds_betas_like_keras():
  # Keras stores beta_1 as float32 and the kernel computes 1 - beta_1 in float32;
  # Python's 1 - 0.9 rounds differently (0x3DCCCCCD vs 0x3DCCCCD0).
  g = jnp.array([1.0], jnp.float32)
  _, s = _run(ad.scale_by_adam(eps_hat=True), jnp.zeros(1), [g])[0]
  assert float(s.mu[0]) == float(np.float32(1) - np.float32(0.9))
  _, s = _run(ad.scale_by_adam(), jnp.zeros(1), [g])[0]
  assert float(s.mu[0]) == float(np.float32(1 - 0.9))


def _tf_rms_np(grads, rho, *, centered):
  f = np.float32
  rho, one = f(rho), f(1)
  ms = np.zeros_like(grads[0], f)
  mg = np.zeros_like(grads[0], f)
  out = []
  for g in grads:
    ms = ms + (g * g - ms) * (one - rho)
    mg = mg + (g - mg) * (one - rho)
    out.append((ms, mg))
  return out


@pytest.mark.parametrize('centered', [False, True])
def test_lerp_matches_tf_rmsprop_kernel_rounding(centered):
  rng = np.random.default_rng(2)
  grads = [np.float32(rng.normal(size=64)) for _ in range(6)]
  rho, eps = 0.9, 1e-7
  factory = ad.scale_by_stddev if centered else ad.scale_by_rms
  ours = _run(factory(rho, eps, lerp=True), jnp.zeros(64), [jnp.asarray(g) for g in grads])
  plain = _run(factory(rho, eps), jnp.zeros(64), [jnp.asarray(g) for g in grads])
  ref = _tf_rms_np(grads, rho, centered=centered)
  mismatches = 0
  for g, (u, s), (_, sp), (ms, mg) in zip(grads, ours, plain, ref):
    np.testing.assert_array_equal(s.nu, ms)
    denom = ms - mg * mg if centered else ms
    np.testing.assert_allclose(u, g / np.sqrt(denom + np.float32(eps)), rtol=RTOL)
    if centered:
      np.testing.assert_array_equal(s.mu, mg)
    mismatches += int(np.sum(np.asarray(sp.nu) != ms))
  assert mismatches > 0   # optax's rounding form really is different


# ----------------------------------------------------------------------------
# Precision: bf16 parameters, mu_dtype / nu_dtype.
# ----------------------------------------------------------------------------


def test_bf16_params_compute_in_float32():
  bf16 = jnp.bfloat16
  grads = [jnp.asarray(x, bf16) for x in ([1.0, -2.0], [3.0, 0.5], [0.25, 4.0], [2.0, 2.0])]
  tx = ad.scale_by_adam(b1=0.9, b2=0.999, eps=1e-8)
  out = _run(tx, jnp.zeros(2, bf16), grads)
  # Reference: float32 arithmetic with float32 hyperparameters, state rounded to bf16
  # after every step, updates computed from the unrounded float32 moments.
  m = np.zeros(2, np.float32)
  v = np.zeros(2, np.float32)
  nus = []
  for t, ((u, s), g) in enumerate(zip(out, grads), start=1):
    g32 = np.asarray(g, np.float32)
    m_new = np.float32(1 - 0.9) * g32 + np.float32(0.9) * m
    v_new = np.float32(1 - 0.999) * g32 * g32 + np.float32(0.999) * v
    u_ref = (m_new / np.float32(1 - np.float32(0.9) ** t)) / (
        np.sqrt(v_new / np.float32(1 - np.float32(0.999) ** t)) + np.float32(1e-8))
    assert u.dtype == bf16 and s.mu.dtype == bf16 and s.nu.dtype == bf16
    np.testing.assert_array_equal(np.asarray(u, np.float32),
                                  np.asarray(jnp.asarray(u_ref).astype(bf16), np.float32))
    m = np.asarray(jnp.asarray(m_new).astype(bf16), np.float32)
    v = np.asarray(jnp.asarray(v_new).astype(bf16), np.float32)
    np.testing.assert_array_equal(np.asarray(s.nu, np.float32), v)
    nus.append(v)
  assert len({tuple(n) for n in nus}) == len(nus)   # nu moved at every step

  # With a float32 second moment, b2 = 0.999 decays nu step by step; in bf16, 0.999
  # rounds to 1.0 and the decay would vanish.
  assert float(jnp.asarray(0.999, bf16)) == 1.0
  tx = ad.scale_by_adam(nu_dtype=jnp.float32)
  out = _run(tx, jnp.zeros(1, bf16), [jnp.ones(1, bf16)] + [jnp.zeros(1, bf16)] * 4)
  nu = [float(s.nu[0]) for _, s in out]
  assert all(s.nu.dtype == jnp.float32 and u.dtype == bf16 for u, s in out)
  np.testing.assert_allclose(nu, [1e-3 * 0.999 ** k for k in range(5)], rtol=1e-6)
  assert all(a > b for a, b in zip(nu, nu[1:]))


@pytest.mark.parametrize('name', ['scale_by_rms', 'scale_by_stddev', 'scale_by_lion',
                                  'scale_by_rss', 'scale_by_amsgrad'])
def test_bf16_dtypes_preserved(name):
  bf16 = jnp.bfloat16
  tx = getattr(ad, name)()
  params = {'w': jnp.zeros(3, bf16), 'b': jnp.zeros((), bf16)}
  grads = [jax.tree.map(lambda p: jnp.full(p.shape, x, bf16), params) for x in (0.5, -1.0, 2)]
  for u, s in _run(tx, params, grads):
    assert all(x.dtype == bf16 for x in jax.tree.leaves(u))
    for leaf in jax.tree.leaves(s):
      assert leaf.dtype in (bf16, jnp.int32)
    assert all(np.all(np.isfinite(np.asarray(x, np.float32))) for x in jax.tree.leaves(u))


def test_mu_and_nu_dtypes_honoured():
  params = {'w': jnp.zeros(3, jnp.float32), 'h': jnp.zeros(2, jnp.bfloat16)}
  grads = jax.tree.map(lambda p: jnp.ones_like(p) * 0.3, params)
  tx = ad.scale_by_adam(mu_dtype=jnp.bfloat16, nu_dtype=jnp.float32)
  state = tx.init(params)
  for _ in range(2):
    u, state = tx.update(grads, state)
    assert state.mu['w'].dtype == jnp.bfloat16 and state.mu['h'].dtype == jnp.bfloat16
    assert state.nu['w'].dtype == jnp.float32 and state.nu['h'].dtype == jnp.float32
    assert u['w'].dtype == jnp.float32 and u['h'].dtype == jnp.bfloat16
  tx = ad.scale_by_amsgrad(mu_dtype='float32', nu_dtype=jnp.bfloat16)
  state = tx.init(params)
  _, state = tx.update(grads, state)
  assert state.mu['h'].dtype == jnp.float32
  assert state.nu['w'].dtype == jnp.bfloat16 and state.nu_max['w'].dtype == jnp.bfloat16
  tx = ad.scale_by_lion(mu_dtype=jnp.bfloat16)
  _, state = tx.update(grads, tx.init(params))
  assert state.mu['w'].dtype == jnp.bfloat16
  # mu_dtype for float32 params: the update uses the unrounded moment, as optax does.
  g = jnp.array([0.1234567], jnp.float32)
  u_bf, _ = ad.scale_by_adam(mu_dtype=jnp.bfloat16).update(g, ad.scale_by_adam(
      mu_dtype=jnp.bfloat16).init(g))
  u_f, _ = ad.scale_by_adam().update(g, ad.scale_by_adam().init(g))
  np.testing.assert_allclose(u_bf, u_f, rtol=RTOL)


def test_init_under_jit_and_count_dtype():
  params = random_tree(np.random.default_rng(0), TREE)
  for name in NAMES:
    tx = getattr(ad, name)()
    eager, jitted = tx.init(params), jax.jit(tx.init)(params)
    assert_trees_close(jitted, eager)
    if 'count' in eager._fields:
      assert eager.count.dtype == jnp.int32


# ----------------------------------------------------------------------------
# Errors.
# ----------------------------------------------------------------------------


@pytest.mark.parametrize('factory,kwargs,match', [
    (ad.scale_by_adam, dict(b1=1.0), r'scale_by_adam: `b1` must be in \[0.0, 1.0\), got 1.0'),
    (ad.scale_by_adam, dict(b2=1.5), r'scale_by_adam: `b2` must be in \[0.0, 1.0\)'),
    (ad.scale_by_adam, dict(b1=-0.1), r'`b1` must be in'),
    (ad.scale_by_adam, dict(b2=float('nan')), r'`b2` must be in'),
    (ad.scale_by_adam, dict(eps=-1e-8), r'scale_by_adam: `eps` must be >= 0.0'),
    (ad.scale_by_adam, dict(eps_root=-1.0), r'`eps_root` must be >= 0.0'),
    (ad.scale_by_adam, dict(eps_root=1e-8, eps_hat=True),
     r'scale_by_adam: `eps_root` must be 0 with `eps_hat=True`'),
    (ad.scale_by_amsgrad, dict(b1=1.0), r'scale_by_amsgrad: `b1` must be in \[0.0, 1.0\)'),
    (ad.scale_by_amsgrad, dict(b2=1.0), r'scale_by_amsgrad: `b2` must be in \[0.0, 1.0\)'),
    (ad.scale_by_amsgrad, dict(b2=1.1, bias_correction_nu=False),
     r'`b2` must be in \[0.0, 1.0\]'),
    (ad.scale_by_amsgrad, dict(eps_root=0.5, eps_hat=True), r'`eps_root` must be 0'),
    (ad.scale_by_amsgrad, dict(eps=-1.0), r'scale_by_amsgrad: `eps` must be >= 0'),
    (ad.scale_by_rms, dict(decay=1.5), r'scale_by_rms: `decay` must be in \[0.0, 1.0\]'),
    (ad.scale_by_rms, dict(decay=1.0, bias_correction=True),
     r'scale_by_rms: `decay` must be in \[0.0, 1.0\)'),
    (ad.scale_by_rms, dict(eps=-1.0), r'scale_by_rms: `eps` must be >= 0'),
    (ad.scale_by_rms, dict(initial_scale=-0.1), r'scale_by_rms: `initial_scale` must be >= 0'),
    (ad.scale_by_stddev, dict(decay=-0.5), r'scale_by_stddev: `decay` must be in'),
    (ad.scale_by_stddev, dict(initial_scale=-1.0), r'scale_by_stddev: `initial_scale`'),
    (ad.scale_by_lion, dict(b1=1.5), r'scale_by_lion: `b1` must be in \[0.0, 1.0\]'),
    (ad.scale_by_lion, dict(b2=-0.1), r'scale_by_lion: `b2` must be in'),
    (ad.scale_by_rss, dict(initial_accumulator_value=-1.0),
     r'scale_by_rss: `initial_accumulator_value` must be >= 0'),
    (ad.scale_by_rss, dict(eps=-1.0), r'scale_by_rss: `eps` must be >= 0'),
])
def test_value_errors(factory, kwargs, match):
  with pytest.raises(ValueError, match=match):
    factory(**kwargs)


def test_lion_bad_mode_raises_in_update_as_optax():
  tx = ad.scale_by_lion(mode='soft')  # optax builds it and raises in `update`; so do we
  state = tx.init(jnp.zeros(2))
  with pytest.raises(ValueError, match=r"scale_by_lion: `mode` must be one of .*'soft'"):
    tx.update(jnp.ones(2), state)


@pytest.mark.parametrize('factory,kwargs,match', [
    (ad.scale_by_adam, dict(mu_dtype='not-a-dtype'), r'scale_by_adam: `mu_dtype` must be a dtype'),
    (ad.scale_by_adam, dict(nu_dtype=jnp.int32), r'`nu_dtype` must be a floating'),
    (ad.scale_by_amsgrad, dict(nu_dtype=jnp.int8), r'scale_by_amsgrad: `nu_dtype`'),
    (ad.scale_by_lion, dict(mu_dtype=jnp.bool_), r'scale_by_lion: `mu_dtype`'),
])
def test_dtype_errors(factory, kwargs, match):
  with pytest.raises(TypeError, match=match):
    factory(**kwargs)


def test_state_structure_mismatch_names_paths():
  tx = ad.scale_by_adam()
  state = tx.init({'a': jnp.zeros(2)})
  with pytest.raises(ValueError, match=r"scale_by_adam: updates and state.mu have different "
                                       r"tree structures.*\['b'\]"):
    tx.update({'a': jnp.zeros(2), 'b': jnp.zeros(2)}, state)


def test_update_where_state_has_none_names_path():
  tx = ad.scale_by_rms()
  state = tx.init({'a': None, 'b': jnp.zeros(1)})
  with pytest.raises(ValueError, match=r"scale_by_rms: state.nu has no entry at \['a'\]"):
    tx.update({'a': jnp.ones(1), 'b': jnp.ones(1)}, state)


def test_valid_edge_hyperparameters_accepted():
  # Values optax handles meaningfully are not rejected.
  ad.scale_by_adam(b1=0.0, b2=0.0, eps=0.0)
  ad.scale_by_amsgrad(b1=1.0, b2=1.0, bias_correction_mu=False, bias_correction_nu=False)
  ad.scale_by_rms(decay=1.0)
  ad.scale_by_lion(b1=1.0, b2=0.0)
  ad.scale_by_adam(b1=jnp.float32(0.9), b2=np.float32(0.99), eps=jnp.asarray(1e-8))


def _max_errors_report():
  """Max abs/rel deviation from optax over many random configs (run this file directly)."""
  log = ErrorLog('adaptive (many configs)')
  for name in NAMES:
    for jit in (False, True):
      for seed in range(20 if not jit else 3):
        _differential_errors(name, seed + (1000 if jit else 0), jit=jit, log=log)
  print('\n'.join(log.summary()))


if __name__ == '__main__':
  _max_errors_report()

"""optax.contrib group 1 (muon, schedule-free, SAM, reduce-on-plateau, Prodigy, D-Adapt AdamW,
Mechanic, COCOB, DoG/DoWG): step-by-step parity with optax.contrib over random pytrees, eager
and jitted, states equal in layout and value; 16-bit leaves; bad input."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optax_like
from optax_like import contrib
from differential import (ErrorLog, assert_same_layout, assert_trees_close, lockstep,
                          random_grads, random_tree)

ERRORS = ErrorLog('contrib_1')

C = lambda lib: lib.contrib


def _value(g):
  """A monitored value for reduce_on_plateau that goes up and down with the gradients."""
  return {'value': sum(jnp.sum(x * x) for x in jax.tree.leaves(g)) % 3.0}


# name -> (builder(lib), tree kinds, extra_args or None)
CASES = {
    'muon': (lambda lib: C(lib).muon(0.05), ('nested',), None),
    'muon_options': (lambda lib: C(lib).muon(
        0.05, ns_coeffs='dion', beta=0.9, weight_decay=0.1, nesterov=False, adaptive=True,
        adam_learning_rate=0.01, adam_weight_decay=0.01, consistent_rms=0.2), ('nested',), None),
    'muon_aol': (lambda lib: C(lib).scale_by_muon(preconditioning='aol'), ((3, 4),),
                 None),
    'muon_schatten': (lambda lib: C(lib).scale_by_muon(preconditioning='schatten', ns_steps=3),
                      ((4, 3),), None),
    'muon_spectral': (lambda lib: C(lib).scale_by_muon(preconditioning='spectral'),
                      ((3, 3),), None),
    'muon_dims': (lambda lib: C(lib).muon(
        0.05, muon_weight_dimension_numbers={
            'w3': C(lib).MuonDimensionNumbers(reduction_axis=(0,), output_axis=(2, 1)),
            'm': C(lib).MuonDimensionNumbers(), 'v': None}),
                  ({'w3': (3, 2, 4), 'm': (4, 3), 'v': (5,)},), None),
    'scale_by_muon': (lambda lib: C(lib).scale_by_muon(
        weight_dimension_numbers={'a': C(lib).MuonDimensionNumbers(1, 0)}), ({'a': (5, 3)},),
                      None),
    'schedule_free_sgd': (lambda lib: C(lib).schedule_free_sgd(0.1), ('with_none',),
                          None),
    'schedule_free_sgd_wd': (lambda lib: C(lib).schedule_free_sgd(
        0.1, warmup_steps=3, b1=0.8, weight_decay=0.1), ('list',), None),
    'schedule_free_adamw': (lambda lib: C(lib).schedule_free_adamw(
        0.05, warmup_steps=2, weight_decay=0.01), ('with_none',), None),
    'schedule_free': (lambda lib: C(lib).schedule_free(
        lib.adam(lib.linear_schedule(0.0, 0.1, 3), b1=0.0), lib.linear_schedule(0.0, 0.1, 3),
        b1=0.95, weight_lr_power=1.0), ('list',), None),
    'sam': (lambda lib: C(lib).sam(lib.sgd(0.1), lib.sgd(0.05)), ('with_none',), None),
    'sam_adam': (lambda lib: C(lib).sam(lib.adam(0.1), lib.sgd(0.05, momentum=0.9),
                                        sync_period=3, reset_state=False), ('list',), None),
    'reduce_on_plateau': (lambda lib: lib.chain(lib.sgd(0.1), C(lib).reduce_on_plateau(
        factor=0.5, patience=1, cooldown=1, min_scale=0.1)), ('with_none',), _value),
    'reduce_on_plateau_acc': (lambda lib: C(lib).reduce_on_plateau(
        patience=0, accumulation_size=2, rtol=0.0, atol=0.1), ('list',), _value),
    'prodigy': (lambda lib: C(lib).prodigy(), ('with_none',), None),
    'prodigy_options': (lambda lib: C(lib).prodigy(
        lib.linear_schedule(1.0, 0.5, 4), betas=(0.8, 0.99), beta3=0.9, weight_decay=0.1,
        estim_lr_coef=2.0, safeguard_warmup=True), ('list',), None),
    'dadapt_adamw': (lambda lib: C(lib).dadapt_adamw(), ('with_none',), None),
    'dadapt_adamw_options': (lambda lib: C(lib).dadapt_adamw(
        lib.linear_schedule(1.0, 0.5, 4), betas=(0.8, 0.99), weight_decay=0.1, estim_lr0=1e-3),
                             ('list',), None),
    'mechanize': (lambda lib: C(lib).mechanize(lib.sgd(0.1)), ('with_none',), None),
    'mechanize_adam': (lambda lib: C(lib).mechanize(lib.adam(0.1), weight_decay=0.1,
                                                    num_betas=3), ('list',), None),
    'cocob': (lambda lib: C(lib).cocob(), ('with_none',), None),
    'cocob_wd': (lambda lib: C(lib).cocob(0.5, alpha=10.0, weight_decay=0.01,
                                          mask=lambda p: jax.tree.map(lambda x: x.ndim > 1, p)),
                 ('nested',), None),
    'scale_by_cocob': (lambda lib: C(lib).scale_by_cocob(), ('list',), None),
    'dog': (lambda lib: C(lib).dog(), ('with_none',), None),
    'dog_lr': (lambda lib: C(lib).dog(0.5, init_step=('learning_rate', 0.1), weight_decay=0.01),
               ('list',), None),
    'dog_distance': (lambda lib: C(lib).dog(init_step=('distance', 0.5)), ('list',), None),
    'dowg': (lambda lib: C(lib).dowg(), ('with_none',), None),
    'dowg_options': (lambda lib: C(lib).dowg(0.5, init_estim_sq_dist=0.1, weight_decay=0.1,
                                             mask={'dense': {'kernel': True, 'bias': False},
                                                   'layers': [False, {'w': True}],
                                                   'scale': True}), ('nested',), None),
}

STEPS = 3


def _check(ours, theirs):
  return assert_trees_close(ours, theirs, log=ERRORS)


def _check_state(ours, theirs):
  assert_same_layout(ours, theirs)
  return assert_trees_close(ours, theirs, log=ERRORS)


def _run(name, jit, seed=0, dtype=np.float32, steps=STEPS, kind=None, check=_check,
         check_state=_check_state):
  build, kinds, extra = CASES[name]
  kind = kinds[0] if kind is None else kind
  rng = np.random.default_rng(seed)
  params = random_tree(rng, kind, dtype=dtype)
  grads = (jax.tree.map(lambda x: x.astype(dtype), g) for g in random_grads(rng, kind, steps))
  n = 0
  for _ in lockstep(build(optax_like), build(optax), params, grads, jit=jit,
                    check=check, check_state=check_state, extra_args=extra):
    n += 1
  assert n == steps


@pytest.mark.parametrize('name', sorted(CASES))
def test_matches_optax_jit(name):
  _run(name, jit=True, seed=1)


# Eagerly (where optax's and our op-by-op rounding could differ), one case per method.
# (Muon and Mechanic run eagerly in optax's own tests through tools/optax_oracle.py; Muon's
# unrolled Newton-Schulz loop compiles at every eager call, too slow here.)
EAGER_CASES = ['schedule_free_sgd', 'sam', 'reduce_on_plateau', 'prodigy', 'dadapt_adamw',
               'cocob', 'dog', 'dowg']


@pytest.mark.parametrize('name', EAGER_CASES)
def test_matches_optax_eager(name):
  _run(name, jit=False, steps=2, kind='small')


# name -> tree kind (Muon: one matrix, its Newton-Schulz iteration in float32 here).
BF16_CASES = {'muon_aol': None, 'schedule_free_adamw': 'small', 'prodigy': 'small',
              'mechanize': 'small', 'dog': 'small'}


@pytest.mark.parametrize('name', sorted(BF16_CASES))
def test_bfloat16_close_to_optax_with_its_dtypes(name):
  # optax computes in bfloat16, we in float32 and round when storing: dtypes and layout
  # equal, values close to bfloat16 precision.
  loose = functools.partial(assert_trees_close, rtol=0.1, atol=0.05)

  def check_state(ours, theirs):
    assert_same_layout(ours, theirs)
    return loose(ours, theirs)

  _run(name, jit=True, dtype=jnp.bfloat16, steps=2, kind=BF16_CASES[name], check=loose,
       check_state=check_state)


def test_opaque_sam_matches_optax():
  grad_fn = lambda p, i: jax.tree.map(lambda x: 2.0 * x + i, p)
  rng = np.random.default_rng(3)
  params = random_tree(rng, 'nested')
  build = lambda lib: C(lib).sam(lib.sgd(0.1), lib.sgd(0.05), sync_period=3, opaque_mode=True)
  ours, theirs = build(optax_like), build(optax)
  for jit in (False, True):
    upd_a = functools.partial(ours.update, grad_fn=grad_fn)
    upd_b = functools.partial(theirs.update, grad_fn=grad_fn)
    if jit:
      upd_a, upd_b = jax.jit(upd_a), jax.jit(upd_b)
    sa, sb = ours.init(params), theirs.init(params)
    _check_state(sa, sb)
    for g in random_grads(rng, 'nested', 3):
      ua, sa = upd_a(g, sa, params)
      ub, sb = upd_b(g, sb, params)
      _check(ua, ub)
      _check_state(sa, sb)


def test_schedule_free_eval_params_matches_optax():
  rng = np.random.default_rng(4)
  params = random_tree(rng, 'nested')
  ours, theirs = contrib.schedule_free_adamw(0.1), optax.contrib.schedule_free_adamw(0.1)
  for step in lockstep(ours, theirs, params, random_grads(rng, 'nested', 3), jit=True,
                       check_state=_check_state):
    _check(contrib.schedule_free_eval_params(step.state, step.params),
           optax.contrib.schedule_free_eval_params(step.their_state, step.their_params))
  with pytest.raises(ValueError, match='ScheduleFreeState'):
    contrib.schedule_free_eval_params(optax_like.EmptyState(), params)


def test_optax_states_restore_here_and_back():
  # A state made by optax runs in ours (and ours in optax) with the same numbers.
  rng = np.random.default_rng(5)
  params = random_tree(rng, 'nested')
  # (muon is left out: optax's masked state holds optax's MaskedNode, a different class.)
  for name in ('prodigy', 'schedule_free_adamw', 'mechanize', 'dowg'):
    build = CASES[name][0]
    ours, theirs = build(optax_like), build(optax)
    g = random_tree(rng, 'nested')
    their_state = theirs.init(params)
    ua, _ = ours.update(g, their_state, params)
    ub, sb = theirs.update(g, ours.init(params), params)
    _check(ua, theirs.update(g, their_state, params)[0])
    _check_state(ours.update(g, ours.init(params), params)[1], sb)


@pytest.mark.parametrize('name', ['cocob', 'dog', 'dowg', 'prodigy', 'dadapt_adamw'])
def test_fused_equals_plain(name):
  build = CASES[name][0]
  plain, fused = build(optax_like), optax_like.fused(build(optax_like))
  rng = np.random.default_rng(6)
  params = random_tree(rng, 'small')
  sp, sf = plain.init(params), fused.init(params)
  pp = pf = params
  for g in random_grads(rng, 'small', 3):
    up, sp = plain.update(g, sp, pp)
    uf, sf = fused.update(g, sf, pf)
    assert_trees_close(uf, up, rtol=1e-5, atol=1e-6)
    pp, pf = optax_like.apply_updates(pp, up), optax_like.apply_updates(pf, uf)


def test_muon_state_masks_adam_leaves_and_orthogonalises():
  params = {'w': jnp.zeros((4, 3)), 'b': jnp.zeros((3, 3))}
  opt = contrib.muon(1.0, ns_coeffs=(1.5, -0.5, 0.0), ns_steps=14, nesterov=False,
                     muon_weight_dimension_numbers={'w': contrib.MuonDimensionNumbers(),
                                                    'b': None})
  state = opt.init(params)
  mu = state.inner_states['muon'].inner_state[0].mu
  assert isinstance(mu['b'], optax_like.MaskedNode) and mu['w'].shape == (4, 3)
  g = jax.tree.map(lambda x: jnp.asarray(np.random.default_rng(0).normal(size=x.shape),
                                         jnp.float32), params)
  u, _ = jax.jit(opt.update)(g, state, params)
  w = -u['w'] / np.sqrt(max(1, 3 / 4))   # undo the lr and the shape factor
  np.testing.assert_allclose(w.T @ w, np.eye(3), atol=1e-4)   # the polar factor of g
  np.testing.assert_allclose(jnp.abs(u['b']), 1.0, rtol=1e-2)   # Adam's first step: lr


def test_reduce_on_plateau_hand_trajectory():
  tx = contrib.reduce_on_plateau(factor=0.5, patience=2, cooldown=1, rtol=0.0, atol=0.0 + 1e-9)
  state = tx.init(jnp.zeros(1))
  scales = []
  for loss in [3.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 1.0]:
    _, state = tx.update(jnp.ones(1), state, value=loss)
    scales.append(float(state.scale))
  # two non-improvements -> 0.5; one averages of cooldown; two more -> 0.25; then improvement
  assert scales == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]


def test_extra_args_and_no_recompile():
  params = {'w': jnp.ones((2, 2)), 'b': jnp.ones(2)}
  for name in ('muon', 'mechanize', 'schedule_free_sgd', 'sam'):
    opt = CASES[name][0](optax_like)
    opt = optax_like.with_extra_args_support(opt)
    state = opt.init(params)
    step = jax.jit(lambda g, s, p: opt.update(g, s, p, unexpected=1))
    _, state = step(params, state, params)
    before = step._cache_size()
    step(params, state, params)
    assert step._cache_size() == before, name


# --------------------------------------------------------------------------- bad input


BAD = [
    (lambda: contrib.muon(0.1, ns_coeffs='fancy'), ValueError, 'ns_coeffs'),
    (lambda: contrib.muon(0.1, ns_coeffs=(1.0, 2.0)), ValueError, 'ns_coeffs'),
    (lambda: contrib.muon(0.1, ns_coeffs=((1.0, 2.0, 3.0),) * 6, ns_steps=5), ValueError,
     'ns_steps'),
    (lambda: contrib.muon(0.1, beta=1.0), ValueError, 'beta'),
    (lambda: contrib.muon(0.1, preconditioning='svd'), ValueError, 'preconditioning'),
    (lambda: contrib.muon(-1.0 if False else 'x'), TypeError, 'learning_rate'),
    (lambda: contrib.scale_by_muon(mu_dtype='int32'), TypeError, 'mu_dtype'),
    (lambda: contrib.schedule_free(optax_like.sgd(0.1), 0.1, b1=0.0), ValueError, 'b1'),
    (lambda: contrib.schedule_free(object(), 0.1), TypeError, 'base_optimizer'),
    (lambda: contrib.schedule_free_sgd(warmup_steps=-1), ValueError, 'warmup_steps'),
    (lambda: contrib.schedule_free_adamw(b2=1.5), ValueError, 'b2'),
    (lambda: contrib.sam(optax_like.sgd(0.1), optax_like.sgd(0.1), sync_period=0), ValueError,
     'sync_period'),
    (lambda: contrib.sam(optax_like.sgd(0.1), None), TypeError, 'adv_optimizer'),
    (lambda: contrib.sam(optax_like.sgd(0.1), optax_like.sgd(0.1), opaque_mode=1), TypeError,
     'opaque_mode'),
    (lambda: contrib.reduce_on_plateau(factor=1.0), ValueError, 'factor'),
    (lambda: contrib.reduce_on_plateau(rtol=0.0, atol=0.0), ValueError, 'rtol'),
    (lambda: contrib.reduce_on_plateau(rtol=2.0), ValueError, 'rtol'),
    (lambda: contrib.reduce_on_plateau(patience=True), TypeError, 'patience'),
    (lambda: contrib.reduce_on_plateau(accumulation_size=0), ValueError, 'accumulation_size'),
    (lambda: contrib.prodigy(betas=(0.9,)), ValueError, 'betas'),
    (lambda: contrib.prodigy(betas=(1.0, 0.9)), ValueError, r'betas\[0\]'),
    (lambda: contrib.prodigy(estim_lr0=0.0), ValueError, 'estim_lr0'),
    (lambda: contrib.prodigy(weight_decay=-1.0), ValueError, 'weight_decay'),
    (lambda: contrib.dadapt_adamw(eps=-1.0), ValueError, 'eps'),
    (lambda: contrib.dadapt_adamw(learning_rate=True), TypeError, 'learning_rate'),
    (lambda: contrib.mechanize(optax_like.sgd(0.1), num_betas=0), ValueError, 'num_betas'),
    (lambda: contrib.mechanize(optax_like.sgd(0.1), s_init=-1.0), ValueError, 's_init'),
    (lambda: contrib.mechanize('sgd'), TypeError, 'base_optimizer'),
    (lambda: contrib.cocob(alpha=0.0), ValueError, 'alpha'),
    (lambda: contrib.scale_by_cocob(eps=-1.0), ValueError, 'eps'),
    (lambda: contrib.dog(init_step=('guess', 1.0)), ValueError, 'init_step'),
    (lambda: contrib.dog(init_step=1.0), ValueError, 'init_step'),
    (lambda: contrib.dowg(init_estim_sq_dist=-1.0), ValueError, 'init_estim_sq_dist'),
    (lambda: contrib.dowg(eps=-1.0), ValueError, 'eps'),
]


@pytest.mark.parametrize('make, error, match', BAD)
def test_bad_hyperparameters_name_the_argument(make, error, match):
  with pytest.raises(error, match=match):
    make()


def test_update_errors_name_the_tree_path():
  params = {'a': jnp.ones((2, 2)), 'b': jnp.ones(2)}
  other = {'a': jnp.ones((2, 2)), 'c': jnp.ones(2)}
  for opt in (contrib.prodigy(), contrib.dadapt_adamw(), contrib.cocob(), contrib.dog(),
              contrib.dowg(), contrib.mechanize(optax_like.sgd(0.1)),
              contrib.schedule_free_sgd(), contrib.scale_by_muon(
                  weight_dimension_numbers={'a': contrib.MuonDimensionNumbers(),
                                            'b': None})):
    state = opt.init(params)
    with pytest.raises(ValueError, match=r"\['c'\]|\['b'\]"):
      opt.update(other, state, other)
  # A vector given to Muon, and a leaf without dimension numbers, are named.
  tx = contrib.scale_by_muon()
  with pytest.raises(ValueError, match=r"rank >= 2 at \['b'\]"):
    tx.update(params, tx.init(params))
  tx = contrib.scale_by_muon(weight_dimension_numbers={'a': contrib.MuonDimensionNumbers(),
                                                       'b': None})
  with pytest.raises(ValueError, match=r"\['b'\] has no dimension numbers"):
    tx.update(params, tx.init(params))
  for opt in (contrib.prodigy(), contrib.cocob(), contrib.mechanize(optax_like.sgd(0.1))):
    with pytest.raises(ValueError, match='params'):
      opt.update(params, opt.init(params))
  with pytest.raises(TypeError, match='value'):
    tx = contrib.reduce_on_plateau()
    tx.update(params, tx.init(params))
  with pytest.raises(ValueError, match='grad_fn'):
    tx = contrib.sam(optax_like.sgd(0.1), optax_like.sgd(0.1), opaque_mode=True)
    tx.update(params, tx.init(params), params)
  with pytest.raises(TypeError, match='ProdigyState'):
    contrib.prodigy().update(params, contrib.dadapt_adamw().init(params), params)


@pytest.mark.parametrize('name', ['dog', 'dowg', 'prodigy', 'dadapt_adamw', 'mechanize'])
def test_mixed_precision_state_keeps_its_layout(name):
  # Deliberate difference: with float32 and bfloat16 leaves together, optax's scalar state
  # drifts from the lowest dtype to float32 after one update (and its mechanize fails in
  # lax.clamp); ours keeps optax's initial layout, and each update keeps its leaf's dtype.
  params = {'a': jnp.ones(3, jnp.float32), 'b': jnp.full((2, 2), 0.5, jnp.bfloat16)}
  build = CASES[name][0]
  ours = build(optax_like)
  state = ours.init(params)
  assert_same_layout(state, build(optax).init(params))
  grads = jax.tree.map(lambda x: x * 0.5, params)
  u, new_state = jax.jit(ours.update)(grads, state, params)
  assert_same_layout(new_state, state)
  assert jax.tree.map(lambda x: x.dtype, u) == jax.tree.map(lambda x: x.dtype, grads)
  assert all(bool(jnp.all(jnp.isfinite(x.astype(jnp.float32)))) for x in jax.tree.leaves(u))

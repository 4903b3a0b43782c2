"""The fused fast path: the aliases' default equals the tree path; bucketed; update_and_apply."""

import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import optax_like as ox
from optax_like._src import alias, base, clipping, fused, tree

# (name, factory(fused)) of every alias behind the fast path, and the chain the issue names.
FUSED_ALIASES = [
    ('sgd', lambda f: ox.sgd(1e-2, fused=f)),
    ('sgd_nesterov', lambda f: ox.sgd(1e-2, momentum=0.9, nesterov=True, fused=f)),
    ('adam', lambda f: ox.adam(1e-2, fused=f)),
    ('adam_mu_f32', lambda f: ox.adam(1e-2, mu_dtype=jnp.float32, fused=f)),
    ('nadam', lambda f: ox.nadam(1e-2, fused=f)),
    ('adamw', lambda f: ox.adamw(1e-2, weight_decay=0.1, fused=f)),
    ('amsgrad', lambda f: ox.amsgrad(1e-2, fused=f)),
    ('rmsprop_momentum', lambda f: ox.rmsprop(1e-2, momentum=0.9, fused=f)),
    ('rmsprop_centered', lambda f: ox.rmsprop(1e-2, centered=True, eps=1e-3, fused=f)),
    ('lion', lambda f: ox.lion(1e-3, fused=f)),
    ('adagrad', lambda f: ox.adagrad(1e-1, fused=f)),
    ('lars', lambda f: ox.lars(0.1, weight_decay=1e-2, nesterov=True, fused=f)),
    ('lamb', lambda f: ox.lamb(1e-2, weight_decay=0.1, fused=f)),
    ('adam_schedule', lambda f: ox.adam(ox.exponential_decay(1e-2, 2, 0.5), fused=f)),
    ('clip_adam', lambda f: ox.chain(ox.clip_by_global_norm(0.5), ox.adam(1e-2, fused=f))),
]
TXS = [(name, (lambda make: lambda: make(None))(make))
       for name, make in FUSED_ALIASES[:3] + FUSED_ALIASES[-1:]]


def random_tree(rng, bf16: bool):
  """A nested dict/list tree with matrices, vectors, a scalar and a None leaf."""
  def arr(shape, dtype=jnp.float32):
    return jnp.asarray(rng.standard_normal(shape).astype(np.float32), dtype)
  t = {
      'dense': {'w': arr((rng.integers(1, 6), rng.integers(1, 6))), 'b': arr((3,))},
      'layers': [arr((4,)), None, arr((2, 2, 2))],
      'gain': arr(()),
  }
  if bf16:
    t['low'] = [arr((5,), jnp.bfloat16), arr((2, 3), jnp.bfloat16)]
  return t


def assert_trees_close(a, b):
  la, lb = jax.tree.leaves(a, is_leaf=tree.is_none), jax.tree.leaves(b, is_leaf=tree.is_none)
  assert jax.tree.structure(a, is_leaf=tree.is_none) == jax.tree.structure(b, is_leaf=tree.is_none)
  assert len(la) == len(lb)
  for x, y in zip(la, lb):
    if x is None or y is None:
      assert x is None and y is None
      continue
    assert x.dtype == y.dtype and x.shape == y.shape
    # bf16 outputs: the float32 results may differ in the last float32 bit (another summation
    # order of the global norm), which can flip one bf16 rounding.
    rtol = 1e-2 if x.dtype == jnp.bfloat16 else 1e-6
    np.testing.assert_allclose(np.asarray(x, np.float32), np.asarray(y, np.float32),
                               rtol=rtol, atol=1e-6)


def _run_both(make, params, steps=3, jit=False):
  """Steps the fast path and the tree path side by side; checks updates, params and state."""
  fast, plain = make(None), make(False)
  s_fast, s_plain = fast.init(params), plain.init(params)
  assert any(isinstance(x, fused.BucketedState)
             for x in jax.tree.leaves(s_fast, is_leaf=lambda x: isinstance(x, fused.BucketedState)))
  assert not any(isinstance(x, fused.BucketedState) for x in
                 jax.tree.leaves(s_plain, is_leaf=lambda x: isinstance(x, fused.BucketedState)))
  update = jax.jit(fast.update) if jit else fast.update
  p_fast = p_plain = params
  for step in range(steps):
    grads = jax.tree.map(lambda p: (p * 0.5 + 0.1 * (step + 1)).astype(p.dtype), p_plain)
    u_plain, s_plain = plain.update(grads, s_plain, p_plain)
    u_fast, s_fast = update(grads, s_fast, p_fast)
    assert_trees_close(u_fast, u_plain)
    p_plain, p_fast = ox.apply_updates(p_plain, u_plain), ox.apply_updates(p_fast, u_fast)
    assert_trees_close(p_fast, p_plain)
    unbucketed = jax.tree.map(lambda s: ox.unbucket_state(s, params), s_fast,
                              is_leaf=lambda x: isinstance(x, fused.BucketedState))
    assert_trees_close(unbucketed, s_plain)


@pytest.mark.parametrize('name,make', FUSED_ALIASES)
@pytest.mark.parametrize('seed', [0, 1])
def test_fast_path_is_default_and_equals_tree_path(name, make, seed):
  rng = np.random.default_rng(seed)
  _run_both(make, random_tree(rng, bf16=seed != 0), jit=seed == 1)


@st.composite
def _trees(draw):
  dtype = draw(st.sampled_from([jnp.float32, jnp.bfloat16, jnp.float16]))
  shapes = draw(st.lists(st.sampled_from([(), (1,), (3,), (2, 3), (4, 1, 2)]), min_size=1,
                         max_size=7))
  seed = draw(st.integers(0, 2**16))
  rng = np.random.RandomState(seed)
  leaves = [jnp.asarray(rng.normal(size=s), draw(st.sampled_from([jnp.float32, dtype])))
            for s in shapes]
  keys = ['kernel', 'bias', 'w', 'scale', 'emb', 'g', 'h']
  return {'dense': {keys[i]: x for i, x in enumerate(leaves[::2])},
          'rest': [None] + leaves[1::2]}


@pytest.mark.parametrize('name,make', [FUSED_ALIASES[i] for i in (2, 7, 10, 11, 12, 14)])
@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(params=_trees())
def test_fast_path_equals_tree_path_over_random_pytrees(name, make, params):
  _run_both(make, params, steps=2)


def test_switches_turn_the_fast_path_off():
  p = {'w': jnp.ones((2, 2)), 'b': jnp.ones(2)}
  assert isinstance(ox.adam(0.1).init(p), fused.BucketedState)
  assert isinstance(ox.adam(0.1, fused=False).init(p), tuple)
  assert not isinstance(ox.adam(0.1, fused=False).init(p), fused.BucketedState)
  old = ox.set_fused_default(False)
  try:
    assert not ox.fused_default()
    assert not isinstance(ox.adam(0.1).init(p), fused.BucketedState)
    assert isinstance(ox.adam(0.1, fused=True).init(p), fused.BucketedState)
  finally:
    ox.set_fused_default(old)
  with pytest.raises(TypeError, match='enabled'):
    ox.set_fused_default(1)
  with pytest.raises(TypeError, match='fused'):
    ox.adam(0.1, fused='yes')
  code = 'import jax.numpy as j, optax_like as o; print(type(o.adam(.1).init([j.ones(2)])).__name__)'
  env = dict(os.environ, OPTAX_LIKE_FUSED='0')
  out = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True)
  assert out.stdout.strip() == 'tuple', out.stderr


def _decay_matrices(tree):
  """A callable mask, as users write them: decay only the leaves with 2+ dimensions."""
  return jax.tree.map(lambda x: x.ndim >= 2, tree)


MASKED = [
    ('adamw_mask', lambda f: ox.adamw(1e-2, weight_decay=0.1, mask=_decay_matrices, fused=f)),
    ('lion_mask', lambda f: ox.lion(1e-3, weight_decay=0.1, mask=_decay_matrices, fused=f)),
    ('lamb_mask', lambda f: ox.lamb(1e-2, weight_decay=0.1, mask=_decay_matrices, fused=f)),
    ('lars_masks', lambda f: ox.lars(0.1, weight_decay=1e-2, weight_decay_mask=_decay_matrices,
                                     trust_ratio_mask=_decay_matrices, fused=f)),
    ('clip_adamw_mask', lambda f: ox.chain(ox.clip_by_global_norm(0.5),
                                           ox.adamw(1e-2, mask=_decay_matrices, fused=f))),
]


@pytest.mark.parametrize('name,make', MASKED)
def test_masked_aliases_bucket_by_mask_value_and_equal_tree_path(name, make):
  params = random_tree(np.random.default_rng(2), bf16=True)
  _run_both(make, params, jit=True)
  state = make(None).init(params)
  # Leaves are split by mask value: no bucket mixes decayed and undecayed leaves.
  leaves = jax.tree.leaves(params)
  for idx in state.layout.members:
    assert len({leaves[i].ndim >= 2 for i in idx}) == 1


def test_bad_masks_get_the_tree_paths_errors():
  """A mask the fast path cannot read as static bools falls back; the tree path names the path."""
  p = {'w': jnp.ones((2, 2)), 'b': jnp.ones(2)}
  with pytest.raises(ValueError, match=r"at path \['w'\]"):
    ox.adamw(0.1, mask={'w': {'x': True}, 'b': False}).init(p)
  with pytest.raises(TypeError, match=r"\['b'\]"):
    ox.adamw(0.1, mask={'w': True, 'b': 'no'}).init(p)
  traced = lambda t: jax.tree.map(lambda x: jnp.all(x > 0), t)  # noqa: E731 - from values
  with pytest.raises(TypeError, match='static'):
    jax.jit(ox.adamw(0.1, mask=traced).init)(p)
  # Concrete 0-d bool arrays are bools: bucketed.
  assert isinstance(ox.adamw(0.1, mask={'w': jnp.asarray(True), 'b': jnp.asarray(False)}).init(p),
                    fused.BucketedState)


def test_trust_ratio_in_buckets_is_per_leaf():
  """Zero leaves (ratio falls back to 1), leaves of very different norms, one bucket each dtype."""
  params = {'zero': jnp.zeros(3), 'big': jnp.full((2, 2), 100.0), 'small': jnp.full(5, 1e-3),
            'b16': jnp.ones(4, jnp.bfloat16), 'scalar': jnp.asarray(2.0)}
  make = lambda f: ox.lars(0.1, weight_decay=0.0, momentum=0.0, fused=f)
  _run_both(make, params, steps=2, jit=True)
  tx = make(None)
  state = tx.init(params)
  grads = jax.tree.map(jnp.ones_like, params)
  _, state = tx.update(grads, state, params)
  ratios = ox.unbucket_state(state, params)[1].inner_state.trust_ratio
  assert float(ratios['zero']) == 1.0
  np.testing.assert_allclose(float(ratios['big']), 1e-3 * 200.0 / 2.0, rtol=1e-6)  # tc 1e-3
  np.testing.assert_allclose(float(ratios['small']), 1e-3 * np.sqrt(5e-6) / np.sqrt(5.0),
                             rtol=1e-5)


def test_fast_path_under_wrappers_matches_optax():
  """inject_hyperparams, MultiSteps and apply_if_finite rebuild or wrap the fused alias."""
  rng = np.random.default_rng(5)
  params = random_tree(rng, bf16=False)
  pairs = [
      (ox.inject_hyperparams(ox.adam)(learning_rate=0.05),
       optax.inject_hyperparams(optax.adam)(learning_rate=0.05)),
      (ox.MultiSteps(ox.sgd(0.1, momentum=0.9), 2), optax.MultiSteps(optax.sgd(0.1, momentum=0.9), 2)),
      (ox.apply_if_finite(ox.rmsprop(0.01), 2), optax.apply_if_finite(optax.rmsprop(0.01), 2)),
  ]
  for ours, theirs in pairs:
    s, t = ours.init(params), theirs.init(params)
    p = q = params
    for step in range(4):
      g = jax.tree.map(lambda x: x * 0.3 + step, p)
      u, s = jax.jit(ours.update)(g, s, p)
      v, t = theirs.update(g, t, q)
      p, q = ox.apply_updates(p, u), optax.apply_updates(q, v)
      assert_trees_close(p, q)


def test_fast_path_on_8_host_devices():
  """Replicated params are bucketed with replicated state; sharded or scattered ones never are."""
  script = pathlib.Path(__file__).parent / 'fused_sharding_check.py'
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=8', JAX_PLATFORMS='cpu')
  proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env,
                        timeout=300)
  assert proc.returncode == 0, proc.stdout + proc.stderr
  lines = proc.stdout.strip().splitlines()
  assert lines and all(line.endswith(' ok') for line in lines), proc.stdout
  assert len(lines) == 7, proc.stdout


def test_bucketed_state_is_one_vector_per_dtype():
  p = {'a': jnp.ones((2, 3)), 'b': jnp.ones(4, jnp.bfloat16), 'c': jnp.ones(()), 'd': None}
  state = fused.bucketed(alias.adam(1e-3, fused=False)).init(p)
  mu = state.inner_state[0].mu
  assert state.layout.members == ((2, 0), (1,))   # the f32 bucket holds c, then a (by size)
  assert [m.shape for m in mu] == [(7,), (4,)]
  assert [m.dtype for m in mu] == [jnp.float32, jnp.bfloat16]


def test_bucketed_empty_tree():
  tx = fused.bucketed(base.chain(clipping.clip_by_global_norm(1.0), alias.adam(1e-3, fused=False)))
  state = tx.init({})
  u, _ = tx.update({}, state, {})
  assert u == {}
  u, _ = tx.update([None], tx.init([None]), [None])
  assert u == [None]


def test_bucketed_without_params_and_hand_values():
  # sgd(0.5) with momentum 0.5 over two steps of g = 1: t = 1, then 1.5; u = -0.5 t.
  tx = fused.bucketed(alias.sgd(0.5, momentum=0.5, fused=False))
  g = {'x': jnp.ones(2), 'y': [jnp.ones(()), jnp.ones((1, 1), jnp.bfloat16)]}
  s = tx.init(g)
  u, s = tx.update(g, s)
  u, s = tx.update(g, s)
  assert u['x'].tolist() == [-0.75, -0.75]
  assert float(u['y'][0]) == -0.75 and u['y'][1].dtype == jnp.bfloat16


def test_bucketed_errors():
  with pytest.raises(TypeError, match='bucketed'):
    fused.bucketed(lambda x: x)
  tx = fused.bucketed(alias.sgd(0.1, fused=False))
  s = tx.init({'a': jnp.ones(2)})
  with pytest.raises(ValueError, match='same shapes'):
    tx.update({'a': jnp.ones(2)}, s, {'a': jnp.ones(3)})
  with pytest.raises(ValueError, match='built for 1 leaves'):
    tx.update({'a': jnp.ones(2), 'b': jnp.ones(2)}, s)


@pytest.mark.parametrize('name,make', TXS)
def test_update_and_apply_equals_update_then_apply(name, make):
  rng = np.random.default_rng(3)
  params = random_tree(rng, bf16=True)
  tx = make()
  s_ref = s = tx.init(params)
  p_ref = p = params
  step = jax.jit(lambda g, s, p: fused.update_and_apply(tx, g, s, p))
  for _ in range(2):
    grads = jax.tree.map(lambda x: (x * 0.3 - 0.2).astype(x.dtype), p_ref)
    u, s_ref = tx.update(grads, s_ref, p_ref)
    p_ref = tree.apply_updates(p_ref, u)
    p, s = step(grads, s, p)
    assert_trees_close(p, p_ref)
    assert_trees_close(s, s_ref)


def test_update_and_apply_extra_args_and_errors():
  tx = alias.sgd(1.0)
  p, _ = fused.update_and_apply(tx, jnp.ones(1), tx.init(jnp.zeros(1)), jnp.zeros(1), loss=1.0)
  assert p.tolist() == [-1.0]
  with pytest.raises(TypeError, match='update_and_apply'):
    fused.update_and_apply(object(), None, None, None)


def test_fused_probe_smoke(capsys):
  """The probe's harness runs end to end on tiny sizes (no timing assertions)."""
  from benchmarks import fused_probe
  fused_probe.main(['--n', '1000', '--leaves', '3', '--rounds', '1', '--only', 'clip'])
  out = capsys.readouterr().out
  assert 'ours:fused' in out and 'ours:tree' in out and 'optax:tree' in out


def test_bucketed_state_checkpoint_round_trip_continues_bit_exactly():
  """Save the state's array leaves (as numpy), restore them into a fresh init's structure."""
  rng = np.random.default_rng(7)
  params = random_tree(rng, bf16=True)
  opt = ox.chain(ox.clip_by_global_norm(1.0), ox.adam(1e-2))
  step = jax.jit(opt.update)
  grads = [jax.tree.map(lambda p, i=i: (p * 0.1 * (i + 1)).astype(p.dtype), params)
           for i in range(4)]
  state = opt.init(params)
  for g in grads[:2]:
    _, state = step(g, state, params)
  saved = [np.asarray(x) for x in jax.tree.leaves(state)]
  restored = jax.tree.unflatten(jax.tree.structure(opt.init(params)),
                                [jnp.asarray(x) for x in saved])
  for g in grads[2:]:
    u_a, state = step(g, state, params)
    u_b, restored = step(g, restored, params)
    for a, b in zip(jax.tree.leaves((u_a, state)), jax.tree.leaves((u_b, restored))):
      np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_chain_of_fused_alias_and_grouping_free_transforms_runs_as_one_fast_path():
  p = {'w': jnp.ones((2, 3)), 'b': jnp.ones(3)}
  merged = ox.chain(ox.clip_by_global_norm(1.0), ox.add_decayed_weights(1e-2),
                    ox.adam(1e-2), ox.scale(0.5))
  state = merged.init(p)
  assert isinstance(state, fused.BucketedState) and len(state.inner_state) == 4
  # The tree-path twin, member by member, gives the same numbers.
  make = lambda f: ox.chain(ox.clip_by_global_norm(1.0), ox.add_decayed_weights(1e-2),
                            ox.adam(1e-2, fused=f), ox.scale(0.5))
  _run_both(make, random_tree(np.random.default_rng(11), bf16=True), jit=True)
  # Not merged: a per-leaf member, an optax member, mixed switches, sharded-axis reductions.
  not_merged = [
      ox.chain(ox.clip_by_norm(1.0), ox.adam(1e-2)),
      ox.chain(optax.clip_by_global_norm(1.0), ox.adam(1e-2)),
      ox.chain(ox.adam(1e-2, fused=True), ox.sgd(0.1)),
      ox.chain(ox.clip_by_global_norm(1.0, axis_name='x'), ox.adam(1e-2)),
      ox.chain(ox.masked(ox.scale(2.0), {'w': True, 'b': False}), ox.adam(1e-2)),
  ]
  for tx in not_merged:
    assert type(tx.init(p)) is tuple
  # A masked alias merges too: its masks travel with it.
  merged = ox.chain(ox.adamw(1e-2, mask={'w': True, 'b': False}), ox.scale(1.0))
  assert isinstance(merged.init(p), fused.BucketedState)
  # Without any fused alias, chain is the plain chain.
  assert type(ox.chain(ox.clip(1.0), ox.scale(-1.0)).init(p)) is tuple

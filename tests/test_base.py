"""Core combinators, tree helpers and interop with optax."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from optax_like._src import accumulation, base, scaling, tree
from differential import DIFFERENTIAL_KINDS, assert_trees_close, lockstep, random_grads, random_tree


def _params():
  return {'w': jnp.array([1.0, -2.0]), 'b': [jnp.array(0.5), None]}


def test_identity_and_set_to_zero():
  g = _params()
  u, s = base.identity().update(g, base.identity().init(g))
  assert s == base.EmptyState()
  np.testing.assert_array_equal(u['w'], g['w'])
  u, _ = base.set_to_zero().update(g, base.EmptyState())
  np.testing.assert_array_equal(u['w'], [0.0, 0.0])
  assert u['b'][1] is None


def test_stateless_receives_params():
  tx = base.stateless(lambda u, p: jax.tree.map(lambda a, b: a * b, u, p))
  p = {'w': jnp.array([2.0, 3.0])}
  u, _ = tx.update({'w': jnp.array([1.0, 1.0])}, tx.init(p), p)
  np.testing.assert_array_equal(u['w'], [2.0, 3.0])


def test_stateless_rejects_non_callable():
  with pytest.raises(TypeError, match='`f` must be callable'):
    base.stateless(3)


def test_chain_applies_in_order_over_steps():
  # clip to [-1, 1] then momentum 0.5: trajectory 1, 1.5, 1.75 for gradient 5.
  from optax_like._src import clipping
  tx = base.chain(clipping.clip(1.0), accumulation.trace(0.5))
  s = tx.init(jnp.zeros(1))
  outs = []
  for _ in range(3):
    u, s = tx.update(jnp.array([5.0]), s)
    outs.append(u.item())
  assert outs == [1.0, 1.5, 1.75]
  assert isinstance(s, tuple) and len(s) == 2


def test_chain_rejects_non_transformation():
  with pytest.raises(TypeError, match='chain argument 1 must be a GradientTransformation'):
    base.chain(base.identity(), lambda x: x)


def test_chain_rejects_foreign_state():
  tx = base.chain(base.identity(), base.identity())
  with pytest.raises(ValueError, match='state has 1 entries but the chain has 2'):
    tx.update(jnp.ones(1), (base.EmptyState(),))


def test_chain_forwards_extra_args_only_to_members_that_take_them():
  seen = {}

  def update(updates, state, params=None, **extra):
    seen.update(extra)
    return updates, state

  takes = base.GradientTransformationExtraArgs(base.init_empty_state, update)
  tx = base.chain(base.identity(), takes)
  tx.update(jnp.ones(1), tx.init(None), None, loss=3.0)
  assert seen == {'loss': 3.0}


def test_named_chain_state_is_keyed_and_names_unique():
  tx = base.named_chain(('m', accumulation.trace(0.9)), ('lr', scaling.scale(-0.1)))
  s = tx.init({'w': jnp.ones(2)})
  assert set(s) == {'m', 'lr'}
  u, s = tx.update({'w': jnp.ones(2)}, s)
  np.testing.assert_allclose(u['w'], [-0.1, -0.1])
  with pytest.raises(ValueError, match='names must be unique'):
    base.named_chain(('a', base.identity()), ('a', base.identity()))


def test_named_chain_state_is_optaxs_ordered_dict():
  # optax keeps the chain's order (an OrderedDict), so the leaves flatten unsorted.
  p = {'w': jnp.ones(2)}
  ours = base.named_chain(('z', accumulation.trace(0.9)), ('a', accumulation.ema(0.5)))
  theirs = optax.named_chain(('z', optax.trace(0.9)), ('a', optax.ema(0.5)))
  for sa, sb in [(ours.init(p), theirs.init(p)),
                 (ours.update(p, ours.init(p))[1], theirs.update(p, theirs.init(p))[1])]:
    assert type(sa) is type(sb) and list(sa) == ['z', 'a']
    paths = lambda s: [jax.tree_util.keystr(k) for k, _ in jax.tree_util.tree_flatten_with_path(s)[0]]
    assert paths(sa) == paths(sb)
    assert_trees_close(sa, sb)


def test_optax_transform_inside_our_chain_and_ours_inside_optax():
  p = {'w': jnp.array([1.0, 2.0])}
  g = {'w': jnp.array([0.3, -0.4])}
  ours = base.chain(optax.scale_by_adam(), scaling.scale(-0.1))
  theirs = optax.chain(accumulation.trace(0.9), optax.scale(-0.1))
  ref_a = optax.chain(optax.scale_by_adam(), optax.scale(-0.1))
  ref_b = optax.chain(optax.trace(0.9), optax.scale(-0.1))
  for tx, ref in ((ours, ref_a), (theirs, ref_b)):
    s, rs = tx.init(p), ref.init(p)
    for _ in range(3):
      u, s = tx.update(g, s, p)
      ru, rs = ref.update(g, rs, p)
    np.testing.assert_allclose(u['w'], ru['w'], rtol=1e-6)


def test_apply_updates_keeps_dtype_and_none():
  p = {'a': jnp.ones(2, jnp.bfloat16), 'b': None}
  out = tree.apply_updates(p, {'a': jnp.full(2, 0.5, jnp.float32), 'b': None})
  assert out['a'].dtype == jnp.bfloat16 and out['b'] is None
  np.testing.assert_array_equal(out['a'].astype(jnp.float32), [1.5, 1.5])


def test_apply_updates_names_mismatched_paths():
  with pytest.raises(ValueError, match=r"apply_updates: params and updates.*\['b'\]"):
    tree.apply_updates({'a': jnp.ones(1)}, {'a': jnp.ones(1), 'b': jnp.ones(1)})


def test_incremental_update_and_global_norm_match_optax():
  new = {'a': jnp.array([1.0, 2.0]), 'b': jnp.array(3.0)}
  old = {'a': jnp.array([0.0, 4.0]), 'b': jnp.array(-1.0)}
  for step in (0.0, 0.1, 1.0):
    got = tree.incremental_update(new, old, step)
    want = optax.incremental_update(new, old, step)
    jax.tree.map(np.testing.assert_allclose, got, want)
  assert float(tree.global_norm(new)) == pytest.approx(np.sqrt(14.0))
  assert float(tree.global_norm(new)) == float(optax.global_norm(new))
  assert float(tree.global_norm({})) == 0.0


def test_global_norm_accumulates_bf16_in_float32():
  # 4096 bf16 ones: a bf16 accumulator stalls at 256 (sum of squares), float32 gives 64.
  x = jnp.ones(4096, jnp.bfloat16)
  assert float(tree.global_norm(x)) == 64.0
  assert tree.global_norm(x).dtype == jnp.float32


def test_safe_increment_saturates():
  top = jnp.array(jnp.iinfo(jnp.int32).max, jnp.int32)
  assert int(tree.safe_increment(top)) == jnp.iinfo(jnp.int32).max
  assert int(tree.safe_increment(jnp.array(3, jnp.int32))) == 4


def test_path_names():
  names = tree.path_names({'dense': {'kernel': 1, 'bias': 2}, 'blocks': [3, (4,)]})
  assert names == {'dense': {'kernel': 'dense/kernel', 'bias': 'dense/bias'},
                   'blocks': ['blocks/0', ('blocks/1/0',)]}


def test_trace_and_ema_name_mismatched_state_paths():
  for tx, label in ((accumulation.trace(0.9), 'trace: updates and state.trace'),
                    (accumulation.ema(0.9), 'ema: updates and state.ema')):
    state = tx.init({'a': jnp.ones(2), 'b': jnp.ones(3)})
    with pytest.raises(ValueError, match=label + r".*\['c'\]"):
      tx.update({'a': jnp.ones(2), 'c': jnp.ones(3)}, state)


EMA_CASES = [(debias, dtype, False) for debias in (True, False) for dtype in (None, 'float32')
             ] + [(True, None, True), (False, 'float32', True)]


@pytest.mark.parametrize('seed', range(len(EMA_CASES)))
def test_ema_matches_optax_bit_exactly(seed):
  # Bias correction divides by 1 - decay**t, which magnifies any rounding difference.
  debias, accumulator_dtype, use_jit = EMA_CASES[seed]
  rng = np.random.RandomState(seed)
  kind = DIFFERENTIAL_KINDS[rng.randint(3)]
  decay = float(rng.uniform(0.0, 0.999))
  params = random_tree(rng, kind)
  exact = functools.partial(assert_trees_close, rtol=0, atol=0)
  list(lockstep(accumulation.ema(decay, debias, accumulator_dtype),
                optax.ema(decay, debias, accumulator_dtype), params,
                random_grads(rng, kind, 5), jit=use_jit, check=exact))


@pytest.mark.parametrize('debias', [True, False])
def test_ema_bfloat16_accumulator_computes_in_float32(debias):
  # A bfloat16 ema is read into float32 and only the stored average is rounded. (optax computes
  # decay * ema in bfloat16, so it agrees to bfloat16 precision only.)
  rng = np.random.RandomState(20 + debias)
  decay = float(rng.uniform(0.5, 0.9))
  tx, ref = accumulation.ema(decay, debias, 'bfloat16'), optax.ema(decay, debias, 'bfloat16')
  params = random_tree(rng, 'nested')
  state, ref_state = tx.init(params), ref.init(params)
  for t in range(1, 5):
    g = random_tree(rng, 'nested')
    new = jax.tree.map(lambda x, e: np.float32(1 - decay) * np.asarray(x)
                       + np.float32(decay) * np.asarray(e, np.float32), g, state.ema)
    u, state = tx.update(g, state)
    want = jax.tree.map(lambda x: (x / (1 - decay ** t) if debias else x).astype(np.float32),
                        new)
    assert_trees_close(u, want)
    assert_trees_close(state.ema, jax.tree.map(lambda x: x.astype(jnp.bfloat16), new),
                       rtol=0, atol=0)
    ref_u, ref_state = ref.update(g, ref_state)
    assert_trees_close(u, ref_u, rtol=2**-6, atol=2**-6)


def test_scale_by_schedule_errors():
  with pytest.raises(TypeError, match='`step_size_fn` must be a callable'):
    scaling.scale_by_schedule(0.1)
  tx = scaling.scale_by_schedule(lambda count: jnp.ones(2))
  with pytest.raises(ValueError, match='the schedule must return a scalar'):
    tx.update(jnp.ones(2), tx.init(None))
  with pytest.raises(TypeError, match='use scale_by_schedule for a schedule'):
    scaling.scale(lambda c: 1.0)


def test_scale_keeps_bf16_factor_in_float32():
  # 1.003 rounds to 1.0 in bfloat16 (255 * 1.0 = 255); in float32 255 * 1.003 = 255.77 -> 256.
  g = jnp.array([255.0], jnp.bfloat16)
  out = scaling.scale(1.003).update(g, base.EmptyState())[0]
  assert out.dtype == jnp.bfloat16
  assert float(out[0]) == 256.0

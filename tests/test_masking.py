"""Tests for optax_like._src.masking: masked, partition / multi_transform, regex_mask."""

import collections
import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from optax_like._src import base, clipping, masking, trust_ratio, weight_decay
from differential import (RTOL, ErrorLog, assert_trees_close, lockstep, random_grads,
                          random_tree)

ERRORS = ErrorLog('masking')
# Updates and states leaf by leaf (optax's layout exactly), each comparison logged for the summary.
assert_close = functools.partial(assert_trees_close, log=ERRORS)
# The differential tests' tree kinds; the one with a None leaf also nests a dict.
KINDS = ('nested', 'list', {'x': (7,), 'y': {'z': (2, 2)}, 'none': None})


# --------------------------------------------------------------------------- helpers


def run_both(ours, theirs, params, rng, kind, use_jit, steps=3, extra=None):
  """Our and optax's transform over random gradients, params moving; our final state."""
  return list(lockstep(ours, theirs, params, random_grads(rng, kind, steps), jit=use_jit,
                       check=assert_close, extra_args=extra))[-1].state


def random_bool_mask(rng, params):
  return jax.tree.map(lambda _: bool(rng.rand() < 0.5), params)


def prefix_of(rng, params, make_leaf):
  if isinstance(params, dict):
    return {k: make_leaf() for k in params}
  return type(params)(make_leaf() for _ in params)


def inner_pair(rng, which):
  """The same inner optimizer built from our transforms and from optax's (adam etc. from optax)."""
  if which == 0:
    m, b1 = float(rng.uniform(0.5, 3.0)), float(rng.uniform(0.0, 0.95))
    return (base.chain(clipping.clip_by_global_norm(m), optax.scale_by_adam(b1=b1)),
            optax.chain(optax.clip_by_global_norm(m), optax.scale_by_adam(b1=b1)))
  if which == 1:
    wd, tc = float(rng.uniform(0.0, 0.3)), float(rng.uniform(0.01, 1.0))
    return (base.chain(weight_decay.add_decayed_weights(wd),
                       trust_ratio.scale_by_trust_ratio(trust_coefficient=tc), optax.trace(0.9)),
            optax.chain(optax.add_decayed_weights(wd),
                        optax.scale_by_trust_ratio(trust_coefficient=tc), optax.trace(0.9)))
  if which == 2:
    d, t = float(rng.uniform(0.1, 1.0)), float(rng.uniform(0.1, 1.0))
    return (base.chain(clipping.clip(d), clipping.clip_by_block_rms(t), optax.scale_by_rms()),
            optax.chain(optax.clip(d), optax.clip_by_block_rms(t), optax.scale_by_rms()))
  sched = optax.exponential_decay(0.1, 2, 0.5)
  return (weight_decay.add_decayed_weights(sched, mask=lambda p: jax.tree.map(
      lambda x: x.ndim > 1, p)),
          optax.add_decayed_weights(sched, mask=lambda p: jax.tree.map(lambda x: x.ndim > 1, p)))


# --------------------------------------------------------------------------- masked


@pytest.mark.parametrize('seed,use_jit', [(s, False) for s in range(4)] + [(70, True)])
def test_masked_matches_optax(seed, use_jit):
  rng = np.random.RandomState(seed)
  kind = KINDS[seed % 3]
  params = random_tree(rng, kind)
  form = seed % 3
  if form == 0:
    mask = random_bool_mask(rng, params)
  elif form == 1:
    mask = prefix_of(rng, params, lambda: bool(rng.rand() < 0.5))
  else:
    mask = lambda p: jax.tree.map(lambda x: x.ndim != 1, p)
  ours_inner, theirs_inner = inner_pair(rng, seed % 4)
  run_both(masking.masked(ours_inner, mask), optax.masked(theirs_inner, mask), params, rng, kind,
           use_jit)


@pytest.mark.parametrize('seed', range(3))
def test_nested_masked_matches_optax(seed):
  rng = np.random.RandomState(10 + seed)
  params = random_tree(rng, 'nested')
  outer, inner_mask = random_bool_mask(rng, params), random_bool_mask(rng, params)
  ours_inner, theirs_inner = inner_pair(rng, seed)
  ours = masking.masked(base.chain(masking.masked(ours_inner, inner_mask), optax.scale(-0.1)),
                        outer)
  theirs = optax.masked(optax.chain(optax.masked(theirs_inner, inner_mask), optax.scale(-0.1)),
                        outer)
  run_both(ours, theirs, params, rng, 'nested', use_jit=False)


def test_masked_state_only_covers_masked_in_leaves():
  params = {'w': jnp.ones((2, 2)), 'b': jnp.ones(2)}
  tx = masking.masked(optax.scale_by_adam(), {'w': True, 'b': False})
  state = tx.init(params)
  assert isinstance(state, masking.MaskedState)
  assert isinstance(state.inner_state.mu['b'], masking.MaskedNode)
  assert state.inner_state.mu['w'].shape == (2, 2)
  u, _ = tx.update({'w': jnp.ones((2, 2)), 'b': jnp.full(2, 7.0)}, state)
  np.testing.assert_array_equal(u['b'], [7.0, 7.0])  # passed through


def test_masked_hand_computed_trajectory():
  # Clip only 'w' (to 0.5); 'b' is plain SGD. f = 0.5 * ||x - 3||^2, lr 1.
  tx = masking.masked(clipping.clip(0.5), {'w': True, 'b': False})
  params = {'w': jnp.zeros(1), 'b': jnp.zeros(1)}
  state = tx.init(params)
  for _ in range(3):
    g = jax.tree.map(lambda x: x - 3.0, params)
    u, state = tx.update(g, state, params)
    params = jax.tree.map(lambda p, x: p - x, params, u)
  np.testing.assert_allclose(params['w'], [1.5])
  np.testing.assert_allclose(params['b'], [3.0])


def test_mask_compatible_extra_args_matches_optax():
  def add_tags(tx_cls):
    def update(updates, state, params=None, *, tags=None, **extra):
      del params, extra
      return jax.tree.map(lambda u, t: u + t, updates, tags), state
    return tx_cls(lambda p: optax.EmptyState(), update)

  rng = np.random.RandomState(3)
  params = random_tree(rng, 'nested')
  mask = random_bool_mask(rng, params)
  extra = lambda g: {'tags': jax.tree.map(lambda x: 10.0 * jnp.ones_like(x), g)}
  ours = masking.masked(add_tags(base.GradientTransformationExtraArgs), mask,
                        mask_compatible_extra_args=True)
  theirs = optax.masked(add_tags(optax.GradientTransformationExtraArgs), mask,
                        mask_compatible_extra_args=True)
  run_both(ours, theirs, params, rng, 'nested', use_jit=False, steps=2, extra=extra)
  # Without masking, the inner transform gets a tree of another structure and fails.
  plain = masking.masked(add_tags(base.GradientTransformationExtraArgs), mask)
  with pytest.raises(ValueError):
    plain.update(params, plain.init(params), **extra(params))


def test_masked_interoperates_with_optax_chain_and_tree_map_params():
  params = {'w': jnp.ones((2, 3)), 'b': jnp.ones(3)}
  mask = {'w': True, 'b': False}
  ours = optax.chain(masking.masked(optax.scale_by_adam(), mask), optax.scale(-1.0))
  theirs = optax.chain(optax.masked(optax.scale_by_adam(), mask), optax.scale(-1.0))
  sa, sb = ours.init(params), theirs.init(params)
  fa = optax.tree_map_params(ours, lambda p: p.shape, sa)
  fb = optax.tree_map_params(theirs, lambda p: p.shape, sb)
  assert fa[0].inner_state.mu['w'] == fb[0].inner_state.mu['w'] == (2, 3)


# --------------------------------------------------------------------------- partition


def partition_pair(rng, nested_masked):
  (a1, b1), (a2, b2), (a3, b3) = (inner_pair(rng, i) for i in range(3))
  if nested_masked:
    a2 = masking.masked(a2, lambda p: jax.tree.map(lambda x: x.ndim > 0, p))
    b2 = optax.masked(b2, lambda p: jax.tree.map(lambda x: x.ndim > 0, p))
  ours = {'adam': a1, 'lars': a2, 'rms': a3, 'frozen': base.set_to_zero(),
          'unused': optax.scale_by_rms()}
  theirs = {'adam': b1, 'lars': b2, 'rms': b3, 'frozen': optax.set_to_zero(),
            'unused': optax.scale_by_rms()}
  return ours, theirs


@pytest.mark.parametrize('seed,use_jit', [(s, False) for s in range(4)] + [(80, True)])
def test_partition_matches_optax(seed, use_jit):
  rng = np.random.RandomState(seed)
  kind = KINDS[seed % 3]
  params = random_tree(rng, kind)
  groups = ['adam', 'lars', 'rms', 'frozen']
  form = seed % 3
  if form == 0:
    labels = jax.tree.map(lambda _: groups[rng.randint(4)], params)
  elif form == 1:
    labels = prefix_of(rng, params, lambda: groups[rng.randint(4)])
  else:
    labels = lambda p: jax.tree.map(lambda x: 'adam' if x.ndim > 1 else 'lars', p)
  ours_tx, theirs_tx = partition_pair(rng, nested_masked=seed % 2 == 1)
  sa = run_both(masking.partition(ours_tx, labels), optax.partition(theirs_tx, labels),
                params, rng, kind, use_jit)
  assert isinstance(sa, masking.PartitionState) and set(sa.inner_states) == set(ours_tx)


def test_partition_inside_masked_matches_optax():
  rng = np.random.RandomState(21)
  params = random_tree(rng, 'nested')
  labels = {'dense': 'adam', 'layers': 'lars', 'scale': 'rms'}
  ours_tx, theirs_tx = partition_pair(rng, nested_masked=False)
  mask = random_bool_mask(rng, params)
  ours = masking.masked(masking.partition(ours_tx, labels), mask)
  theirs = optax.masked(optax.partition(theirs_tx, labels), mask)
  run_both(ours, theirs, params, rng, 'nested', use_jit=False)


def test_partition_hand_computed_and_aliases():
  assert masking.multi_transform is masking.partition
  assert masking.MultiTransformState is masking.PartitionState
  tx = masking.multi_transform({'clip': clipping.clip(1.0),
                                'decay': weight_decay.add_decayed_weights(0.5)},
                               {'a': 'clip', 'b': ['decay', 'clip']})
  params = {'a': jnp.array([2.0]), 'b': [jnp.array([4.0]), jnp.array([0.0])]}
  state = tx.init(params)
  for step in range(2):
    g = {'a': jnp.array([-3.0]), 'b': [jnp.array([1.0]), jnp.array([0.25])]}
    u, state = tx.update(g, state, params)
    params = jax.tree.map(lambda p, x: p - x, params, u)
  # a: 2 -> 3 -> 4 (clipped to -1); b0: u = 1 + 0.5 * p: 4 -> 1 -> -0.5; b1: 0 -> -0.25 -> -0.5.
  np.testing.assert_allclose(params['a'], [4.0])
  np.testing.assert_allclose(params['b'][0], [-0.5])
  np.testing.assert_allclose(params['b'][1], [-0.5])


# --------------------------------------------------------------------------- errors


def nested_params():
  return {'dense': {'kernel': jnp.ones((3, 4)), 'bias': jnp.ones(4)},
          'out': [jnp.ones(2), jnp.ones(1)]}


@pytest.mark.parametrize('mask,pattern', [
    ({'dense': {'kernel': True, 'bais': False}, 'out': True},
     r"at path \['dense'\]: keys only in the mask: \['bais'\]; keys only in the params: "
     r"\['bias'\]\."),
    ({'dense': True, 'out': [True]},
     r"at path \['out'\]: keys only in the params: \[1\]\."),
    ({'dense': {'kernel': {'x': True}, 'bias': True}, 'out': True},
     r"at path \['dense'\]\['kernel'\]: the mask has a dict but the params has a leaf "
     r"\(ArrayImpl of shape \(3, 4\)\)"),
    ({'dense': True, 'out': (True, False)},
     r"at path \['out'\]: the mask has a tuple but the params has a list"),
])
def test_mask_structure_mismatch_names_path(mask, pattern):
  tx = masking.masked(optax.scale(2.0), mask)
  with pytest.raises(ValueError, match='masked: the structure of the mask does not match the '
                     'params'):
    tx.init(nested_params())
  with pytest.raises(ValueError, match=pattern):
    tx.init(nested_params())
  with pytest.raises(ValueError, match='does not match the updates .* ' +
                     pattern.replace('params', 'updates')):
    tx.update(nested_params(), None)


@pytest.mark.parametrize('leaf,shown', [(1.0, 'float: 1.0'), ('adam', "str: 'adam'"),
                                        (np.array([True, False]), 'ndarray'),
                                        (None, None)])
def test_mask_leaves_must_be_bools(leaf, shown):
  params = {'w': jnp.ones(2), 'b': jnp.ones(2)}
  tx = masking.masked(optax.scale(2.0), {'w': leaf, 'b': True})
  if leaf is None:  # None is an empty subtree, not a leaf: a structure error.
    with pytest.raises(ValueError, match=r"at path \['w'\]: the mask has None but the params has"):
      tx.init(params)
    return
  with pytest.raises(TypeError, match=r"masked: the mask leaves must be bools .* the leaf at "
                     r"\['w'\] is " + re.escape(shown)):
    tx.init(params)


def test_numpy_and_jax_bool_scalars_accepted_traced_rejected():
  params = {'w': jnp.ones(2), 'b': jnp.ones(2)}
  tx = masking.masked(optax.scale(2.0), {'w': np.bool_(True), 'b': jnp.array(False)})
  u, _ = tx.update(params, tx.init(params))
  np.testing.assert_array_equal(u['w'], [2.0, 2.0])
  np.testing.assert_array_equal(u['b'], [1.0, 1.0])
  tx = masking.masked(optax.scale(2.0), lambda p: jax.tree.map(lambda x: jnp.all(x > 0), p))
  with pytest.raises(TypeError, match=r"masked: the mask must be static .* \['b'\] is a traced"):
    jax.jit(tx.update)(params, tx.init(params))


def test_masked_rejects_non_transformations_and_string_masks():
  with pytest.raises(TypeError, match='must be a GradientTransformation'):
    masking.masked(lambda u: u, {'w': True})
  with pytest.raises(TypeError, match='masked: `mask` must be a tree of bools or a callable'):
    masking.masked(optax.identity(), 'bias')


def test_partition_missing_labels_named():
  tx = masking.partition({'adam': optax.scale(1.0)}, {'w': 'adam', 'b': 'sgd', 'c': 'momentum'})
  params = {'w': jnp.ones(1), 'b': jnp.ones(1), 'c': jnp.ones(1)}
  with pytest.raises(ValueError, match=r"partition: some labels in `param_labels` have no "
                     r"transformation in `transforms`: \['momentum', 'sgd'\]; `transforms` has the "
                     r"keys \['adam'\]"):
    tx.init(params)
  with pytest.raises(ValueError, match=r"\['momentum', 'sgd'\]"):
    tx.update(params, None)


def test_partition_label_structure_mismatch_named():
  tx = masking.partition({'a': optax.scale(1.0)}, {'dense': {'kernel': 'a'}, 'out': 'a'})
  with pytest.raises(ValueError, match=r"partition: the structure of param_labels does not match "
                     r"the params .* at path \['dense'\]: keys only in the params: "
                     r"\['bias'\]\."):
    tx.init(nested_params())


def test_partition_bad_transforms():
  with pytest.raises(TypeError, match='partition: `transforms` must be a mapping'):
    masking.partition([optax.scale(1.0)], {'w': 0})
  with pytest.raises(TypeError, match=r"partition: transforms\['a'\] must be a "
                     "GradientTransformation"):
    masking.partition({'a': 1.0}, {'w': 'a'})


# --------------------------------------------------------------------------- regex_mask


def regex_params():
  return {'dense': {'kernel': jnp.ones((2, 2)), 'bias': jnp.ones(2)},
          'blocks': [{'attn': {'kernel': jnp.ones(1), 'bias': jnp.ones(1)}},
                     {'mlp': [jnp.ones(1), {'bias': jnp.ones(1)}]}],
          'embedding': jnp.ones(3), 'none': None}


def test_regex_mask_nested_dicts_and_lists():
  params = regex_params()
  assert masking.regex_mask(['bias'])(params) == {
      'dense': {'kernel': False, 'bias': True},
      'blocks': [{'attn': {'kernel': False, 'bias': True}}, {'mlp': [False, {'bias': True}]}],
      'embedding': False, 'none': None}
  assert masking.regex_mask(['bias', 'embed'], match=False)(params) == {
      'dense': {'kernel': True, 'bias': False},
      'blocks': [{'attn': {'kernel': True, 'bias': False}}, {'mlp': [True, {'bias': False}]}],
      'embedding': False, 'none': None}
  # Paths: list indices are components; search is unanchored unless the pattern anchors it.
  assert masking.regex_mask(r'^blocks/1/mlp/0$')(params)['blocks'][1]['mlp'] == [
      True, {'bias': False}]
  assert masking.regex_mask(r'^kernel')(params)['dense']['kernel'] is False
  assert masking.regex_mask(r'dense\.kernel', separator='.')(params)['dense']['kernel'] is True
  assert masking.regex_mask([])(params)['dense']['kernel'] is False
  assert masking.regex_mask([], match=False)(params)['dense']['kernel'] is True


def test_regex_mask_in_weight_decay_like_lars_exclude():
  params = regex_params()
  g = jax.tree.map(jnp.zeros_like, params)
  ours = weight_decay.add_decayed_weights(0.1, mask=masking.regex_mask(['bias'], match=False))
  explicit = masking.regex_mask(['bias'], match=False)(params)
  theirs = optax.add_decayed_weights(0.1, mask=explicit)
  for use_jit in (False, True):
    step, = lockstep(ours, theirs, params, [g], jit=use_jit, check=assert_close)
    np.testing.assert_array_equal(step.updates['dense']['bias'], [0.0, 0.0])
    np.testing.assert_allclose(step.updates['dense']['kernel'], 0.1 * np.ones((2, 2)), rtol=RTOL)


def test_regex_mask_errors():
  with pytest.raises(ValueError, match=r"regex_mask: `patterns\[1\]` = '\(unclosed' is not a "
                     "valid regular expression"):
    masking.regex_mask(['ok', '(unclosed'])
  with pytest.raises(TypeError, match=r"regex_mask: `patterns\[0\]` must be a string, got int"):
    masking.regex_mask([3])
  with pytest.raises(TypeError, match='regex_mask: `patterns` must be a string or a sequence'):
    masking.regex_mask(None)
  with pytest.raises(TypeError, match='regex_mask: `match` must be a bool'):
    masking.regex_mask(['a'], match='no')


def test_root_bool_mask_and_namedtuple_paths():
  params = {'w': jnp.ones(2), 'b': jnp.ones(1)}
  for flag, factor in ((True, 2.0), (False, 1.0)):
    tx = masking.masked(optax.scale(2.0), flag)
    u, _ = tx.update(params, tx.init(params))
    np.testing.assert_array_equal(u['w'], [factor, factor])

  Dense = collections.namedtuple('Dense', ['kernel', 'bias'])
  tree = {'head': Dense(jnp.ones((2, 2)), jnp.ones(2)), 'layers': (jnp.ones(1),)}
  assert masking.regex_mask([r'head/kernel$', r'^layers/0$'])(tree) == {
      'head': Dense(True, False), 'layers': (True,)}

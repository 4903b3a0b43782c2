"""optax.contrib, second group: ACProp, AdEMAMix (and simplified), ADOPT, GaLore, MADGRAD,
MoMo (and MoMo-Adam), normalize, Sophia (and Hutchinson's estimator), split_real_and_imaginary,
differentially private aggregation and DP-SGD.

Differential against optax.contrib over random pytrees (eager and jitted, several steps,
updates and states compared by path), signatures and state classes, bf16 leaves, fused
execution of the elementwise aliases, and bad input.
"""

import inspect
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib as oc
import pytest

import optax_like as ox
from optax_like import contrib as ours
from optax_like._src import base
from differential import (DIFFERENTIAL_KINDS, ErrorLog, assert_same_layout, assert_trees_close,
                          lockstep, random_tree)

ERRORS = ErrorLog('contrib_2')

NAMES = ['acprop', 'scale_by_acprop', 'ademamix', 'scale_by_ademamix', 'ScaleByAdemamixState',
         'simplified_ademamix', 'scale_by_simplified_ademamix',
         'ScaleBySimplifiedAdEMAMixState', 'adopt', 'scale_by_adopt', 'galore',
         'scale_by_galore', 'GaLoreState', 'GaLoreDimensionNumbers', 'madgrad',
         'scale_by_madgrad', 'MadgradState', 'momo', 'momo_adam', 'MomoState', 'MomoAdamState',
         'normalize', 'NormalizeState', 'sophia', 'SophiaState',
         'hutchinson_estimator_diag_hessian', 'HutchinsonState', 'split_real_and_imaginary',
         'SplitRealAndImaginaryState', 'differentially_private_aggregate',
         'DifferentiallyPrivateAggregateState', 'dpsgd']


def _objective(p):
  """A loss whose Hessian diagonal depends on the parameters (for Sophia)."""
  return sum(jnp.sum(x**4 / 12 + 0.5 * x**2) for x in jax.tree.leaves(p))


def _bind(tx, **kwargs):
  """``tx`` with fixed extra keyword arguments of ``update`` (so it can be jitted)."""
  return base.GradientTransformation(
      tx.init, lambda u, s, p=None: tx.update(u, s, p, **kwargs))


def _loss(g):
  return {'value': 1.0 + sum(jnp.sum(x**2) for x in jax.tree.leaves(g))}


# name -> (kwargs built from a numpy Generator, extra_args or None). The transform is built with
# the same kwargs from optax.contrib and from ours.
def _cases(u, pick):
  return {
      'acprop': dict(learning_rate=u(1e-3, 0.1), b1=u(0, 0.99), b2=u(0.5, 0.999),
                     eps=pick(1e-16, 1e-3), eps_root=pick(1e-16, 1e-6),
                     weight_decay=pick(0.0, 1e-2)),
      'scale_by_acprop': dict(b1=u(0, 0.99), b2=u(0.5, 0.999), eps=pick(1e-16, 1e-3)),
      'ademamix': dict(learning_rate=u(1e-3, 0.1), b1=u(0, 0.99), b2=u(0.5, 0.999),
                       b3=pick(0.9999, u(0.5, 0.999), lambda c: 0.9 + 0.01 * c),
                       alpha=pick(5.0, lambda c: 0.5 * c), eps_root=pick(0.0, 1e-8),
                       weight_decay=pick(0.0, 1e-2)),
      'scale_by_ademamix': dict(b1=u(0, 0.99), b2=u(0.5, 0.999), b3=u(0.5, 0.9999),
                                alpha=u(0, 8), eps=pick(1e-8, 1e-3)),
      'simplified_ademamix': dict(learning_rate=u(1e-3, 0.1), b1=u(0.5, 0.99),
                                  b2=u(0.5, 0.99), alpha=pick(0.0, u(0, 3), lambda c: 0.1 * c),
                                  eps_root=pick(0.0, 1e-8), weight_decay=pick(0.0, 1e-2)),
      'scale_by_simplified_ademamix': dict(b1=u(0, 0.99), b2=u(0.5, 0.99), alpha=u(0, 3)),
      'adopt': dict(learning_rate=u(1e-3, 0.1), b1=u(0, 0.99), b2=u(0.5, 0.9999),
                    eps=pick(1e-6, 1e-3), nesterov=pick(False, True),
                    use_clipping=pick(True, False)),
      'scale_by_adopt': dict(b1=u(0, 0.99), b2=u(0.5, 0.9999), nesterov=pick(False, True),
                             clip_value_fn=pick(lambda x: x**0.25, lambda x: 0.5 + x)),
      'madgrad': dict(learning_rate=pick(u(1e-3, 0.1), lambda c: 0.01 / (1 + c)),
                      momentum=u(0, 0.99), weight_decay=pick(0.0, 1e-2), eps=pick(1e-6, 1e-3)),
      'scale_by_madgrad': dict(learning_rate=u(1e-3, 0.1), momentum=u(0, 0.99)),
      'momo': dict(learning_rate=pick(u(0.01, 2), lambda c: 1.0 / (1 + c)), beta=u(0, 0.99),
                   lower_bound=pick(0.0, u(-1, 0.5)), weight_decay=pick(0.0, u(0, 0.1)),
                   adapt_lower_bound=pick(False, True)),
      'momo_adam': dict(learning_rate=pick(u(1e-3, 0.5), lambda c: 0.1 / (1 + c)),
                        b1=u(0, 0.99), b2=u(0.5, 0.999), eps=pick(1e-8, 1e-3),
                        lower_bound=pick(0.0, u(-1, 0.5)), weight_decay=pick(0.0, u(0, 0.1)),
                        adapt_lower_bound=pick(False, True)),
      'normalize': dict(),
      'sophia': dict(learning_rate=u(1e-3, 0.1), b1=u(0.5, 0.99), b2=u(0.5, 0.99),
                     gamma=u(0.005, 0.5), clip_threshold=pick(1.0, None, u(0.1, 2)),
                     update_interval=pick(1, 2, 3), weight_decay=pick(0.0, 1e-3),
                     mu_dtype=pick(None, jnp.float32)),
      'galore': dict(learning_rate=u(1e-3, 0.1), rank=pick(1, 2, 8),
                     update_proj_gap=pick(1, 2, 200), scale=u(0.5, 2),
                     weight_decay=pick(0.0, 1e-2)),
      'scale_by_galore': dict(rank=pick(1, 2), update_proj_gap=pick(1, 3)),
      'differentially_private_aggregate': dict(l2_norm_clip=u(0.5, 5),
                                               noise_multiplier=u(0, 2)),
      'dpsgd': dict(learning_rate=u(1e-3, 0.1), l2_norm_clip=u(0.5, 5),
                    noise_multiplier=u(0, 2), seed=int(pick(0, 7, 42)),
                    momentum=pick(None, u(0, 0.9)), nesterov=pick(False, True)),
  }


TRANSFORMS = sorted(_cases(lambda a, b: a, lambda *xs: xs[0]))
# Eager runs (each new shape compiles kernels) use one small tree.
EAGER_TREE = {'x': (7,), 'none': None, 'm': (2, 3)}
DP_TREE = {'a': (3,), 'b': [(2, 2), None]}   # per-example gradients get a batch axis
BF16_TREE = {'m': (3, 2), 'v': [(2,), None]}
# The optimizers (each runs its scale_by_ transform): jitted and in bf16 these stand for both.
ALIASES = [n for n in TRANSFORMS if not n.startswith('scale_by_')
           and n != 'differentially_private_aggregate']
JITTED = ALIASES + ['differentially_private_aggregate', 'scale_by_adopt']


def _config(name, seed):
  rng = np.random.default_rng(seed)
  u = rng.uniform
  pick = lambda *xs: xs[rng.integers(len(xs))]
  return _cases(u, pick)[name]


def _complexify(tree, rng):
  return jax.tree.map(lambda x: x + 1j * jnp.asarray(rng.normal(size=x.shape), x.dtype), tree)


def _batched(tree, rng, batch=2):
  return jax.tree.map(
      lambda x: jnp.asarray(rng.normal(size=(batch,) + x.shape) * rng.uniform(0.1, 3),
                            x.dtype), tree)


def _pair(name, kwargs, key_seed):
  """(ours, optax's) transformations for ``name``, extra arguments bound."""
  if name == 'differentially_private_aggregate':
    kwargs = dict(kwargs, key=jax.random.key(key_seed))
  with warnings.catch_warnings():
    warnings.simplefilter('ignore', DeprecationWarning)   # optax's dpsgd passes `seed`
    a, b = getattr(ours, name)(**kwargs), getattr(oc, name)(**kwargs)
  if name in ('momo', 'momo_adam'):
    return a, b, _loss
  if name == 'sophia':
    return _bind(a, obj_fn=_objective), _bind(b, obj_fn=_objective), None
  return a, b, None


def _check_state(ours_state, their_state):
  """States equal by class names, fields and values; random keys compared by their data."""
  def unwrap(t):
    return jax.tree.map(
        lambda x: jax.random.key_data(x) if isinstance(x, jax.Array)
        and jnp.issubdtype(x.dtype, jax.dtypes.prng_key) else x, t)
  assert_same_layout(unwrap(ours_state), unwrap(their_state), 'state')
  assert_trees_close(unwrap(ours_state), unwrap(their_state), log=ERRORS)


def _grads(name, rng, kind, steps):
  for _ in range(steps):
    g = random_tree(rng, kind, rng.uniform(0.2, 2.0))
    if name in ('differentially_private_aggregate', 'dpsgd'):
      g = _batched(g, rng)
    yield g


@pytest.mark.parametrize('name,jit', [(n, True) for n in JITTED] +
                         [(n, False) for n in TRANSFORMS],
                         ids=[f'{n}-jit' for n in JITTED] + [f'{n}-eager' for n in TRANSFORMS])
def test_matches_optax_over_random_trees(name, jit):
  seed = TRANSFORMS.index(name) * 2 + jit
  rng = np.random.default_rng(seed)
  # Jitted: every tree kind. Eagerly (each new shape compiles kernels): one small tree.
  kind = DIFFERENTIAL_KINDS[seed % 3] if jit else EAGER_TREE
  if name in ('galore', 'scale_by_galore'):
    kind = 'mixed' if jit else {'w': (3, 2), 'b': (2,)}   # (optax's galore fails on None)
  if name in ('differentially_private_aggregate', 'dpsgd'):
    kind = DP_TREE
  params = random_tree(rng, kind)
  a, b, extra = _pair(name, _config(name, seed), seed)
  if jit:   # a state made by a jitted init is optax's too
    _check_state(jax.jit(a.init)(params), b.init(params))
  steps = 3 if jit else 1 if name == 'sophia' else 2   # eager lax.cond: compiles every step
  for _ in lockstep(a, b, params, _grads(name, rng, kind, steps), jit=jit, extra_args=extra,
                    check=lambda x, y: assert_trees_close(x, y, log=ERRORS),
                    check_state=_check_state):
    pass


def test_split_real_and_imaginary_matches_optax():
  rng = np.random.default_rng(3)
  params = _complexify(random_tree(rng, 'nested'), rng)
  grads = [_complexify(random_tree(rng, 'nested'), rng) for _ in range(3)]
  for jit in (False, True):
    a = ours.split_real_and_imaginary(ox.scale_by_adam(b1=0.5))
    b = oc.split_real_and_imaginary(optax.scale_by_adam(b1=0.5))
    for _ in lockstep(a, b, params, grads[:3 if jit else 1], jit=jit,
                      check_state=_check_state):
      pass
  # Real leaves pass through unchanged; the inner state sees (real, imaginary) pairs.
  state = a.init({'z': jnp.ones(2, jnp.complex64), 'r': jnp.ones(2)})
  assert type(state.inner_state.mu['z']).__name__ == 'SplitRealAndImaginaryArrays'
  assert state.inner_state.mu['r'].dtype == jnp.float32


def test_hutchinson_matches_optax_and_is_exact_for_a_diagonal_hessian():
  params = {'a': jnp.array([1.0, -2.0, 0.5]), 'b': [jnp.array(3.0), None]}
  for jit in (False, True):
    a = _bind(ours.hutchinson_estimator_diag_hessian(jax.random.PRNGKey(4)), obj_fn=_objective)
    b = _bind(oc.hutchinson_estimator_diag_hessian(jax.random.PRNGKey(4)), obj_fn=_objective)
    for step in lockstep(a, b, params, [params] * (3 if jit else 1), jit=jit,
                         move_params=False):
      pass
  # f = sum(x^4 / 12 + x^2 / 2): diag H = x^2 + 1, whatever the signs.
  np.testing.assert_allclose(step.updates['a'], params['a']**2 + 1, rtol=1e-6)


def test_galore_with_dimension_numbers_matches_optax():
  rng = np.random.default_rng(5)
  params = {'attn': jnp.asarray(rng.normal(size=(4, 2, 3)), jnp.float32),
            'dense': jnp.asarray(rng.normal(size=(2, 5, 1)), jnp.float32),
            'bias': jnp.zeros(5)}
  grads = [random_tree(rng, jax.tree.map(lambda x: x.shape, params)) for _ in range(3)]
  for dims in (ours.GaLoreDimensionNumbers(0, (1, -1)),
               {'attn': ours.GaLoreDimensionNumbers((0, 1), -1),
                'dense': ours.GaLoreDimensionNumbers(1, (0, 2)), 'bias': None}):
    their_dims = jax.tree.map(lambda d: oc.GaLoreDimensionNumbers(*d), dims,
                              is_leaf=lambda x: isinstance(x, tuple))
    a = ours.galore(0.1, rank=2, update_proj_gap=2, weight_dimension_numbers=dims)
    b = oc.galore(0.1, rank=2, update_proj_gap=2, weight_dimension_numbers=their_dims)
    for _ in lockstep(a, b, params, grads, jit=True, check_state=_check_state):
      pass


# ---------------------------------------------------------------------------- API surface


def _same_default(a, b):
  if a == b:
    return True
  if hasattr(a, 'init') and hasattr(b, 'init'):   # sophia's default Hessian estimator
    return type(a).__name__ == type(b).__name__
  if callable(a) and callable(b):
    x = jnp.arange(5.0)
    return bool(jnp.allclose(a(x), b(x)))   # adopt's default clip_value_fn
  return False


@pytest.mark.parametrize('name', NAMES)
def test_signature_and_state_fields_are_optaxs(name):
  mine, theirs = getattr(ours, name), getattr(oc, name)
  if inspect.isclass(theirs) and hasattr(theirs, '_fields'):
    assert type(mine).__name__ == type(theirs).__name__ or mine.__name__ == theirs.__name__
    assert mine._fields == theirs._fields
    assert mine._field_defaults == theirs._field_defaults
    return
  ps, qs = (list(inspect.signature(f).parameters.values()) for f in (mine, theirs))
  assert [p.name for p in ps[:len(qs)]] == [q.name for q in qs]
  for p, q in zip(ps, qs):
    assert p.kind == q.kind, p.name
    assert _same_default(p.default, q.default), (p.name, p.default, q.default)
  assert all(p.kind is p.KEYWORD_ONLY and p.default is not p.empty for p in ps[len(qs):])
  assert 'math::' in mine.__doc__ and '>>>' in mine.__doc__


# ---------------------------------------------------------------------------- precision


@pytest.mark.parametrize('name', ALIASES)
def test_bf16_leaves_keep_optaxs_dtypes_and_float32_numbers(name):
  """bf16 params: bf16 updates, state dtypes as optax's; the numbers are those of float32
  math (optax's float32 run; for the noise of DP, drawn in bf16, optax's bf16 run)."""
  rng = np.random.default_rng(11)
  kind = {'m': (3, 2), 'v': (2,)} if 'galore' in name else BF16_TREE
  p32 = random_tree(rng, kind)
  g32 = next(_grads(name, rng, kind, 1))
  bf = lambda t: jax.tree.map(lambda x: x.astype(jnp.bfloat16), t)
  p32, g32 = jax.tree.map(lambda x: x.astype(jnp.float32), bf(p32)), jax.tree.map(
      lambda x: x.astype(jnp.float32), bf(g32))
  kwargs = _config(name, 11)
  a, b, extra = _pair(name, kwargs, 11)
  kw = extra(g32) if extra else {}
  step = lambda tx: lambda g, p: tx.update(g, tx.init(p), p, **kw)
  ua, sa = jax.jit(step(a))(bf(g32), bf(p32))
  ub, sb = jax.eval_shape(step(b), bf(g32), bf(p32))   # optax's dtypes, nothing run
  dtypes = lambda t: [getattr(x, 'dtype', None) for x in jax.tree.leaves(t)]
  assert all(d == jnp.bfloat16 for d in dtypes(ua))
  assert dtypes(sa) == dtypes(sb)
  if name == 'dpsgd':   # the noise is drawn in bf16: optax's bf16 run is the reference
    ref = jax.jit(step(b))(bf(g32), bf(p32))[0]
  else:
    ref = jax.jit(step(_pair(name, kwargs, 11)[1]))(g32, p32)[0]
  assert_trees_close(jax.tree.map(lambda x: x.astype(jnp.float32), ua),
                     jax.tree.map(lambda x: x.astype(jnp.float32), ref), rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize('name', ['acprop', 'ademamix', 'simplified_ademamix', 'adopt',
                                  'madgrad'])
def test_fused_equals_the_plain_alias(name):
  rng = np.random.default_rng(2)
  params = random_tree(rng, 'mixed')
  kwargs = _config(name, 2)
  plain, fast = getattr(ours, name)(**kwargs), ox.fused(getattr(ours, name)(**kwargs))
  sp, sf = plain.init(params), fast.init(params)
  pp = pf = params
  plain_update, fast_update = jax.jit(plain.update), jax.jit(fast.update)
  for g in _grads(name, rng, 'mixed', 2):
    up, sp = plain_update(g, sp, pp)
    uf, sf = fast_update(g, sf, pf)
    assert_trees_close(uf, up)
    pp, pf = ox.apply_updates(pp, up), ox.apply_updates(pf, uf)
  assert_trees_close(ox.to_optax_state(fast, sf, params), sp)


# ---------------------------------------------------------------------------- bad input


BAD = [
    ('acprop', dict(learning_rate='x'), TypeError, 'learning_rate'),
    ('scale_by_acprop', dict(b2=1.0), ValueError, 'b2'),
    ('scale_by_acprop', dict(b1=True), TypeError, 'b1'),
    ('scale_by_ademamix', dict(b1=1.5), ValueError, 'b1'),
    ('scale_by_ademamix', dict(b3=-0.1), ValueError, 'b3'),
    ('scale_by_ademamix', dict(alpha='x'), TypeError, 'alpha'),
    ('scale_by_ademamix', dict(mu_dtype=jnp.int32), TypeError, 'mu_dtype'),
    ('scale_by_simplified_ademamix', dict(eps=-1.0), ValueError, 'eps'),
    ('simplified_ademamix', dict(learning_rate=True), TypeError, 'learning_rate'),
    ('scale_by_adopt', dict(b2=2.0), ValueError, 'b2'),
    ('scale_by_adopt', dict(nesterov=1), TypeError, 'nesterov'),
    ('scale_by_adopt', dict(clip_value_fn=0.5), TypeError, 'clip_value_fn'),
    ('scale_by_madgrad', dict(learning_rate=0.1, momentum=1.5), ValueError, 'momentum'),
    ('scale_by_madgrad', dict(learning_rate=-0.1), ValueError, 'learning_rate'),
    ('momo', dict(beta=-0.5), ValueError, 'beta'),
    ('momo', dict(adapt_lower_bound=1), TypeError, 'adapt_lower_bound'),
    ('momo_adam', dict(b2=1.0), ValueError, 'b2'),
    ('momo_adam', dict(weight_decay=-1.0), ValueError, 'weight_decay'),
    ('sophia', dict(learning_rate=0.1, update_interval=0), ValueError, 'update_interval'),
    ('sophia', dict(learning_rate=0.1, gamma=-1.0), ValueError, 'gamma'),
    ('sophia', dict(learning_rate=0.1, hessian_diagonal_fn=3), TypeError,
     'hessian_diagonal_fn'),
    ('galore', dict(learning_rate=0.1, rank=2.0), TypeError, 'rank'),
    ('galore', dict(learning_rate=0.1, rank=0), ValueError, 'rank'),
    ('galore', dict(learning_rate=0.1, update_proj_gap=0), ValueError, 'update_proj_gap'),
    ('split_real_and_imaginary', dict(inner=None), TypeError, 'inner'),
    ('differentially_private_aggregate', dict(l2_norm_clip=-1.0, noise_multiplier=1.0, key=0),
     ValueError, 'l2_norm_clip'),
    ('differentially_private_aggregate', dict(l2_norm_clip=1.0, noise_multiplier=1.0,
                                              key='k'), TypeError, 'key'),
    ('differentially_private_aggregate', dict(l2_norm_clip=1.0, noise_multiplier=1.0, key=0,
                                              seed=1), ValueError, 'seed'),
    ('dpsgd', dict(learning_rate=0.1, l2_norm_clip=1.0, noise_multiplier=1.0, seed=1.5),
     TypeError, 'seed'),
]


@pytest.mark.parametrize('name,kwargs,error,match', BAD,
                         ids=[f'{n}-{sorted(k)[-1]}' for n, k, _, _ in BAD])
def test_bad_hyperparameters_name_the_argument(name, kwargs, error, match):
  with warnings.catch_warnings():
    warnings.simplefilter('ignore', DeprecationWarning)
    with pytest.raises(error, match=match):
      getattr(ours, name)(**kwargs)


def test_bad_calls_name_what_is_missing():
  p = {'w': jnp.ones(2)}
  with pytest.raises(ValueError, match='value'):
    tx = ours.momo()
    tx.update(p, tx.init(p), p)
  with pytest.raises(ValueError, match='params'):
    tx = ours.madgrad(0.1)
    tx.update(p, tx.init(p))
  with pytest.raises(ValueError, match='obj_fn'):
    tx = ours.sophia(0.1)
    tx.update(p, tx.init(p), p)
  with pytest.raises(ValueError, match='axis 0'):
    tx = ours.differentially_private_aggregate(1.0, 1.0, key=0)
    tx.update({'a': jnp.ones((3, 2)), 'b': jnp.ones(2)}, tx.init(None))
  with pytest.raises(ValueError, match="rank >= 2"):
    tx = ours.scale_by_galore(weight_dimension_numbers={'w': ours.GaLoreDimensionNumbers()})
    tx.init(p)
  with pytest.raises(ValueError, match=r"\['b'\]"):
    tx = ours.scale_by_acprop()
    tx.update({'w': jnp.ones(2), 'b': jnp.ones(1)}, tx.init(p))
  with pytest.warns(UserWarning, match='key'):
    ours.differentially_private_aggregate(1.0, 1.0)
  with pytest.warns(DeprecationWarning, match='seed'):
    ours.differentially_private_aggregate(1.0, 1.0, seed=3)


def test_none_leaves_and_stored_dtypes():
  """Beyond optax: galore passes None leaves through (optax's fails on them), and ademamix
  stores its averages in ``mu_dtype`` after every step (optax's promote to the update's
  dtype after the first step when ``mu_dtype`` is narrower, changing the state's layout)."""
  p = {'w': jnp.arange(6.0).reshape(3, 2), 'n': None}
  tx = ours.galore(0.1, rank=1)
  u, _ = tx.update(p, tx.init(p), p)
  assert u['n'] is None and u['w'].shape == (3, 2)
  tx = ours.scale_by_ademamix(mu_dtype=jnp.bfloat16)
  state = tx.init({'w': jnp.ones(3)})
  _, new_state = jax.jit(tx.update)({'w': jnp.ones(3)}, state)
  assert jax.tree.map(lambda x: x.dtype, new_state) == jax.tree.map(lambda x: x.dtype, state)

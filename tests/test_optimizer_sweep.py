"""One sweep over every optimizer we share with optax: the properties a drop-in must keep.

The optimizers are found, not listed: every public callable of optax whose first parameter is
``learning_rate`` and that returns a ``GradientTransformation``, where ``optax_like`` has the
same name (``shared_optimizers``). Each runs plain and under ``inject_hyperparams`` (the
*variant*), on a small nested-dict params tree, and must

(a) bring a quadratic's loss down tenfold in 100 steps;
(b) keep the params' dtypes: float32 and bfloat16 leaves get updates and new params of their own
    dtype, as optax's do;
(c) work under ``inject_hyperparams``: ours equals optax's under its ``inject_hyperparams``
    step for step, also after the injected learning rate is changed in the state;
(d) have optax's state structure: the same ``tree_flatten_with_path`` key paths, the same class
    name for every container node (NamedTuple states, chain tuples, hyperparameter dicts), the
    same leaf shapes and dtypes, also when ``init``/``update`` are traced;
(e) round-trip through ``flax.serialization`` msgpack, orbax-style flattening (a dict of
    ``keystr`` paths, unflattened against a fresh ``init``) and a real orbax
    ``StandardCheckpointer``, continuing bit-exactly; and restore a state written by optax
    into ours and ours into optax's, each continuing as the writer would;
(f) equal optax step for step, eager and jitted, to 1e-6 relative.

Each (optimizer, variant) jits its update once per side (``case``); the tests share them.
"""

import functools
import inspect
import itertools
from typing import Any, NamedTuple

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest

import optax_like as ox
from differential import (ErrorLog, assert_same_layout, assert_trees_close, layout, leaves_by_path,
                          lockstep, random_like)

ERRORS = ErrorLog('sweep')   # the worst deviation from optax per optimizer, for the summary


def shared_optimizers():
  """Names of optax's optimizers that ``optax_like`` also has.

  An optimizer is a public optax callable (a function or a ``functools.partial``, as
  ``optax.nadam`` is) whose first parameter is ``learning_rate`` and whose return annotation is
  a ``GradientTransformation`` (``optax.adam``, ..., ``optax.scale_by_learning_rate``).
  """
  names = []
  for name in sorted(set(optax.__all__) & set(dir(ox))):
    fn = getattr(optax, name)
    if name.startswith('_') or isinstance(fn, type) or not callable(fn):
      continue
    try:
      signature = inspect.signature(fn)
    except (TypeError, ValueError):   # a callable without a signature is not an optimizer
      continue
    returns = signature.return_annotation
    if (list(signature.parameters)[:1] == ['learning_rate'] and isinstance(returns, type)
        and issubclass(returns, optax.GradientTransformation)):
      names.append(name)
  return names


OPTIMIZERS = shared_optimizers()
VARIANTS = ('plain', 'injected')
PROPERTIES = {'converges', 'dtypes', 'structure', 'matches_optax', 'round_trip', 'cross_restore'}
LEARNING_RATE = 0.1
# Documented exceptions to "the learning rate, all else default", used by every property:
EXTRA_KWARGS = {
    # The default trust coefficient (0.001) makes LARS steps 0.1% of the params' norm, too slow
    # for the quadratic in 100 steps.
    'lars': dict(trust_coefficient=0.1),
    # AdaDelta's first steps are sqrt(eps) / rms(g) in size: with the default eps=1e-6 the loss
    # falls by 6% in 100 steps (optax's too); eps=1e-2 makes it converge.
    'adadelta': dict(eps=1e-2),
    # lbfgs's default zoom line search needs `value`, `grad` and `value_fn` in every update, which
    # the sweep's plain `update(grads, state, params)` does not give: swept with a fixed step.
    'lbfgs': dict(linesearch=None),
}

# Failures the library has today, each expected strictly (an unexpected pass fails too), as
# (properties, the parameters where it fails, reason naming the issue), e.g.
# (('structure', 'cross_restore'), dict(name=('lars',), variant=('injected',)), 'issue N: ...').
# Remove an entry with its fix.
KNOWN_FAILURES = [
    # Not a defect of ours: optax's lbfgs multiplies by a float32 scale and returns float32
    # updates for bfloat16 leaves; ours return each leaf's dtype (the property this checks).
    (('dtypes',), dict(name=('lbfgs',)), 'issue 10: optax lbfgs promotes bf16 updates to f32'),
    # inject_hyperparams(lbfgs) injects `memory_size`, which sets the memory's shape: a traced
    # update cannot build it, in optax too (TracerBoolConversionError); the eager update works.
    # Use inject_hyperparams(lbfgs, static_args=('memory_size',)).
    (('structure', 'round_trip', 'cross_restore'), dict(name=('lbfgs',), variant=('injected',)),
     'issue 10: injected lbfgs memory_size is traced (optax fails alike)'),
    (('matches_optax',), dict(name=('lbfgs',), variant=('injected',), mode=('jit',)),
     'issue 10: injected lbfgs memory_size is traced (optax fails alike)'),
    # optax's SM3 cannot update a scalar (rank-0) leaf (IndexError: one accumulator per axis,
    # and a scalar has none), and the swept params have one; ours rejects it with a ValueError.
    # SM3 is compared with optax on scalar-free trees in tests/test_other_optimizers.py.
    (('converges', 'dtypes', 'structure', 'matches_optax', 'round_trip', 'cross_restore'),
     dict(name=('sm3',)), 'issue 10: sm3 on a scalar leaf (optax fails alike)'),
    # scale_by_rprop is a transform whose output is a step to subtract (rprop flips its sign),
    # and fromage's steps are relative to |p|, which is 0 at the start: neither (nor optax's)
    # brings the quadratic down from p = 0.
    (('converges',), dict(name=('scale_by_rprop', 'fromage')),
     'issue 10: not a descent from p = 0 (optax alike)'),
    # AddNoiseState.rng_key is a typed PRNG key, which the sweep's numpy comparisons and
    # checkpoint formats cannot convert (optax's state alike); noisy_sgd is compared with optax,
    # random numbers included, in tests/test_other_optimizers.py.
    (('matches_optax', 'round_trip', 'cross_restore'), dict(name=('noisy_sgd',)),
     'issue 10: typed PRNG key in the state (optax alike)'),
    # inject_hyperparams(adafactor) injects `min_dim_size_to_factor`, which decides the state's
    # shapes: a traced update cannot read it (TracerBoolConversionError, optax alike; use
    # static_args=('min_dim_size_to_factor',)). optax also injects the class `dtype_momentum`
    # as a schedule, which our inject_hyperparams keeps static (issue 10, injection).
    (('structure', 'matches_optax', 'round_trip', 'cross_restore'),
     dict(name=('adafactor',), variant=('injected',)),
     'issue 10: injected adafactor min_dim_size_to_factor is traced (optax fails alike)'),
]


DEVICE = jax.devices()[0]


def commit(tree):
  """``tree`` as arrays committed to one device.

  Every input of a jitted update (numpy from msgpack, committed arrays from orbax, outputs of
  earlier steps) then has the same placement, so each update compiles once, and eager
  arithmetic on them once per shape.
  """
  return jax.device_put(tree, DEVICE)


def _params(pairs):
  rng = np.random.RandomState(0)
  return commit({group: {leaf: jnp.asarray(rng.normal(size=shape), dtype)
                         for leaf, (shape, dtype) in leaves.items()}
                 for group, leaves in pairs.items()})


# Nested-dict params: a matrix, a vector and a scalar leaf.
PARAMS = _params({'dense': {'kernel': ((3, 2), jnp.float32), 'bias': ((2,), jnp.float32)},
                  'head': {'w': ((4,), jnp.float32), 'scale': ((), jnp.float32)}})
# float32 and bfloat16 leaves side by side.
MIXED = _params({'f32': {'kernel': ((3, 2), jnp.float32), 'bias': ((2,), jnp.float32)},
                 'bf16': {'kernel': ((2, 3), jnp.bfloat16), 'scale': ((), jnp.bfloat16)}})
TREES = {'float32': PARAMS, 'mixed': MIXED}


def _grads(params, scales=(1.0, 0.3, 2.0, 0.5)):
  rng = np.random.RandomState(1)
  return [commit(random_like(rng, params, scale)) for scale in scales]


GRADS = _grads(PARAMS)
SAVED_AT = 2   # checkpoints are written after GRADS[:SAVED_AT] and continue over the rest


def _known(prop, values):
  for props, where, reason in KNOWN_FAILURES:
    if prop in props and all(values.get(k) in v for k, v in where.items()):
      return pytest.mark.xfail(strict=True, reason=reason)
  return ()


def sweep(prop, variants=VARIANTS, **axes):
  """Parametrizes a test of property ``prop`` over (name, variant, *axes), known failures marked.

  ``axes`` are further parameters and their values, e.g. ``fmt=['msgpack', ...]``.
  """
  assert prop in PROPERTIES, prop
  argnames = ['name', 'variant', *axes]
  params = []
  for combo in itertools.product(OPTIMIZERS, variants, *axes.values()):
    marks = _known(prop, dict(zip(argnames, combo)))
    params.append(pytest.param(*combo, marks=marks, id='-'.join(map(str, combo))))
  return pytest.mark.parametrize(argnames, params)


# --------------------------------------------------------------------------- the optimizers


def build(module, name, variant, learning_rate=LEARNING_RATE):
  """``module.<name>`` with the sweep's arguments, plain or under ``inject_hyperparams``."""
  kwargs = dict(learning_rate=learning_rate, **EXTRA_KWARGS.get(name, {}))
  factory = getattr(module, name)
  if variant == 'injected':
    factory = module.inject_hyperparams(factory)
  return factory(**kwargs)


def _jitted(tx):
  update = jax.jit(tx.update)
  return optax.GradientTransformationExtraArgs(
      lambda params: commit(tx.init(params)),
      lambda updates, state, params=None: update(*commit((updates, state, params))))


class Case(NamedTuple):
  ours: Any
  theirs: Any
  ours_jit: Any     # the same transforms, update jitted (compiled on first use, then shared)
  theirs_jit: Any


@functools.cache
def case(name, variant):
  ours, theirs = build(ox, name, variant), build(optax, name, variant)
  return Case(ours, theirs, _jitted(ours), _jitted(theirs))


def run(tx, params, grads, state=None, apply_updates=optax.apply_updates):
  """Runs ``tx`` over ``grads``; returns the params, the state and the list of updates."""
  state = tx.init(params) if state is None else state
  updates = []
  for g in grads:
    u, state = tx.update(g, state, params)
    params = apply_updates(params, u)
    updates.append(u)
  return params, state, updates


def assert_bitwise_equal(a, b, what=''):
  """Same key paths, shapes, dtypes and bits leaf by leaf."""
  la, lb = leaves_by_path(a), leaves_by_path(b)
  assert la.keys() == lb.keys(), (what, sorted(la.keys() ^ lb.keys()))
  for k in lb:
    x, y = np.asarray(la[k]), np.asarray(lb[k])
    assert x.dtype == y.dtype and x.shape == y.shape, (what, k, x.dtype, y.dtype, x.shape, y.shape)
    np.testing.assert_array_equal(x, y, err_msg=f'{what} {k}')


# Optimizer states agree with optax's number by number on every path optax's state has; the
# layout (extra paths included) is test_state_structure_matches_optax's.
check_state = functools.partial(assert_trees_close, allow_extra=True)


# --------------------------------------------------------------------------- the sweep


def test_sweep_finds_every_shared_optimizer():
  assert {'adagrad', 'adam', 'adamw', 'amsgrad', 'lamb', 'lars', 'lion', 'nadam', 'rmsprop',
          'sgd'} <= set(OPTIMIZERS)
  for name in OPTIMIZERS:
    assert list(inspect.signature(getattr(ox, name)).parameters)[0] == 'learning_rate', name
    tx = getattr(ox, name)(LEARNING_RATE)
    assert callable(tx.init) and callable(tx.update), name
  for props, where, _ in KNOWN_FAILURES:   # no entry names a property or optimizer not swept
    assert set(props) <= PROPERTIES and set(where.get('name', OPTIMIZERS)) <= set(OPTIMIZERS)


def _quadratic():
  rng = np.random.RandomState(2)
  target = jax.tree.map(lambda p: rng.normal(size=p.shape).astype(np.float32), PARAMS)
  curvature = jax.tree.map(lambda p: rng.uniform(0.5, 2.0, p.shape).astype(np.float32), PARAMS)
  return target, curvature


@sweep('converges', variants=('plain',))
def test_converges_on_a_quadratic(name, variant):
  # loss = sum(c * (p - t)^2) / 2 with curvatures c in [0.5, 2], from p = 0.
  target, curvature = _quadratic()
  loss = lambda p: sum(float(np.sum(c * (np.asarray(x) - t) ** 2)) / 2 for x, t, c in zip(
      jax.tree.leaves(p), jax.tree.leaves(target), jax.tree.leaves(curvature)))
  tx = case(name, variant).ours_jit
  params = commit(jax.tree.map(np.zeros_like, target))
  state = tx.init(params)
  initial = loss(params)
  for _ in range(100):
    grads = jax.tree.map(lambda p, t, c: c * (np.asarray(p) - t), params, target, curvature)
    updates, state = tx.update(grads, state, params)
    params = ox.apply_updates(params, updates)
  assert loss(params) < 0.1 * initial, (name, loss(params), initial)


@sweep('dtypes', variants=('plain',))
def test_keeps_param_dtypes(name, variant):
  # Dtypes are fixed at trace time, so tracing two steps (jax.eval_shape) shows them: eager
  # execution runs the same primitives.
  c = case(name, variant)
  dtypes = lambda tree: {k: x.dtype for k, x in leaves_by_path(tree).items()}
  want = dtypes(MIXED)

  def two_steps(tx, apply_updates, grads, params):
    state, updates = tx.init(params), []
    for g in grads:
      u, state = tx.update(g, state, params)
      params = apply_updates(params, u)
      updates.append(u)
    return updates, params

  grads = _grads(MIXED)[:2]
  updates, params = jax.eval_shape(
      functools.partial(two_steps, c.ours, ox.apply_updates), grads, MIXED)
  their_updates, _ = jax.eval_shape(
      functools.partial(two_steps, c.theirs, optax.apply_updates), grads, MIXED)
  for u, their in zip(updates, their_updates):
    assert dtypes(u) == want == dtypes(their), name
  assert dtypes(params) == want, name


@sweep('structure', tree=sorted(TREES))
def test_state_structure_matches_optax(name, variant, tree):
  c = case(name, variant)
  params = TREES[tree]
  theirs = c.theirs.init(params)
  assert_same_layout(c.ours.init(params), theirs, f'{name} {variant} init')
  # Traced init (as under jit or jax.eval_shape) and the state after an update: the same.
  assert_same_layout(jax.eval_shape(c.ours.init, params), theirs, f'{name} {variant} traced init')
  grads = _grads(params)[0]
  stepped = jax.eval_shape(c.ours.update, grads, c.ours.init(params), params)[1]
  assert_same_layout(stepped, theirs, f'{name} {variant} after update')


@sweep('matches_optax', mode=['eager', 'jit'])
def test_matches_optax_step_for_step(name, variant, mode):
  c = case(name, variant)
  ours, theirs = (c.ours_jit, c.theirs_jit) if mode == 'jit' else (c.ours, c.theirs)
  for i, step in enumerate(lockstep(ours, theirs, PARAMS, GRADS, check_state=check_state)):
    ERRORS.add(assert_trees_close(step.params, step.their_params, err_msg=f'{name} step {i}'),
               key=name)
    if variant == 'injected' and i == 1:
      # A new learning rate in the state, as a schedule or a user sets it: both take it.
      for state in (step.state, step.their_state):
        state.hyperparams['learning_rate'] = jnp.asarray(LEARNING_RATE / 4, jnp.float32)


# --------------------------------------------------------------------------- checkpoints


def _msgpack(state, template, directory):
  del directory
  return flax.serialization.from_bytes(template, flax.serialization.to_bytes(state))


def _flat(state, template, directory):
  # What orbax does underneath: a dict of key-path strings, unflattened against the target.
  del directory
  stored = {k: np.asarray(v) for k, v in leaves_by_path(state).items()}
  paths, treedef = jax.tree_util.tree_flatten_with_path(template)
  keys = [jax.tree_util.keystr(p) for p, _ in paths]
  assert set(keys) == set(stored), ('paths differ', sorted(set(keys) ^ set(stored)))
  return jax.tree_util.tree_unflatten(treedef, [stored[k] for k in keys])


def _orbax(state, template, directory):
  with ocp.StandardCheckpointer() as checkpointer:
    checkpointer.save(directory / 'state', state)
    checkpointer.wait_until_finished()
    return checkpointer.restore(directory / 'state', template)


FORMATS = {'msgpack': _msgpack, 'flat': _flat, 'orbax': _orbax}


@sweep('round_trip', fmt=sorted(FORMATS))
def test_checkpoint_round_trip_continues_bit_exactly(name, variant, fmt, tmp_path):
  tx = case(name, variant).ours_jit
  params, state, _ = run(tx, PARAMS, GRADS[:SAVED_AT])
  restored = FORMATS[fmt](state, tx.init(PARAMS), tmp_path)
  assert jax.tree.structure(restored) == jax.tree.structure(state)
  assert_bitwise_equal(restored, state, f'{name} {variant} restored')
  _, state, updates = run(tx, params, GRADS[SAVED_AT:], state)
  _, restored, restored_updates = run(tx, params, GRADS[SAVED_AT:], restored)
  assert_bitwise_equal(restored_updates, updates, f'{name} {variant} updates after restore')
  assert_bitwise_equal(restored, state, f'{name} {variant} state after restore')


@sweep('cross_restore', fmt=sorted(FORMATS), writer=['optax', 'ours'])
def test_checkpoint_restores_across_libraries(name, variant, fmt, writer, tmp_path):
  # A state written by one library restores into the other's `init` and continues there as the
  # writer continues.
  c = case(name, variant)
  source, target = (c.theirs_jit, c.ours_jit) if writer == 'optax' else (c.ours_jit, c.theirs_jit)
  params, state, _ = run(source, PARAMS, GRADS[:SAVED_AT])
  template = target.init(PARAMS)
  restored = FORMATS[fmt](state, template, tmp_path)
  assert layout(restored) == layout(template), f'{name} {variant}: restored into another layout'
  assert_bitwise_equal(restored, state, f'{name} {variant} restored')
  for step in lockstep(target, source, params, GRADS[SAVED_AT:], states=(restored, state),
                       check_state=assert_trees_close):
    assert_trees_close(step.params, step.their_params)

"""inject_hyperparams & co: schedules at the count, manual changes without recompiling,
float32 hyperparameters for 16-bit parameters, optax differential, errors."""

import functools
import pickle
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from optax_like._src import base, injection as inj
from optax_like._src import tree as ox_tree
from differential import assert_trees_close, lockstep, random_like, random_tree

# Equal to the bit (NaN equals NaN), leaf by leaf under the same key paths and dtypes.
exact = functools.partial(assert_trees_close, rtol=0, atol=0)


# ---------------------------------------------------------------------------------------------
# hand-computed


def test_schedule_evaluated_at_count_and_manual_override():
  sched = lambda count: 0.1 * (count + 1)
  tx = inj.inject_hyperparams(optax.sgd)(learning_rate=sched, momentum=0.5)
  s = tx.init(jnp.zeros([]))
  assert float(s.hyperparams['learning_rate']) == pytest.approx(0.1)
  outs, lrs = [], []
  for _ in range(3):
    u, s = tx.update(jnp.ones([]), s)
    outs.append(float(u))
    lrs.append(float(s.hyperparams['learning_rate']))
  # traces 1, 1.5, 1.75 times lr 0.1, 0.2, 0.3
  np.testing.assert_allclose(outs, [-0.1, -0.3, -0.525], rtol=1e-6)
  np.testing.assert_allclose(lrs, [0.1, 0.2, 0.3], rtol=1e-6)
  assert int(s.count) == 3 and int(s.hyperparams_states['learning_rate'].count) == 3
  # Numeric hyperparameters can be changed by hand; scheduled ones are overwritten.
  s.hyperparams['momentum'] = 0.0
  s.hyperparams['learning_rate'] = 100.0
  u, s = tx.update(jnp.ones([]), s)
  np.testing.assert_allclose(float(u), -0.4, rtol=1e-6)   # lr = sched(3), trace = 1


def test_state_layout_matches_optax():
  ours = inj.inject_hyperparams(optax.adam)(learning_rate=optax.linear_schedule(0.1, 0.0, 10))
  theirs = optax.inject_hyperparams(optax.adam)(learning_rate=optax.linear_schedule(0.1, 0.0, 10))
  sa, sb = ours.init({'w': jnp.zeros(2)}), theirs.init({'w': jnp.zeros(2)})
  assert type(sa).__name__ == type(sb).__name__ == 'InjectStatefulHyperparamsState'
  assert sa._fields == sb._fields == optax.InjectStatefulHyperparamsState._fields
  assert inj.InjectHyperparamsState._fields == optax.InjectHyperparamsState._fields
  assert list(sa.hyperparams) == list(sb.hyperparams)
  assert isinstance(sa.hyperparams, dict)
  assert_trees_close(sa, sb)


# ---------------------------------------------------------------------------------------------
# no recompilation


def traced_update(tx, params):
  """``jax.jit`` of ``tx.update(g, s, params)``, and the list it appends to at every trace."""
  traces = []

  @jax.jit
  def step(g, s):
    traces.append(1)
    return tx.update(g, s, params)

  return step, traces


def test_changing_hyperparams_by_hand_uses_them_and_keeps_float32():
  tx = inj.inject_hyperparams(optax.adam)(learning_rate=0.1, b1=0.9)
  p = jnp.ones(3)
  step, traces = traced_update(tx, p)
  s = tx.init(p)
  _, s = step(p, s)
  _, s = step(p, s)
  n_traces = len(traces)
  reference = inj.inject_hyperparams(optax.adam)
  for new_lr, new_b1 in [(np.float32(0.2), np.float32(0.0)), (jnp.float32(0.3), jnp.float32(0.5)),
                         (0.01, 0.5), (1, np.float64(0.7)), (0.02, 0.6)]:
    s.hyperparams['learning_rate'] = new_lr
    s.hyperparams['b1'] = new_b1
    assert type(s.hyperparams) is dict
    u, s_new = step(p, s)
    # The new values are used ...
    ref = reference(learning_rate=float(new_lr), b1=float(new_b1))
    ref_state = ref.init(p)._replace(inner_state=s.inner_state, count=s.count)
    np.testing.assert_allclose(u, ref.update(p, ref_state, p)[0], rtol=1e-6)
    # ... and stored back as float32 arrays, so the next step has the original signature.
    for name in ('learning_rate', 'b1'):
      assert s_new.hyperparams[name].dtype == jnp.float32
      assert not s_new.hyperparams[name].weak_type
    s = s_new
  # float32 scalars never retrace; Python numbers (weakly typed, as in optax) trace once more
  # for float/float and once for int/float, and a step after any change reuses the first trace.
  assert len(traces) == n_traces + 2
  step(p, s)
  assert len(traces) == n_traces + 2


def test_optax_recompiles_where_we_do_not():
  """Documents the optax behaviour we improve on: a Python float in the state is weakly typed."""
  tx = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)
  p = jnp.ones(2)
  step, traces = traced_update(tx, p)
  _, s = step(p, tx.init(p))
  _, s = step(p, s)
  before = len(traces)
  s.hyperparams['learning_rate'] = 0.01
  step(p, s)
  assert len(traces) == before + 1


def test_schedule_under_jit_no_retrace():
  tx = inj.inject_hyperparams(optax.sgd)(learning_rate=optax.exponential_decay(1.0, 1, 0.5))
  p = jnp.zeros(1)
  step, traces = traced_update(tx, p)
  s = jax.jit(tx.init)(p)
  outs = []
  for _ in range(4):
    u, s = step(jnp.ones(1), s)
    outs.append(float(u[0]))
  assert outs == [-1.0, -0.5, -0.25, -0.125]
  assert len(traces) == 1


# ---------------------------------------------------------------------------------------------
# differential against optax


def _hyperparams(rng):
  kw = dict(b1=float(rng.uniform(0, 0.95)), b2=float(rng.uniform(0.5, 0.999)),
            eps=float(10 ** rng.uniform(-8, -3)))
  if rng.rand() < 0.5:
    kw['learning_rate'] = float(rng.uniform(0.01, 0.1))
  else:
    init = float(rng.uniform(0.01, 0.1))
    kw['learning_rate'] = optax.exponential_decay(init, transition_steps=2, decay_rate=0.5)
  if rng.rand() < 0.5:
    kw['b1'] = optax.linear_schedule(kw['b1'], 0.5, 5)
  return kw


@pytest.mark.parametrize('seed,use_jit', [(0, False), (1, False), (2, True), (3, True)])
def test_inject_adam_matches_optax(seed, use_jit):
  rng = np.random.RandomState(seed)
  params = random_tree(rng, 'small')
  kw = _hyperparams(rng)
  ours = inj.inject_hyperparams(optax.adam)(**kw)
  theirs = optax.inject_hyperparams(optax.adam)(**kw)
  grads = (random_like(rng, params) for _ in range(6))
  for i, step in enumerate(lockstep(ours, theirs, params, grads, jit=use_jit, jit_theirs=True)):
    if i == 2:   # change a hyperparameter by hand, in both, before the fourth step
      new_b2 = float(rng.uniform(0.5, 0.99))
      step.state.hyperparams['b2'] = new_b2
      step.their_state.hyperparams['b2'] = new_b2


def test_inject_sgd_static_args_and_float64_match_optax():
  with jax.enable_x64(True):
    p = {'w': jnp.asarray([1.0, -2.0], jnp.float64)}
    ours = inj.inject_hyperparams(optax.sgd, static_args='nesterov')(
        learning_rate=0.1, momentum=0.9, nesterov=True)
    theirs = optax.inject_hyperparams(optax.sgd, static_args='nesterov')(
        learning_rate=0.1, momentum=0.9, nesterov=True)
    assert ours.init(p).hyperparams['learning_rate'].dtype == jnp.float64
    # Updates and states bit for bit, the params fixed.
    list(lockstep(ours, theirs, p, [p] * 3, move_params=False, check=exact))


# ---------------------------------------------------------------------------------------------
# float32 hyperparameters for 16-bit parameters


def local_adam(learning_rate, b1=0.9, b2=0.999, eps=1e-8):
  """Minimal Adam: moments kept in float32, math in float32, update in the gradient's dtype."""

  def init_fn(params):
    z = ox_tree.tree_zeros_like(params, jnp.float32)
    return (jnp.zeros([], jnp.int32), z, z)

  def update_fn(updates, state, params=None):
    count, mu, nu = state
    count = ox_tree.safe_increment(count)
    mu = jax.tree.map(lambda g, m: (1 - b1) * g.astype(jnp.float32) + b1 * m, updates, mu)
    nu = jax.tree.map(lambda g, v: (1 - b2) * jnp.square(g.astype(jnp.float32)) + b2 * v,
                      updates, nu)
    out = jax.tree.map(
        lambda g, m, v: (-learning_rate * (m / (1 - b1 ** count))
                         / (jnp.sqrt(v / (1 - b2 ** count)) + eps)).astype(g.dtype),
        updates, mu, nu)
    return out, (count, mu, nu)

  return base.GradientTransformation(init_fn, update_fn)


def numpy_adam_f32(grads, lr, b1, b2, eps):
  lr, b1, b2, eps = (np.float32(x) for x in (lr, b1, b2, eps))
  m = v = np.zeros_like(grads[0], np.float32)
  outs = []
  for t, g in enumerate(grads, 1):
    g = g.astype(np.float32)
    m = (1 - b1) * g + b1 * m
    v = (1 - b2) * g * g + b2 * v
    outs.append(-lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps))
  return outs


def test_bf16_params_store_optaxs_dtype_but_compute_in_float32():
  p = jnp.zeros(4, jnp.bfloat16)
  tx = inj.inject_hyperparams(local_adam)(learning_rate=0.1, b2=0.999)
  s = tx.init(p)
  # The state is optax's: the hyperparameters in the parameters' dtype (b2 rounds to 1.0) ...
  theirs = optax.inject_hyperparams(local_adam)(learning_rate=0.1, b2=0.999).init(p)
  assert_trees_close(s, theirs)
  for name, value in s.hyperparams.items():
    assert value.dtype == jnp.bfloat16, name
  # ... but the math uses b2 = 0.999 (in float32), the value the entry started from.
  rng = np.random.RandomState(0)
  grads = [jnp.asarray(rng.normal(size=4), jnp.bfloat16) for _ in range(4)]
  want = numpy_adam_f32([np.asarray(g, np.float32) for g in grads], 0.1, 0.9, 0.999, 1e-8)
  for g, w in zip(grads, want):
    u, s = jax.jit(tx.update)(g, s, p)
    assert u.dtype == jnp.bfloat16 and s.hyperparams['b2'].dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(u, np.float32), w, rtol=8e-3)  # bf16 output rounding
  # A value set by hand is used as set (here in full precision, then as stored).
  s.hyperparams['b2'] = 0.5
  u, s_new = tx.update(grads[0], s, p)
  assert s_new.hyperparams['b2'].dtype == jnp.bfloat16 and float(s_new.hyperparams['b2']) == 0.5
  ref = inj.inject_hyperparams(local_adam)(learning_rate=0.1, b2=0.5)
  u_ref, _ = ref.update(grads[0], s._replace(hyperparams=ref.init(p).hyperparams), p)
  np.testing.assert_array_equal(np.asarray(u, np.float32), np.asarray(u_ref, np.float32))
  # optax casts to the parameters' dtype: b2 becomes exactly 1.0, and the same Adam breaks.
  theirs = optax.inject_hyperparams(local_adam)(learning_rate=0.1, b2=0.999)
  sb = theirs.init(p)
  assert sb.hyperparams['b2'].dtype == jnp.bfloat16 and float(sb.hyperparams['b2']) == 1.0
  ub, _ = theirs.update(grads[0], sb, p)
  assert not bool(jnp.all(jnp.isfinite(ub)))


def test_bf16_with_library_scale_by_adam():
  adaptive = pytest.importorskip('optax_like._src.adaptive')

  def adam(learning_rate, b1=0.9, b2=0.999, eps=1e-8):
    return base.chain(adaptive.scale_by_adam(b1=b1, b2=b2, eps=eps),
                      base.stateless(lambda u, _: jax.tree.map(
                          lambda x: (-learning_rate * x.astype(jnp.float32)).astype(x.dtype), u)))

  p = jnp.zeros(3, jnp.bfloat16)
  tx = inj.inject_hyperparams(adam)(learning_rate=0.1, b2=0.999)
  s = tx.init(p)
  assert s.hyperparams['b2'].dtype == jnp.bfloat16  # stored as optax stores it
  g = jnp.asarray([0.5, -1.0, 2.0], jnp.bfloat16)
  for _ in range(3):
    u, s = tx.update(g, s, p)
    assert u.dtype == jnp.bfloat16
    assert bool(jnp.all(jnp.isfinite(u)))
    # a constant gradient gives m_hat = g and v_hat = g^2: u = -lr * sign(g)
    np.testing.assert_allclose(np.asarray(u, np.float32), [-0.1, 0.1, -0.1], rtol=1e-2)


def test_hyperparam_dtype_override_and_integer_params():
  tx = inj.inject_hyperparams(optax.sgd, hyperparam_dtype=jnp.bfloat16)(learning_rate=0.1)
  assert tx.init(jnp.zeros(2)).hyperparams['learning_rate'].dtype == jnp.bfloat16
  # Integer parameters: optax's state holds the learning rate as int32 (0), and so does ours,
  # but optax's step then uses 0 while ours uses the learning rate it was given.
  p = jnp.zeros(2, jnp.int32)
  tx = inj.inject_hyperparams(optax.sgd)(learning_rate=0.1)
  s = tx.init(p)
  sb = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1).init(p)
  assert_trees_close(s, sb)
  assert s.hyperparams['learning_rate'].dtype == jnp.int32
  u, s = jax.jit(tx.update)(jnp.ones(2), s, p)
  np.testing.assert_allclose(u, [-0.1, -0.1], rtol=1e-6)
  assert s.hyperparams['learning_rate'].dtype == jnp.int32
  np.testing.assert_array_equal(optax.inject_hyperparams(optax.sgd)(learning_rate=0.1).update(
      jnp.ones(2), sb, p)[0], [0.0, 0.0])


def test_strong_array_hyperparam_keeps_its_dtype():
  tx = inj.inject_hyperparams(optax.sgd)(learning_rate=jnp.asarray(0.5, jnp.bfloat16))
  s = tx.init(jnp.zeros(2))
  assert s.hyperparams['learning_rate'].dtype == jnp.bfloat16
  s.hyperparams['learning_rate'] = 0.25
  u, s = tx.update(jnp.ones(2), s)
  assert s.hyperparams['learning_rate'].dtype == jnp.bfloat16
  np.testing.assert_allclose(u, [-0.25, -0.25])


# ---------------------------------------------------------------------------------------------
# stateful schedules, the deprecated alias


class HalveOnBadLoss:
  """A stateful schedule: halves the value whenever the ``loss`` extra argument rises."""

  def __init__(self, value):
    self.value = value

  def init(self):
    return {'value': jnp.asarray(self.value, jnp.float32), 'best': jnp.asarray(jnp.inf)}

  def update(self, state, loss=None, **extra_args):
    worse = loss > state['best']
    return {'value': jnp.where(worse, state['value'] / 2, state['value']),
            'best': jnp.minimum(state['best'], loss)}

  def __call__(self, state, **extra_args):
    return state['value']


def test_stateful_schedule_matches_optax_and_deprecated_alias_warns():
  with pytest.warns(DeprecationWarning, match='inject_stateful_hyperparams is deprecated'):
    factory = inj.inject_stateful_hyperparams(optax.sgd)
  with warnings.catch_warnings():
    warnings.simplefilter('ignore', DeprecationWarning)
    theirs = optax.inject_stateful_hyperparams(optax.sgd)(learning_rate=HalveOnBadLoss(1.0))
  ours = factory(learning_rate=HalveOnBadLoss(1.0))
  assert isinstance(HalveOnBadLoss(1.0), inj.StatefulSchedule)
  losses = iter([3.0, 2.0, 2.5, 1.0, 4.0, 0.5])
  steps = lockstep(ours, theirs, jnp.zeros(1), [jnp.ones(1)] * 6, move_params=False,
                   check=exact, check_state=assert_trees_close,
                   extra_args=lambda g: {'loss': next(losses)})
  # the value used at a step is from the state before that step's update
  assert [float(step.updates[0]) for step in steps] == [-1.0, -1.0, -1.0, -0.5, -0.5, -0.25]


def test_wrapped_schedule():
  ws = inj.WrappedSchedule(lambda c: 2.0 * c)
  s = ws.init()
  assert s._fields == ('count',) and float(ws(s)) == 0.0
  s = ws.update(ws.update(s))
  assert float(ws(s)) == 4.0
  with pytest.raises(TypeError, match='WrappedSchedule: `schedule_fn` must be callable'):
    inj.WrappedSchedule(3.0)


def test_hyperparams_is_a_plain_dict_that_serializes():
  s = inj.inject_hyperparams(optax.sgd)(learning_rate=0.1, momentum=0.9).init(jnp.zeros(2))
  h = s.hyperparams
  assert type(h) is dict and sorted(h) == ['learning_rate', 'momentum']
  mapped = jax.tree.map(lambda x: x * 2, h)
  assert type(mapped) is dict
  np.testing.assert_allclose(mapped['momentum'], 1.8, rtol=1e-6)
  restored = pickle.loads(pickle.dumps(jax.device_get(s)))
  assert float(restored.hyperparams['learning_rate']) == pytest.approx(0.1)
  serialization = pytest.importorskip('flax.serialization')
  restored = serialization.from_bytes(s, serialization.to_bytes(s))
  assert type(restored.hyperparams) is dict
  assert_trees_close(restored, s)
  # A state written by optax restores into ours and the other way round.
  theirs = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1, momentum=0.9).init(jnp.zeros(2))
  assert_trees_close(serialization.from_bytes(s, serialization.to_bytes(theirs)), theirs)
  assert_trees_close(serialization.from_bytes(theirs, serialization.to_bytes(s)), s)
  paths = [jax.tree_util.keystr(k) for k, _ in jax.tree_util.tree_flatten_with_path(h)[0]]
  assert paths == ["['learning_rate']", "['momentum']"]
  # optax's tree utilities find the entries.
  assert float(optax.tree.get(s, 'learning_rate')) == pytest.approx(0.1)


def test_integer_and_bool_hyperparams():
  def factory(learning_rate, every=2, flag=False):
    del every, flag
    return optax.sgd(learning_rate)

  tx = inj.inject_hyperparams(factory)(learning_rate=0.1, every=3, flag=True)
  s = tx.init(jnp.zeros(1))
  assert 'flag' not in s.hyperparams            # bools are static, as in optax
  assert s.hyperparams['every'].dtype == jnp.int32
  s.hyperparams['every'] = 5
  u, s = jax.jit(tx.update)(jnp.ones(1), s)
  assert s.hyperparams['every'].dtype == jnp.int32 and int(s.hyperparams['every']) == 5
  np.testing.assert_allclose(u, [-0.1], rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# errors


def test_errors():
  with pytest.raises(ValueError, match=r'inject_hyperparams: `static_args` must name parameters '
                                       r"of `inner_factory`; unknown: \['lr'\]"):
    inj.inject_hyperparams(optax.sgd, static_args=('lr',))
  with pytest.raises(TypeError, match='inject_hyperparams: `static_args` must be a string or an '
                                      'iterable'):
    inj.inject_hyperparams(optax.sgd, static_args=3)
  with pytest.raises(TypeError, match='inject_hyperparams: `inner_factory` must be a callable'):
    inj.inject_hyperparams(0.1)
  with pytest.raises(TypeError):
    inj.inject_hyperparams(optax.sgd)(learning_rat=0.1)   # unknown argument, as in optax


def test_dtype_arguments_are_static():
  # optax would wrap the class jnp.bfloat16 as a schedule (it is callable).
  tx = inj.inject_hyperparams(optax.adam)(learning_rate=0.1, mu_dtype=jnp.bfloat16)
  s = tx.init(jnp.zeros(2))
  assert 'mu_dtype' not in s.hyperparams and 'mu_dtype' not in s.hyperparams_states
  u, s = tx.update(jnp.ones(2), s)
  assert s.inner_state[0].mu.dtype == jnp.bfloat16
  np.testing.assert_allclose(u, [-0.1, -0.1], rtol=1e-5)
  tx = inj.inject_hyperparams(optax.adam)(learning_rate=0.1, mu_dtype=np.dtype('float32'))
  assert 'mu_dtype' not in tx.init(jnp.zeros(2)).hyperparams

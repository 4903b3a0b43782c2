"""optax_like.microbatching (microbatch, micro_vmap, micro_grad, reshape_batch_axis,
Accumulator, AccumulationType): differential tests against optax.microbatching, hand-computed
values, 16-bit accumulation in float32, and errors naming the argument."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.microbatching as om
import pytest

import optax_like as ox
import optax_like.microbatching as mb
from differential import assert_trees_close

RNG = np.random.RandomState(0)
X = jnp.asarray(RNG.normal(size=(8, 3)).astype(np.float32))
Y = jnp.asarray(RNG.normal(size=(8, 3)).astype(np.float32))
W = jnp.asarray(RNG.normal(size=(3,)).astype(np.float32))


def many_outputs(w, x, y):
  return {'rows': x * y + w, 'sum': jnp.sum(x @ w), 'mean': (jnp.mean(x * y), jnp.max(y))}


def accumulators(lib):
  t = lib.AccumulationType
  return {
      'sum': t.SUM, 'mean': t.MEAN, 'running_mean': t.RUNNING_MEAN,
      'tree': {'rows': t.CONCAT, 'sum': t.SUM, 'mean': (t.MEAN, t.RUNNING_MEAN)},
  }


def _out(lib, acc_name):
  # CONCAT needs per-row outputs; the reductions take the scalar parts.
  if acc_name == 'tree':
    return many_outputs
  return lambda w, x, y: many_outputs(w, x, y)['mean']


@pytest.mark.parametrize('acc_name', ['sum', 'mean', 'running_mean', 'tree'])
@pytest.mark.parametrize('size,real,jit', [(2, None, False), (4, None, True), (2, 3, True)])
def test_microbatch_matches_optax(acc_name, size, real, jit):
  def build(lib):
    f = lib.microbatch(_out(lib, acc_name), argnums=(1, 2), microbatch_size=size,
                       accumulator=accumulators(lib)[acc_name], num_real_microbatches=real)
    return jax.jit(f) if jit else f
  assert_trees_close(build(mb)(W, X, Y), build(om)(W, X, Y))


def test_microbatch_with_argnames_and_in_axes():
  f = lambda w, x, *, y: jnp.sum(x.T * y, axis=0) + w  # x batched on axis 1
  ours = ox.microbatch(f, argnums=1, argnames='y', in_axes=(1, 0), microbatch_size=2)
  theirs = om.microbatch(f, argnums=1, argnames='y', in_axes=(1, 0), microbatch_size=2)
  np.testing.assert_allclose(ours(W, X.T, y=Y), theirs(W, X.T, y=Y), rtol=1e-6)
  # Summed over 4 microbatches, each adding w once.
  np.testing.assert_allclose(ours(W, X.T, y=Y), f(W, X.T, y=Y) + 3 * W, rtol=1e-5)


def test_concat_restores_batch_order_by_hand():
  # Microbatch i holds rows i, i + n, ...: CONCAT must put them back in order.
  x = jnp.arange(12.0)
  seen = ox.microbatch(lambda v: v * 10, argnums=0, microbatch_size=3,
                       accumulator=mb.AccumulationType.CONCAT)(x)
  assert seen.tolist() == (np.arange(12.0) * 10).tolist()
  assert mb.reshape_batch_axis(jnp.arange(6), 2).tolist() == [[0, 3], [1, 4], [2, 5]]
  early = ox.microbatch(lambda v: v + 1, argnums=0, microbatch_size=3, num_real_microbatches=2,
                        accumulator=mb.AccumulationType.CONCAT)(x)
  assert int(jnp.sum(early != 0)) == 6


@pytest.mark.parametrize('axis', [0, 1, 2])
def test_reshape_batch_axis_matches_optax(axis):
  tree = {'a': jnp.arange(4 * 6 * 4).reshape(4, 6, 4), 'b': [jnp.ones((4, 6, 4), jnp.bfloat16)]}
  assert_trees_close(mb.reshape_batch_axis(tree, 2, axis), om.reshape_batch_axis(tree, 2, axis))


@pytest.mark.parametrize('dtype', [jnp.bfloat16, jnp.float16])
def test_sixteen_bit_sums_are_accumulated_in_float32(dtype):
  # 512 rows of 1 + 2**-9, summed in 128 microbatches: in bfloat16 the running sum would stop
  # growing; accumulated in float32 and rounded once it is the nearest 16-bit number.
  x = jnp.full((512,), 1.0 + 2.0 ** -9, dtype)
  for acc in (mb.AccumulationType.SUM, mb.AccumulationType.MEAN,
              mb.AccumulationType.RUNNING_MEAN):
    out = ox.microbatch(jnp.sum, argnums=0, microbatch_size=4, accumulator=acc)(x)
    assert out.dtype == dtype
    exact = float(jnp.sum(x.astype(jnp.float32)))
    expected = exact if acc is mb.AccumulationType.SUM else exact / 128
    assert float(out) == float(jnp.asarray(expected, dtype)), (acc, float(out), expected)


def test_custom_accumulator():
  biggest = mb.Accumulator(init=lambda s: jnp.full(s.shape, -jnp.inf, s.dtype),
                           update=lambda c, v, i: jnp.maximum(c, v),
                           finalize=lambda c: c, aggregate=lambda v: v.max(0))
  out = ox.microbatch(jnp.max, argnums=0, microbatch_size=2, accumulator=biggest)(X[:, 0])
  assert float(out) == float(jnp.max(X[:, 0]))


@pytest.mark.parametrize('acc_name', ['concat', 'sum', 'mean'])
def test_micro_vmap_matches_vmap_and_optax(acc_name):
  f = lambda x, w, *, y: jnp.sum(x * w * y)
  ours = mb.micro_vmap(f, in_axes=(0, None), microbatch_size=2,
                       accumulator=getattr(mb.AccumulationType, acc_name.upper()))
  theirs = om.micro_vmap(f, in_axes=(0, None), microbatch_size=2,
                         accumulator=getattr(om.AccumulationType, acc_name.upper()))
  assert_trees_close(ours(X, W, y=Y), theirs(X, W, y=Y))
  if acc_name == 'concat':
    np.testing.assert_allclose(ours(X, W, y=Y), jax.vmap(f, in_axes=(0, None))(X, W, y=Y),
                               rtol=1e-5)


@pytest.mark.parametrize('keep_batch_dim,has_aux,size', [(True, False, 2), (False, True, None),
                                                         (True, True, 4)])
def test_micro_grad_matches_optax(keep_batch_dim, has_aux, size):
  def loss(w, x, y):
    err = jnp.sum(x * w, axis=-1) - jnp.sum(y, axis=-1)
    value = 0.5 * jnp.mean(err ** 2)
    return (value, {'err': err}) if has_aux else value

  kwargs = dict(has_aux=has_aux, batch_argnums=(1, 2), keep_batch_dim=keep_batch_dim,
                microbatch_size=size, transform_fn=lambda g: (g, g ** 2),
                metrics_fn=jnp.linalg.norm)
  ours = mb.micro_grad(loss, accumulator=mb.AccumulationType.MEAN, **kwargs)(W, X, Y)
  theirs = om.micro_grad(loss, accumulator=om.AccumulationType.MEAN, **kwargs)(W, X, Y)
  assert type(ours[1]).__name__ == type(theirs[1]).__name__ == 'Aux'
  assert_trees_close(ours[0], theirs[0])
  assert_trees_close(tuple(ours[1]), tuple(theirs[1]))


def test_micro_grad_by_hand():
  loss = lambda w, x: jnp.sum(w * x)  # one example's gradient is x itself
  grads, aux = mb.micro_grad(loss, metrics_fn=jnp.linalg.norm)(
      jnp.zeros(2), jnp.array([[3.0, 4.0], [1.0, 0.0]]))
  assert grads.tolist() == [4.0, 4.0] and aux.metrics.tolist() == [5.0, 1.0]
  assert aux.values.tolist() == [0.0, 0.0] and aux.aux is None


def test_top_level_microbatch_is_the_module_one():
  assert ox.microbatch is mb.microbatch
  assert ox.microbatching is mb
  f = lambda x: x
  assert mb.microbatch(f, argnums=0, microbatch_size=None) is f


@pytest.mark.parametrize('make,error,word', [
    (lambda: mb.microbatch(jnp.sum, 0, 0), ValueError, 'microbatch_size'),
    (lambda: mb.microbatch(jnp.sum, 0, 2.0), TypeError, 'microbatch_size'),
    (lambda: mb.microbatch(3, 0, 2), TypeError, 'fun'),
    (lambda: mb.microbatch(jnp.sum, 0, 3)(X), ValueError, 'divisible'),
    (lambda: mb.microbatch(lambda a, b: a, (0, 1), 2)(X, X[:4]), ValueError, 'one size'),
    (lambda: mb.microbatch(lambda a: a, 0, 2, in_axes=(0, 1))(X), ValueError, 'in_axes'),
    (lambda: mb.microbatch(jnp.sum, 0, 2, mb.AccumulationType.MEAN)(jnp.arange(4)), ValueError,
     'floating-point'),
    (lambda: mb.microbatch(jnp.sum, 0, 2, 'sum')(X), ValueError, 'accumulator'),
    (lambda: mb.micro_vmap(jnp.sum, out_axes=1), NotImplementedError, 'out_axes'),
])
def test_bad_arguments_are_named(make, error, word):
  with pytest.raises(error) as info:
    make()
  assert word in str(info.value), str(info.value)


def test_explicitly_sharded_batch_keeps_its_sharding():
  # A mesh with explicit axes (one device here): the batch axis's sharding moves to the
  # microbatch axis, the carries are sharded like one microbatch's output, CONCAT restores it.
  mesh = jax.make_mesh((1,), ('x',), axis_types=(jax.sharding.AxisType.Explicit,))
  with jax.set_mesh(mesh):
    x = jax.device_put(jnp.arange(24.0).reshape(8, 3), jax.sharding.PartitionSpec('x'))
    split = mb.reshape_batch_axis(x, 2)
    assert tuple(jax.typeof(split).sharding.spec)[:2] == (None, 'x')
    for acc in mb.AccumulationType:
      out = jax.jit(mb.microbatch(lambda v: 2 * v, 0, 2, acc))(x)
      plain = mb.microbatch(lambda v: 2 * v, 0, 2, acc)(jnp.arange(24.0).reshape(8, 3))
      np.testing.assert_allclose(np.asarray(out), np.asarray(plain), rtol=1e-6)
    concat = jax.jit(mb.microbatch(lambda v: 2 * v, 0, 2, mb.AccumulationType.CONCAT))(x)
    assert tuple(jax.typeof(concat).sharding.spec)[:1] == ('x',)

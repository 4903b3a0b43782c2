"""Scale-out: sharded params under jit, shard_map/pmap collectives, ZeRO-1 state sharding.

The multi-device checks run in subprocesses with 8 host CPU devices (``distributed_check.py``,
one subprocess per section, run once per module); each check prints a JSON line that the
tests below read. The in-process tests cover construction errors, hand-computed specs and
single-device behaviour.
"""

import json
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import AbstractMesh, AxisType, PartitionSpec as P

from optax_like._src import alias, base, clipping, distributed, fused, trust_ratio, zero
from optax_like._src import tree as tree_lib

SCRIPT = pathlib.Path(__file__).parent / 'distributed_check.py'
ALL_OPTIMIZERS = {'sgd', 'momentum', 'adam', 'adamw', 'amsgrad', 'nadam', 'rmsprop', 'lars',
                  'lamb', 'lion', 'adagrad', 'keras_sgd', 'keras_adam', 'keras_rmsprop',
                  'keras_lars', 'clip_adam', 'adam_bf16_f32state'}
MESHES = ('8', '4x2', '2x4', '4x2-explicit')


# XLA:CPU compiles these many small programs ~4x faster without its fusion emitters and with
# backend optimizations off; the sharded runs and their single-device references are compiled
# alike, so the comparisons are unaffected (partitioning is done before either matters).
FAST_COMPILE = '--xla_cpu_use_fusion_emitters=false --xla_backend_optimization_level=0'


def run_section(name):
  env = dict(os.environ)
  env['JAX_PLATFORMS'] = 'cpu'
  root = str(pathlib.Path(__file__).parent.parent)
  env['PYTHONPATH'] = root + os.pathsep + env.get('PYTHONPATH', '')
  for flags in (FAST_COMPILE, ''):
    env['XLA_FLAGS'] = '--xla_force_host_platform_device_count=8 ' + flags
    proc = subprocess.run([sys.executable, str(SCRIPT), name], capture_output=True, text=True,
                          env=env, timeout=300)
    if not (flags and 'unknown flag' in proc.stderr.lower()):  # an XLA without these flags
      break
  assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
  rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith('{')]
  checks = {row['check']: row for row in rows}
  assert f'{name}/done' in checks, proc.stdout[-4000:]
  return checks


def select(checks, *parts):
  """Checks whose name has every part (as a path component)."""
  return {k: v for k, v in checks.items() if all(p in k.split('/') for p in parts)}


def assert_ok(rows, min_count=1, what=''):
  assert len(rows) >= min_count, (what, sorted(rows))
  bad = {k: v for k, v in rows.items() if not v['ok']}
  assert not bad, f'{what}: ' + json.dumps(bad, indent=1)[:4000]


def report(rows, label):
  values = [r for r in rows.values() if 'max_abs' in r]
  if values:
    print(f'[distributed] {label}: {len(values)} comparisons, '
          f'max abs {max(r["max_abs"] for r in values):.2e}, '
          f'max rel {max(r["max_rel"] for r in values):.2e}')


# One test per subprocess (no shared fixtures), so that pytest-xdist never runs one twice.

def test_gspmd_sharded_params_under_jit():
  """Every optimizer, sharded params on several meshes/specs, jit: single-device numbers,
  state sharded like params (eager and jitted init, and after the steps), bf16 params with
  float32 state, an Explicit-axes mesh."""
  checks = run_section('gspmd')
  assert_ok(checks, min_count=150, what='all gspmd checks')
  values = {k: v for k, v in checks.items() if k.endswith('/values')}
  report(values, 'gspmd sharded vs single device (rtol 1e-6, atol 1e-7)')
  meshes_per_opt = {}
  for k in values:
    _, mesh, opt, _ = k.split('/')
    meshes_per_opt.setdefault(opt, set()).add(mesh)
  assert set(meshes_per_opt) == ALL_OPTIMIZERS
  assert all(len(m) >= 2 and '4x2' in m for m in meshes_per_opt.values()), meshes_per_opt
  assert {m for ms in meshes_per_opt.values() for m in ms} == set(MESHES)
  for mode in ('eager_init', 'jit_init', 'after_steps'):
    rows = {k: v for k, v in checks.items() if k.endswith(f'/{mode}_sharding')}
    assert_ok(rows, min_count=len(ALL_OPTIMIZERS), what=mode)
    assert sum(r['checked'] for r in rows.values()) > 0
  assert len(select(checks, "4x2-explicit")) >= 20
  assert len({k for k in checks if '/adam_bf16_f32state/' in k}) >= 4 * len(MESHES) - 2


def test_shard_map_collectives():
  """Inside shard_map: clip_by_global_norm, clip_by_norm and trust ratios over split leaves equal the
  unsharded transforms; aggregate_gradients in data-parallel training equals full-batch
  training (check_vma on and off, sum and mean, tuple axes); pmap; bf16; misuse caught."""
  checks = run_section('shard_map')
  assert_ok(checks, min_count=30, what='all shard_map checks')
  report({k: v for k, v in checks.items() if 'data_parallel' not in k},
         'shard_map norms/trust ratios sharded vs unsharded (rtol 1e-6, atol 1e-7)')
  report(select(checks, 'data_parallel'),
         'shard_map data parallel vs full batch (rtol 1e-5, atol 1e-6)')
  for mesh in MESHES[:3]:
    rows = select(checks, mesh, 'clip_by_global_norm')
    assert len(rows) == 4 and {r['norm'] > 1.0 for r in rows.values()} == {True, False}
    assert select(checks, mesh, 'clip_by_norm_per_leaf')
    # The comparison can fail: per-device norms (no axis_name) give other numbers.
    assert select(checks, mesh, 'control_clip_without_axis_name_differs')
  for mesh in ('4x2', '2x4'):
    assert len([k for k in checks if k.startswith(f'shard_map/{mesh}/')
                and 'trust_ratio' in k]) == 4
  rows = select(checks, 'data_parallel')
  assert len(rows) == 4 and any('check_vma_false' in k for k in rows)
  assert any('sum' in k for k in rows) and any('tuple' in k for k in rows)
  for name in ('aggregate_mean', 'aggregate_bf16_in_f32',
               'replicated_leaf_declared_split_raises'):
    assert select(checks, name), name


def test_zero1_state_sharding():
  """ZeRO-1: state split over 'data' (1/8 of the bytes on device 0 for large leaves), eager
  and jitted init, the inner optimizer's numbers, params keep their sharding; replicated
  params, params split over 'model', and an Explicit-axes mesh."""
  checks = run_section('zero1')
  assert_ok(checks, min_count=40, what='all zero1 checks')
  report({k: v for k, v in checks.items() if k.endswith('/values')}, 'zero1 vs replicated')
  inits = {k: v for k, v in checks.items() if k.endswith('init_sharding')}
  assert any('explicit' in k for k in inits) and any('4x2_tp' in k for k in inits)
  for k, r in inits.items():
    assert r['state_bytes_ratio'] < 0.4, (k, r)  # small leaves (bias, scalar) stay whole
  row = checks['zero1/adam_state_bytes_on_device0']
  print(f'[distributed] zero1 adam state on device 0: {row["zero1"]} B vs replicated '
        f'{row["replicated"]} B (x{row["ratio"]:.4f})')
  for suffix in ('/values', '/params_keep_their_sharding', '/state_sharding_after_steps'):
    assert len([k for k in checks if k.endswith(suffix)]) >= 10, suffix


# ------------------------------------------------------------------ in-process (one device)

def auto_mesh(names=('data',)):
  return jax.make_mesh((1,) * len(names), names, axis_types=(AxisType.Auto,) * len(names))


@pytest.mark.parametrize('spec,want', [
    (None, ()), ('data', ('data',)), (('data', 'model'), ('data', 'model')),
    (P(), ()), (P(None, 'model'), ('model',)), (P(('data', 'model'), None, 'pipe'),
                                                ('data', 'model', 'pipe')),
    (P('model', 'model'), ('model',)),
])
def test_axes_of(spec, want):
  assert distributed.axes_of(spec) == want


def test_leaf_axes_matches_prefix_specs_by_path():
  tree = {'dense': {'kernel': jnp.ones(2), 'bias': jnp.ones(2)}, 'emb': jnp.ones(2)}
  specs = {'dense': P('model'), 'emb': None}
  assert distributed.leaf_axes(specs, tree) == [
      ("['dense']['bias']", ('model',)), ("['dense']['kernel']", ('model',)), ("['emb']", ())]
  assert [a for _, a in distributed.leaf_axes('data', tree)] == [('data',)] * 3


@pytest.mark.parametrize('shape,spec,sizes,want', [
    ((3, 8), P(), (8, 1), P(None, 'data')),
    ((16, 4), P(None, 'model'), (4, 2), P('data', 'model')),
    ((8,), P('model'), (4, 2), P(('model', 'data'))),
    ((2, 6), P(), (4, 1), P(None, None)),  # nothing divides: stays replicated over data
    ((), P(), (8, 1), P()),
    ((8, 8), P('data'), (8, 1), P('data', None)),  # already split over data
])
def test_zero1_spec(shape, spec, sizes, want):
  mesh = AbstractMesh(sizes, ('data', 'model'))
  assert zero.zero1_spec(shape, spec, mesh, 'data') == want


def test_construction_errors():
  with pytest.raises(ValueError, match=r"aggregate_gradients: `op` must be one of \('sum', "
                                       r"'mean'\), got 'max'"):
    distributed.aggregate_gradients('data', op='max')
  with pytest.raises(TypeError, match='aggregate_gradients: `axis_name` must be an axis name'):
    distributed.aggregate_gradients(['data'])
  with pytest.raises(TypeError, match='clip_by_global_norm: `axis_name` must be None, an axis'):
    clipping.clip_by_global_norm(1.0, axis_name=3)
  with pytest.raises(TypeError, match='clip_by_global_norm: `axis_name` entries must be None'):
    clipping.clip_by_global_norm(1.0, axis_name=P(3))
  with pytest.raises(TypeError, match=r"scale_by_trust_ratio: `axis_name` must be .* found 3"):
    trust_ratio.scale_by_trust_ratio(axis_name={'w': P('model'), 'b': 3})
  mesh = auto_mesh()
  with pytest.raises(TypeError, match='zero1: `mesh` must be a jax.sharding.Mesh'):
    zero.zero1(alias.adam(0.1), 'data')
  with pytest.raises(ValueError, match=r"zero1: `axis` 'model' is not an axis of the mesh"):
    zero.zero1(alias.adam(0.1), mesh, 'model')
  with pytest.raises(TypeError, match='inner'):
    zero.zero1(object(), mesh)


def test_update_outside_a_mapped_axis_is_a_clear_name_error():
  g = {'w': jnp.ones(2)}
  for tx, fn in ((distributed.aggregate_gradients('data'), 'aggregate_gradients'),
                 (clipping.clip_by_global_norm(1.0, axis_name='data'), 'clip_by_global_norm')):
    with pytest.raises(NameError, match=rf"{fn}: axis name\(s\) \('data',\) are not bound"):
      tx.update(g, tx.init(g))
  tx = trust_ratio.scale_by_trust_ratio(axis_name='data')
  with pytest.raises(NameError, match='scale_by_trust_ratio: axis name'):
    tx.update(g, tx.init(g), g)


def test_axis_name_tree_without_an_entry_for_a_leaf():
  mesh = auto_mesh(('model',))
  tx = clipping.clip_by_global_norm(1.0, axis_name={'w': P('model')})
  run = jax.shard_map(lambda u: tx.update(u, tx.init(u))[0], mesh=mesh,
                      in_specs=({'w': P('model'), 'b': P()},), out_specs={'w': P('model'),
                                                                          'b': P()})
  with pytest.raises(ValueError, match=r"clip_by_global_norm: `axis_name` has no entry for the "
                                       r"leaf at \['b'\]"):
    run({'w': jnp.ones(2), 'b': jnp.ones(1)})


def test_one_device_shard_map_gives_the_unsharded_numbers():
  """With one device along each axis every collective is the identity."""
  mesh = auto_mesh(('data', 'model'))
  rng = np.random.default_rng(0)
  g = {'w': jnp.asarray(rng.normal(size=(4, 2)).astype(np.float32) * 3),
       'b': jnp.asarray(rng.normal(size=2).astype(np.float32))}
  p = jax.tree.map(lambda x: x + 1.0, g)
  specs = {'w': P(None, 'model'), 'b': P()}  # data parallel over 'data', w split over 'model'
  sharded = base.chain(distributed.aggregate_gradients('data', op='sum'),
                       clipping.clip_by_global_norm(1.0, axis_name=specs),
                       trust_ratio.scale_by_trust_ratio(axis_name=specs))
  plain = base.chain(clipping.clip_by_global_norm(1.0), trust_ratio.scale_by_trust_ratio())
  run = jax.jit(jax.shard_map(lambda u, q: sharded.update(u, sharded.init(q), q)[0], mesh=mesh,
                              in_specs=(specs, specs), out_specs=specs))
  want = jax.jit(lambda u, q: plain.update(u, plain.init(q), q)[0])(g, p)
  got = run(g, p)
  for k in g:
    np.testing.assert_allclose(got[k], want[k], rtol=1e-6, atol=0)
  norm = jax.jit(jax.shard_map(lambda u: distributed.sharded_global_norm(u, specs), mesh=mesh,
                               in_specs=(specs,), out_specs=P()))(g)
  np.testing.assert_allclose(norm, tree_lib.global_norm(g), rtol=1e-6)
  assert distributed.sharded_global_norm(g) == tree_lib.global_norm(g)


def test_aggregate_gradients_hand_computed_under_pmap_one_device():
  """One replica: sum and mean are the identity; bf16 stays bf16; None leaves stay None."""
  g = {'w': jnp.array([[1.5, -2.0]], jnp.bfloat16), 'none': None}
  for op in ('sum', 'mean'):
    tx = distributed.aggregate_gradients('i', op=op)
    out = jax.pmap(lambda u, tx=tx: tx.update(u, tx.init(None))[0], axis_name='i')(g)
    assert out['none'] is None and out['w'].dtype == jnp.bfloat16
    assert out['w'].tolist() == [[1.5, -2.0]]


def test_zero1_single_device_trajectory_equals_inner():
  mesh = auto_mesh()
  params = {'w': jnp.arange(8.0).reshape(4, 2) / 10, 'b': jnp.ones(2)}
  grads = [jax.tree.map(lambda x, i=i: jnp.sin(x * (i + 1)), params) for i in range(3)]
  for make in (lambda: alias.adamw(0.1, weight_decay=0.1), lambda: alias.lamb(0.1)):
    a, b = make(), zero.zero1(make(), mesh, 'data')
    sa = a.init(params)
    pa, pb, sb = params, params, jax.jit(b.init)(params)
    step_a, step_b = jax.jit(a.update), jax.jit(b.update)
    for g in grads:
      ua, sa = step_a(g, sa, pa)
      ub, sb = step_b(g, sb, pb)
      pa, pb = tree_lib.apply_updates(pa, ua), tree_lib.apply_updates(pb, ub)
    for x, y in zip(jax.tree.leaves((pa, sa)), jax.tree.leaves((pb, sb))):
      np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)


def test_zero1_refuses_a_fused_inner():
  with pytest.raises(ValueError, match='zero1: `inner` is a fused'):
    zero.zero1(fused.fused(alias.adam(0.1)), auto_mesh(), 'data').init({'w': jnp.ones((4, 2))})


def test_zero1_sharding_tree_for_eval_shape_state():
  mesh = auto_mesh()
  params = {'w': jnp.zeros((4, 2)), 'b': jnp.zeros(3)}
  state = jax.eval_shape(alias.adam(1e-3).init, params)
  shardings = zero.zero1_sharding(state, params, mesh)
  assert shardings[0].mu['w'].spec == P('data', None)
  assert shardings[0].count.spec == P()

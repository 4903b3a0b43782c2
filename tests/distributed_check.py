"""Multi-device checks, run in a subprocess with 8 host CPU devices (see test_distributed.py).

    python tests/distributed_check.py gspmd|shard_map|zero1

Prints one JSON object per check: ``{"check": ..., "ok": bool, ...}`` (``max_abs``/``max_rel``
for value comparisons, ``detail`` on failure). Exit status 0 even when checks fail: the
pytest side reads the lines and reports each failure by name.
"""

import json
import os
import sys
import time

os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '')
                           + ' --xla_force_host_platform_device_count=8')
os.environ.setdefault('JAX_PLATFORMS', 'cpu')

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P  # noqa: E402

from optax_like._src import (accumulation, adaptive, alias, base, clipping, distributed,  # noqa: E402
                             keras_numerics, scaling, trust_ratio, zero)
from optax_like._src import tree as tree_lib  # noqa: E402
from optax_like._src.weight_decay import add_decayed_weights  # noqa: E402

RTOL, ATOL = 1e-6, 1e-7
AUTO2 = (AxisType.Auto, AxisType.Auto)
SHAPES = {('dense', 'kernel'): (8, 4), ('dense', 'bias'): (4,), ('emb',): (3, 8), ('scale',): ()}


def emit(check, ok, **info):
  print(json.dumps({'check': check, 'ok': bool(ok), **info}), flush=True)


def build(values):
  """The parameter-shaped tree from a dict {path tuple: value}."""
  return {'dense': {'kernel': values[('dense', 'kernel')], 'bias': values[('dense', 'bias')]},
          'emb': values[('emb',)], 'scale': values[('scale',)]}


def random_tree(rng, scale=1.0, dtype=np.float32):
  return build({k: jnp.asarray((scale * rng.normal(size=s)).astype(dtype))
                for k, s in SHAPES.items()})


def stack(trees):
  return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def keys_of(path):
  return tuple(getattr(k, 'key', getattr(k, 'name', None)) for k in path)


def param_of(path):
  """The parameter path a state leaf belongs to (the longest matching tail), else None."""
  keys = keys_of(path)
  for p in SHAPES:
    if keys[-len(p):] == p:
      return p
  return None


def compare(ours, ref, rtol=RTOL, atol=ATOL):
  """(max abs, max rel, first failing path or None) over matching leaves of two trees."""
  a = jax.tree_util.tree_flatten_with_path(ours)[0]
  b = jax.tree_util.tree_flatten_with_path(ref)[0]
  if [keys_of(p) for p, _ in a] != [keys_of(p) for p, _ in b]:
    return float('inf'), float('inf'), 'tree structures differ'
  worst_abs = worst_rel = 0.0
  bad = None
  for (path, x), (_, y) in zip(a, b):
    x = np.asarray(jax.device_get(x), np.float64)
    y = np.asarray(jax.device_get(y), np.float64)
    if x.shape != y.shape:
      return float('inf'), float('inf'), f'shape {jax.tree_util.keystr(path)}'
    d = np.abs(x - y)
    worst_abs = max(worst_abs, float(d.max(initial=0)))
    worst_rel = max(worst_rel, float((d / np.maximum(np.abs(y), 1e-30)).max(initial=0)))
    if bad is None and not np.allclose(x, y, rtol=rtol, atol=atol, equal_nan=True):
      bad = jax.tree_util.keystr(path)
  return worst_abs, worst_rel, bad


def sharding_mismatches(state, mesh, specs_by_param, want=None):
  """Param-shaped state leaves whose sharding differs from ``want(param path)``."""
  want = want or (lambda p: specs_by_param[p])
  bad, checked = [], 0
  for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
    p = param_of(path)
    if p is None or tuple(leaf.shape) != SHAPES[p] or not SHAPES[p]:
      continue
    checked += 1
    if not leaf.sharding.is_equivalent_to(NamedSharding(mesh, want(p)), leaf.ndim):
      bad.append(f'{jax.tree_util.keystr(path)}: {leaf.sharding.spec}')
  return checked, bad


# ----------------------------------------------------------------------------- meshes

def meshes():
  """(name, mesh, {param path: PartitionSpec})."""
  m8 = jax.make_mesh((8,), ('d',), axis_types=(AxisType.Auto,))
  m42 = jax.make_mesh((4, 2), ('data', 'model'), axis_types=AUTO2)
  m24 = jax.make_mesh((2, 4), ('data', 'model'), axis_types=AUTO2)
  m42x = jax.make_mesh((4, 2), ('data', 'model'),
                       axis_types=(AxisType.Explicit, AxisType.Explicit))
  s8 = {('dense', 'kernel'): P('d', None), ('dense', 'bias'): P(), ('emb',): P(None, 'd'),
        ('scale',): P()}
  s42 = {('dense', 'kernel'): P('data', 'model'), ('dense', 'bias'): P('model'),
         ('emb',): P(None, 'data'), ('scale',): P()}
  s24 = {('dense', 'kernel'): P('model', 'data'), ('dense', 'bias'): P('model'),
         ('emb',): P(None, ('data', 'model')), ('scale',): P()}
  return [('8', m8, s8), ('4x2', m42, s42), ('2x4', m24, s24), ('4x2-explicit', m42x, s42)]


# device_put from host (numpy) values: putting a device array into a new sharding compiles a
# slicing program per (shape, sharding).
def place(tree, mesh, specs):
  return build({k: jax.device_put(np.asarray(v), NamedSharding(mesh, specs[k]))
                for k, v in zip(SHAPES, [tree['dense']['kernel'], tree['dense']['bias'],
                                         tree['emb'], tree['scale']])})


def place_stacked(tree, mesh, specs):
  """Stacked (steps, ...) trees: the leading step axis is not split."""
  leaves = [tree['dense']['kernel'], tree['dense']['bias'], tree['emb'], tree['scale']]
  return build({k: jax.device_put(np.asarray(v), NamedSharding(mesh, P(None, *specs[k])))
                for k, v in zip(SHAPES, leaves)})


# ----------------------------------------------------------------------------- optimizers

def optimizers():
  """name -> (factory, dtype of params and grads)."""
  f32, bf16 = jnp.float32, jnp.bfloat16
  return {
      'sgd': (lambda: alias.sgd(0.1), f32),
      'momentum': (lambda: alias.sgd(0.1, momentum=0.9, nesterov=True), f32),
      'adam': (lambda: alias.adam(1e-2), f32),
      'adamw': (lambda: alias.adamw(1e-2, weight_decay=0.1), f32),
      'amsgrad': (lambda: alias.amsgrad(1e-2), f32),
      'nadam': (lambda: alias.nadam(1e-2), f32),
      'rmsprop': (lambda: alias.rmsprop(1e-2, centered=True, momentum=0.9,
                                        initial_scale=1.0), f32),
      'lars': (lambda: alias.lars(0.1, weight_decay=1e-2), f32),
      'lamb': (lambda: alias.lamb(1e-2, weight_decay=1e-2), f32),
      'lion': (lambda: alias.lion(1e-2), f32),
      'adagrad': (lambda: alias.adagrad(0.1), f32),
      'keras_sgd': (lambda: keras_numerics.keras_sgd(0.1, momentum=0.9), f32),
      'keras_adam': (lambda: keras_numerics.keras_adam(1e-2, amsgrad=True), f32),
      'keras_rmsprop': (lambda: keras_numerics.keras_rmsprop(1e-2, momentum=0.9,
                                                             centered=True), f32),
      'keras_lars': (lambda: keras_numerics.keras_lars(
          0.1, weight_decay_rate=1e-2, exclude_from_weight_decay=['bias']), f32),
      'clip_adam': (lambda: base.chain(clipping.clip_by_global_norm(1.0), alias.adam(1e-2)),
                    f32),
      'adam_bf16_f32state': (lambda: base.chain(
          adaptive.scale_by_adam(mu_dtype=jnp.float32, nu_dtype=jnp.float32),
          scaling.scale(-1e-2)), bf16),
  }


def run_steps(tx, params, grads_stacked):
  """jit-able: init, then one update per leading index of ``grads_stacked`` (lax.scan)."""
  state = tx.init(params)

  def step(carry, g):
    p, s = carry
    g = jax.tree.map(lambda x, q: x.astype(q.dtype), g, p)
    u, s = tx.update(g, s, p)
    return (tree_lib.apply_updates(p, u), s), None

  (params, state), _ = jax.lax.scan(step, (params, state), grads_stacked)
  return params, state


# ----------------------------------------------------------------------------- sections

class _Static(dict):
  """A dict usable as a static jit argument (hashed by identity)."""
  __hash__ = object.__hash__
  __eq__ = object.__eq__


# Every optimizer runs on the 4x2 mesh (eager and jitted init) and on at least one more mesh
# (jitted init); jit compile time is the cost. OPTAX_LIKE_DISTRIBUTED_FULL=1: all on all,
# eager init everywhere.
HALF_A = ('sgd', 'adam', 'amsgrad', 'rmsprop', 'lamb', 'adagrad', 'keras_adam', 'keras_lars',
          'adam_bf16_f32state')
HALF_B = ('momentum', 'adamw', 'nadam', 'lars', 'lion', 'keras_sgd', 'keras_rmsprop',
          'clip_adam', 'adam_bf16_f32state')
EXPLICIT = ('adam', 'lamb', 'keras_lars', 'clip_adam', 'adam_bf16_f32state')
COVERAGE = {'8': HALF_A, '4x2': None, '2x4': HALF_B, '4x2-explicit': EXPLICIT}
EAGER_INIT_MESHES = ('4x2',)


def section_gspmd():
  """Every optimizer under jit with sharded params equals the single-device run."""
  rng = np.random.default_rng(0)
  params = random_tree(rng)
  grads = stack([random_tree(rng, scale=s) for s in (1.0, 3.0, 0.5)])
  all_opts = optimizers()
  full = os.environ.get('OPTAX_LIKE_DISTRIBUTED_FULL') == '1'
  cast = lambda t, dt: jax.tree.map(lambda x: x.astype(dt), t)  # noqa: E731

  def run_all(p32, p16, gs, opts):
    out = {}
    for name, (make, dtype) in opts.items():
      out[name] = run_steps(make(), p16 if dtype == jnp.bfloat16 else p32, gs)
    return out

  def init_all(p32, p16, opts):
    return {name: make().init(p16 if dtype == jnp.bfloat16 else p32)
            for name, (make, dtype) in opts.items()}

  t0 = time.perf_counter()
  ref = jax.jit(run_all, static_argnums=3)(params, cast(params, jnp.bfloat16), grads,
                                           _Static(all_opts))
  emit('gspmd/reference_compiled', True, seconds=round(time.perf_counter() - t0, 2))
  for mesh_name, mesh, specs in meshes():
    names = COVERAGE[mesh_name]
    opts = _Static({k: v for k, v in all_opts.items() if full or names is None or k in names})
    t0 = time.perf_counter()
    p32 = place(params, mesh, specs)
    p16 = place(cast(params, jnp.bfloat16), mesh, specs)
    gs = place_stacked(grads, mesh, specs)
    with jax.set_mesh(mesh):
      try:
        jit_states = jax.jit(init_all, static_argnums=2)(p32, p16, opts)
        out = jax.jit(run_all, static_argnums=3)(p32, p16, gs, opts)
      except Exception as e:  # pylint: disable=broad-except
        emit(f'gspmd/{mesh_name}/run', False, detail=f'{type(e).__name__}: {e}'[:500])
        continue
      for name, (make, dtype) in opts.items():
        modes = [('jit_init', jit_states[name]), ('after_steps', out[name][1])]
        if full or mesh_name in EAGER_INIT_MESHES:
          modes.insert(0, ('eager_init', make().init(p16 if dtype == jnp.bfloat16 else p32)))
        for mode, state in modes:
          checked, bad = sharding_mismatches(state, mesh, specs)
          emit(f'gspmd/{mesh_name}/{name}/{mode}_sharding', (checked or name == 'sgd') and not bad,
               checked=checked, detail=bad[:3])
        bad_params = sharding_mismatches({'p': out[name][0]}, mesh, specs)[1]
        dtypes_ok = all(x.dtype == (jnp.bfloat16 if dtype == jnp.bfloat16 else jnp.float32)
                        for x in jax.tree.leaves(out[name][0]))
        emit(f'gspmd/{mesh_name}/{name}/params_sharding_dtype', not bad_params and dtypes_ok,
             detail=bad_params[:3])
        mx, rel, bad = compare(out[name], ref[name])
        emit(f'gspmd/{mesh_name}/{name}/values', bad is None, max_abs=mx, max_rel=rel,
             detail=bad)
    emit(f'gspmd/{mesh_name}/timing', True, seconds=round(time.perf_counter() - t0, 2))


def shard_map_fn(mesh, in_specs, out_specs, check_vma=True):
  return lambda f: jax.jit(jax.shard_map(f, mesh=mesh, in_specs=in_specs, out_specs=out_specs,
                                         check_vma=check_vma))


def spec_tree(specs):
  return build(specs)


def state_specs(state, specs):
  """out_specs for a state: param-shaped leaves like their param, everything else P()."""
  def one(path, leaf):
    p = param_of(path)
    if p is not None and tuple(leaf.shape) == SHAPES[p]:
      return specs[p]
    return P()
  return jax.tree_util.tree_map_with_path(one, state)


def section_shard_map():
  rng = np.random.default_rng(1)
  grads_big = random_tree(rng, scale=3.0)
  grads_small = random_tree(rng, scale=0.01)
  params = random_tree(np.random.default_rng(2))
  grads = [random_tree(rng, scale=s) for s in (1.0, 2.0, 0.5)]
  clip_cases = [(nonfinite, label, g) for nonfinite in ('optax', 'nan')
                for label, g in (('clipped', grads_big), ('unclipped', grads_small))]
  chains = {
      # lamb reports its trust ratios (report=True) so that they can be compared too.
      'lamb': (lambda ax: base.chain(
          adaptive.scale_by_adam(eps=1e-6), add_decayed_weights(1e-2),
          trust_ratio.scale_by_trust_ratio(axis_name=ax, report=True),
          scaling.scale_by_learning_rate(1e-2)),
          lambda: base.chain(
              adaptive.scale_by_adam(eps=1e-6), add_decayed_weights(1e-2),
              trust_ratio.scale_by_trust_ratio(report=True), scaling.scale_by_learning_rate(1e-2))),
      'lars': (lambda ax: base.chain(
          add_decayed_weights(1e-2),
          trust_ratio.scale_by_trust_ratio(trust_coefficient=0.5, axis_name=ax),
          scaling.scale_by_learning_rate(0.1), accumulation.trace(0.9)),
          lambda: alias.lars(0.1, weight_decay=1e-2, trust_coefficient=0.5)),
      'clip_lamb': (lambda ax: base.chain(
          clipping.clip_by_global_norm(1.0, axis_name=ax),
          adaptive.scale_by_adam(eps=1e-6), add_decayed_weights(1e-2),
          trust_ratio.scale_by_trust_ratio(axis_name=ax), scaling.scale_by_learning_rate(1e-2)),
          lambda: base.chain(clipping.clip_by_global_norm(1.0),
                             alias.lamb(1e-2, weight_decay=1e-2))),
  }
  # Unsharded references (one device), in one jit.
  def references(gs_clip, p0, gs):
    clip_refs = []
    for (nonfinite, _, _), g in zip(clip_cases, gs_clip):
      tx = clipping.clip_by_global_norm(1.0, nonfinite=nonfinite, report=True)
      clip_refs.append(tx.update(g, tx.init(g)))
    tx = clipping.clip_by_norm(1.0, report=True)
    clip_refs.append(tx.update(gs_clip[0], tx.init(gs_clip[0])))  # per-leaf (Keras clipnorm)
    chain_refs = {name: run_steps(make_ref(), p0, gs) for name, (_, make_ref) in chains.items()}
    return clip_refs, chain_refs

  clip_refs, chain_refs = jax.jit(references)([g for _, _, g in clip_cases], params,
                                              stack(grads))

  for mesh_name, mesh, specs in meshes()[:3]:
    tree_specs = spec_tree(specs)
    # clip_by_global_norm: sharded == unsharded, both nonfinite modes, clipping or not.
    txs = [clipping.clip_by_global_norm(1.0, nonfinite=nf, axis_name=tree_specs, report=True)
           for nf, _, _ in clip_cases]
    mesh_axes = tuple(mesh.axis_names)

    norm_tx = clipping.clip_by_norm(1.0, axis_name=tree_specs, report=True)

    def clip_all(gs, x, txs=txs, mesh_axes=mesh_axes, norm_tx=norm_tx):
      outs = [tx.update(g, tx.init(g)) for tx, g in zip(txs, gs)]
      outs.append(norm_tx.update(gs[0], norm_tx.init(gs[0])))
      return outs, distributed.sharded_global_norm({'x': x}, mesh_axes)

    norm_state_specs = clipping.ClipByNormState(norm=jax.tree.map(lambda _: P(), tree_specs))
    run = shard_map_fn(mesh, ([tree_specs] * len(txs), P(mesh_axes)),
                       ([(tree_specs, P())] * len(txs) + [(tree_specs, norm_state_specs)],
                        P()))(clip_all)
    x = jnp.arange(16.0)
    outs, norm = run([g for _, _, g in clip_cases], x)
    for (nonfinite, label, _), out, ref in zip(clip_cases, outs, clip_refs):
      mx, rel, bad = compare(out, ref)
      emit(f'shard_map/{mesh_name}/clip_by_global_norm/{nonfinite}/{label}', bad is None,
           max_abs=mx, max_rel=rel, detail=bad, norm=float(out[1].global_norm))
    mx, rel, bad = compare(outs[-1], clip_refs[-1])
    emit(f'shard_map/{mesh_name}/clip_by_norm_per_leaf', bad is None, max_abs=mx, max_rel=rel,
         detail=bad)
    # sharded_global_norm with one axis tuple for a leaf split over all of the mesh.
    emit(f'shard_map/{mesh_name}/sharded_global_norm_uniform',
         np.isclose(float(norm), float(jnp.linalg.norm(x)), rtol=1e-6))
    # Control: without axis_name each device clips by its own local norm: not the same.
    tx = clipping.clip_by_global_norm(1.0)
    run = shard_map_fn(mesh, (tree_specs,), tree_specs, check_vma=False)(
        lambda u, tx=tx: tx.update(u, tx.init(u))[0])
    bad = compare(run(grads_big), clip_refs[0][0])[2]
    emit(f'shard_map/{mesh_name}/control_clip_without_axis_name_differs', bad is not None)
    if mesh_name == '8':
      continue  # (compile time) trust ratios run on the two 2-D meshes
    # LAMB / LARS / clip+LAMB with trust ratios over split leaves: 3 steps == unsharded alias.
    txs = {name: make(tree_specs) for name, (make, _) in chains.items()}
    s_specs = {name: state_specs(jax.eval_shape(tx.init, params), specs)
               for name, tx in txs.items()}

    def train_all(p0, gs, txs=txs):
      return {name: run_steps(tx, p0, gs) for name, tx in txs.items()}

    stacked_specs = jax.tree.map(lambda spec: P(None, *spec), tree_specs)
    run = shard_map_fn(mesh, (tree_specs, stacked_specs),
                       {name: (tree_specs, s_specs[name]) for name in txs})(train_all)
    outs = run(params, stack(grads))
    for name in txs:
      (p_out, s_out), (p_ref, s_ref) = outs[name], chain_refs[name]
      mx, rel, bad = compare(p_out, p_ref)
      emit(f'shard_map/{mesh_name}/{name}_trust_ratio_3_steps', bad is None, max_abs=mx,
           max_rel=rel, detail=bad)
      if name == 'lamb':
        mx, rel, bad = compare(s_out[2].trust_ratio, s_ref[2].trust_ratio)
        emit(f'shard_map/{mesh_name}/lamb_trust_ratio_state', bad is None, max_abs=mx,
             max_rel=rel, detail=bad)
  # A wrong axis_name is caught at trace time under check_vma: a replicated leaf declared split.
  m8 = meshes()[0][1]
  tx = clipping.clip_by_global_norm(1.0, axis_name='d')
  run = shard_map_fn(m8, ({'w': P('d'), 'b': P()},), {'w': P('d'), 'b': P()})(
      lambda u: tx.update(u, tx.init(u))[0])
  try:
    run({'w': jnp.ones(8), 'b': jnp.ones(2)})
    emit('shard_map/replicated_leaf_declared_split_raises', False)
  except ValueError as e:
    emit('shard_map/replicated_leaf_declared_split_raises',
         "['b'] is split over ('d',)" in str(e), detail=str(e)[:300])
  shard_map_data_parallel()


def mlp_loss(params, x, y):
  h = jnp.tanh(x @ params['w1'] + params['b1'])
  return jnp.mean((h @ params['w2'] + params['b2'] - y) ** 2)


def mlp_problem(seed=0, batch=64):
  rng = np.random.default_rng(seed)
  params = {'w1': jnp.asarray(rng.normal(size=(6, 16)).astype(np.float32) * 0.5),
            'b1': jnp.zeros(16), 'w2': jnp.asarray(rng.normal(size=(16, 2)).astype(np.float32)),
            'b2': jnp.zeros(2)}
  x = jnp.asarray(rng.normal(size=(batch, 6)).astype(np.float32))
  y = jnp.asarray(rng.normal(size=(batch, 2)).astype(np.float32))
  return params, x, y


def shard_map_data_parallel():
  """aggregate_gradients in a data-parallel training loop equals full-batch training."""
  params, x, y = mlp_problem()
  m8 = jax.make_mesh((8,), ('data',), axis_types=(AxisType.Auto,))
  m42 = jax.make_mesh((4, 2), ('data', 'model'), axis_types=AUTO2)
  cases = {
      'adam_mean_8': (m8, 'data', 'mean', lambda: alias.adam(1e-2)),
      'adam_mean_8_check_vma_false': (m8, 'data', 'mean', lambda: alias.adam(1e-2)),
      'clip_lamb_mean_4x2_tuple': (m42, ('data', 'model'), 'mean', lambda: base.chain(
          clipping.clip_by_global_norm(0.5), alias.lamb(1e-2))),
      'keras_sgd_sum_8': (m8, 'data', 'sum', lambda: keras_numerics.keras_sgd(0.1, 0.9)),
  }
  steps = 3

  def train_steps(tx, p, grad_fn):
    def step(carry, _):
      p, s = carry
      u, s = tx.update(grad_fn(p), s, p)
      return (tree_lib.apply_updates(p, u), s), None
    return jax.lax.scan(step, (p, tx.init(p)), None, length=steps)[0][0]

  def references(p0):
    return {name: train_steps(make(), p0, lambda p: jax.grad(mlp_loss)(p, x, y))
            for name, (_, _, _, make) in cases.items()}

  refs = jax.jit(references)(params)
  for name, (mesh, axes, op, make) in cases.items():
    n = int(np.prod([mesh.shape[a] for a in (axes if isinstance(axes, tuple) else (axes,))]))
    tx = base.chain(distributed.aggregate_gradients(axes, op=op), make())
    # 'sum' expects each replica's loss divided by the global batch (Keras' convention).
    scale = 1.0 / n if op == 'sum' else 1.0

    def train(p, xb, yb, tx=tx, scale=scale):
      return train_steps(tx, p, jax.grad(lambda q: scale * mlp_loss(q, xb, yb)))

    check_vma = not name.endswith('check_vma_false')
    run = shard_map_fn(mesh, (P(), P(axes), P(axes)), P(), check_vma=check_vma)(train)
    # Gradients are summed in another order (8 partial sums): 1e-5 / 1e-6, not 1e-6 / 1e-7.
    mx, rel, bad = compare(run(params, x, y), refs[name], rtol=1e-5, atol=1e-6)
    emit(f'shard_map/data_parallel/{name}', bad is None, max_abs=mx, max_rel=rel, detail=bad)
  # bf16 gradients are reduced in float32 and returned as bf16.
  tx = distributed.aggregate_gradients('data', op='sum')
  g = jnp.asarray(np.linspace(1.0, 1.01, 8), jnp.bfloat16)
  run = shard_map_fn(m8, (P('data'),), P())(lambda v: tx.update(v, tx.init(None))[0])
  out = run(g)
  want = np.sum(np.asarray(g, np.float32))
  emit('shard_map/aggregate_bf16_in_f32', out.dtype == jnp.bfloat16 and out.shape == (1,)
       and float(out[0]) == float(jnp.asarray(want, jnp.bfloat16)), got=float(out[0]),
       want=float(want))
  # pmap: the same transform over a pmap axis.
  tx = distributed.aggregate_gradients('i')
  per_device = {'w': jnp.arange(16.0).reshape(8, 2)}
  out = jax.pmap(lambda g: tx.update(g, tx.init(None))[0], axis_name='i')(per_device)
  emit('pmap/aggregate_mean', np.allclose(out['w'], np.mean(np.arange(16.0).reshape(8, 2), 0)))


def bytes_on_device0(tree):
  dev = jax.devices()[0]
  return sum(s.data.nbytes for x in jax.tree.leaves(tree) for s in x.addressable_shards
             if s.device == dev)


def section_zero1():
  """ZeRO-1: state sharded over 'data' (1/n on each device), same numbers as replication."""
  rng = np.random.default_rng(3)
  params = random_tree(rng)
  grads = stack([random_tree(rng, scale=s) for s in (1.0, 3.0, 0.5)])
  m8 = jax.make_mesh((8,), ('data',), axis_types=(AxisType.Auto,))
  m42 = jax.make_mesh((4, 2), ('data', 'model'), axis_types=AUTO2)
  m8x = jax.make_mesh((8,), ('data',), axis_types=(AxisType.Explicit,))
  replicated = {k: P() for k in SHAPES}
  tp = {('dense', 'kernel'): P(None, 'model'), ('dense', 'bias'): P('model'), ('emb',): P(),
        ('scale',): P()}
  setups = [('8', m8, replicated, None), ('4x2_tp', m42, tp, ('adam', 'lamb')),
            ('8-explicit', m8x, replicated, ('adamw', 'lars', 'keras_adam'))]
  opts = {'adam': lambda: alias.adam(1e-2), 'adamw': lambda: alias.adamw(1e-2),
          'lamb': lambda: alias.lamb(1e-2), 'lars': lambda: alias.lars(0.1),
          'momentum': lambda: alias.sgd(0.1, momentum=0.9),
          'keras_adam': lambda: keras_numerics.keras_adam(1e-2),
          'clip_adam': lambda: base.chain(clipping.clip_by_global_norm(1.0), alias.adam(1e-2))}
  refs = jax.jit(lambda p, g: {name: run_steps(make(), p, g) for name, make in opts.items()})(
      params, grads)
  full = os.environ.get('OPTAX_LIKE_DISTRIBUTED_FULL') == '1'
  for setup, mesh, specs, names in setups:
    p = place(params, mesh, specs)
    gs = place_stacked(grads, mesh, specs)
    pspecs = build(specs)
    want = lambda k, mesh=mesh, specs=specs: zero.zero1_spec(SHAPES[k], specs[k], mesh, 'data')  # noqa: E731
    txs = {name: zero.zero1(make(), mesh, 'data', param_specs=pspecs)
           for name, make in opts.items() if full or names is None or name in names}
    with jax.set_mesh(mesh):
      try:
        jit_states = jax.jit(lambda p: {name: tx.init(p) for name, tx in txs.items()})(p)
        outs = jax.jit(lambda p, g: {name: run_steps(tx, p, g) for name, tx in txs.items()})(
            p, gs)
      except Exception as e:  # pylint: disable=broad-except
        emit(f'zero1/{setup}/run', False, detail=f'{type(e).__name__}: {e}'[:500])
        continue
      for name, tx in txs.items():
        plain = opts[name]().init(p)
        for mode, state in (('eager_init', tx.init(p)), ('jit_init', jit_states[name])):
          checked, bad = sharding_mismatches(state, mesh, specs, want)
          ratio = bytes_on_device0(state) / bytes_on_device0(plain)
          emit(f'zero1/{setup}/{name}/{mode}_sharding', checked and not bad, checked=checked,
               detail=bad[:3], state_bytes_ratio=round(ratio, 4))
        out = outs[name]
        mx, rel, bad = compare(out, refs[name])
        emit(f'zero1/{setup}/{name}/values', bad is None, max_abs=mx, max_rel=rel, detail=bad)
        checked, bad = sharding_mismatches(out[1], mesh, specs, want)
        emit(f'zero1/{setup}/{name}/state_sharding_after_steps', checked and not bad,
             detail=bad[:3])
        bad = sharding_mismatches({'p': out[0]}, mesh, specs)[1]
        emit(f'zero1/{setup}/{name}/params_keep_their_sharding', not bad, detail=bad[:3])
  # The memory claim on a larger tree: adam's state per device is 1/8 of replicated.
  big = {'w': jnp.ones((1024, 256)), 'b': jnp.ones(256), 'v': jnp.ones((8, 1000))}
  big = jax.device_put(big, NamedSharding(m8, P()))
  plain = jax.jit(alias.adam(1e-3).init)(big)
  sharded = jax.jit(zero.zero1(alias.adam(1e-3), m8, 'data').init)(big)
  ratio = bytes_on_device0(sharded) / bytes_on_device0(plain)
  emit('zero1/adam_state_bytes_on_device0', abs(ratio - 1 / 8) < 1e-3,
       replicated=bytes_on_device0(plain), zero1=bytes_on_device0(sharded), ratio=ratio)


SECTIONS = {'gspmd': section_gspmd, 'shard_map': section_shard_map, 'zero1': section_zero1}

if __name__ == '__main__':
  assert len(jax.devices()) == 8, jax.devices()
  for section in sys.argv[1:] or list(SECTIONS):
    t0 = time.perf_counter()
    SECTIONS[section]()
    emit(f'{section}/done', True, seconds=round(time.perf_counter() - t0, 2))

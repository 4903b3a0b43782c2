"""The compiled step: aggregate, clip, transform, update every variable, constrain, count.

Everything static about a step is a ``_StepConfig`` built on the host by the optimizer and
closed over when the step is traced; variables, slots, hyperparameters and ``iterations``
are inputs. ``_apply_program`` (``apply_gradients``) and ``_loss_program`` (``minimize``: the
traced gradient and the update in one program) build the (jitted) functions.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp

from optax_like._src import base
from optax_like._src import distributed
from optax_like._src import keras_numerics as kn
from optax_like.keras.optimizers.programs import _STATS
from optax_like.keras.optimizers.slots import _load_state, _read_state
from optax_like.keras.variables import IndexedSlices, Variable


class _StepConfig:
  """Everything static about one compiled step (built on the host, closed over when traced)."""

  def __init__(self, **kwargs):
    self.__dict__.update(kwargs)


class _Bound:
  """Temporarily gives Variables (traced) values, e.g. while user functions or a loss run."""

  def __init__(self, variables: Sequence[Variable], values: Sequence[Any]):
    self.variables = list(variables)
    self.values = list(values)

  def __enter__(self):
    self.saved = [v._value for v in self.variables]  # pylint: disable=protected-access
    for v, x in zip(self.variables, self.values):
      v._value = x  # pylint: disable=protected-access
    return self

  def __exit__(self, *exc):
    for v, x in zip(self.variables, self.saved):
      v._value = x  # pylint: disable=protected-access
    return False


def _run_pairs_fn(fn: Callable, grads: List[Any], cfg: _StepConfig, values: Sequence[Any],
                  what: str) -> List[Any]:
  """Calls a user ``[(grad, var)] -> [(grad, var)]`` function; returns grads in our order."""
  with _Bound(cfg.variables, values):
    result = fn(list(zip(grads, cfg.variables)))
  try:
    pairs = list(result)
  except TypeError:
    raise TypeError(f'{what} must return a list of (gradient, variable) pairs, '
                    f'got {type(result).__name__}.') from None
  by_var = {}
  for pair in pairs:
    try:
      g, v = pair
    except (TypeError, ValueError):
      raise TypeError(f'{what} must return (gradient, variable) pairs, got {pair!r:.80}') from None
    by_var[id(v)] = g
  out = []
  for v in cfg.variables:
    if id(v) not in by_var:
      raise ValueError(f'{what} dropped the variable {v.name}; it must return a '
                       '(gradient, variable) pair for every variable it was given.')
    g = by_var[id(v)]
    if g is None:
      raise ValueError(f'{what} returned a None gradient for {v.name}.')
    out.append(g.value() if isinstance(g, Variable) else g)
  return out


def _chain_step(cfg: _StepConfig, tx: base.GradientTransformation, key: str, p: jax.Array,
                g: jax.Array, slots: Dict[str, jax.Array], iterations: jax.Array):
  """One variable through the optimizer chain, its slots loaded into / read from the state."""
  params = {key: p}
  state = _load_state(tx.init(params), cfg.slot_map, key, slots, iterations)
  updates, new_state = tx.update({key: g.astype(p.dtype)}, state, params)
  new_p = jnp.asarray(updates[key] if cfg.updates_are_values else p + updates[key]).astype(p.dtype)
  new_slots = _read_state(new_state, cfg.slot_map, key)
  return new_p, {k: v.astype(slots[k].dtype) for k, v in new_slots.items()}


def _dense_from_slices(g: IndexedSlices, shape: Tuple[int, ...], dtype) -> jax.Array:
  return jnp.zeros(shape, dtype).at[g.indices].add(g.values.astype(dtype), mode='drop')


def _sparse_step(cfg: _StepConfig, tx, key, p, g: IndexedSlices, slots, iterations):
  """The Keras 2 sparse update of one variable (see the module docstring)."""
  strategy = cfg.sparse_strategy
  if strategy == 'unsupported':
    raise NotImplementedError('Applying sparse gradients is not implemented.')
  values = g.values.astype(p.dtype)
  indices = g.indices.astype(jnp.int32)
  g = IndexedSlices(values, indices, g.dense_shape)
  n_rows = p.shape[0]
  if strategy == 'scatter':
    # Stateless elementwise chain (SGD without momentum): duplicates add up in the scatter.
    rows = p.at[indices].get(mode='fill', fill_value=0)
    updates = _scatter_updates(cfg, tx, key, rows, values, iterations)
    return p.at[indices].add(updates, mode='drop'), slots
  if strategy == 'rows':
    n = indices.shape[0]
    unique, inverse = jnp.unique(indices, return_inverse=True, size=n, fill_value=n_rows)
    summed = jax.ops.segment_sum(values, inverse.reshape(-1), num_segments=n)
    gather = lambda x: x.at[unique].get(mode='fill', fill_value=0)
    new_rows, new_slot_rows = _chain_step(cfg, tx, key, gather(p), summed,
                                          {k: gather(v) for k, v in slots.items()}, iterations)
    scatter = lambda x, r: x.at[unique].set(r.astype(x.dtype), mode='drop')
    return scatter(p, new_rows), {k: scatter(slots[k], r) for k, r in new_slot_rows.items()}
  dense = _dense_from_slices(g, p.shape, p.dtype)
  new_p, new_slots = _chain_step(cfg, tx, key, p, dense, slots, iterations)
  if strategy == 'dense_slots_rows_var':
    touched = jnp.zeros((n_rows,), bool).at[indices].set(True, mode='drop')
    touched = touched.reshape((n_rows,) + (1,) * (p.ndim - 1))
    new_p = jnp.where(touched, new_p, p)
  return new_p, new_slots


def _scatter_updates(cfg, tx, key, rows, values, iterations):
  """Per-row updates of a stateless chain, computed on the gradient's rows."""
  params = {key: rows}
  state = _load_state(tx.init(params), cfg.slot_map, key, {}, iterations)
  updates, _ = tx.update({key: values}, state, params)
  return updates[key].astype(rows.dtype)


def _apply_core(cfg: _StepConfig, values, grads, slots, hypers, iterations):
  """The traced body of a step: aggregate, clip, transform, update, constrain, count."""
  grads = list(grads)
  if cfg.aggregator is not None:
    grads = _run_pairs_fn(cfg.aggregator, grads, cfg, values, '`gradient_aggregator`')
  elif cfg.data_axis is not None:
    grads = _sum_over_replicas(grads, cfg)
  if cfg.clip is not None:
    leaves = [g.values if isinstance(g, IndexedSlices) else g for g in grads]
    clip_axes = None
    if cfg.axes is not None:  # sparse values are not split like their variable
      clip_axes = [None if isinstance(g, IndexedSlices) else a for g, a in zip(grads, cfg.axes)]
      clip_axes = None if all(a is None for a in clip_axes) else clip_axes
    clip = kn.keras_gradient_clipping(*cfg.clip, axis_name=clip_axes)
    leaves, _ = clip.update(leaves, clip.init(leaves))
    grads = [IndexedSlices(x, g.indices, g.dense_shape) if isinstance(g, IndexedSlices) else x
             for g, x in zip(grads, leaves)]
  for i, fn in enumerate(cfg.transformers):
    grads = _run_pairs_fn(fn, grads, cfg, values, f'`gradient_transformers[{i}]`')

  for i, (p, g) in enumerate(zip(values, grads)):
    if isinstance(g, IndexedSlices):
      if cfg.constraints[i] is not None:
        raise RuntimeError(
            'Cannot use a constraint function on a sparse variable. Received: '
            f'grad={g}, var.constraint={cfg.constraints[i]}.')
    elif jnp.shape(g) != p.shape:
      raise ValueError(f'The gradient of {cfg.names[i]} has shape {jnp.shape(g)}, '
                       f'but the variable has shape {p.shape}.')
  slot_dicts, start = [], 0   # ``slots``: every variable's slots in turn, one flat sequence
  for names in cfg.var_slot_names:
    slot_dicts.append(dict(zip(names, slots[start:start + len(names)])))
    start += len(names)
  if cfg.recipe is not None:
    # A user-defined optimizer (tf.keras 2's recipe): its methods run here, on bound values.
    updated = _recipe_updates(cfg, values, grads, slot_dicts, hypers, iterations)
  else:
    updated = _chain_updates(cfg, values, grads, slot_dicts, hypers, iterations)
  new_values, new_slots = [], []
  for i, (p, g) in enumerate(zip(values, grads)):
    new_p, new_s = updated[i]
    constraint = cfg.constraints[i]
    if not isinstance(g, IndexedSlices):
      if constraint is not None:
        constrained = jnp.asarray(constraint(new_p))
        if constrained.shape != p.shape:
          raise ValueError(
              f'The constraint of {cfg.names[i]} returned a value of shape '
              f'{constrained.shape}; a constraint must keep the variable\'s shape {p.shape}.')
        new_p = constrained.astype(p.dtype)
    if cfg.shardings is not None and cfg.shardings[i] is not None:
      # A variable split over a mesh, and its slots, keep their sharding (GSPMD).
      new_p = _place(new_p, cfg.shardings[i])
      new_s = {k: _place(x, cfg.shardings[i]) for k, x in new_s.items()}
    new_values.append(new_p)
    new_slots.extend(new_s[name] for name in cfg.var_slot_names[i])
  # Weights shared by all variables (Nadam's momentum cache): the first variable's result.
  new_shared = {n: updated[0][1][n] for n in cfg.shared_names} if updated else {}
  iterations = jnp.asarray(iterations)
  return (tuple(new_values), tuple(new_slots), (iterations + 1).astype(iterations.dtype),
          new_shared)


def _chain_updates(cfg: _StepConfig, values, grads, slot_dicts, hypers, iterations):
  """Every variable through the optimizer's chain: ``[(new value, {slot: new value})]``."""
  tx = cfg.make_chain(cfg, hypers)
  shared = {n: hypers[n] for n in cfg.shared_names}
  slot_dicts = [dict(d, **shared) for d in slot_dicts]
  out = []
  for i, (p, g) in enumerate(zip(values, grads)):
    tx_i = tx
    if cfg.chain_axes and cfg.axes is not None and cfg.axes[i] is not None:
      tx_i = cfg.make_chain(cfg, hypers, axis_name=cfg.axes[i])
    if isinstance(g, IndexedSlices):
      out.append(_sparse_step(cfg, tx_i, cfg.keys[i], p, g, slot_dicts[i], iterations))
    else:
      out.append(_chain_step(cfg, tx_i, cfg.keys[i], p, jnp.asarray(g), slot_dicts[i],
                             iterations))
  return out


def _recipe_updates(cfg: _StepConfig, values, grads, slot_dicts, hypers, iterations):
  """A user-defined optimizer's ``_resource_apply_dense/sparse`` over bound Variables.

  The variables, their slots, ``iterations`` and the hyperparameters are bound to the step's
  (traced) values while the methods run; what they ``assign`` is read back as the new values.
  """
  opt = cfg.recipe
  variables = list(cfg.variables)
  slot_vars = [opt._slots.get(v._uid, {}) for v in variables]  # pylint: disable=protected-access
  bound_vars, bound_values = list(variables), list(values)
  for names, sv, sd in zip(cfg.var_slot_names, slot_vars, slot_dicts):
    for n in names:
      bound_vars.append(sv[n])
      bound_values.append(sd[n])
  bound_vars.append(opt.iterations)
  bound_values.append(iterations)
  hyper_vars = {n: h for n, h in opt._hyper.items() if isinstance(h, Variable)}  # pylint: disable=protected-access
  for n, h in hyper_vars.items():
    if n in hypers:
      bound_vars.append(h)
      bound_values.append(hypers[n])
  replaced = {n: hypers[n] for n in hypers if n not in hyper_vars}
  saved_hyper = dict(opt._hyper)  # pylint: disable=protected-access
  try:
    opt._hyper.update(replaced)  # pylint: disable=protected-access
    with _Bound(bound_vars, bound_values):
      opt._recipe_apply(variables, grads)  # pylint: disable=protected-access
      out = []
      for v, names, sv in zip(variables, cfg.var_slot_names, slot_vars):
        new_p = jnp.asarray(v._value).astype(v.dtype)  # pylint: disable=protected-access
        out.append((new_p, {n: jnp.asarray(sv[n]._value).astype(sv[n].dtype) for n in names}))  # pylint: disable=protected-access
  finally:
    opt._hyper.clear()  # pylint: disable=protected-access
    opt._hyper.update(saved_hyper)  # pylint: disable=protected-access
  return out


def _sum_over_replicas(grads: List[Any], cfg: _StepConfig) -> List[Any]:
  """The default aggregator under ``data_axis``: the sum of the replicas' gradients."""
  if any(isinstance(g, IndexedSlices) for g in grads):
    raise NotImplementedError(
        'Sparse (IndexedSlices) gradients cannot be summed over `data_axis`; densify them, or '
        'pass a `gradient_aggregator`.')
  agg = distributed.aggregate_gradients(cfg.data_axis, op='sum')
  return list(agg.update([jnp.asarray(g) for g in grads], base.EmptyState())[0])


def _place(x: jax.Array, sharding: Any) -> jax.Array:
  mesh = sharding.mesh
  explicit = any(t == jax.sharding.AxisType.Explicit for t in getattr(mesh, 'axis_types', ()))
  move = jax.sharding.reshard if explicit else jax.lax.with_sharding_constraint
  return move(x, sharding)


def _mesh_sharding(value: Any) -> Any:
  """The ``NamedSharding`` of a value split over a mesh of several devices, else None."""
  sharding = getattr(value, 'sharding', None)
  if isinstance(sharding, jax.sharding.NamedSharding) and sharding.mesh.size > 1:
    return sharding
  return None


def _apply_program(cfg: _StepConfig) -> Callable:
  def step(values, grads, slots, hypers, iterations):
    _STATS['traces'] += 1
    return _apply_core(cfg, values, grads, slots, hypers, iterations)
  return jax.jit(step) if cfg.jit else step


def _forward_loss_program(cfg: _StepConfig, jaxpr, mask: Tuple[bool, ...], jit: bool,
                          with_grad_loss: bool) -> Callable:
  """``minimize``'s step from the loss's forward program (differentiated inside the step).

  Used when ``jaxpr`` (``(values...) -> loss``) holds no custom derivative rule or callback,
  so that JAX's derivative of the program is the loss's: tracing only the forward pass per
  call is the cheaper half.
  """
  def step(consts, values, grad_loss, slots, hypers, iterations):
    _STATS['traces'] += 1
    f = lambda vals: jax.core.eval_jaxpr(jaxpr, consts, *vals)[0]
    loss, vjp = jax.vjp(f, list(values))
    ct = (jnp.ones_like(loss) if not with_grad_loss
          else jnp.broadcast_to(jnp.asarray(grad_loss, loss.dtype), loss.shape))
    (grads,) = vjp(ct)
    grads = [g for g, m in zip(grads, mask) if m]
    selected = [v for v, m in zip(values, mask) if m]
    new_values, new_slots, new_it, new_shared = _apply_core(cfg, selected, grads, slots, hypers,
                                                            iterations)
    return loss, new_values, new_slots, new_it, new_shared

  return jax.jit(step) if jit else step


def _loss_program(cfg: Optional[_StepConfig], jaxpr, mask: Tuple[bool, ...],
                  jit: bool) -> Callable:
  """``loss, grads`` (and, with ``cfg``, the whole optimizer step) from a traced gradient.

  ``jaxpr`` is the program ``_trace_value_and_grads`` traced: ``(values..., [grad_loss]) ->
  (loss, grad of every value...)``, derivative rules already applied, so evaluating it never
  calls back into Python (a cached program depends on nothing but its fingerprint).
  """

  def value_and_grads(consts, values, grad_loss):
    args = list(values) + ([] if grad_loss is None else [grad_loss])
    out, *grads = jax.core.eval_jaxpr(jaxpr, consts, *args)
    return out, [g for g, m in zip(grads, mask) if m]

  if cfg is None:
    def grads_only(consts, values, grad_loss):
      _STATS['traces'] += 1
      return value_and_grads(consts, values, grad_loss)
    return jax.jit(grads_only) if jit else grads_only

  def step(consts, values, grad_loss, slots, hypers, iterations):
    _STATS['traces'] += 1
    loss, grads = value_and_grads(consts, values, grad_loss)
    selected = [v for v, m in zip(values, mask) if m]
    new_values, new_slots, new_it, new_shared = _apply_core(cfg, selected, grads, slots, hypers,
                                                            iterations)
    return loss, new_values, new_slots, new_it, new_shared

  return jax.jit(step) if jit else step

"""ZeRO-1: optimizer state sharded over a data-parallel mesh axis, parameters replicated.

In plain data parallelism every device holds the whole optimizer state (Adam: two copies of
the parameters). ZeRO stage 1 (Rajbhandari et al., 2020) splits the state over the
data-parallel devices instead: each device updates its slice of the state with its slice
of the (already aggregated) gradients, and only the resulting *update* is all-gathered so
that the replicated parameters stay identical everywhere. Per-device state memory drops by
the data-parallel degree; the communication added is one all-gather of the updates, and XLA
may turn the gradients' all-reduce into a reduce-scatter since only a slice is consumed.

This is done with JAX's own machinery, under ``jax.jit`` (GSPMD): ``zero1`` only places
sharding constraints (``jax.lax.with_sharding_constraint``, or ``jax.sharding.reshard`` on a
mesh with Explicit axes) on the state, on the update's inputs and on its output; XLA
inserts the collectives. Numbers are the unwrapped transform's (elementwise math is
unchanged; per-leaf reductions such as trust ratios may sum in another order).
"""

from __future__ import annotations

from typing import Any, Optional

import jax
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

from optax_like._src import base
from optax_like._src import distributed
from optax_like._src import fused
from optax_like._src import validation


def _is_spec_leaf(x: Any) -> bool:
  return x is None or isinstance(x, PartitionSpec)


def _param_specs_list(param_specs: Any, tree: Any, fn: str) -> list:
  """The base ``PartitionSpec`` of every leaf of a params-shaped ``tree``."""
  n = len(jax.tree.leaves(tree))
  if param_specs is None or isinstance(param_specs, PartitionSpec):
    return [param_specs or PartitionSpec()] * n
  entries = distributed.entries_by_path(param_specs, tree, _is_spec_leaf, fn, 'param_specs')
  return [e or PartitionSpec() for e in entries]


def _entries(spec: PartitionSpec, ndim: int) -> list:
  entries = list(spec)[:ndim]
  return entries + [None] * (ndim - len(entries))


def zero1_spec(shape: tuple, base_spec: Optional[PartitionSpec], mesh: Mesh,
               axis: str) -> PartitionSpec:
  """``base_spec`` with ``axis`` added on one dimension that it divides evenly.

  The first dimension not yet split and divisible by the axis size takes ``axis``; failing
  that, the first split dimension divisible by (its axes' size x the axis size) gets
  ``axis`` appended. A leaf with no such dimension (a scalar, a small bias) keeps
  ``base_spec``, i.e. stays replicated over ``axis``.

  Example:
    >>> import jax
    >>> from jax.sharding import PartitionSpec as P
    >>> from optax_like._src.zero import zero1_spec
    >>> mesh = jax.sharding.AbstractMesh((8,), ('data',))  # only the axis sizes matter
    >>> zero1_spec((3, 8), P(), mesh, 'data'), zero1_spec((3,), P(), mesh, 'data')
    (P(None, 'data'), P(None,))
  """
  base_spec = base_spec or PartitionSpec()
  ndim = len(shape)
  entries = _entries(base_spec, ndim)
  if axis in distributed.axes_of(base_spec):
    return PartitionSpec(*entries)
  n = mesh.shape[axis]
  for d in range(ndim):
    if entries[d] is None and shape[d] > 0 and shape[d] % n == 0:
      entries[d] = axis
      return PartitionSpec(*entries)
  for d in range(ndim):
    if entries[d] is not None and entries[d] is not PartitionSpec.UNCONSTRAINED:
      names = entries[d] if isinstance(entries[d], tuple) else (entries[d],)
      size = n
      for name in names:
        size *= mesh.shape[name]
      if shape[d] > 0 and shape[d] % size == 0:
        entries[d] = tuple(names) + (axis,)
        return PartitionSpec(*entries)
  return PartitionSpec(*entries)


def _state_specs(state: Any, params_like: Any, base_specs: list, mesh: Mesh, axis: str) -> Any:
  """A ``PartitionSpec`` for every state leaf.

  Subtrees of ``state`` with the parameters' tree structure (``mu``, ``nu``, ``trace``, ...)
  are matched leaf by leaf to the parameters: a leaf of its parameter's shape gets
  ``zero1_spec`` of that parameter's spec. Any other leaf with a dimension gets
  ``zero1_spec`` of a replicated spec; scalars (step counts) are replicated.
  """
  params_def = jax.tree.structure(params_like)
  param_leaves = jax.tree.leaves(params_like)

  def is_params_like(node):
    try:
      return jax.tree.structure(node) == params_def
    except Exception:  # pylint: disable=broad-except
      return False

  def generic(x):
    shape = tuple(getattr(x, 'shape', ()))
    return zero1_spec(shape, PartitionSpec(), mesh, axis) if shape else PartitionSpec()

  def node_specs(node):
    if not is_params_like(node):
      return generic(node)
    leaves = jax.tree.leaves(node)
    specs = []
    for x, p, spec in zip(leaves, param_leaves, base_specs):
      shape = tuple(getattr(x, 'shape', ()))
      if shape and shape == tuple(p.shape):
        specs.append(zero1_spec(shape, spec, mesh, axis))
      else:
        specs.append(generic(x))
    return params_def.unflatten(specs)

  return jax.tree.map(node_specs, state, is_leaf=is_params_like)


def _is_explicit(mesh: Mesh) -> bool:
  return any(t == AxisType.Explicit for t in mesh.axis_types)


def _constrain(tree: Any, specs: Any, mesh: Mesh) -> Any:
  move = jax.sharding.reshard if _is_explicit(mesh) else jax.lax.with_sharding_constraint
  return jax.tree.map(lambda x, spec: move(x, NamedSharding(mesh, spec)), tree, specs)


def _check(mesh: Any, axis: Any, fn: str) -> None:
  if not isinstance(mesh, Mesh):
    raise TypeError(f'{fn}: `mesh` must be a jax.sharding.Mesh, got {type(mesh).__name__}.')
  if axis not in mesh.axis_names:
    raise ValueError(f'{fn}: `axis` {axis!r} is not an axis of the mesh {mesh.axis_names}.')


def zero1_sharding(state: Any, params: Any, mesh: Mesh, axis: str = 'data', *,
                   param_specs: Any = None) -> Any:
  """The ``NamedSharding`` tree that ``zero1`` gives ``state`` (for ``jit`` out_shardings,
  checkpoint restore, or to measure memory).

  ``state`` may hold arrays or ``jax.ShapeDtypeStruct`` (e.g. from ``jax.eval_shape`` of
  ``zero1(tx, mesh).init``, which keeps the tree path's layout).

  Example:
    >>> import jax, jax.numpy as jnp
    >>> from optax_like._src import alias
    >>> from optax_like._src.zero import zero1, zero1_sharding
    >>> mesh = jax.make_mesh((1,), ('data',))
    >>> params = {'w': jnp.zeros((4, 2))}
    >>> state = jax.eval_shape(zero1(alias.adam(1e-3), mesh).init, params)
    >>> zero1_sharding(state, params, mesh)[0].mu['w'].spec
    P('data', None)
  """
  fn = 'zero1_sharding'
  _check(mesh, axis, fn)
  specs = _state_specs(state, params, _param_specs_list(param_specs, params, fn), mesh, axis)
  return jax.tree.map(lambda spec: NamedSharding(mesh, spec), specs,
                      is_leaf=lambda x: isinstance(x, PartitionSpec))


def zero1(inner: base.GradientTransformation, mesh: Mesh, axis: str = 'data', *,
          param_specs: Any = None) -> base.GradientTransformationExtraArgs:
  r"""Wraps ``inner`` so that its state is sharded over the data-parallel ``axis`` (ZeRO-1).

  With :math:`n` devices along ``axis``, every state leaf of a parameter's shape is stored
  as :math:`n` slices (``zero1_spec``: one evenly divisible dimension takes ``axis``, on top
  of the parameter's own spec), so each device keeps :math:`1/n` of it. ``update`` slices
  the gradients (and parameters) the same way, runs ``inner.update`` on the slices, and
  constrains the returned updates to the parameters' sharding, so XLA all-gathers exactly
  the updates and nothing else. Step counts and other scalars stay replicated; leaves too
  small to split stay replicated over ``axis``.

  Use it under ``jax.jit`` (eager calls work too, slowly). ``init`` may run eagerly or
  under ``jit``; either way the state comes out sharded.

  Args:
    inner: the optimizer (any ``GradientTransformation``).
    mesh: the ``jax.sharding.Mesh`` the step runs on.
    axis: the data-parallel axis of ``mesh`` to shard the state over.
    param_specs: the parameters' ``PartitionSpec``: ``None`` (replicated, the ZeRO-1
      setting), one spec for every leaf, or a pytree of specs (a prefix of the parameters).
      Parameters may already be split over other axes (e.g. ``'model'``).

  Returns:
    A ``GradientTransformationExtraArgs`` with ``inner``'s state (same structure and values,
    different placement).

  Example:
    >>> import jax, jax.numpy as jnp
    >>> from optax_like._src import alias
    >>> from optax_like._src.zero import zero1
    >>> mesh = jax.make_mesh((1,), ('data',))
    >>> opt = zero1(alias.adam(0.1), mesh, 'data')
    >>> params = {'w': jnp.ones((4, 2))}
    >>> state = jax.jit(opt.init)(params)
    >>> updates, state = jax.jit(opt.update)({'w': jnp.ones((4, 2))}, state, params)
    >>> round(float(updates['w'][0, 0]), 4), state[0].mu['w'].sharding.spec
    (-0.1, P('data', None))
  """
  fn = 'zero1'
  validation.check_transformation(inner, 'inner')
  _check(mesh, axis, fn)
  inner = base.with_extra_args_support(inner)
  explicit = _is_explicit(mesh)

  def init_fn(params):
    state = inner.init(params)
    if isinstance(state, dict) and set(state) == {fused.INNER_STATE, fused.LEAF_INDEX}:
      raise ValueError(f'{fn}: `inner` is a fused(...) transformation, whose state lives in '
                       'flat buckets; ZeRO-1 shards state leaf by leaf: pass the unfused one.')
    specs = _state_specs(state, params, _param_specs_list(param_specs, params, fn), mesh, axis)
    return _constrain(state, specs, mesh)

  def update_fn(updates, state, params=None, **extra_args):
    base_specs = _param_specs_list(param_specs, updates, fn)
    treedef = jax.tree.structure(updates)
    sliced = treedef.unflatten([zero1_spec(tuple(u.shape), s, mesh, axis)
                                for u, s in zip(jax.tree.leaves(updates), base_specs)])
    state_specs = _state_specs(state, updates, base_specs, mesh, axis)
    updates = _constrain(updates, sliced, mesh)
    if params is not None and jax.tree.structure(params) == treedef:
      # Explicit axes need operands of one sharding: slice the params like the state. Under
      # Auto axes XLA slices them by itself; pinning them to their own spec keeps GSPMD from
      # propagating the slicing back into the caller's params.
      params = _constrain(params, sliced if explicit else treedef.unflatten(base_specs), mesh)
    state = _constrain(state, state_specs, mesh)
    new_updates, new_state = inner.update(updates, state, params, **extra_args)
    new_state = _constrain(new_state, state_specs, mesh)
    new_updates = _constrain(new_updates, treedef.unflatten(base_specs), mesh)
    return new_updates, new_state

  return base.GradientTransformationExtraArgs(init_fn, update_fn)

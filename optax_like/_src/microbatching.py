r"""Microbatching: evaluate a function on a large batch as a sequential loop over smaller
microbatches, combining the partial results (sum, mean, running mean or concatenation).

The batch axis of size :math:`B = n \cdot m` is split into :math:`n` microbatches of
:math:`m` rows each. Microbatch :math:`i` holds the rows :math:`i, i + n, i + 2n, \dots`
(a column-major reshape), so a batch axis sharded over devices stays sharded inside every
microbatch. The loop is a ``lax.fori_loop``: only one microbatch is live at a time.

Sums and means of 16-bit floats are accumulated in float32 and rounded once, when the result
is returned (in the dtype of the function's output).
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import functools
import numbers
from typing import Any, Callable, NamedTuple, Sequence, TypeAlias

import chex
import jax
import jax.numpy as jnp
import numpy as np

from optax_like._src import base
from optax_like._src import tree as tree_lib

AccumulatorTree: TypeAlias = Any
Function: TypeAlias = Callable[..., Any]
VmapFn: TypeAlias = Callable[[Function, Any, int], Function]
PyTreeFn: TypeAlias = Callable[[chex.ArrayTree], chex.ArrayTree]
UpdateFn = Callable[[chex.ArrayTree, chex.ArrayTree, int], chex.ArrayTree]
# The per-example outputs of ``micro_grad`` (class name as optax's).
IndividualOutputs = collections.namedtuple('Aux', ['values', 'metrics', 'aux'])
ValueAndGradFn: TypeAlias = Callable[..., tuple[Any, IndividualOutputs]]


@dataclasses.dataclass(frozen=True)
class Accumulator:
  r"""How the outputs of the microbatches are combined: the program

  .. code-block:: python

    carry = init(jax.typeof(y_0))
    for i in range(n):
      carry = update(carry, y_i, i)
    result = finalize(carry)

  over the microbatch outputs :math:`y_0, \dots, y_{n-1}`; ``aggregate`` reduces an output
  with a leading axis of per-example values at once (``micro_vmap`` uses it inside a
  microbatch).

  Attributes:
    init: ``init(shape_dtype_struct) -> carry`` from the shape of one output.
    update: ``update(carry, value, index) -> carry``.
    finalize: ``finalize(carry) -> result``.
    aggregate: ``aggregate(values) -> result`` over a leading axis.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like.microbatching import Accumulator, microbatch
    >>> biggest = Accumulator(init=lambda s: jnp.full(s.shape, -jnp.inf, s.dtype),
    ...                       update=lambda c, v, i: jnp.maximum(c, v),
    ...                       finalize=lambda c: c, aggregate=lambda v: v.max(0))
    >>> float(microbatch(jnp.max, 0, 2, biggest)(jnp.array([1.0, 7.0, 3.0, 4.0])))
    7.0
  """
  init: PyTreeFn
  update: UpdateFn
  finalize: PyTreeFn
  aggregate: PyTreeFn


class AccumulationType(enum.Enum):
  """The ways to combine microbatch outputs without writing an ``Accumulator``."""
  MEAN = enum.auto()
  """Mean over the microbatches (floating-point outputs)."""
  SUM = enum.auto()
  """Sum over the microbatches."""
  RUNNING_MEAN = enum.auto()
  """Mean over the microbatches actually run (``num_real_microbatches``)."""
  CONCAT = enum.auto()
  """The outputs concatenated along axis 0, in the order of the original batch."""


# --------------------------------------------------------------------------- batch reshaping


def _check_size(value: Any, name: str, fn: str, allow_none: bool = False) -> None:
  if value is None and allow_none:
    return
  if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
    raise TypeError(f'{fn}: `{name}` must be a positive int{" or None" if allow_none else ""}, '
                    f'got {value!r:.60}.')
  if value <= 0:
    raise ValueError(f'{fn}: `{name}` must be positive, got {value}.')


def _split_leaf(x: jax.Array, microbatch_size: int, axis: int) -> jax.Array:
  """``x`` with batch axis ``axis`` split column-major into ``(n, microbatch_size)``."""
  x = jnp.asarray(x)
  axis = axis % x.ndim if x.ndim else axis
  new_shape = x.shape[:axis] + (-1, microbatch_size) + x.shape[axis + 1:]
  sharding = jax.typeof(x).sharding
  mesh = getattr(sharding, 'mesh', None)
  if mesh is None or not getattr(mesh, 'are_all_axes_explicit', False):
    return x.reshape(new_shape, order='F')
  # Explicitly sharded: the batch axis's sharding moves to the microbatch_size axis, the new
  # axis of microbatches is replicated.
  spec = tuple(sharding.spec)
  if len(spec) > axis:
    spec = spec[:axis] + (None, spec[axis]) + spec[axis + 1:]
  out_sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(*spec))
  shards = x.shape[axis] // sharding.shard_shape(x.shape)[axis]
  if microbatch_size % shards:
    raise ValueError(f'reshape_batch_axis: the batch axis is split over {shards} devices, '
                     f'which must divide `microbatch_size` = {microbatch_size}.')
  return x.reshape(new_shape, order='F', out_sharding=out_sharding)


def reshape_batch_axis(tree: Any, microbatch_size: int, axis: int = 0) -> Any:
  r"""Splits the batch axis of every leaf into ``(num_microbatches, microbatch_size)``.

  .. math:: x[\dots, b, \dots] \mapsto x'[\dots, i, j, \dots], \qquad b = i + n j

  (a column-major reshape: microbatch :math:`i` holds rows :math:`i, i + n, \dots`), so a
  batch axis sharded over devices keeps its sharding in the ``microbatch_size`` axis; the
  new axis of microbatches is replicated.

  Args:
    tree: a tree of arrays, each with a batch axis ``axis`` divisible by ``microbatch_size``.
    microbatch_size: rows per microbatch.
    axis: the batch axis.

  Returns:
    The tree with every leaf reshaped.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like.microbatching import reshape_batch_axis
    >>> reshape_batch_axis(jnp.arange(6), 2).tolist()
    [[0, 3], [1, 4], [2, 5]]
  """
  return jax.tree.map(lambda x: _split_leaf(x, microbatch_size, axis), tree)


# --------------------------------------------------------------------------- accumulators


def _lift(acc: Accumulator) -> Accumulator:
  """An accumulator of arrays applied leaf by leaf to trees (carry leaves may be tuples)."""

  def carry_map(f, carry):
    return jax.tree.map(f, carry, is_leaf=lambda c: isinstance(c, _Carry))

  return Accumulator(
      init=lambda value: jax.tree.map(acc.init, value),
      update=lambda carry, value, i: jax.tree.map(
          lambda c, v: acc.update(c, v, i), carry, value,
          is_leaf=lambda c: isinstance(c, _Carry)),
      finalize=lambda carry: carry_map(acc.finalize, carry),
      aggregate=lambda values: jax.tree.map(acc.aggregate, values))


class _Carry(NamedTuple):
  """A running total in its compute dtype, and an empty array remembering the output dtype."""
  total: jax.Array
  like: jax.Array


def _zeros_like_output(value: Any, dtype: Any, leading: tuple = ()) -> jax.Array:
  """Zeros of shape ``leading + value.shape``, sharded as ``value`` (one microbatch's output)
  where its mesh axes are explicit, and replicated over the ``leading`` axes; writing or adding
  an output into it then moves no data, and the loop carry keeps one type."""
  shape = tuple(leading) + tuple(value.shape)
  sharding = getattr(value, 'sharding', None)
  mesh = getattr(sharding, 'mesh', None)
  if mesh is not None and getattr(mesh, 'are_all_axes_explicit', False) and mesh.axis_names:
    spec = jax.sharding.PartitionSpec(*((None,) * len(leading)), *tuple(sharding.spec))
    return jnp.zeros(shape, dtype, out_sharding=jax.sharding.NamedSharding(mesh, spec))
  return jnp.zeros(shape, dtype)


def _new_carry(value: Any) -> _Carry:
  dtype = jnp.dtype(value.dtype)
  total_dtype = tree_lib.compute_dtype(dtype) if jnp.issubdtype(dtype, jnp.floating) else dtype
  return _Carry(_zeros_like_output(value, total_dtype), jnp.zeros((0,), dtype))


def _require_floating(value: Any, kind: str) -> None:
  if not jnp.issubdtype(value.dtype, jnp.floating):
    raise ValueError(f'microbatch: the {kind} accumulator needs floating-point outputs, got '
                     f'{jnp.dtype(value.dtype).name}.')


def _sum() -> Accumulator:
  return _lift(Accumulator(
      init=_new_carry,
      update=lambda c, v, _: c._replace(total=c.total + tree_lib.upcast(v).astype(c.total.dtype)
                                        if jnp.issubdtype(c.total.dtype, jnp.floating)
                                        else c.total + v),
      finalize=lambda c: c.total.astype(c.like.dtype),
      aggregate=functools.partial(jnp.sum, axis=0)))


def _mean(num_microbatches: int) -> Accumulator:
  _check_size(num_microbatches, 'num_microbatches', 'microbatch')

  def init(value):
    _require_floating(value, 'MEAN')
    return _new_carry(value)

  return _lift(Accumulator(
      init=init,
      update=lambda c, v, _: c._replace(total=c.total + tree_lib.upcast(v)),
      finalize=lambda c: (c.total / num_microbatches).astype(c.like.dtype),
      aggregate=functools.partial(jnp.mean, axis=0)))


def _running_mean() -> Accumulator:

  def init(value):
    _require_floating(value, 'RUNNING_MEAN')
    return _new_carry(value)

  def update(c, v, index):
    # Mean of the first index + 1 outputs: a weighted blend of the mean so far and the new one.
    p = (index / (index + 1)).astype(c.total.dtype)
    return c._replace(total=c.total * p + tree_lib.upcast(v) * (1 - p))

  return _lift(Accumulator(
      init=init, update=update,
      finalize=lambda c: c.total.astype(c.like.dtype),
      aggregate=functools.partial(jnp.mean, axis=0)))


def _concat(num_microbatches: int) -> Accumulator:
  _check_size(num_microbatches, 'num_microbatches', 'microbatch')

  def init(value):
    return _zeros_like_output(value, value.dtype, leading=(num_microbatches,))

  def finalize(carry):
    # Undo the column-major split: row b of the result is row b // n of microbatch b % n.
    new_shape = (-1,) + carry.shape[2:]
    sharding = jax.typeof(carry).sharding
    mesh = getattr(sharding, 'mesh', None)
    if mesh is not None and getattr(mesh, 'are_all_axes_explicit', False):
      spec = jax.sharding.PartitionSpec(*tuple(sharding.spec)[1:])
      return carry.reshape(new_shape, order='F',
                           out_sharding=jax.sharding.NamedSharding(mesh, spec))
    return carry.reshape(new_shape, order='F')

  return _lift(Accumulator(init=init,
                           update=lambda c, v, i: c.at[i].set(v),
                           finalize=finalize,
                           aggregate=lambda values: values))


def _compose(accumulators: AccumulatorTree) -> Accumulator:
  """One accumulator for a tree of accumulators (a prefix of the function's output)."""
  is_acc = lambda a: isinstance(a, Accumulator)

  def over(f, *trees):
    return jax.tree.map(f, accumulators, *trees, is_leaf=is_acc)

  return Accumulator(
      init=lambda values: over(lambda a, v: a.init(v), values),
      update=lambda carry, values, i: over(lambda a, c, v: a.update(c, v, i), carry, values),
      finalize=lambda carry: over(lambda a, c: a.finalize(c), carry),
      aggregate=lambda values: over(lambda a, v: a.aggregate(v), values))


def _canonicalize(spec: Any, num_microbatches: int | None) -> Accumulator:
  """A tree of ``Accumulator`` / ``AccumulationType`` as one ``Accumulator``."""

  def one(acc):
    if isinstance(acc, Accumulator):
      return acc
    if acc is AccumulationType.MEAN:
      return _mean(num_microbatches)
    if acc is AccumulationType.SUM:
      return _sum()
    if acc is AccumulationType.RUNNING_MEAN:
      return _running_mean()
    if acc is AccumulationType.CONCAT:
      return _concat(num_microbatches)
    raise ValueError(f'microbatch: unknown accumulator {acc!r}; use an Accumulator or an '
                     'AccumulationType.')

  return _compose(jax.tree.map(one, spec, is_leaf=lambda a: isinstance(a, Accumulator)))


# --------------------------------------------------------------------------- microbatch


def _as_tuple(x: Any) -> tuple:
  return (x,) if isinstance(x, (int, str)) else tuple(x)


def microbatch(fun: Function,
               argnums: int | Sequence[int],
               microbatch_size: int | None,
               accumulator: Accumulator | AccumulationType | AccumulatorTree = (
                   AccumulationType.SUM),
               *,
               argnames: str | Sequence[str] = (),
               in_axes: int | Sequence[int] = 0,
               num_real_microbatches: int | jax.Array | None = None) -> Function:
  r"""``fun`` evaluated microbatch by microbatch in a sequential loop, the results combined.

  With the batch arguments split into :math:`n` microbatches :math:`x^{(i)}` of
  ``microbatch_size`` rows (see ``reshape_batch_axis``) and :math:`y_i = f(x^{(i)})`:

  .. math::
    \text{SUM: } \textstyle\sum_i y_i, \quad \text{MEAN: } \frac1n \sum_i y_i, \quad
    \text{RUNNING\_MEAN: } \frac1k \sum_{i<k} y_i, \quad
    \text{CONCAT: } [y_0; \dots; y_{n-1}] \text{ in batch order}

  Peak memory is that of one microbatch. ``accumulator`` may be a tree (a prefix of
  ``fun``'s output) to combine parts of the output differently.

  Args:
    fun: any function.
    argnums: the positions of the arguments with a batch axis.
    microbatch_size: rows per microbatch; must divide the batch size. None: ``fun`` itself.
    accumulator: an ``Accumulator``, an ``AccumulationType`` or a tree of them.
    argnames: the names of keyword arguments with a batch axis.
    in_axes: the batch axis of each of ``argnums + argnames`` (one int for all).
    num_real_microbatches: stop after this many microbatches (:math:`k`; may be traced), to
      serve smaller batches without recompiling.

  Returns:
    A function with ``fun``'s arguments.

  Raises:
    ValueError: when called, if the batch sizes differ or ``microbatch_size`` does not
      divide them.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> from optax_like.microbatching import AccumulationType
    >>> f = lambda x: (2 * x, jnp.sum(x))
    >>> g = ox.microbatch(f, argnums=0, microbatch_size=2,
    ...                   accumulator=(AccumulationType.CONCAT, AccumulationType.SUM))
    >>> [y.tolist() for y in g(jnp.array([1.0, 2.0, 3.0, 4.0]))]
    [[2.0, 4.0, 6.0, 8.0], 10.0]
  """
  fn = 'microbatch'
  if not callable(fun):
    raise TypeError(f'{fn}: `fun` must be callable, got {type(fun).__name__}.')
  _check_size(microbatch_size, 'microbatch_size', fn, allow_none=True)
  if microbatch_size is None:
    return fun
  argnums = _as_tuple(argnums)
  argnames = _as_tuple(argnames)
  if isinstance(in_axes, int):
    in_axes = (in_axes,) * (len(argnums) + len(argnames))
  in_axes = tuple(in_axes)
  if len(in_axes) != len(argnums) + len(argnames):
    raise ValueError(f'{fn}: `in_axes` has {len(in_axes)} entries but `argnums` and '
                     f'`argnames` name {len(argnums) + len(argnames)} arguments.')
  pos_axes = in_axes[:len(argnums)]
  kw_axes = in_axes[len(argnums):]

  def batch_size_of(args, kwargs):
    sizes = []
    for i, ax in zip(argnums, pos_axes):
      sizes += [np.shape(x)[ax] for x in jax.tree.leaves(args[i])]
    for name, ax in zip(argnames, kw_axes):
      sizes += [np.shape(x)[ax] for x in jax.tree.leaves(kwargs[name])]
    if len(set(sizes)) > 1:
      raise ValueError(f'{fn}: the batch arguments must have batch axes of one size, got '
                       f'{sizes}.')
    if not sizes:
      raise ValueError(f'{fn}: `argnums`/`argnames` select no arrays with a batch axis.')
    if sizes[0] % microbatch_size:
      raise ValueError(f'{fn}: the batch size {sizes[0]} must be divisible by '
                       f'`microbatch_size` = {microbatch_size}.')
    return sizes[0]

  def microbatched(*args, **kwargs):
    batch_size = batch_size_of(args, kwargs)
    args, kwargs = list(args), dict(kwargs)
    for i, ax in zip(argnums, pos_axes):
      args[i] = reshape_batch_axis(args[i], microbatch_size, ax)
    for name, ax in zip(argnames, kw_axes):
      kwargs[name] = reshape_batch_axis(kwargs[name], microbatch_size, ax)
    num_microbatches = batch_size // microbatch_size
    acc = _canonicalize(accumulator, num_microbatches)

    def run(index):
      take = lambda ax: (lambda x: jnp.take(x, index, axis=ax))
      a, kw = list(args), dict(kwargs)
      for i, ax in zip(argnums, pos_axes):
        a[i] = jax.tree.map(take(ax), a[i])
      for name, ax in zip(argnames, kw_axes):
        kw[name] = jax.tree.map(take(ax), kw[name])
      return fun(*a, **kw)

    steps = num_microbatches if num_real_microbatches is None else num_real_microbatches
    carry = acc.init(jax.eval_shape(run, 0))
    carry = jax.lax.fori_loop(0, steps, lambda i, c: acc.update(c, run(i), i), carry)
    return acc.finalize(carry)

  return microbatched


def micro_vmap(fun: Function,
               in_axes: int | Sequence[int] = 0,
               out_axes: Any = 0,
               *,
               microbatch_size: int | None = None,
               vmap_fn: VmapFn = jax.vmap,
               accumulator: Accumulator | AccumulationType | AccumulatorTree = (
                   AccumulationType.CONCAT),
               num_real_microbatches: int | jax.Array | None = None) -> Function:
  r"""``jax.vmap(fun, in_axes)`` run ``microbatch_size`` examples at a time, the per-example
  outputs combined by ``accumulator`` (default CONCAT: exactly ``vmap``'s result).

  .. math::
    \text{CONCAT: } [f(x_b)]_b, \quad \text{SUM: } \textstyle\sum_b f(x_b), \quad
    \text{MEAN: } \frac1B \sum_b f(x_b)

  Each microbatch is vmapped and reduced with the accumulator's ``aggregate``; the
  microbatches are then combined as in ``microbatch``. Keyword arguments are all mapped over
  axis 0, as ``vmap`` maps them.

  Args:
    fun: the function of one example.
    in_axes: the mapped axis of each positional argument (None: not mapped), or one int.
    out_axes: must be 0.
    microbatch_size: examples per microbatch; None: one plain ``vmap`` of the whole batch.
    vmap_fn: a function with ``jax.vmap``'s signature.
    accumulator: how the per-example outputs are combined (a tree prefix of the output).
    num_real_microbatches: stop after this many microbatches.

  Returns:
    The mapped function.

  Raises:
    NotImplementedError: for ``out_axes != 0``.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like.microbatching import micro_vmap
    >>> micro_vmap(lambda x: x ** 2, microbatch_size=2)(jnp.arange(4.0)).tolist()
    [0.0, 1.0, 4.0, 9.0]
  """
  if out_axes != 0:
    raise NotImplementedError(f'micro_vmap: only `out_axes` = 0 is supported, got {out_axes!r}.')
  if not callable(fun):
    raise TypeError(f'micro_vmap: `fun` must be callable, got {type(fun).__name__}.')
  in_axes = (in_axes,) if isinstance(in_axes, int) else tuple(in_axes)

  # vmap maps every keyword argument over axis 0, so they travel as one mapped dict.
  def map_and_reduce(*args, kwargs):
    outputs = vmap_fn(fun, in_axes, out_axes)(*args, **kwargs)
    rows = jax.tree.leaves(outputs)[0].shape[0]
    return _canonicalize(accumulator, rows).aggregate(outputs)

  mapped = microbatch(
      map_and_reduce,
      argnums=tuple(i for i, ax in enumerate(in_axes) if ax is not None),
      argnames='kwargs',
      microbatch_size=microbatch_size,
      accumulator=accumulator,
      in_axes=tuple(ax for ax in in_axes if ax is not None) + (0,),
      num_real_microbatches=num_real_microbatches)

  def wrapped(*args, **kwargs):
    return mapped(*args, kwargs=kwargs)

  return wrapped


def micro_grad(fun: Function,
               has_aux: bool = False,
               argnums: int | Sequence[int] = 0,
               *,
               batch_argnums: int | Sequence[int] = 1,
               keep_batch_dim: bool = True,
               microbatch_size: int | None = None,
               accumulator: Accumulator | AccumulationType | AccumulatorTree = (
                   AccumulationType.SUM),
               transform_fn: Callable[[chex.ArrayTree], chex.ArrayTree] = lambda x: x,
               metrics_fn: Callable[[chex.ArrayTree], chex.ArrayTree] = lambda x: None,
               num_real_microbatches: int | jax.Array | None = None) -> ValueAndGradFn:
  r"""Per-example gradients, transformed and combined over the batch, with per-example values
  and metrics.

  For every example :math:`b` (a size-1 slice of the ``batch_argnums`` arguments),
  :math:`g_b = \nabla_\theta f(\theta, x_b)`, and the result is

  .. math::
    \Big(\textstyle\bigoplus_b T(g_b),\ \mathrm{Aux}(\text{values}=[f(\theta, x_b)]_b,\
    \text{metrics}=[M(g_b)]_b,\ \text{aux}=[a_b]_b)\Big)

  with :math:`T` = ``transform_fn`` (e.g. per-example clipping), :math:`M` = ``metrics_fn``
  and :math:`\oplus` the ``accumulator`` (SUM by default). Computed with ``micro_vmap``,
  ``microbatch_size`` examples at a time.

  Args:
    fun: the loss, ``fun(params, batch, ...)`` (or ``(loss, aux)`` with ``has_aux``).
    has_aux: whether ``fun`` returns ``(loss, aux)``.
    argnums: the arguments to differentiate.
    batch_argnums: the arguments with a batch axis 0.
    keep_batch_dim: give ``fun`` each example with a batch axis of size 1 (True) or
      without it.
    microbatch_size: examples per microbatch (None: all at once).
    accumulator: how the transformed gradients are combined.
    transform_fn: applied to every per-example gradient.
    metrics_fn: applied to every per-example gradient; returned per example.
    num_real_microbatches: stop after this many microbatches.

  Returns:
    A function of ``fun``'s arguments returning ``(combined, Aux(values, metrics, aux))``.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like.microbatching import micro_grad
    >>> loss = lambda w, x: jnp.sum(w * x)  # gradient of one example: x
    >>> grads, aux = micro_grad(loss, metrics_fn=jnp.linalg.norm)(
    ...     jnp.zeros(2), jnp.array([[3.0, 4.0], [1.0, 0.0]]))
    >>> grads.tolist(), aux.metrics.tolist()
    ([4.0, 4.0], [5.0, 1.0])
  """
  if not callable(fun):
    raise TypeError(f'micro_grad: `fun` must be callable, got {type(fun).__name__}.')
  batch_argnums = (batch_argnums,) if isinstance(batch_argnums, int) else tuple(batch_argnums)
  with_aux = fun if has_aux else (lambda *a, **k: (fun(*a, **k), None))
  value_and_grad = jax.value_and_grad(with_aux, argnums, has_aux=True)

  def per_example(*args, **kwargs):
    (value, aux), grad = value_and_grad(*args, **kwargs)
    return transform_fn(grad), IndividualOutputs(values=value, metrics=metrics_fn(grad),
                                                 aux=aux)

  in_axes = [None] * (max(batch_argnums) + 1)
  for i in batch_argnums:
    in_axes[i] = 0
  mapped = micro_vmap(per_example, in_axes=in_axes,
                      accumulator=(accumulator, AccumulationType.CONCAT),
                      microbatch_size=microbatch_size,
                      num_real_microbatches=num_real_microbatches)
  if not keep_batch_dim:
    return mapped

  def with_batch_axis(*args, **kwargs):
    args = list(args)
    for i in batch_argnums:
      args[i] = jax.tree.map(lambda x: jnp.expand_dims(x, 1), args[i])
    return mapped(*args, **kwargs)

  return with_batch_axis

r"""Arithmetic, reductions, casts and random draws over whole pytrees (``optax_like.tree``).

Every function here treats a pytree as one vector: the leaves are its blocks. Binary maps
(``tree_add``, ``tree_sub``, ...) need both trees to have the same structure; when they do not,
the ValueError names the first tree paths that differ. The numbers are optax 0.2.8's: each leaf
is computed in its own dtype (a bfloat16 leaf stays bfloat16, as in optax), and reductions add
the per-leaf results in leaf order.

The moment helpers (``tree_update_moment``, ``tree_bias_correction``, ...) live with the other
numerics of the optimizers and are only re-exported by the public ``tree`` modules.
"""

from __future__ import annotations

import functools
import inspect
import operator
from typing import Any, Callable, Optional, TypeVar, Union

import jax
import jax.numpy as jnp
import numpy as np

from optax_like._src import tree as tree_lib
from optax_like._src import validation

ArrayTree = Any
T = TypeVar('T')


def _map(fn: Callable[..., Any], fn_name: str, names: tuple, *trees: Any, **kwargs) -> Any:
  """``jax.tree.map(fn, *trees)``; a structure mismatch raises a ValueError naming the paths."""
  try:
    return jax.tree.map(fn, *trees, **kwargs)
  except (ValueError, TypeError):
    first = trees[0]
    for other, label in zip(trees[1:], names[1:]):
      validation.check_same_structure(first, other, names[0], label, fn_name)
    raise


# --------------------------------------------------------------------------- elementwise


def tree_add(tree_x: Any, tree_y: Any, *other_trees: Any) -> Any:
  r"""The leafwise sum of two or more trees: :math:`z_i = x_i + y_i (+ \dots)`.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.tree.add({'a': jnp.array([1.0])}, {'a': jnp.array([2.0])},
    ...             {'a': jnp.array([4.0])})['a'].tolist()
    [7.0]
  """
  trees = (tree_x, tree_y, *other_trees)
  names = ('tree_x', 'tree_y') + tuple(f'other_trees[{i}]' for i in range(len(other_trees)))
  # Summed from a start of 0, as optax does: a tree of bools adds up to integers.
  return _map(lambda *xs: sum(xs), 'tree_add', names, *trees)


def tree_sub(tree_x: Any, tree_y: Any) -> Any:
  r"""The leafwise difference :math:`z_i = x_i - y_i`.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.tree.sub([jnp.array(3.0)], [jnp.array(1.0)])[0].tolist()
    2.0
  """
  return _map(operator.sub, 'tree_sub', ('tree_x', 'tree_y'), tree_x, tree_y)


def tree_mul(tree_x: Any, tree_y: Any) -> Any:
  r"""The leafwise (Hadamard) product :math:`z_i = x_i \odot y_i`.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.tree.mul([jnp.array([2.0, 3.0])], [jnp.array([4.0, 0.5])])[0].tolist()
    [8.0, 1.5]
  """
  return _map(operator.mul, 'tree_mul', ('tree_x', 'tree_y'), tree_x, tree_y)


def tree_div(tree_x: Any, tree_y: Any) -> Any:
  r"""The leafwise quotient :math:`z_i = x_i / y_i`.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.tree.div([jnp.array([3.0])], [jnp.array([4.0])])[0].tolist()
    [0.75]
  """
  return _map(operator.truediv, 'tree_div', ('tree_x', 'tree_y'), tree_x, tree_y)


def tree_scale(scalar: jax.typing.ArrayLike, tree: Any) -> Any:
  r"""Every leaf multiplied by one scalar: :math:`z_i = s\, x_i`.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.tree.scale(0.5, {'w': jnp.array([4.0, -2.0])})['w'].tolist()
    [2.0, -1.0]
  """
  return jax.tree.map(lambda x: scalar * x, tree)


def tree_add_scale(tree_x: Any, scalar: jax.typing.ArrayLike, tree_y: Any) -> Any:
  r"""An axpy over trees: :math:`z_i = x_i + s\, y_i`; a None leaf of ``tree_x`` stays None.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.tree.add_scale([jnp.array(1.0)], 2.0, [jnp.array(3.0)])[0].tolist()
    7.0
  """
  s = jnp.asarray(scalar)
  return _map(lambda x, y: None if x is None else x + s * y, 'tree_add_scale',
              ('tree_x', 'tree_y'), tree_x, tree_y, is_leaf=tree_lib.is_none)


def tree_conj(tree: Any) -> Any:
  r"""The complex conjugate of every leaf, :math:`\bar x_i` (real leaves unchanged).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.tree.conj([jnp.array(1.0 + 2.0j)])[0].tolist()
    (1-2j)
  """
  return jax.tree.map(jnp.conj, tree)


def tree_real(tree: Any) -> Any:
  r"""The real part of every leaf, :math:`\mathrm{Re}\, x_i`.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.tree.real([jnp.array(1.5 - 2.0j)])[0].tolist()
    1.5
  """
  return jax.tree.map(jnp.real, tree)


def tree_where(condition, tree_x, tree_y):
  r"""Per element, ``tree_x`` where ``condition`` holds, else ``tree_y``:
  :math:`z_i = c\,?\,x_i : y_i` (``condition`` broadcasts against every leaf).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.tree.where(jnp.array([True, False]), [jnp.array([1, 2])],
    ...               [jnp.array([8, 9])])[0].tolist()
    [1, 9]
  """
  return _map(lambda x, y: jnp.where(condition, x, y), 'tree_where', ('tree_x', 'tree_y'),
              tree_x, tree_y)


def tree_clip(tree: Any, min_value: Optional[jax.typing.ArrayLike] = None,
              max_value: Optional[jax.typing.ArrayLike] = None) -> Any:
  r"""Every element clipped to :math:`[\mathrm{min\_value}, \mathrm{max\_value}]`
  (a bound that is None is not applied).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.tree.clip([jnp.array([-3.0, 0.5, 3.0])], -1.0, 1.0)[0].tolist()
    [-1.0, 0.5, 1.0]
  """
  return jax.tree.map(lambda x: jnp.clip(x, min_value, max_value), tree)


# --------------------------------------------------------------------------- reductions


def _inner(a: Any, b: Any) -> jax.Array:
  r""":math:`\sum \bar a \odot b` of two arrays of one shape, at the highest precision.

  ``jnp.vdot``, as optax 0.2.8 computes it with this JAX (its version test compares version
  strings, so it takes the ``vdot`` branch), except for arrays whose mesh axes are all
  explicit: ``vdot`` ravels its operands, which fails under explicit sharding, so those are
  contracted in place with ``tensordot`` and a replicated result.
  """
  a, b = jnp.asarray(a), jnp.asarray(b)
  if a.shape != b.shape:
    raise ValueError(f'tree_vdot: leaves of shapes {a.shape} and {b.shape} cannot be paired; '
                     'the two trees must have the same leaf shapes.')
  mesh = jax.typeof(a).sharding.mesh
  if mesh.empty or not mesh.are_all_axes_explicit:
    return jnp.vdot(a, b, precision=jax.lax.Precision.HIGHEST)
  if jnp.issubdtype(a.dtype, jnp.complexfloating):
    a = jnp.conj(a)
  return jnp.tensordot(a, b, a.ndim, precision=jax.lax.Precision.HIGHEST,
                       out_sharding=jax.sharding.NamedSharding(mesh, jax.P()))


def tree_vdot(tree_x: Any, tree_y: Any) -> jax.typing.ArrayLike:
  r"""The inner product of two trees, :math:`\langle x, y\rangle = \sum_i \sum \bar x_i \odot y_i`
  (leaves conjugated when complex), each leaf at the highest matmul precision.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.tree.vdot({'a': jnp.array([1.0, 2.0])}, {'a': jnp.array([3.0, -1.0])}).tolist()
    1.0
  """
  per_leaf = _map(_inner, 'tree_vdot', ('tree_x', 'tree_y'), tree_x, tree_y)
  return jax.tree.reduce(operator.add, per_leaf, initializer=0)


def tree_sum(tree: Any, associative_reduction: bool = False) -> jax.typing.ArrayLike:
  r"""The sum of every element of the tree, :math:`\sum_i \sum x_i` (0 for an empty tree).

  The per-leaf sums are added in leaf order; ``associative_reduction=True`` adds them as a
  balanced tree instead (a shorter program for many leaves, a different rounding).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.tree.sum({'a': jnp.array([1.0, 2.0]), 'b': jnp.array(4.0)}).tolist()
    7.0
  """
  per_leaf = jax.tree.map(jnp.sum, tree)
  if associative_reduction:
    if not hasattr(jax.tree, 'reduce_associative'):
      raise ValueError('tree_sum: `associative_reduction=True` needs jax.tree.reduce_associative '
                       '(JAX >= 0.6.0); upgrade JAX or pass associative_reduction=False.')
    return jax.tree.reduce_associative(operator.add, per_leaf, identity=0)
  return jax.tree.reduce(operator.add, per_leaf, initializer=0)


def _extremum(tree: Any, leaf_fn: Callable, combine: Callable, start: float) -> Any:
  # Empty leaves have no extremum: they are left out (None is an empty subtree).
  per_leaf = jax.tree.map(lambda x: None if jnp.size(x) == 0 else leaf_fn(x), tree)
  return jax.tree.reduce(combine, per_leaf, initializer=start)


def tree_max(tree: Any) -> jax.typing.ArrayLike:
  r"""The largest element of the tree, :math:`\max_i \max x_i` (:math:`-\infty` when empty).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.tree.max([jnp.array([1.0, 5.0]), jnp.array(-2.0)]).tolist()
    5.0
  """
  return _extremum(tree, jnp.max, jnp.maximum, -float('inf'))


def tree_min(tree: Any) -> jax.typing.ArrayLike:
  r"""The smallest element of the tree, :math:`\min_i \min x_i` (:math:`+\infty` when empty).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.tree.min([jnp.array([1.0, 5.0]), jnp.array(-2.0)]).tolist()
    -2.0
  """
  return _extremum(tree, jnp.min, jnp.minimum, float('inf'))


def tree_size(tree: Any) -> int:
  r"""The number of elements in the tree, :math:`\sum_i |x_i|`.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.tree.size({'a': jnp.ones((2, 3)), 'b': jnp.ones(4)})
    10
  """
  return sum(jnp.size(x) for x in jax.tree.leaves(tree))


def _modulus_sq(x: Any) -> Any:
  # |x|^2 as re^2 + im^2: real-valued for complex leaves (optax's form and rounding).
  return jnp.square(x.real) + jnp.square(x.imag)


def tree_norm(tree: Any, ord: int | str | float | None = None,  # pylint: disable=redefined-builtin
              squared: bool = False) -> jax.Array:
  r"""The vector norm of the whole tree.

  .. math::
    \|x\|_2 = \Big(\sum_i \sum |x_i|^2\Big)^{1/2}, \quad
    \|x\|_1 = \sum_i \sum |x_i|, \quad
    \|x\|_\infty = \max_i \max |x_i|

  ``ord`` is None or 2, 1, or ``inf`` (``jnp.inf``, ``'inf'`` or ``'infinity'``);
  ``squared=True`` returns the square of the norm (for ord 2 without the square root).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> t = {'a': jnp.array([3.0]), 'b': jnp.array([-4.0])}
    >>> ox.tree.norm(t).tolist(), ox.tree.norm(t, ord=1).tolist(), ox.tree.norm(t, 'inf').tolist()
    (5.0, 7.0, 4.0)
  """
  if ord is None or ord == 2:
    total = tree_sum(jax.tree.map(_modulus_sq, tree))
    return jnp.array(total if squared else jnp.sqrt(total))
  if ord == 1:
    value = tree_sum(jax.tree.map(jnp.abs, tree))
  elif ord == jnp.inf or ord in ('inf', 'infinity'):
    value = tree_max(jax.tree.map(jnp.abs, tree))
  else:
    raise ValueError(f"tree_norm: unsupported `ord` {ord!r}; use None, 1, 2, jnp.inf or 'inf'.")
  return jnp.array(_modulus_sq(value) if squared else value)


def tree_allclose(a: Any, b: Any, rtol: jax.typing.ArrayLike = 1e-05,
                  atol: jax.typing.ArrayLike = 1e-08, equal_nan: bool = False):
  r"""Whether every pair of leaves satisfies :math:`|a - b| \le \mathrm{atol} +
  \mathrm{rtol}\,|b|` elementwise (``jnp.allclose``); True for empty trees.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> bool(ox.tree.allclose([jnp.array(1.0)], [jnp.array(1.0 + 1e-7)]))
    True
  """
  per_leaf = _map(lambda x, y: jnp.allclose(x, y, rtol=rtol, atol=atol, equal_nan=equal_nan),
                  'tree_allclose', ('a', 'b'), a, b)
  return functools.reduce(operator.and_, jax.tree.leaves(per_leaf), True)


# --------------------------------------------------------------------------- creation


def tree_batch_shape(tree: Any, shape: tuple[int, ...] = ()):
  r"""Every leaf broadcast to leading batch dimensions: :math:`x_i` of shape ``s`` becomes an
  array of shape ``(*shape, *s)``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.tree.batch_shape({'a': jnp.ones(3)}, (2,))['a'].shape
    (2, 3)
  """
  return jax.tree.map(lambda x: jnp.broadcast_to(x, (*shape, *jnp.shape(x))), tree)


def _filled(x: Any, value: Any, dtype: Any) -> Any:
  """``jnp.full_like(x, value, dtype)``; an array leaf's result is sharded like it under ``jit``
  too (``tree.full_like``). Scalars and weakly typed leaves (Python numbers) keep
  ``full_like``'s weak type, as in optax."""
  if isinstance(x, jax.ShapeDtypeStruct) or (
      isinstance(x, (jax.Array, np.ndarray)) and np.ndim(x) > 0
      and not getattr(x, 'weak_type', False)):
    return tree_lib.full_like(x, value, dtype)
  return jnp.full_like(x, value, dtype=dtype)


def tree_zeros_like(tree: Any, dtype: Optional[jax.typing.DTypeLike] = None) -> Any:
  r"""A tree of zeros shaped like ``tree`` (in ``dtype`` when given), each leaf sharded like
  its source also under ``jax.jit``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.tree.zeros_like({'a': jnp.ones(2)})['a'].tolist()
    [0.0, 0.0]
  """
  return jax.tree.map(lambda x: _filled(x, 0, dtype), tree)


def tree_ones_like(tree: Any, dtype: Optional[jax.typing.DTypeLike] = None) -> Any:
  r"""A tree of ones shaped like ``tree`` (in ``dtype`` when given).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.tree.ones_like({'a': jnp.zeros(2)}, dtype=jnp.int32)['a'].tolist()
    [1, 1]
  """
  return jax.tree.map(lambda x: _filled(x, 1, dtype), tree)


def tree_full_like(tree: Any, fill_value: jax.typing.ArrayLike,
                   dtype: Optional[jax.typing.DTypeLike] = None) -> Any:
  r"""A tree shaped like ``tree`` whose every element is ``fill_value``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.tree.full_like([jnp.zeros(2)], 2.5)[0].tolist()
    [2.5, 2.5]
  """
  return jax.tree.map(lambda x: _filled(x, fill_value, dtype), tree)


# --------------------------------------------------------------------------- dtypes


def tree_cast(tree: ArrayTree, dtype: Optional[jax.typing.DTypeLike]) -> ArrayTree:
  r"""Every leaf cast to ``dtype``; the tree itself when ``dtype`` is None.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.tree.cast({'a': jnp.array(1.5)}, jnp.bfloat16)['a'].dtype.name
    'bfloat16'
  """
  return tree_lib.tree_cast(tree, dtype)


def tree_cast_like(tree: T, other_tree: ArrayTree) -> T:
  r"""Every leaf of ``tree`` cast to the dtype of the matching leaf of ``other_tree`` (a leaf
  of ``other_tree`` without a dtype, such as a Python float, leaves it as it is).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> out = ox.tree.cast_like([jnp.array(1.0), jnp.array(2.0)], [jnp.array(0, jnp.int32), 0.5])
    >>> [x.dtype.name for x in out]
    ['int32', 'float32']
  """
  return _map(lambda t, o: t.astype(o.dtype) if hasattr(o, 'dtype') else t, 'tree_cast_like',
              ('tree', 'other_tree'), tree, other_tree)


def _leaf_dtype(x: Any) -> Any:
  return jnp.asarray(x).dtype


def _lower(d1: Any, d2: Any) -> Any:
  """The one of two dtypes that promotes to the other."""
  promoted = jnp.promote_types(d1, d2)
  if promoted == d1:
    return d2
  if promoted == d2:
    return d1
  raise ValueError(f'tree_dtype: the leaf dtypes {d1} and {d2} cannot be ordered (neither '
                   "promotes to the other); use mixed_dtype_handler='promote'.")


def _higher(d1: Any, d2: Any) -> Any:
  return d2 if _lower(d1, d2) == d1 else d1


_DTYPE_HANDLERS = (None, 'promote', 'highest', 'lowest')


def tree_dtype(tree: ArrayTree, mixed_dtype_handler: Optional[str] = None
               ) -> jax.typing.DTypeLike:
  r"""The dtype of the tree's leaves (JAX's default dtype of an empty array when there are none).

  With ``mixed_dtype_handler=None`` all leaves must share one dtype (else a ValueError names
  every leaf path that differs from the first); ``'promote'`` returns their promoted dtype
  (``jnp.promote_types``); ``'highest'`` / ``'lowest'`` the highest / lowest in the order
  ":math:`d_1 \le d_2` if :math:`d_1` promotes to :math:`d_2`" (a ValueError when two leaves
  cannot be ordered).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> t = {'a': jnp.ones(1, jnp.float16), 'b': jnp.ones(1, jnp.float32)}
    >>> ox.tree.dtype(t, 'lowest').name, ox.tree.dtype(t, 'highest').name
    ('float16', 'float32')
  """
  if mixed_dtype_handler not in _DTYPE_HANDLERS:
    raise ValueError(f'tree_dtype: `mixed_dtype_handler` must be one of {_DTYPE_HANDLERS}, got '
                     f'{mixed_dtype_handler!r}.')
  leaves = jax.tree.leaves(tree)
  if not leaves:
    return jnp.asarray([]).dtype
  dtypes = [_leaf_dtype(x) for x in leaves]
  if mixed_dtype_handler is None:
    first = dtypes[0]
    paths = jax.tree_util.tree_flatten_with_path(tree)[0]
    wrong = [f'{jax.tree_util.keystr(path)} is {d}' for (path, _), d in zip(paths, dtypes)
             if d != first]
    if wrong:
      raise ValueError(f'tree_dtype: the leaves have several dtypes (the first is {first}): '
                       + '; '.join(wrong) + ". Pass mixed_dtype_handler='promote', 'highest' "
                       "or 'lowest'.")
    return first
  combine = {'promote': jnp.promote_types, 'highest': _higher, 'lowest': _lower}
  return functools.reduce(combine[mixed_dtype_handler], dtypes)


# --------------------------------------------------------------------------- random


def tree_split_key_like(rng_key: Any, target_tree: ArrayTree) -> ArrayTree:
  r"""``rng_key`` split into one key per leaf of ``target_tree``, in a tree of its structure.

  Example:
    >>> import jax, jax.numpy as jnp, optax_like as ox
    >>> keys = ox.tree.split_key_like(jax.random.key(0), {'a': jnp.ones(1), 'b': jnp.ones(2)})
    >>> sorted(keys)
    ['a', 'b']
  """
  treedef = jax.tree.structure(target_tree)
  return jax.tree.unflatten(treedef, jax.random.split(rng_key, treedef.num_leaves))


def _takes_out_sharding(sampler: Callable) -> bool:
  try:
    return 'out_sharding' in inspect.signature(sampler).parameters
  except (TypeError, ValueError):
    return False


def tree_random_like(
    rng_key: Any,
    target_tree: ArrayTree,
    sampler: Union[Callable[[Any, Any, jax.typing.DTypeLike], jax.typing.ArrayLike],
                   Callable[[Any, Any, jax.typing.DTypeLike, jax.sharding.Sharding],
                            jax.typing.ArrayLike]] = jax.random.normal,
    dtype: Optional[jax.typing.DTypeLike] = None,
) -> ArrayTree:
  r"""A tree shaped like ``target_tree`` whose leaf :math:`i` is drawn as
  ``sampler(k_i, shape_i, dtype or dtype_i)`` with :math:`k_i` from ``tree_split_key_like``.

  A sampler that takes ``out_sharding`` (as ``jax.random.normal`` does) gets each leaf's
  sharding, so the draw is placed like the leaf.

  Example:
    >>> import jax, jax.numpy as jnp, optax_like as ox
    >>> noise = ox.tree.random_like(jax.random.key(0), {'w': jnp.zeros((2, 3))})
    >>> noise['w'].shape, noise['w'].dtype.name
    ((2, 3), 'float32')
  """
  keys = tree_split_key_like(rng_key, target_tree)
  if _takes_out_sharding(sampler):
    def draw(leaf, key):
      return sampler(key, leaf.shape, dtype or leaf.dtype,
                     out_sharding=jax.typeof(leaf).sharding)
  else:
    def draw(leaf, key):
      return sampler(key, leaf.shape, dtype or leaf.dtype)
  return jax.tree.map(draw, target_tree, keys)


def tree_unwrap_random_key_data(input_tree: ArrayTree) -> ArrayTree:
  r"""Every typed PRNG key leaf (``jax.random.key``) replaced by its raw ``key_data`` array, so
  trees holding keys can be compared numerically; other leaves unchanged.

  Example:
    >>> import jax, optax_like as ox
    >>> ox.tree.unwrap_random_key_data({'k': jax.random.key(0)})['k'].dtype.name
    'uint32'
  """
  def unwrap(x):
    if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
      return jax.random.key_data(x)
    return x

  return jax.tree.map(unwrap, input_tree)

r"""GaLore: a base optimiser run on gradients projected to a low-rank subspace.

Zhao et al., "GaLore: Memory-Efficient LLM Training by Gradient Low-Rank Projection"
(ICML 2024, https://arxiv.org/abs/2403.03507). Matrix-shaped gradients are projected onto
their top singular vectors (recomputed every ``update_proj_gap`` steps), the base
optimiser's moments live in the small projected space, and its output is projected back.
"""

import math
from typing import Any, Callable, NamedTuple, Optional, Sequence, Union

import chex
import jax
import jax.numpy as jnp

from optax_like._src import adaptive
from optax_like._src import alias
from optax_like._src import base
from optax_like._src import tree
from optax_like._src import validation
from optax_like._src.weight_decay import add_decayed_weights


class GaLoreDimensionNumbers(NamedTuple):
  """Which axes of a weight form the rows (``reduction_axis``) and the columns
  (``output_axis``) of the matrix GaLore projects; each an axis or a sequence of axes
  (negative axes count from the end). E.g. an attention weight of shape
  ``(embed, heads, head_dim)`` with ``reduction_axis=0, output_axis=(1, 2)`` is the matrix
  ``embed x (heads * head_dim)``."""
  reduction_axis: Union[Sequence[int], int] = 0
  output_axis: Union[Sequence[int], int] = 1


class GaLoreState(NamedTuple):
  """State of ``scale_by_galore``: int32 ``count``, the base optimiser's state (over the
  projected gradients of projected leaves and the full gradients of the others), and the
  ``projector`` of each leaf (an empty ``(0, 0)`` array for leaves that are not projected)."""
  count: chex.Array
  base_optimizer_state: base.OptState
  projector: base.Updates


GaLoreDimNumsOrFn = Union[GaLoreDimensionNumbers, base.Params,
                          Callable[[base.Params], Optional[base.Params]]]


def _is_dim_nums(x: Any) -> bool:
  return isinstance(x, GaLoreDimensionNumbers)


def _is_dim_nums_leaf(x: Any) -> bool:
  return x is None or isinstance(x, GaLoreDimensionNumbers)


def _axes(spec: Any, ndim: int) -> tuple:
  return tuple(a % ndim for a in ((spec,) if isinstance(spec, int) else spec))


class _Matrix(NamedTuple):
  """How a leaf is seen as a matrix: to and from the ``(rows, cols)`` form."""
  rows: int
  cols: int
  to_2d: Callable[[jax.Array], jax.Array]
  from_2d: Callable[[jax.Array], jax.Array]


def _as_matrix(shape: tuple, dim_nums: GaLoreDimensionNumbers) -> _Matrix:
  ndim = len(shape)
  if ndim < 2:
    raise ValueError(f'scale_by_galore: a projected leaf needs rank >= 2, got shape {shape}.')
  rows_axes, cols_axes = _axes(dim_nums.reduction_axis, ndim), _axes(dim_nums.output_axis, ndim)
  if set(rows_axes) & set(cols_axes):
    raise ValueError(f'scale_by_galore: reduction axes {rows_axes} and output axes '
                     f'{cols_axes} overlap ({dim_nums} for shape {shape}).')
  if len(set(rows_axes) | set(cols_axes)) != ndim:
    raise ValueError(f'scale_by_galore: every axis must be a reduction or an output axis; got '
                     f'{rows_axes} and {cols_axes} for shape {shape}.')
  order = rows_axes + cols_axes
  inverse = tuple(sorted(range(ndim), key=lambda i: order[i]))
  permuted = tuple(shape[a] for a in order)
  rows = math.prod(shape[a] for a in rows_axes)
  cols = math.prod(shape[a] for a in cols_axes)
  return _Matrix(rows, cols, lambda y: y.transpose(order).reshape(rows, cols),
                 lambda y: y.reshape(permuted).transpose(inverse))


def scale_by_galore(
    rank: int = 128,
    update_proj_gap: int = 200,
    scale: float = 1.0,
    base_optimizer: Optional[base.GradientTransformation] = None,
    weight_dimension_numbers: Optional[GaLoreDimNumsOrFn] = None,
) -> base.GradientTransformation:
  r"""Runs ``base_optimizer`` on low-rank projections of matrix-shaped gradients.

  For a leaf seen as an :math:`m \times n` matrix :math:`G` and :math:`r = \min(\text{rank},
  m, n)`, every ``update_proj_gap`` steps (from the first) the projector is refreshed from
  the SVD :math:`G = U \Sigma V^\top` (computed in float32):

  .. math::
    P = U_{:, :r} \ (m \ge n), \qquad P = V_{:, :r} \ (m < n)

  then, with :math:`B` the base optimiser and :math:`\alpha` = ``scale``:

  .. math::
    m \ge n:\ u = \alpha\, P\, B(P^\top G), \qquad m < n:\ u = \alpha\, B(G P)\, P^\top

  Leaves that are not projected pass through :math:`B` at full size (without ``scale``).
  By default the 2-d leaves are projected as ``(rows, cols)``; ``weight_dimension_numbers``
  (one ``GaLoreDimensionNumbers`` for every leaf of rank >= 2, a tree of them with None for
  skipped leaves, or a function of the params returning such a tree) chooses others. The base
  optimiser must not need ``params`` (e.g. ``scale_by_adam``, the default).

  Args:
    rank: the largest rank of the projection, a positive int.
    update_proj_gap: steps between projector refreshes, ``>= 1``.
    scale: :math:`\alpha`, multiplies the projected-back updates.
    base_optimizer: the transformation run in the projected space (default
      ``scale_by_adam()``).
    weight_dimension_numbers: which leaves are projected and how (see above).

  Returns:
    A ``GradientTransformation`` with state ``GaLoreState(count, base_optimizer_state,
    projector)``.

  Example:
    >>> import jax.numpy as jnp
    >>> import optax_like as ox
    >>> from optax_like import contrib
    >>> tx = contrib.scale_by_galore(rank=1, base_optimizer=ox.scale(1.0))
    >>> g = jnp.array([[3.0, 0.0], [0.0, 1.0], [0.0, 0.0]])   # top singular pair: e1, e1
    >>> u, state = tx.update(g, tx.init(g))
    >>> jnp.abs(u).tolist(), state.projector.shape
    ([[3.0, 0.0], [0.0, 0.0], [0.0, 0.0]], (3, 1))
  """
  fn = 'scale_by_galore'
  if not isinstance(rank, int) or isinstance(rank, bool):
    raise TypeError(f'{fn}: `rank` must be an int, got {type(rank).__name__}: {rank!r}.')
  if rank <= 0:
    raise ValueError(f'{fn}: `rank` must be positive, got {rank}.')
  validation.check_range(update_proj_gap, 'update_proj_gap', low=1, fn=fn)
  validation.check_range(scale, 'scale', fn=fn)
  if base_optimizer is None:
    base_optimizer = adaptive.scale_by_adam()
  validation.check_transformation(base_optimizer, f'{fn}: `base_optimizer`')
  def dim_nums_for(tree_):
    """One GaLoreDimensionNumbers (or None) per leaf of ``tree_``, as a list."""
    treedef = jax.tree.structure(tree_)
    leaves = treedef.flatten_up_to(tree_)
    if weight_dimension_numbers is None:
      return [GaLoreDimensionNumbers() if jnp.ndim(x) == 2 else None for x in leaves]
    if _is_dim_nums(weight_dimension_numbers):
      return [weight_dimension_numbers if jnp.ndim(x) >= 2 else None for x in leaves]
    given = (weight_dimension_numbers(tree_) if callable(weight_dimension_numbers)
             else weight_dimension_numbers)
    try:
      specs = treedef.flatten_up_to(given)
    except (ValueError, TypeError) as e:
      raise ValueError(f'{fn}: `weight_dimension_numbers` must have the structure of the '
                       f'params (a GaLoreDimensionNumbers or None per leaf): {e}') from e
    for spec in specs:
      if not _is_dim_nums_leaf(spec):
        raise TypeError(f'{fn}: `weight_dimension_numbers` leaves must be '
                        f'GaLoreDimensionNumbers or None, got {spec!r:.80}.')
    return specs

  def shapes(x, spec):
    """``(projector, proxy)`` zeros for the leaf ``x``: the proxy is what ``base`` sees."""
    if spec is None:
      return jnp.zeros((0, 0), x.dtype), tree.full_like(x, 0)
    mat = _as_matrix(jnp.shape(x), spec)
    r = min(rank, mat.rows, mat.cols)
    if mat.rows >= mat.cols:
      return jnp.zeros((mat.rows, r), x.dtype), jnp.zeros((r, mat.cols), x.dtype)
    return jnp.zeros((mat.cols, r), x.dtype), jnp.zeros((mat.rows, r), x.dtype)

  def init_fn(params):
    treedef = jax.tree.structure(params)
    leaves = treedef.flatten_up_to(params)
    if not leaves:
      return GaLoreState(count=jnp.zeros([], jnp.int32),
                         base_optimizer_state=base_optimizer.init(params), projector=params)
    pairs = [shapes(x, spec) for x, spec in zip(leaves, dim_nums_for(params))]
    return GaLoreState(count=jnp.zeros([], jnp.int32),
                       base_optimizer_state=base_optimizer.init(
                           treedef.unflatten([q for _, q in pairs])),
                       projector=treedef.unflatten([p for p, _ in pairs]))

  def update_fn(updates, state, params=None):
    del params
    validation.check_state(state, GaLoreState, fn)
    treedef = jax.tree.structure(updates)
    gs = treedef.flatten_up_to(updates)
    try:
      projectors = treedef.flatten_up_to(state.projector)
    except (ValueError, TypeError):
      validation.check_same_structure(updates, state.projector, 'updates', 'state.projector',
                                      fn)
      raise
    specs = dim_nums_for(updates)
    refresh = state.count % update_proj_gap == 0

    low_rank, new_projectors, mats = [], [], []
    for g, proj, spec in zip(gs, projectors, specs):
      if spec is None:
        low_rank.append(g)
        new_projectors.append(proj)
        mats.append(None)
        continue
      mat = _as_matrix(g.shape, spec)
      r = min(rank, mat.rows, mat.cols)
      g2 = mat.to_2d(g)
      left = mat.rows >= mat.cols

      def fresh(g2=g2, left=left, r=r, dtype=g.dtype):
        u, _, vh = jnp.linalg.svd(g2.astype(jnp.float32), full_matrices=False)
        return (u[:, :r] if left else vh[:r, :].T).astype(dtype)

      proj = jax.lax.cond(refresh, fresh, lambda proj=proj: proj)
      # Matrix products in float32 for 16-bit leaves; the base optimiser gets the leaf's dtype.
      pc, gc = tree.upcast(proj), tree.upcast(g2)
      low_rank.append(tree.cast(pc.T @ gc if left else gc @ pc, tree.result_dtype(g)))
      new_projectors.append(proj)
      mats.append((mat, left))

    base_updates, base_state = base_optimizer.update(treedef.unflatten(low_rank),
                                                     state.base_optimizer_state, None)
    outs = []
    for g, b, proj, m in zip(gs, treedef.flatten_up_to(base_updates), new_projectors, mats):
      if m is None:
        outs.append(b)
        continue
      mat, left = m
      pc, bc = tree.upcast(proj), tree.upcast(b)
      full = mat.from_2d(pc @ bc if left else bc @ pc.T)
      outs.append(tree.cast(scale * full, tree.result_dtype(g)))
    return treedef.unflatten(outs), GaLoreState(
        count=tree.safe_increment(state.count), base_optimizer_state=base_state,
        projector=treedef.unflatten(new_projectors))

  return base.GradientTransformation(init_fn, update_fn)


def galore(
    learning_rate: base.ScalarOrSchedule,
    rank: int = 128,
    update_proj_gap: int = 200,
    scale: float = 1.0,
    base_optimizer: Optional[base.GradientTransformation] = None,
    weight_decay: chex.Numeric = 0.0,
    mask: Optional[Union[Any, Callable[[base.Params], Any]]] = None,
    weight_dimension_numbers: Optional[GaLoreDimNumsOrFn] = None,
) -> base.GradientTransformationExtraArgs:
  r"""GaLore: ``scale_by_galore``, weight decay in the full space, then ``-learning_rate``.

  .. math::
    u = -\eta_t \left(\alpha\, P\, B(P^\top G) + \lambda\, p\right)

  for projected leaves (see ``scale_by_galore``; the base optimiser defaults to Adam).
  Zhao et al. 2024, https://arxiv.org/abs/2403.03507.

  Args:
    learning_rate: :math:`\eta`, a number or a schedule.
    rank: the largest rank of the projection.
    update_proj_gap: steps between projector refreshes.
    scale: :math:`\alpha`.
    base_optimizer: the transformation in the projected space (default
      ``scale_by_adam()``).
    weight_decay: :math:`\lambda` (multiplied by the learning rate).
    mask: which leaves get weight decay.
    weight_dimension_numbers: which leaves are projected and how.

  Returns:
    A ``GradientTransformationExtraArgs`` (optax's chain).

  Example:
    >>> import jax.numpy as jnp
    >>> import optax_like as ox
    >>> from optax_like import contrib
    >>> opt = contrib.galore(0.5, rank=1, base_optimizer=ox.scale(1.0))
    >>> p = jnp.zeros((2, 2))
    >>> u, _ = opt.update(jnp.array([[2.0, 0.0], [0.0, 0.0]]), opt.init(p), p)
    >>> jnp.abs(u).tolist()   # rank 1 keeps the gradient: 0.5 * 2
    [[1.0, 0.0], [0.0, 0.0]]
  """
  return base.chain(
      scale_by_galore(rank=rank, update_proj_gap=update_proj_gap, scale=scale,
                      base_optimizer=base_optimizer,
                      weight_dimension_numbers=weight_dimension_numbers),
      add_decayed_weights(weight_decay, mask),
      alias._lr(learning_rate, 'galore'))  # pylint: disable=protected-access

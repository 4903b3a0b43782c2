r"""Euclidean projections of pytrees onto convex sets.

Each function returns :math:`\operatorname{argmin}_{p \in C} \|x - p\|_2^2` for a set :math:`C`,
where :math:`x` is the whole pytree seen as one vector (norms and inner products run over all
leaves together). The result has the structure of the input tree.
"""

from __future__ import annotations

import operator
from typing import Any

import jax
from jax import flatten_util
import jax.numpy as jnp

from optax_like._src import tree_math


def projection_non_negative(tree: Any) -> Any:
  r"""Projection onto the non-negative orthant: :math:`p = \max(x, 0)` elementwise.

  .. math::
    \operatorname{argmin}_p \|x - p\|_2^2 \quad \text{s.t.} \quad p \ge 0

  Args:
    tree: the tree to project.

  Returns:
    the projected tree.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.projections.projection_non_negative({'w': jnp.array([-1.0, 2.0])})['w'].tolist()
    [0.0, 2.0]
  """
  return jax.tree.map(jax.nn.relu, tree)


def projection_box(tree: Any, lower: Any, upper: Any) -> Any:
  r"""Projection onto a box: :math:`p = \min(\max(x, l), u)` elementwise.

  .. math::
    \operatorname{argmin}_p \|x - p\|_2^2 \quad \text{s.t.} \quad l \le p \le u

  Args:
    tree: the tree to project.
    lower: the lower bound :math:`l`, a scalar or a tree like ``tree``. A scalar (or one
      array) bounds every leaf; optax accepts it only for a single-leaf ``tree``.
    upper: the upper bound :math:`u`, a scalar or a tree like ``tree``, as ``lower``.

  Returns:
    the projected tree.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.projections.projection_box(jnp.array([-2.0, 0.5, 3.0]), -1.0, 1.0).tolist()
    [-1.0, 0.5, 1.0]
    >>> ox.projections.projection_box({'a': jnp.array(-2.0), 'b': jnp.array(3.0)}, -1.0, 1.0)
    {'a': Array(-1., dtype=float32, weak_type=True), 'b': Array(1., dtype=float32, weak_type=True)}
  """
  lower = _bound_like(lower, tree, 'lower')
  upper = _bound_like(upper, tree, 'upper')
  return jax.tree.map(jnp.clip, tree, lower, upper)


def _bound_like(bound: Any, tree: Any, name: str) -> Any:
  """``bound`` as a tree like ``tree``: a single array or scalar is used for every leaf."""
  structure = jax.tree.structure(tree)
  bound_structure = jax.tree.structure(bound)
  if bound_structure == structure:
    return bound
  if jax.tree_util.treedef_is_leaf(bound_structure) and bound is not None:
    return jax.tree.map(lambda _: bound, tree)
  raise ValueError(f'projection_box: `{name}` must be a scalar, an array, or a tree with the '
                   f'structure of `tree` ({structure}), got {bound_structure}.')


def projection_hypercube(tree: Any, scale: Any = 1) -> Any:
  r"""Projection onto the hypercube :math:`[0, s]^n`: ``projection_box(tree, 0, scale)``.

  .. math::
    \operatorname{argmin}_p \|x - p\|_2^2 \quad \text{s.t.} \quad 0 \le p \le s

  Args:
    tree: the tree to project.
    scale: the side :math:`s`, a scalar or a tree like ``tree`` (default: the unit cube).

  Returns:
    the projected tree.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.projections.projection_hypercube(jnp.array([-2.0, 0.5, 3.0])).tolist()
    [0.0, 0.5, 1.0]
  """
  return projection_box(tree, lower=0, upper=scale)


def _sorted_simplex_projection(values: jax.Array) -> jax.Array:
  # With u the values sorted in decreasing order, the support is the largest k such that
  # u_k + (1 - sum_{j<=k} u_j) / k > 0, and tau = (sum_{j<=k} u_j - 1) / k is subtracted.
  n = values.shape[0]
  u = jnp.sort(values)[::-1]
  cumsum_u = jnp.cumsum(u)
  ks = jnp.arange(n) + 1
  support = jnp.count_nonzero(1 / ks + (u - cumsum_u / ks) > 0)
  return jax.nn.relu(1 / support + (values - cumsum_u[support - 1] / support))


@jax.custom_jvp
def _projection_unit_simplex(values: jax.Array) -> jax.Array:
  """Projection of a vector onto the probability simplex (Held et al. 1974's sort method)."""
  return _sorted_simplex_projection(values)


@_projection_unit_simplex.defjvp
def _projection_unit_simplex_jvp(primals, tangents):
  # On the support S of the projection the Jacobian is I - 1 1^T / |S| (restricted to S).
  (values,), (values_dot,) = primals, tangents
  projected = _projection_unit_simplex(values)
  support = projected > 0
  size = jnp.count_nonzero(support)
  tangent = support * values_dot - (jnp.dot(support, values_dot) / size) * support
  return projected, tangent


def projection_simplex(tree: Any, scale: jax.typing.ArrayLike = 1) -> Any:
  r"""Projection onto the simplex of scale :math:`s`.

  .. math::
    \operatorname{argmin}_p \|x - p\|_2^2 \quad \text{s.t.} \quad p \ge 0,\ \sum_i p_i = s

  All leaves together form one vector :math:`x`. The solution is
  :math:`p = \max(x - \tau, 0)` with the threshold :math:`\tau` found by sorting (Held, Wolfe
  and Crowder, *Validation of subgradient optimization*, 1974; Duchi et al., ICML 2008).

  Args:
    tree: the tree to project.
    scale: the sum :math:`s` of the projection (default: 1, the probability simplex).

  Returns:
    the projected tree.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> # only the largest entry stays: tau = 3 - 1 = 2
    >>> ox.projections.projection_simplex(jnp.array([3.0, 1.0, -1.0]), scale=1.0).tolist()
    [1.0, 0.0, 0.0]
    >>> ox.projections.projection_simplex(jnp.array([1.0, 0.5, -1.0])).tolist()
    [0.75, 0.25, 0.0]
  """
  values, unravel = flatten_util.ravel_pytree(tree)
  return unravel(scale * _projection_unit_simplex(values / scale))


def projection_l1_sphere(tree: Any, scale: jax.typing.ArrayLike = 1) -> Any:
  r"""Projection onto the l1 sphere of radius :math:`s`.

  .. math::
    \operatorname{argmin}_p \|x - p\|_2^2 \quad \text{s.t.} \quad \|p\|_1 = s

  solved as :math:`\operatorname{sign}(x) \odot \Pi_{\Delta_s}(|x|)`.

  Args:
    tree: the tree to project.
    scale: the radius :math:`s`.

  Returns:
    the projected tree.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.projections.projection_l1_sphere(jnp.array([-1.0, 0.5, 0.0])).tolist()
    [-0.75, 0.25, 0.0]
  """
  signs = jax.tree.map(jnp.sign, tree)
  magnitudes = projection_simplex(jax.tree.map(jnp.abs, tree), scale)
  return jax.tree.map(operator.mul, signs, magnitudes)


def projection_l1_ball(tree: Any, scale: jax.typing.ArrayLike = 1) -> Any:
  r"""Projection onto the l1 ball of radius :math:`s`.

  .. math::
    \operatorname{argmin}_p \|x - p\|_2^2 \quad \text{s.t.} \quad \|p\|_1 \le s

  A tree inside the ball is returned unchanged; otherwise it goes to the sphere
  (:func:`projection_l1_sphere`).

  Args:
    tree: the tree to project.
    scale: the radius :math:`s`.

  Returns:
    the projected tree.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.projections.projection_l1_ball(jnp.array([0.25, -0.5])).tolist()
    [0.25, -0.5]
    >>> ox.projections.projection_l1_ball(jnp.array([2.0, -1.0])).tolist()
    [1.0, -0.0]
  """
  return jax.lax.cond(tree_math.tree_norm(tree, ord=1) <= scale,
                      lambda t: t,
                      lambda t: projection_l1_sphere(t, scale),
                      tree)


def projection_l2_sphere(tree: Any, scale: jax.typing.ArrayLike = 1) -> Any:
  r"""Projection onto the l2 sphere of radius :math:`s`: :math:`p = s\, x / \|x\|_2`.

  .. math::
    \operatorname{argmin}_p \|x - p\|_2^2 \quad \text{s.t.} \quad \|p\|_2 = s

  Args:
    tree: the tree to project (a zero tree has no projection: NaN).
    scale: the radius :math:`s`.

  Returns:
    the projected tree.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.projections.projection_l2_sphere(jnp.array([3.0, 4.0]), scale=10.0).tolist()
    [6.0, 8.0]
  """
  return tree_math.tree_scale(scale / jnp.sqrt(tree_math.tree_norm(tree, squared=True)), tree)


def projection_l2_ball(tree: Any, scale: jax.typing.ArrayLike = 1) -> Any:
  r"""Projection onto the l2 ball of radius :math:`s`: :math:`p = x \cdot s / \max(\|x\|_2, s)`.

  .. math::
    \operatorname{argmin}_p \|x - p\|_2^2 \quad \text{s.t.} \quad \|p\|_2 \le s

  Args:
    tree: the tree to project.
    scale: the radius :math:`s`.

  Returns:
    the projected tree.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.projections.projection_l2_ball(jnp.array([3.0, 4.0])).tolist()
    [0.6000000238418579, 0.800000011920929]
    >>> ox.projections.projection_l2_ball(jnp.array([0.3, 0.4])).tolist()
    [0.30000001192092896, 0.4000000059604645]
  """
  squared_norm = tree_math.tree_norm(tree, squared=True)
  return tree_math.tree_scale(scale / jnp.sqrt(jnp.maximum(squared_norm, scale**2)), tree)


def projection_linf_ball(tree: Any, scale: jax.typing.ArrayLike = 1) -> Any:
  r"""Projection onto the l-infinity ball of radius :math:`s`: clipping to :math:`[-s, s]`.

  .. math::
    \operatorname{argmin}_p \|x - p\|_2^2 \quad \text{s.t.} \quad \|p\|_\infty \le s

  Args:
    tree: the tree to project.
    scale: the radius :math:`s`.

  Returns:
    the projected tree.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.projections.projection_linf_ball(jnp.array([-3.0, 0.5, 2.0])).tolist()
    [-1.0, 0.5, 1.0]
  """
  lower = jax.tree.map(lambda x: jnp.full_like(x, -scale), tree)
  upper = jax.tree.map(lambda x: jnp.full_like(x, scale), tree)
  return projection_box(tree, lower=lower, upper=upper)


def projection_vector(x: Any, a: Any) -> Any:
  r"""Projection of ``x`` onto the line spanned by ``a``.

  .. math::
    \operatorname{proj}_a x = \frac{\langle x, a \rangle}{\langle a, a \rangle}\, a

  Args:
    x: the tree to project.
    a: a tree with the structure of ``x``, the direction.

  Returns:
    a tree with the structure of ``x``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.projections.projection_vector(jnp.array([2.0, 1.0]), jnp.array([1.0, 0.0])).tolist()
    [2.0, 0.0]
  """
  return tree_math.tree_scale(tree_math.tree_vdot(x, a) / tree_math.tree_vdot(a, a), a)


def projection_hyperplane(x: Any, a: Any, b: jax.typing.ArrayLike) -> Any:
  r"""Projection onto the hyperplane :math:`\{y : \langle a, y \rangle = b\}`.

  .. math::
    p = x + \frac{b - \langle a, x \rangle}{\langle a, a \rangle}\, a

  Args:
    x: the tree to project.
    a: a tree with the structure of ``x``, the normal of the hyperplane.
    b: the scalar offset.

  Returns:
    a tree with the structure of ``x``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> ox.projections.projection_hyperplane(
    ...     jnp.array([2.0, 1.0]), jnp.array([1.0, 0.0]), 0.5).tolist()
    [0.5, 1.0]
  """
  return tree_math.tree_add_scale(x, (b - tree_math.tree_vdot(x, a)) / tree_math.tree_vdot(a, a), a)


def projection_halfspace(x: Any, a: Any, b: jax.typing.ArrayLike) -> Any:
  r"""Projection onto the halfspace :math:`\{y : \langle a, y \rangle \le b\}`.

  .. math::
    p = x + \min\left(0, \frac{b - \langle a, x \rangle}{\langle a, a \rangle}\right) a

  Args:
    x: the tree to project.
    a: a tree with the structure of ``x``, the outer normal.
    b: the scalar offset.

  Returns:
    a tree with the structure of ``x``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> a = jnp.array([1.0, 0.0])
    >>> ox.projections.projection_halfspace(jnp.array([2.0, 1.0]), a, 0.5).tolist()
    [0.5, 1.0]
    >>> ox.projections.projection_halfspace(jnp.array([0.0, 1.0]), a, 0.5).tolist()
    [0.0, 1.0]
  """
  step = jnp.clip((b - tree_math.tree_vdot(x, a)) / tree_math.tree_vdot(a, a), max=0)
  return tree_math.tree_add_scale(x, step, a)

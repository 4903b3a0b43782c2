r"""Linear algebra on arrays and pytrees: inner products of trees, power iteration, the inverse
p-th root of a PSD matrix (coupled Newton) and non-negative least squares (projected gradient).

The tree helpers at the top (``tree_vdot``, ``tree_add_scale``, ``tree_sq_norm``,
``tree_cast_like``, ``tree_where``) are what the quasi-Newton and line-search modules build on.
They reduce leaf by leaf in the tree's order, as optax's ``optax.tree`` helpers do, so that
sums round as optax's do; 16-bit leaves are multiplied and summed in float32.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional, Union

import jax
from jax import lax
import jax.numpy as jnp

from optax_like._src import tree_math
from optax_like._src import validation


# --------------------------------------------------------------------------- tree helpers

# Elementwise tree helpers are the project's (optax.tree's numerics); the reductions below widen
# 16-bit leaves to float32 first.
tree_add_scale = tree_math.tree_add_scale
tree_scale = tree_math.tree_scale
tree_cast_like = tree_math.tree_cast_like
tree_where = tree_math.tree_where


def _wide(x: Any) -> jax.Array:
  """A 16-bit float leaf in float32; any other leaf as it is (an array)."""
  x = jnp.asarray(x)
  if jnp.issubdtype(x.dtype, jnp.floating) and x.dtype.itemsize < 4:
    return x.astype(jnp.float32)
  return x


def tree_vdot(x: Any, y: Any) -> jax.Array:
  r"""The inner product :math:`\langle x, y\rangle = \sum_{\text{leaves}} \sum_i \bar x_i y_i`
  (``optax.tree.vdot``, with 16-bit leaves multiplied and summed in float32).

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like._src.linear_algebra import tree_vdot
    >>> float(tree_vdot({'a': jnp.array([1., 2.])}, {'a': jnp.array([3., 4.])}))
    11.0
  """
  return tree_math.tree_vdot(jax.tree.map(_wide, x), jax.tree.map(_wide, y))


def tree_sq_norm(x: Any) -> jax.Array:
  r"""The squared Euclidean norm :math:`\sum |x_i|^2` over every leaf (real-valued)."""
  return tree_math.tree_norm(jax.tree.map(_wide, x), squared=True)


def tree_norm(x: Any) -> jax.Array:
  r"""The Euclidean norm :math:`\sqrt{\sum |x_i|^2}` over every leaf."""
  return tree_math.tree_norm(jax.tree.map(_wide, x))


# --------------------------------------------------------------------------- power iteration


def _normalized(v: Any) -> Any:
  return tree_scale(1.0 / tree_norm(v), v)


def _keep_iterating(error_tolerance, num_iters, carry):
  eigvec, image, eig, step = carry
  residual = jax.tree.map(lambda z, v: z - eig * v, image, eigvec)
  converged = jnp.abs(tree_norm(residual) / eig) < error_tolerance
  return ~converged & (step < num_iters)


def power_iteration(
    matrix: Union[jax.typing.ArrayLike, Callable[[Any], Any]],
    *,
    v0: Optional[Any] = None,
    num_iters: jax.typing.ArrayLike = 100,
    error_tolerance: jax.typing.ArrayLike = 1e-6,
    precision: lax.Precision = lax.Precision.HIGHEST,
    key: Optional[jax.Array] = None,
) -> tuple[jax.typing.ArrayLike, Any]:
  r"""The dominant eigenvalue of a diagonalizable matrix and its (unit) eigenvector.

  From a unit vector :math:`v_0`, repeat

  .. math::
    v_k = z_{k-1} / \|z_{k-1}\|, \quad z_k = A v_k, \quad \lambda_k = \langle v_k, z_k\rangle

  until :math:`\|z_k - \lambda_k v_k\| / |\lambda_k| <` ``error_tolerance`` or ``num_iters``
  steps (von Mises, 1929; Golub & Van Loan, *Matrix Computations*, 7.3.1).

  Args:
    matrix: a square array, or a callable returning the matrix-vector product of a pytree.
    v0: the starting vector (a pytree for a callable ``matrix``, where it is required); by
      default uniform in [-1, 1] drawn with ``key`` (``PRNGKey(0)`` if None).
    num_iters: the most iterations.
    error_tolerance: stop once the relative residual is below it.
    precision: the precision of the matrix products with an array ``matrix``.
    key: random key for the default ``v0``.

  Returns:
    ``(eigenvalue, eigenvector)``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> eig, vec = ox.power_iteration(jnp.diag(jnp.array([1.0, 3.0])), v0=jnp.array([1.0, 1.0]))
    >>> round(float(eig), 4), [round(float(x), 3) for x in jnp.abs(vec)]
    (3.0, [0.0, 1.0])
  """
  if callable(matrix):
    product = matrix
    if v0 is None:
      raise ValueError('power_iteration: `v0` must be given when `matrix` is a callable '
                       '(the shape of its input is unknown).')
  else:
    matrix = jnp.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
      raise ValueError(f'power_iteration: `matrix` must be square, got shape {matrix.shape}.')
    product = lambda v: jnp.matmul(matrix, v, precision=precision)
    if v0 is None:
      key = jax.random.PRNGKey(0) if key is None else key
      v0 = jax.random.uniform(key, shape=matrix.shape[-1:], dtype=matrix.dtype,
                              minval=-1.0, maxval=1.0)
  v0 = _normalized(v0)

  def step(carry):
    _, image, _, count = carry
    eigvec = _normalized(image)
    image = product(eigvec)
    return eigvec, image, tree_vdot(eigvec, image), count + 1

  carry = (v0, product(v0), jnp.asarray(0.0), jnp.asarray(0))
  _, image, eigenvalue, _ = lax.while_loop(
      functools.partial(_keep_iterating, error_tolerance, num_iters), step, carry)
  return eigenvalue, _normalized(image)


# --------------------------------------------------------------------------- inverse p-th root


def _square_power(m: jax.Array, times: int, precision) -> jax.Array:
  """``m ** (2 ** times)`` by repeated squaring."""
  for _ in range(times):
    m = jnp.matmul(m, m, precision=precision)
  return m


def matrix_inverse_pth_root(
    matrix: jax.typing.ArrayLike,
    p: jax.typing.ArrayLike,
    num_iters: jax.typing.ArrayLike = 100,
    ridge_epsilon: jax.typing.ArrayLike = 1e-6,
    error_tolerance: jax.typing.ArrayLike = 1e-6,
    precision: lax.Precision = lax.Precision.HIGHEST,
):
  r"""``matrix ** (-1/p)`` of a symmetric PSD matrix by coupled Newton iterations (p = 1, 2, 4, 8).

  With :math:`A = M + \epsilon \lambda_{max} I`, :math:`z = (1 + p) / (2 \|A\|_F)`,
  :math:`M_0 = z A`, :math:`H_0 = z^{1/p} I` and :math:`\alpha = -1/p`:

  .. math::
    T_k = (1 - \alpha) I + \alpha M_k, \quad M_{k+1} = T_k^p M_k, \quad H_{k+1} = H_k T_k

  until :math:`\max |M_k - I| \le` ``error_tolerance``, or the error grows by more than 20% (then
  the previous :math:`H` is kept), or ``num_iters`` (Higham, *Functions of Matrices*, eq. 7.18).
  :math:`\lambda_{max}` is estimated by ``power_iteration``; a 1x1 matrix is raised directly.

  Returns:
    ``(matrix ** (-1/p), error)``, the error being :math:`\max |M - I|` at the end.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> root, _ = ox.matrix_inverse_pth_root(jnp.diag(jnp.array([4.0, 16.0])), 2, ridge_epsilon=0.0)
    >>> [round(float(x), 4) for x in jnp.diag(root)]
    [0.5, 0.25]
  """
  matrix = jnp.asarray(matrix)
  if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
    raise ValueError(f'matrix_inverse_pth_root: `matrix` must be square, got shape '
                     f'{matrix.shape}.')
  validation.check_not_bool(p, 'p', 'matrix_inverse_pth_root')
  size = matrix.shape[0]
  alpha = jnp.asarray(-1.0 / p, jnp.float32)
  identity = jnp.eye(size, dtype=jnp.float32)
  max_ev, _ = power_iteration(matrix=matrix, num_iters=100, error_tolerance=1e-6,
                              precision=precision)
  ridge_epsilon = ridge_epsilon * jnp.maximum(max_ev, 1e-16)

  def power_p(m):
    # p is 1, 2, 4 or 8: the branch index is log2(p); each branch squares that many times.
    branch = jnp.asarray(jnp.round(jnp.log2(p)), jnp.int32)
    return lax.switch(branch, [functools.partial(_square_power, times=t, precision=precision)
                               for t in range(4)], m)

  def keep_going(carry):
    i, _, _, _, error, improving = carry
    return jnp.logical_and(i < num_iters, jnp.logical_and(error > error_tolerance, improving))

  def newton_step(carry):
    i, m, h, _, error, _ = carry
    t = (1 - alpha) * identity + alpha * m
    new_m = jnp.matmul(power_p(t), m, precision=precision)
    new_h = jnp.matmul(h, t, precision=precision)
    new_error = jnp.max(jnp.abs(new_m - identity))
    # The error may rise once before it falls; more than 20% up means divergence.
    return i + 1, new_m, new_h, h, new_error, new_error < error * 1.2

  if size == 1:
    return (matrix + ridge_epsilon) ** alpha, 0
  damped = matrix + ridge_epsilon * identity
  z = (1 + p) / (2 * jnp.linalg.norm(damped))
  m0 = damped * z
  h0 = identity * jnp.power(z, 1.0 / p)
  carry = (0, m0, h0, h0, jnp.max(jnp.abs(m0 - identity)), True)
  _, m, h, previous_h, _, converged = lax.while_loop(keep_going, newton_step, carry)
  error = jnp.max(jnp.abs(m - identity))
  converged = jnp.asarray(converged, previous_h.dtype)
  root = converged * h + (1 - converged) * previous_h
  return jnp.asarray(root, matrix.dtype), error


# --------------------------------------------------------------------------- NNLS


def _spectral_radius_bound(q: jax.Array) -> jax.Array:
  """``min(||Q||_F, ||Q||_1)``, an upper bound on the spectral radius of ``Q``."""
  frobenius = jnp.linalg.matrix_norm(q, ord='fro')
  one = jnp.linalg.matrix_norm(q, ord=1) if q.size != 0 else 0
  return jnp.minimum(frobenius, one)


def nnls(
    A: jax.Array,  # pylint: disable=invalid-name
    b: jax.Array,
    iters: int,
    unroll: Union[int, bool] = 1,
    L: Union[jax.typing.ArrayLike, None] = None,  # pylint: disable=invalid-name
) -> jax.Array:
  r"""Non-negative least squares :math:`\min_{x \ge 0} \|A x - b\|_2` by fast projected gradient.

  With :math:`Q = A^\top A`, :math:`q = A^\top b`, :math:`L \ge \rho(Q)`, :math:`x_0 = p_0 = 0`,
  :math:`c_0 = 0`:

  .. math::
    c_{k+1} = \tfrac{1 + \sqrt{1 + 4 c_k^2}}{2}, \quad
    x_{k+1} = \max(p_k - (Q p_k - q) / L, 0), \quad
    p_{k+1} = x_{k+1} + \tfrac{c_k - 1}{c_{k+1}} (x_{k+1} - x_k)

  for ``iters`` steps (Polyak, *Projected gradient method for non-negative least square*, 2015).

  Args:
    A: matrix of shape ``(M, N)``.
    b: vector ``(M,)`` or matrix ``(M, K)``.
    iters: number of iterations.
    unroll: ``unroll`` of the ``lax.scan``.
    L: an upper bound on the spectral radius of ``A.T @ A`` (computed if None).

  Returns:
    ``x`` of shape ``(N,)`` or ``(N, K)``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> x = ox.nnls(jnp.eye(2), jnp.array([2.0, -1.0]), 50)
    >>> [round(float(v), 4) for v in x]
    [2.0, 0.0]
  """
  A, b = jnp.asarray(A), jnp.asarray(b)  # pylint: disable=invalid-name
  if A.ndim != 2:
    raise ValueError(f'nnls: `A` must be a matrix, got shape {A.shape}.')
  if b.ndim not in (1, 2) or b.shape[0] != A.shape[0]:
    raise ValueError(f'nnls: `b` must have shape ({A.shape[0]},) or ({A.shape[0]}, K) to match '
                     f'`A` of shape {A.shape}, got {b.shape}.')
  validation.check_not_bool(iters, 'iters', 'nnls')
  q_mat = A.mT @ A
  q_vec = A.mT @ b
  if L is None:
    L = _spectral_radius_bound(q_mat)  # pylint: disable=invalid-name
  L = jnp.where(L == 0, 1, L)  # pylint: disable=invalid-name

  def step(carry, _):
    x, p, c = carry
    c_next = (1 + jnp.sqrt(1 + 4 * c ** 2)) / 2
    momentum = (c - 1) / c_next
    x_next = (p - (q_mat @ p - q_vec) / L).clip(0)
    return (x_next, x_next + momentum * (x_next - x), c_next), None

  x = jnp.zeros_like(b, shape=A.shape[-1:] + b.shape[1:])
  (x, _, _), _ = lax.scan(step, (x, x, 0.), length=iters, unroll=unroll)
  return x

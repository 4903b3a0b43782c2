r"""SM3: Adagrad-like scaling whose accumulators cover each axis of a leaf instead of every element.

A leaf of shape :math:`(n_1, \dots, n_k)` keeps one accumulator vector per axis (memory
:math:`\sum_i n_i` rather than :math:`\prod_i n_i`); an element's accumulated squared gradient
is estimated by the minimum over the vectors of the entries that cover it. Drop-in for
optax's ``scale_by_sm3`` (state ``ScaleBySM3State(mu, nu)``, ``mu`` a list of per-axis vectors
per leaf); 16-bit leaves are computed in float32 and rounded only when stored.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optax_like._src import adaptive
from optax_like._src import base
from optax_like._src import moments
from optax_like._src import tree
from optax_like._src import validation


class ScaleBySM3State(NamedTuple):
  """State of ``scale_by_sm3``.

  Attributes:
    mu: per leaf, a list with one accumulator vector per axis (``mu[i]`` has the length of
      axis ``i``).
    nu: per leaf, the momentum of the scaled updates (the transform's output).
  """
  mu: base.Updates
  nu: base.Updates


def _axis_zeros(x: Any, axis: int) -> jax.Array:
  """Zeros of the length of ``x``'s axis ``axis``, derived from ``x`` so that they are sharded
  like it, also when ``init`` is traced."""
  others = tuple(i for i in range(x.ndim) if i != axis)
  if isinstance(x, jax.ShapeDtypeStruct):
    return jnp.zeros((x.shape[axis],), x.dtype)
  return jnp.sum(tree.full_like(x, 0), axis=others).astype(x.dtype)


def _along(v: jax.Array, ndim: int, axis: int) -> jax.Array:
  """The vector ``v`` of axis ``axis`` reshaped to broadcast over a rank-``ndim`` leaf."""
  return jnp.reshape(v, [1] * axis + [v.shape[0]] + [1] * (ndim - axis - 1))


def _reject_complex_and_scalars(params: Any, fn: str) -> None:
  for path, x in jax.tree_util.tree_flatten_with_path(params)[0]:
    where = jax.tree_util.keystr(path) or 'the root'
    if jnp.issubdtype(x.dtype, jnp.complexfloating):
      raise ValueError(f'{fn}: complex parameters are not supported (at {where}).')
    if len(x.shape) == 0:
      # optax fails with an IndexError on such a leaf: a scalar has no axis to cover it.
      raise ValueError(f'{fn}: every parameter needs at least one axis; got a scalar at '
                       f'{where} (reshape it to shape (1,)).')


def scale_by_sm3(
    b1: Any = 0.9,
    b2: Any = 1.0,
    eps: Any = 1e-8,
) -> base.GradientTransformation:
  r"""Scales updates by SM3's per-axis accumulators, then takes their momentum.

  For a leaf of rank :math:`k \ge 2` with per-axis accumulators :math:`\mu^{(i)}` (each
  broadcast along its axis), and :math:`c = 1 - \beta_2` if :math:`\beta_2 \ne 1` else 1:

  .. math::
    a_t = c\, g_t^2 + \beta_2 \min_i \mu^{(i)}_{t-1}, \qquad
    \tilde g_t = \begin{cases} g_t / \sqrt{a_t + \epsilon} & a_t > 0 \\ 0 & \text{else}
    \end{cases}, \qquad
    \mu^{(i)}_t = \max_{j \ne i} a_t

  (for a vector :math:`\mu_t = a_t` itself), and the output is the momentum
  :math:`\nu_t = (1 - \beta_1)\tilde g_t + \beta_1 \nu_{t-1}`. Anil et al., "Memory-Efficient
  Adaptive Optimization", 2019 (arXiv:1901.11150).

  Args:
    b1: momentum decay :math:`\beta_1` in ``[0, 1]``.
    b2: accumulator decay :math:`\beta_2` in ``[0, 1]``; 1 (default) sums as Adagrad.
    eps: added inside the square root, ``>= 0``.

  Returns:
    A ``GradientTransformation`` with state ``ScaleBySM3State(mu, nu)``. Complex and scalar
    (rank-0) parameters are rejected.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like._src import sm3
    >>> tx = sm3.scale_by_sm3(b1=0.0, eps=0.0)
    >>> g = jnp.array([[3.0, 0.0], [4.0, 1.0]])
    >>> u, state = tx.update(g, tx.init(g))   # a = g^2: u = sign(g)
    >>> u.tolist(), [m.tolist() for m in state.mu]   # row and column maxima of g^2
    ([[1.0, 0.0], [1.0, 1.0]], [[9.0, 16.0], [16.0, 1.0]])
  """
  fn = 'scale_by_sm3'
  validation.check_range(b1, 'b1', low=0.0, high=1.0, fn=fn)
  validation.check_range(b2, 'b2', low=0.0, high=1.0, fn=fn)
  validation.check_range(eps, 'eps', low=0.0, fn=fn)

  def init_fn(params):
    _reject_complex_and_scalars(params, fn)
    mu = jax.tree.map(lambda p: [_axis_zeros(p, i) for i in range(p.ndim)], params)
    return ScaleBySM3State(mu=mu, nu=tree.tree_zeros_like(params))

  def leaf(g, mu, nu):
    ndim = g.ndim
    if ndim == 0 or len(mu) != ndim:
      raise ValueError(f'{fn}: a leaf of rank {ndim} needs {ndim} accumulators in state.mu, '
                       f'got {len(mu)}; was the state initialised with other parameters?')
    gc = tree.upcast(g)
    covers = [_along(tree.upcast(m), ndim, i) for i, m in enumerate(mu)]
    if validation._static_number(b2) is None:  # pylint: disable=protected-access
      scale = jnp.where(b2 != 1.0, 1.0 - b2, 1.0)   # traced (injected) b2
    else:
      scale = (1.0 - b2) if b2 != 1.0 else 1.0
    accum = scale * gc ** 2 + b2 * functools.reduce(jnp.minimum, covers)
    inv_root = jnp.where(accum > 0, jax.lax.rsqrt(accum + eps), 0.0)
    new_nu = moments.update_moment(gc * inv_root, tree.upcast(nu), b1)
    if ndim == 1:
      new_mu = [accum]
    else:
      new_mu = [jnp.max(accum, axis=tuple(j for j in range(ndim) if j != i))
                for i in range(ndim)]
    new_mu = [tree.cast(m, tree.result_dtype(old.dtype)) for m, old in zip(new_mu, mu)]
    return new_mu, new_nu

  def update_fn(updates, state, params=None):
    del params
    validation.check_state(state, ScaleBySM3State, fn)
    treedef, gs, mus, nus = adaptive._flatten_with_state(updates, state, ('mu', 'nu'), fn)  # pylint: disable=protected-access
    out = adaptive._lmap(leaf, gs, mus, nus)  # pylint: disable=protected-access
    new_mus, new_nus = adaptive._unzip(out, 2)  # pylint: disable=protected-access
    stored_nu = adaptive._store(new_nus, nus)  # pylint: disable=protected-access
    new_mus = [o if n is None else n for n, o in zip(new_mus, mus)]
    # The output is the momentum itself, in the updates' dtype.
    new_updates = adaptive._lmap(lambda g, n: tree.cast(n, tree.result_dtype(g)),  # pylint: disable=protected-access
                                 gs, new_nus)
    return treedef.unflatten(new_updates), ScaleBySM3State(
        mu=treedef.unflatten(new_mus), nu=treedef.unflatten(stored_nu))

  return base.GradientTransformation(init_fn, update_fn)

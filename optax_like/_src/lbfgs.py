r"""L-BFGS: updates multiplied by a limited-memory quasi-Newton estimate of the inverse Hessian.

``scale_by_lbfgs`` keeps the last ``memory_size`` differences of parameters and of updates in
ring buffers (each leaf stacked ``memory_size`` times, so a traced index reaches an entry) and
applies the inverse-Hessian estimate by the two-loop recursion; ``lbfgs`` chains it with a
learning rate and, by default, a zoom line search. Both are drop-ins for optax's (signatures,
``ScaleByLBFGSState`` and numbers). The recursion runs in float32 for 16-bit leaves; the state
keeps optax's dtypes.
"""

import operator
from typing import Any, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp

from optax_like._src import base
from optax_like._src import linesearch as linesearch_lib
from optax_like._src import scaling
from optax_like._src import tree as tree_lib
from optax_like._src import validation
from optax_like._src.linear_algebra import tree_add_scale, tree_sq_norm, tree_vdot


class ScaleByLBFGSState(NamedTuple):
  """State of ``scale_by_lbfgs``.

  ``count``: updates made (int32); ``params`` / ``updates``: those of the last call;
  ``diff_params_memory`` / ``diff_updates_memory``: the ring buffers of their differences
  :math:`\\delta w_j`, :math:`\\delta u_j` (every leaf with a leading axis of ``memory_size``);
  ``weights_memory``: :math:`\\rho_j = 1 / \\mathrm{Re}\\langle \\delta u_j, \\delta w_j\\rangle`.
  """
  count: jax.typing.ArrayLike
  params: base.Params
  updates: base.Params
  diff_params_memory: Any
  diff_updates_memory: Any
  weights_memory: jax.typing.ArrayLike


def _entry(memory: Any, index: Any) -> Any:
  return jax.tree.map(lambda x: x[index], memory)


def _upcast_tree(t: Any) -> Any:
  return jax.tree.map(lambda x: tree_lib.upcast(x) if jnp.issubdtype(
      jnp.asarray(x).dtype, jnp.floating) else x, t)


def _two_loop(updates: Any, diff_params: Any, diff_updates: Any, rhos: jax.Array,
              gamma: Any, newest: Any) -> Any:
  r""":math:`P u` for the L-BFGS inverse-Hessian estimate :math:`P` (Nocedal & Wright, Alg. 7.4).

  Backward over the memory from the newest pair: :math:`\alpha_j = \rho_j \langle \delta w_j,
  q\rangle`, :math:`q \leftarrow q - \alpha_j \delta u_j`; then :math:`r = \gamma q`; forward:
  :math:`\beta_j = \rho_j \langle \delta u_j, r\rangle`, :math:`r \leftarrow r + (\alpha_j -
  \beta_j) \delta w_j`. Entries never written have :math:`\rho_j = 0` and drop out.
  """
  size = rhos.shape[0]
  # Oldest first: the slot written next is the oldest one.
  order = (newest + jnp.arange(size)) % size

  def backward(q, j):
    dw, du = _entry(diff_params, j), _entry(diff_updates, j)
    alpha = rhos[j] * jnp.real(tree_vdot(dw, q))
    return jax.tree.map(lambda a, b: a.astype(b.dtype), tree_add_scale(q, -alpha, du), q), alpha

  q, alphas = jax.lax.scan(backward, updates, order, reverse=True)
  r = jax.tree.map(lambda x: gamma * x, q)

  def forward(r, j_alpha):
    j, alpha = j_alpha
    dw, du = _entry(diff_params, j), _entry(diff_updates, j)
    beta = rhos[j] * jnp.real(tree_vdot(du, r))
    return jax.tree.map(lambda a, b: a.astype(b.dtype),
                        tree_add_scale(r, alpha - beta, dw), r), beta

  r, _ = jax.lax.scan(forward, r, (order, alphas))
  return r


def scale_by_lbfgs(
    memory_size: int = 10,
    scale_init_precond: bool = True,
) -> base.GradientTransformation:
  r"""Multiplies updates by the L-BFGS estimate :math:`P_k` of the inverse Hessian.

  With :math:`\delta w_j = w_{j+1} - w_j`, :math:`\delta u_j = u_{j+1} - u_j` (params and
  updates of consecutive calls) and :math:`\rho_j = 1/\mathrm{Re}\langle \delta u_j, \delta
  w_j\rangle` (0 where that is 0), over the last :math:`m` = ``memory_size`` pairs:

  .. math::
    P_{k,j+1} = V_j^\top P_{k,j} V_j + \rho_j \delta w_j \delta w_j^\top, \quad
    V_j = I - \rho_j \delta u_j \delta w_j^\top, \quad P_{k,k-m} = \gamma_k I,

  :math:`\gamma_k = \langle \delta u_{k-1}, \delta w_{k-1}\rangle / \|\delta u_{k-1}\|^2` with
  ``scale_init_precond`` (1 otherwise), and :math:`\gamma_0 = \min(1, 1/\|u_0\|)` for the first
  step. The output is :math:`P_k u_k`, computed by the two-loop recursion (Nocedal & Wright,
  *Numerical Optimization*, Algorithms 7.4, 7.5; Liu & Nocedal, 1989). The memory is updated
  before the product, so a line search chained after it only changes the next step's pair.

  Args:
    memory_size: :math:`m`, the number of pairs kept (>= 1).
    scale_init_precond: scale the initial estimate by :math:`\gamma_k`.

  Returns:
    A ``GradientTransformation``; it needs ``params`` in ``update``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> tx = ox.scale_by_lbfgs()
    >>> w, g = jnp.array([0.0, 0.0]), jnp.array([3.0, 4.0])
    >>> u, state = tx.update(g, tx.init(w), w)   # first step: g / max(1, |g|) = g / 5
    >>> [round(x, 4) for x in u.tolist()]
    [0.6, 0.8]
  """
  fn = 'scale_by_lbfgs'
  validation.check_not_bool(memory_size, 'memory_size', fn)
  try:
    # A concrete integer scalar (``inject_hyperparams`` passes it as an array): it sets shapes.
    memory_size = operator.index(memory_size)
  except TypeError:
    raise TypeError(f'{fn}: `memory_size` must be an integer, got {memory_size!r}.') from None
  if memory_size < 1:
    raise ValueError(f'{fn}: `memory_size` must be >= 1, got {memory_size}.')
  if not isinstance(scale_init_precond, (bool, jnp.bool_)):
    raise TypeError(f'{fn}: `scale_init_precond` must be a bool, got {scale_init_precond!r}.')

  def init_fn(params):
    def stacked_zeros(leaf):
      if isinstance(leaf, jax.ShapeDtypeStruct):
        return jnp.zeros((memory_size,) + leaf.shape, leaf.dtype)
      zero = tree_lib.full_like(leaf, 0)
      return jnp.broadcast_to(zero, (memory_size,) + zero.shape)
    memory = jax.tree.map(stacked_zeros, params)
    return ScaleByLBFGSState(
        count=jnp.asarray(0, dtype=jnp.int32),
        params=tree_lib.tree_zeros_like(params),
        updates=tree_lib.tree_zeros_like(params),
        diff_params_memory=memory,
        diff_updates_memory=memory,
        weights_memory=jnp.zeros(memory_size))

  def update_fn(updates, state, params=None):
    validation.check_state(state, ScaleByLBFGSState, fn)
    validation.require_params(params, fn)
    validation.check_same_structure(updates, params, 'updates', 'params', fn)
    validation.check_same_structure(updates, state.updates, 'updates', 'state.updates', fn)
    newest = state.count % memory_size
    previous = (state.count - 1) % memory_size
    started = state.count > 0

    # 1. The newest pair (w_k - w_{k-1}, u_k - u_{k-1}) and its weight; all 0 at the first call,
    # where no previous pair exists.
    dw = jax.tree.map(lambda a, b: a - b, params, state.params)
    du = jax.tree.map(lambda a, b: a - b, updates, state.updates)
    curvature = jnp.real(tree_vdot(du, dw))
    rho = jnp.where(curvature == 0.0, 0.0, 1.0 / curvature)
    dw, du, rho = jax.tree.map(lambda x: jnp.where(started, x, jnp.zeros_like(x)), (dw, du, rho))
    diff_params, diff_updates, rhos = jax.tree.map(
        lambda memory, x: memory.at[previous].set(x),
        (state.diff_params_memory, state.diff_updates_memory, state.weights_memory),
        (dw, du, rho))

    # 2. gamma_k, the scale of the initial estimate.
    if scale_init_precond:
      sq_norm = tree_sq_norm(du)
      gamma = jnp.where(sq_norm > 0.0, jnp.real(tree_vdot(du, dw)) / sq_norm, 1.0)
      # First step: no pair yet; a step of length at most 1 (a capped reciprocal gradient norm).
      first = jnp.minimum(1.0, 1.0 / jnp.sqrt(tree_sq_norm(jax.lax.stop_gradient(updates))))
      gamma = jnp.where(started, gamma, first)
    else:
      gamma = 1.0

    # 3. P_k u_k by the two-loop recursion (in float32 for 16-bit leaves).
    direction = _two_loop(_upcast_tree(updates), _upcast_tree(diff_params),
                          _upcast_tree(diff_updates), rhos, gamma, newest)
    direction = jax.tree.map(lambda d, u: d.astype(jnp.asarray(u).dtype), direction, updates)
    return direction, ScaleByLBFGSState(
        count=tree_lib.safe_increment(state.count), params=params, updates=updates,
        diff_params_memory=diff_params, diff_updates_memory=diff_updates,
        weights_memory=rhos)

  return base.GradientTransformation(init_fn, update_fn)


def lbfgs(
    learning_rate: Optional[base.ScalarOrSchedule] = None,
    memory_size: int = 10,
    scale_init_precond: bool = True,
    linesearch: Optional[
        Union[base.GradientTransformationExtraArgs, base.GradientTransformation]
    ] = linesearch_lib.scale_by_zoom_linesearch(
        max_linesearch_steps=20, initial_guess_strategy='one'),
) -> base.GradientTransformationExtraArgs:
  r"""L-BFGS: the quasi-Newton direction :math:`-P_k g_k` of ``scale_by_lbfgs``, scaled by
  ``learning_rate`` (-1 if None) and then by the step size of ``linesearch``:

  .. math::
    w_{k+1} = w_k - \eta_k P_k g_k

  with :math:`\eta_k` from the line search (by default a zoom search starting at 1, meeting the
  strong Wolfe criteria; None for a fixed step). Nocedal & Wright, *Numerical Optimization*,
  Algorithms 7.4, 7.5; Liu & Nocedal, 1989. With a line search, ``update`` takes ``value``,
  ``grad`` and ``value_fn`` (see ``value_and_grad_from_state`` to reuse the search's last
  evaluation).

  Args:
    learning_rate: an optional fixed or scheduled scale; by default the line search sets it.
    memory_size: the number of past pairs kept.
    scale_init_precond: scale the initial inverse-Hessian estimate (see ``scale_by_lbfgs``).
    linesearch: a line search transformation, or None.

  Returns:
    A ``GradientTransformationExtraArgs``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> f = lambda w: jnp.sum(w ** 2)
    >>> w = jnp.array([1.0, 2.0, 3.0])
    >>> opt = ox.lbfgs()
    >>> state = opt.init(w)
    >>> value_and_grad = ox.value_and_grad_from_state(f)
    >>> for _ in range(2):
    ...   value, grad = value_and_grad(w, state=state)
    ...   u, state = opt.update(grad, state, w, value=value, grad=grad, value_fn=f)
    ...   w = ox.apply_updates(w, u)
    >>> float(f(w)) < 1e-10   # exact on a quadratic after one curvature pair
    True
  """
  fn = 'lbfgs'
  if learning_rate is None:
    base_scaling = scaling.scale(-1.0)
  else:
    validation.check_schedule_or_scalar(learning_rate, 'learning_rate', fn)
    base_scaling = scaling.scale_by_learning_rate(learning_rate)
  if linesearch is None:
    linesearch = base.identity()
  validation.check_transformation(linesearch, f'{fn}: `linesearch`')
  return base.chain(
      scale_by_lbfgs(memory_size=memory_size, scale_init_precond=scale_init_precond),
      base_scaling,
      linesearch)

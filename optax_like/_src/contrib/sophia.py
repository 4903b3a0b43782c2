r"""Sophia: momentum divided by a clipped, lazily refreshed estimate of the Hessian diagonal.

Liu, Li, Hall, Liang and Ma, "Sophia: A Scalable Stochastic Second-order Optimizer for
Language Model Pre-training" (ICLR 2024, https://arxiv.org/abs/2305.14342). The Hessian
diagonal is estimated with Hutchinson's estimator :math:`E[z \odot (H z)]`, :math:`z` of
random signs (Hutchinson 1989).
"""

from typing import Any, Callable, NamedTuple, Optional, Union

import chex
import jax
import jax.numpy as jnp

from optax_like._src import adaptive
from optax_like._src import alias
from optax_like._src import base
from optax_like._src import moments
from optax_like._src import tree
from optax_like._src import validation
from optax_like._src.contrib import _scalars
from optax_like._src.weight_decay import add_decayed_weights

# pylint: disable=protected-access
_flatten_with_state = adaptive._flatten_with_state
_lmap = adaptive._lmap
_store = adaptive._store
_upcast_all = adaptive._upcast_all
# pylint: enable=protected-access


class HutchinsonState(NamedTuple):
  """State of ``hutchinson_estimator_diag_hessian``: the random key of the next estimate."""
  key: jax.Array


class SophiaState(NamedTuple):
  """State of ``sophia``: int32 ``count``, momentum ``mu``, the average ``nu`` of the Hessian
  diagonal estimates, and the state of the Hessian-diagonal transformation."""
  count: chex.Array
  mu: base.Updates
  nu: base.Updates
  hessian_fn_state: Any


def hutchinson_estimator_diag_hessian(random_seed: Optional[jax.Array] = None):
  r"""Estimates the Hessian diagonal of ``obj_fn`` at ``params`` (Hutchinson's estimator).

  .. math::
    \widehat{\operatorname{diag} H} = z \odot (\nabla^2 f(p)\, z), \qquad
    z_i \in \{-1, +1\} \text{ uniformly}

  The Hessian-vector product is a forward derivative of ``jax.grad(obj_fn)``. At every call
  the key is split into the next state's key and one for the signs (one key per parameter
  leaf, as optax, so a key gives optax's estimate). The signs are drawn in float32 and cast
  to the lowest dtype of the parameters. ``update(updates, state, params, obj_fn)`` ignores
  ``updates``; ``obj_fn(params)`` returns the scalar loss.

  Args:
    random_seed: a random key (default ``jax.random.PRNGKey(0)``).

  Returns:
    A ``GradientTransformationExtraArgs`` with state ``HutchinsonState(key)``.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like import contrib
    >>> tx = contrib.hutchinson_estimator_diag_hessian()
    >>> p = jnp.array([1.0, 2.0])
    >>> f = lambda x: jnp.sum(jnp.array([3.0, 0.5]) * x**2)   # diag H = (6, 1)
    >>> d, _ = tx.update(None, tx.init(p), p, obj_fn=f)
    >>> d.tolist()   # exact for a diagonal Hessian: z * z = 1
    [6.0, 1.0]
  """
  fn = 'hutchinson_estimator_diag_hessian'

  def init_fn(params):
    del params
    return HutchinsonState(key=jax.random.PRNGKey(0) if random_seed is None else random_seed)

  def update_fn(updates, state, params=None, obj_fn=None, **extra_args):
    del updates, extra_args
    if params is None:
      raise ValueError(f'{fn}: pass the parameters, `update(updates, state, params, '
                       'obj_fn=...)`.')
    if obj_fn is None:
      raise ValueError(f'{fn}: pass the objective as `update(..., obj_fn=f)`, a function of '
                       'the params returning the scalar loss.')
    validation.check_state(state, HutchinsonState, fn)
    key, subkey = jax.random.split(state.key)
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(subkey, len(leaves))
    lowest = _scalars.params_dtype(params, 'lowest', fn)
    signs = treedef.unflatten([
        jax.random.rademacher(k, jnp.shape(x), jnp.float32).astype(lowest)
        for k, x in zip(keys, leaves)])
    hvp = jax.jvp(jax.grad(obj_fn), (params,), (signs,))[1]
    return jax.tree.map(lambda h, z: h * z, hvp, signs), HutchinsonState(key=key)

  return base.GradientTransformationExtraArgs(init_fn, update_fn)


def scale_by_sophia(
    b1: chex.Numeric = 0.965,
    b2: chex.Numeric = 0.99,
    eps: chex.Numeric = 1e-8,
    gamma: chex.Numeric = 0.01,
    clip_threshold: Optional[chex.Numeric] = 1.0,
    update_interval: chex.Numeric = 10,
    hessian_diagonal_fn: Union[
        base.GradientTransformation,
        base.GradientTransformationExtraArgs,
    ] = hutchinson_estimator_diag_hessian(),
    mu_dtype: Optional[Any] = None,
    verbose: bool = False,
    print_win_rate_every_n_steps: chex.Numeric = 0,
) -> base.GradientTransformationExtraArgs:
  r"""Sophia's scaling (see ``sophia``), without weight decay and learning rate."""
  fn = 'sophia'
  validation.check_range(b1, 'b1', low=0.0, high=1.0, high_inclusive=False, fn=fn)
  validation.check_range(b2, 'b2', low=0.0, high=1.0, fn=fn)
  validation.check_range(eps, 'eps', low=0.0, fn=fn)
  validation.check_range(gamma, 'gamma', low=0.0, fn=fn)
  if clip_threshold is not None:
    validation.check_range(clip_threshold, 'clip_threshold', low=0.0, fn=fn)
  validation.check_range(update_interval, 'update_interval', low=1, fn=fn)
  if not isinstance(verbose, bool):
    raise TypeError(f'{fn}: `verbose` must be a bool, got {verbose!r}.')
  if verbose and clip_threshold is not None:
    validation.check_range(print_win_rate_every_n_steps, 'print_win_rate_every_n_steps',
                           low=1, fn=fn)
  validation.check_transformation(hessian_diagonal_fn, f'{fn}: `hessian_diagonal_fn`')
  mu_dtype = adaptive._storage_dtype(mu_dtype, 'mu_dtype', fn)  # pylint: disable=protected-access
  hessian_fn = base.with_extra_args_support(hessian_diagonal_fn)

  def init_fn(params):
    return SophiaState(count=jnp.zeros([], jnp.int32),
                       mu=tree.tree_zeros_like(params, mu_dtype),
                       nu=tree.tree_zeros_like(params),
                       hessian_fn_state=hessian_fn.init(params))

  def update_fn(updates, state, params=None, **hess_fn_kwargs):
    validation.require_params(params, fn)
    validation.check_state(state, SophiaState, fn)
    count_inc = tree.safe_increment(state.count)
    treedef, gs, mus, nus = _flatten_with_state(updates, state, ('mu', 'nu'), fn)
    gcs = _upcast_all(gs)
    mu = _lmap(lambda g, m: moments.update_moment(g, tree.upcast(m), b1), gcs, mus)
    mu_hat = moments.bias_correction(mu, b1, count_inc)
    steps = _lmap(lambda m, h: m / jnp.maximum(gamma * tree.upcast(h), eps), mu_hat, nus)
    if clip_threshold is not None:
      if verbose:
        kept = sum(jnp.sum(jnp.abs(s) < clip_threshold) for s in steps if s is not None)
        size = sum(s.size for s in steps if s is not None)
        win_rate = kept / size
        jax.lax.cond(count_inc % print_win_rate_every_n_steps == 0,
                     lambda: jax.debug.print('Sophia optimizer win rate: {}', win_rate),
                     lambda: None)
      steps = _lmap(lambda s: jnp.clip(s, -clip_threshold, clip_threshold), steps)
    new_updates = _lmap(lambda g, s: tree.cast(s, tree.result_dtype(g)), gs, steps)

    def refresh(hess_state, nu):
      diag, hess_state = hessian_fn.update(updates, hess_state, params=params,
                                           **hess_fn_kwargs)
      diag_leaves = adaptive._flatten_state(  # pylint: disable=protected-access
          treedef, updates, diag, 'the Hessian diagonal', fn)
      new_nu = _lmap(lambda d, v: moments.update_moment(tree.upcast(d), tree.upcast(v), b2),
                     diag_leaves, treedef.flatten_up_to(nu))
      return hess_state, treedef.unflatten(_store(new_nu, treedef.flatten_up_to(nu)))

    hessian_fn_state, nu = jax.lax.cond(state.count % update_interval == 0, refresh,
                                        lambda h, n: (h, n), state.hessian_fn_state,
                                        state.nu)
    return treedef.unflatten(new_updates), SophiaState(
        count=count_inc, mu=treedef.unflatten(_store(mu, mus)), nu=nu,
        hessian_fn_state=hessian_fn_state)

  return base.GradientTransformationExtraArgs(init_fn, update_fn)


def sophia(
    learning_rate: base.ScalarOrSchedule,
    b1: chex.Numeric = 0.965,
    b2: chex.Numeric = 0.99,
    eps: chex.Numeric = 1e-8,
    weight_decay: chex.Numeric = 1e-4,
    weight_decay_mask: Optional[Union[Any, Callable[[base.Params], Any]]] = None,
    gamma: chex.Numeric = 0.01,
    clip_threshold: Optional[chex.Numeric] = 1.0,
    update_interval: chex.Numeric = 10,
    hessian_diagonal_fn: Union[
        base.GradientTransformation,
        base.GradientTransformationExtraArgs,
    ] = hutchinson_estimator_diag_hessian(),
    mu_dtype: Optional[Any] = None,
    verbose: bool = False,
    print_win_rate_every_n_steps: chex.Numeric = 0,
) -> base.GradientTransformationExtraArgs:
  r"""Sophia: clipped momentum over a Hessian-diagonal estimate, weight decay, learning rate.

  With :math:`t` the 1-based step, :math:`h_t` the estimate of the Hessian diagonal given by
  ``hessian_diagonal_fn`` (refreshed only when :math:`(t-1) \bmod k = 0`, :math:`k` =
  ``update_interval``):

  .. math::
    m_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t, \qquad
    s_t = \operatorname{clip}\left(\frac{m_t / (1 - \beta_1^t)}
    {\max(\gamma\, \nu_{t-1}, \epsilon)}, \pm \rho\right)

  .. math::
    \nu_t = \beta_2 \nu_{t-1} + (1 - \beta_2) h_t \ \text{(on refresh steps)}, \qquad
    u_t = -\eta_t (s_t + \lambda p_t)

  with :math:`\rho` = ``clip_threshold`` (no clipping if None). The step uses the estimate
  from *before* this step's refresh. Extra keyword arguments of ``update`` (``obj_fn`` for
  the default Hutchinson estimator) go to ``hessian_diagonal_fn``. With ``verbose`` the share
  of unclipped entries is printed every ``print_win_rate_every_n_steps`` steps. Liu et al.
  2023, https://arxiv.org/abs/2305.14342.

  Args:
    learning_rate: :math:`\eta`, a number or a schedule.
    b1: decay of the momentum, in ``[0, 1)``.
    b2: decay of the Hessian average, in ``[0, 1]``.
    eps: lower bound of the denominator, ``>= 0``.
    weight_decay: :math:`\lambda`.
    weight_decay_mask: which leaves get weight decay.
    gamma: :math:`\gamma`, scale of the Hessian in the denominator, ``>= 0``.
    clip_threshold: :math:`\rho`, or None.
    update_interval: :math:`k`, steps between Hessian refreshes, ``>= 1``.
    hessian_diagonal_fn: transformation returning the Hessian diagonal estimate.
    mu_dtype: storage dtype of ``mu``.
    verbose: print the win rate.
    print_win_rate_every_n_steps: how often, with ``verbose``.

  Returns:
    A ``GradientTransformationExtraArgs`` (optax's chain); ``update`` needs ``params`` and
    the estimator's arguments (``obj_fn``).

  Example:
    >>> import jax, jax.numpy as jnp
    >>> from optax_like import contrib
    >>> f = lambda x: jnp.sum(x**2)
    >>> opt = contrib.sophia(0.1, weight_decay=0.0)
    >>> p = jnp.array([0.5, -3.0])
    >>> state = opt.init(p)
    >>> u, state = opt.update(jax.grad(f)(p), state, p, obj_fn=f)
    >>> u.tolist()   # nu is still 0: mu_hat / eps, clipped to +-1
    [-0.10000000149011612, 0.10000000149011612]
    >>> state[0].nu.tolist()   # (1 - 0.99) * diag H = 0.01 * 2
    [0.019999999552965164, 0.019999999552965164]
  """
  return base.chain(
      scale_by_sophia(b1=b1, b2=b2, eps=eps, gamma=gamma, clip_threshold=clip_threshold,
                      update_interval=update_interval,
                      hessian_diagonal_fn=hessian_diagonal_fn, mu_dtype=mu_dtype,
                      verbose=verbose,
                      print_win_rate_every_n_steps=print_win_rate_every_n_steps),
      add_decayed_weights(weight_decay, weight_decay_mask),
      alias._lr(learning_rate, 'sophia'))  # pylint: disable=protected-access

r"""ADOPT: Adam with the gradient normalised by the *previous* second moment, before momentum.

Taniguchi et al., "ADOPT: Modified Adam Can Converge with Any beta_2 with the Optimal Rate"
(NeurIPS 2024, https://arxiv.org/abs/2411.02853).
"""

from typing import Any, Callable, Optional

import chex
import jax
import jax.numpy as jnp

from optax_like._src import adaptive
from optax_like._src import alias
from optax_like._src import base
from optax_like._src import moments
from optax_like._src import tree
from optax_like._src import validation

# pylint: disable=protected-access
_flatten_with_state = adaptive._flatten_with_state
_lmap = adaptive._lmap
_store = adaptive._store
_upcast_all = adaptive._upcast_all
# pylint: enable=protected-access


def scale_by_adopt(
    b1: chex.Numeric = 0.9,
    b2: chex.Numeric = 0.9999,
    eps: chex.Numeric = 1e-6,
    mu_dtype: Optional[Any] = None,
    *,
    nesterov: bool = False,
    use_clipping: bool = True,
    clip_value_fn: Callable[[jax.Array], jax.Array] = lambda x: x**0.25,
) -> base.GradientTransformation:
  r"""Rescales updates by ADOPT.

  With :math:`k` the number of earlier steps (0 at the first), :math:`v_0 = m_0 = 0`:

  .. math::
    \tilde g_k = \operatorname{clip}\left(\frac{g_k}{\max(\sqrt{v_{k}}, \epsilon)},
    \pm c(k)\right), \qquad
    v_{k+1} = \beta_2' v_k + (1 - \beta_2') |g_k|^2, \qquad
    m_{k+1} = \beta_1' m_k + (1 - \beta_1') \tilde g_k

  where :math:`\beta_1' = 1, \beta_2' = 0` at the first step (it only records
  :math:`v_1 = |g_0|^2`) and :math:`\beta_1, \beta_2` afterwards, and :math:`c` is
  ``clip_value_fn`` (no clipping without ``use_clipping``). The update is :math:`m_{k+1}`,
  or with ``nesterov`` :math:`\beta_1' m_{k+1} + (1 - \beta_1')\tilde g_k`.

  Args:
    b1: decay of the momentum, in ``[0, 1]``.
    b2: decay of the second moment, in ``[0, 1]``.
    eps: lower bound of the root in the denominator, ``>= 0``.
    mu_dtype: storage dtype of ``mu`` (default: the parameter's).
    nesterov: Nesterov momentum (see above).
    use_clipping: clip the normalised gradient to :math:`\pm c(k)`.
    clip_value_fn: :math:`c`, a function of the step count (default :math:`k^{1/4}`).

  Returns:
    A ``GradientTransformation`` with state ``ScaleByAdamState(count, mu, nu)``.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like import contrib
    >>> tx = contrib.scale_by_adopt(b1=0.5, b2=0.5)
    >>> state = tx.init(jnp.zeros(1))
    >>> u, state = tx.update(jnp.array([2.0]), state)   # records v = 4, no update yet
    >>> u.tolist(), state.nu.tolist()
    ([0.0], [4.0])
    >>> u, state = tx.update(jnp.array([4.0]), state)   # clip(4 / 2, 1) = 1, m = 0.5
    >>> u.tolist(), state.nu.tolist()
    ([0.5], [10.0])
  """
  fn = 'scale_by_adopt'
  validation.check_range(b1, 'b1', low=0.0, high=1.0, fn=fn)
  validation.check_range(b2, 'b2', low=0.0, high=1.0, fn=fn)
  validation.check_range(eps, 'eps', low=0.0, fn=fn)
  mu_dtype = adaptive._storage_dtype(mu_dtype, 'mu_dtype', fn)  # pylint: disable=protected-access
  if not isinstance(nesterov, bool):
    raise TypeError(f'{fn}: `nesterov` must be a bool, got {nesterov!r}.')
  if not isinstance(use_clipping, bool):
    raise TypeError(f'{fn}: `use_clipping` must be a bool, got {use_clipping!r}.')
  if use_clipping and not callable(clip_value_fn):
    raise TypeError(f'{fn}: `clip_value_fn` must be a function of the step count, got '
                    f'{clip_value_fn!r:.80}.')

  def init_fn(params):
    return adaptive.ScaleByAdamState(count=jnp.zeros([], jnp.int32),
                                     mu=tree.tree_zeros_like(params, mu_dtype),
                                     nu=tree.tree_zeros_like(params))

  def update_fn(updates, state, params=None):
    del params
    validation.check_state(state, adaptive.ScaleByAdamState, fn)
    started = state.count > 0
    b1_k = jnp.where(started, b1, 1)
    b2_k = jnp.where(started, b2, 0)
    treedef, gs, mus, nus = _flatten_with_state(updates, state, ('mu', 'nu'), fn)
    gcs = _upcast_all(gs)
    nu = _lmap(lambda g, v: moments.update_moment(g, tree.upcast(v), b2_k, squared=True),
               gcs, nus)
    bound = clip_value_fn(state.count) if use_clipping else None

    def normalised(g, v):
      x = g / jnp.maximum(jnp.sqrt(tree.upcast(v)), eps)
      return jnp.clip(x, -bound, bound) if use_clipping else x

    g_tilde = _lmap(normalised, gcs, nus)
    mu = _lmap(lambda x, m: moments.update_moment(x, tree.upcast(m), b1_k), g_tilde, mus)
    out = _lmap(lambda x, m: moments.update_moment(x, m, b1_k), g_tilde, mu) if nesterov else mu
    new_updates = _lmap(lambda g, u: tree.cast(u, tree.result_dtype(g)), gs, out)
    return treedef.unflatten(new_updates), adaptive.ScaleByAdamState(
        count=tree.safe_increment(state.count), mu=treedef.unflatten(_store(mu, mus)),
        nu=treedef.unflatten(_store(nu, nus)))

  return base.grouping_free(base.GradientTransformation(init_fn, update_fn))


def adopt(
    learning_rate: base.ScalarOrSchedule,
    b1: chex.Numeric = 0.9,
    b2: chex.Numeric = 0.9999,
    eps: chex.Numeric = 1e-6,
    mu_dtype: Optional[Any] = None,
    *,
    nesterov: bool = False,
    use_clipping: bool = True,
    clip_value_fn: Callable[[jnp.ndarray], jnp.ndarray] = lambda x: x**0.25,
) -> base.GradientTransformationExtraArgs:
  r"""ADOPT: ``scale_by_adopt`` then ``-learning_rate``.

  .. math::
    u_k = -\eta_k\, m_{k+1}, \qquad
    m_{k+1} = \beta_1 m_k + (1 - \beta_1)\,
    \operatorname{clip}\left(\frac{g_k}{\max(\sqrt{v_k}, \epsilon)}, \pm k^{1/4}\right)

  (the first step only records :math:`v_1 = |g_0|^2`; see ``scale_by_adopt``).
  Taniguchi et al. 2024, https://arxiv.org/abs/2411.02853.

  Args:
    learning_rate: :math:`\eta`, a number or a schedule.
    b1: decay of the momentum.
    b2: decay of the second moment.
    eps: lower bound of the root in the denominator.
    mu_dtype: storage dtype of ``mu``.
    nesterov: Nesterov momentum.
    use_clipping: clip the normalised gradient.
    clip_value_fn: the clipping bound as a function of the step count.

  Returns:
    A ``GradientTransformationExtraArgs`` (optax's chain).

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like import contrib
    >>> opt = contrib.adopt(0.1, b1=0.0)
    >>> p = jnp.zeros(1)
    >>> state = opt.init(p)
    >>> _, state = opt.update(jnp.array([2.0]), state, p)
    >>> u, _ = opt.update(jnp.array([1.0]), state, p)
    >>> u.tolist()   # -0.1 * clip(1 / 2, 1)
    [-0.05000000074505806]
  """
  return alias._fusable(base.chain(  # pylint: disable=protected-access
      scale_by_adopt(b1=b1, b2=b2, eps=eps, mu_dtype=mu_dtype, nesterov=nesterov,
                     use_clipping=use_clipping, clip_value_fn=clip_value_fn),
      alias._lr(learning_rate, 'adopt')))  # pylint: disable=protected-access

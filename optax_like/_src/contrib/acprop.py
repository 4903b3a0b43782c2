r"""ACProp: AdaBelief's centred second moment, used one step late (asynchronous update).

Zhuang et al., "Momentum Centering and Asynchronous Update for Adaptive Gradient Methods"
(NeurIPS 2021, https://arxiv.org/abs/2110.05454). The denominator of step :math:`t` is built
from the belief :math:`s_{t-1}`, which does not contain :math:`g_t`.
"""

from typing import Any, Callable, Optional, Union

import chex
import jax
import jax.numpy as jnp

from optax_like._src import adaptive
from optax_like._src import adaptive_variants
from optax_like._src import alias
from optax_like._src import base
from optax_like._src import moments
from optax_like._src import tree
from optax_like._src import validation
from optax_like._src.weight_decay import add_decayed_weights


# optax's AdaBelief state: step count, the average of the gradients ``mu`` and of their squared
# deviation from it ``nu``.
ScaleByBeliefState = adaptive_variants.ScaleByBeliefState


def _check_args(fn: str, b1: Any, b2: Any, eps: Any, eps_root: Any) -> None:
  validation.check_range(b1, 'b1', low=0.0, high=1.0, fn=fn)
  validation.check_range(b2, 'b2', low=0.0, high=1.0, high_inclusive=False, fn=fn)
  validation.check_range(eps, 'eps', low=0.0, fn=fn)
  validation.check_range(eps_root, 'eps_root', low=0.0, fn=fn)


def scale_by_acprop(
    b1: chex.Numeric = 0.9,
    b2: chex.Numeric = 0.999,
    eps: chex.Numeric = 1e-16,
    eps_root: chex.Numeric = 1e-16,
) -> base.GradientTransformation:
  r"""Divides the gradient by the root of the previous step's belief (ACProp).

  With :math:`t` the 1-based step and :math:`m_0 = s_0 = 0`:

  .. math::
    m_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t, \qquad
    s_t = \beta_2 s_{t-1} + (1 - \beta_2) |g_t - m_{t-1}|^2 + \bar\epsilon

  .. math::
    \hat s_{t-1} = \begin{cases} 1 & t = 1 \\ s_{t-1} / (1 - \beta_2^{t-1}) & t > 1
    \end{cases}, \qquad u_t = \frac{g_t}{\sqrt{\hat s_{t-1}} + \epsilon}

  (the deviation is taken from the mean *before* this step, as optax does).

  Args:
    b1: decay of the gradient average, in ``[0, 1]``.
    b2: decay of the belief, in ``[0, 1)``.
    eps: added to the root in the denominator, ``>= 0``.
    eps_root: :math:`\bar\epsilon`, added to the belief at every step, ``>= 0``.

  Returns:
    A ``GradientTransformation`` with state ``ScaleByBeliefState(count, mu, nu)``.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like import contrib
    >>> tx = contrib.scale_by_acprop(b1=0.5, b2=0.5, eps=0.0, eps_root=0.0)
    >>> state = tx.init(jnp.zeros(1))
    >>> u, state = tx.update(jnp.array([2.0]), state)   # first step: u = g
    >>> u.tolist(), state.mu.tolist(), state.nu.tolist()   # s_1 = 0.5 * 2^2
    ([2.0], [1.0], [2.0])
    >>> u, state = tx.update(jnp.array([3.0]), state)   # s^_1 = 2 / 0.5 = 4: u = 3 / 2
    >>> u.tolist()
    [1.5]
  """
  fn = 'scale_by_acprop'
  _check_args(fn, b1, b2, eps, eps_root)

  def init_fn(params):
    return ScaleByBeliefState(count=jnp.zeros([], jnp.int32),
                              mu=tree.tree_zeros_like(params), nu=tree.tree_zeros_like(params))

  def update_fn(updates, state, params=None):
    del params
    validation.check_state(state, ScaleByBeliefState, fn)
    treedef, gs, mus, nus = adaptive._flatten_with_state(updates, state, ('mu', 'nu'), fn)  # pylint: disable=protected-access
    gcs = adaptive._upcast_all(gs)  # pylint: disable=protected-access
    lmap = adaptive._lmap  # pylint: disable=protected-access

    mu = lmap(lambda g, m: moments.update_moment(g, tree.upcast(m), b1), gcs, mus)
    nu = lmap(lambda g, m, v: moments.update_moment(g - tree.upcast(m), tree.upcast(v), b2,
                                                    squared=True) + eps_root,
              gcs, mus, nus)
    count_inc = tree.safe_increment(state.count)
    first = state.count == 0
    # The previous belief, bias-corrected for the step that made it; 1 before any exists.
    t = jnp.where(first, count_inc, state.count)
    old_nu = lmap(lambda g, v: tree.upcast(v), gs, nus)
    nu_hat = lmap(lambda v: jnp.where(first, jnp.ones_like(v), v),
                  moments.bias_correction(old_nu, b2, t))
    new_updates = lmap(
        lambda g, gc, v: tree.cast(gc / (jnp.sqrt(v) + eps), tree.result_dtype(g)),
        gs, gcs, nu_hat)
    store = adaptive._store  # pylint: disable=protected-access
    return treedef.unflatten(new_updates), ScaleByBeliefState(
        count=count_inc, mu=treedef.unflatten(store(mu, mus)),
        nu=treedef.unflatten(store(nu, nus)))

  return base.grouping_free(base.GradientTransformation(init_fn, update_fn))


def acprop(
    learning_rate: base.ScalarOrSchedule,
    b1: chex.Numeric = 0.9,
    b2: chex.Numeric = 0.999,
    eps: chex.Numeric = 1e-16,
    eps_root: chex.Numeric = 1e-16,
    weight_decay: chex.Numeric = 0.0,
    mask: Optional[Union[Any, Callable[[base.Params], Any]]] = None,
) -> base.GradientTransformationExtraArgs:
  r"""ACProp: ``scale_by_acprop``, coupled weight decay, then ``-learning_rate``.

  .. math::
    u_t = -\eta_t \left(\frac{g_t}{\sqrt{\hat s_{t-1}} + \epsilon} + \lambda\, p_t\right)

  with :math:`\hat s_{t-1}` the previous step's bias-corrected belief (1 at the first step),
  see ``scale_by_acprop``. Zhuang et al. 2021, https://arxiv.org/abs/2110.05454.

  Args:
    learning_rate: :math:`\eta`, a number or a schedule of the step count.
    b1: decay of the gradient average.
    b2: decay of the belief.
    eps: added to the root in the denominator.
    eps_root: added to the belief at every step.
    weight_decay: :math:`\lambda` (multiplied by the learning rate).
    mask: which leaves get weight decay (a tree of bools or a callable of the params).

  Returns:
    A ``GradientTransformationExtraArgs`` (optax's chain).

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like import contrib
    >>> opt = contrib.acprop(0.1)
    >>> p = jnp.array([1.0, -2.0])
    >>> u, _ = opt.update(jnp.array([0.5, 4.0]), opt.init(p), p)
    >>> u.tolist()   # first step: -lr * g
    [-0.05000000074505806, -0.4000000059604645]
  """
  def make(decay_mask):
    return base.chain(
        scale_by_acprop(b1=b1, b2=b2, eps=eps, eps_root=eps_root),
        add_decayed_weights(weight_decay, decay_mask),
        alias._lr(learning_rate, 'acprop'))  # pylint: disable=protected-access
  return alias._fusable(make(mask), make, (mask,))  # pylint: disable=protected-access

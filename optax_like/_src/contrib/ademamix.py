r"""AdEMAMix and its simplified form: Adam whose numerator mixes in a slow momentum.

Pagliardini, Ablin and Grangier, "The AdEMAMix Optimizer: Better, Faster, Older" (2024,
https://arxiv.org/abs/2409.03137); Morwani et al., "Connections between Schedule-Free
Optimizers, AdEMAMix, and Accelerated SGD Variants" (2025, https://arxiv.org/abs/2502.02431)
for the simplified form.
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
from optax_like._src.weight_decay import add_decayed_weights

# pylint: disable=protected-access
_flatten_with_state = adaptive._flatten_with_state
_lmap = adaptive._lmap
_store = adaptive._store
_upcast_all = adaptive._upcast_all
# pylint: enable=protected-access


class ScaleByAdemamixState(NamedTuple):
  """State of ``scale_by_ademamix``.

  Attributes:
    count: int32 step count of the fast average and the second moment.
    count_m2: int32 step count at which the schedules of ``b3`` and ``alpha`` are read.
    m1: fast average of the gradients.
    m2: slow average of the gradients.
    nu: average of the squared gradients.
  """
  count: chex.Array
  count_m2: chex.Array
  m1: base.Updates
  m2: base.Updates
  nu: base.Updates


class ScaleBySimplifiedAdEMAMixState(NamedTuple):
  """State of ``scale_by_simplified_ademamix``: step count ``t``, the undamped momentum
  ``m`` and the average of the squared gradients ``n``."""
  t: chex.Array
  m: base.Updates
  n: base.Updates


def _check_scalar_or_schedule(value: Any, name: str, fn: str, **bounds: Any) -> None:
  validation.check_schedule_or_scalar(value, name, fn)
  if not callable(value):
    validation.check_range(value, name, fn=fn, **bounds)


def _read(value: Any, count: jax.Array) -> Any:
  return value(count) if callable(value) else value


def scale_by_ademamix(
    b1: chex.Numeric = 0.9,
    b2: chex.Numeric = 0.999,
    b3: base.ScalarOrSchedule = 0.9999,
    alpha: base.ScalarOrSchedule = 6.0,
    eps: chex.Numeric = 1e-8,
    eps_root: chex.Numeric = 0.0,
    mu_dtype: Optional[Any] = None,
) -> base.GradientTransformation:
  r"""Rescales updates by AdEMAMix: Adam's fast momentum plus ``alpha`` times a slow one.

  With :math:`t` the 1-based step and :math:`\beta_3, \alpha` read (if schedules) at the
  count before this step:

  .. math::
    m^{(1)}_t = \beta_1 m^{(1)}_{t-1} + (1 - \beta_1) g_t, \quad
    m^{(2)}_t = \beta_3 m^{(2)}_{t-1} + (1 - \beta_3) g_t, \quad
    \nu_t = \beta_2 \nu_{t-1} + (1 - \beta_2) |g_t|^2

  .. math::
    u_t = \frac{m^{(1)}_t / (1 - \beta_1^t) + \alpha\, m^{(2)}_t}
               {\sqrt{\nu_t / (1 - \beta_2^t) + \bar\epsilon} + \epsilon}

  The slow average :math:`m^{(2)}` is not bias-corrected.

  Args:
    b1: decay of the fast average, in ``[0, 1)``.
    b2: decay of the second moment, in ``[0, 1)``.
    b3: decay of the slow average in ``[0, 1]``, or a schedule of the step count.
    alpha: weight of the slow average, or a schedule.
    eps: added to the root in the denominator, ``>= 0``.
    eps_root: added inside the root, ``>= 0``.
    mu_dtype: storage dtype of ``m1``, ``m2`` and ``nu`` (default: the parameter's).

  Returns:
    A ``GradientTransformation`` with state
    ``ScaleByAdemamixState(count, count_m2, m1, m2, nu)``.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like import contrib
    >>> tx = contrib.scale_by_ademamix(b1=0.5, b2=0.5, b3=0.5, alpha=2.0, eps=0.0)
    >>> u, state = tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))
    >>> u.tolist(), state.m2.tolist()   # (2 + 2 * 1) / sqrt(4)
    ([2.0], [1.0])
  """
  fn = 'scale_by_ademamix'
  validation.check_range(b1, 'b1', low=0.0, high=1.0, high_inclusive=False, fn=fn)
  validation.check_range(b2, 'b2', low=0.0, high=1.0, high_inclusive=False, fn=fn)
  _check_scalar_or_schedule(b3, 'b3', fn, low=0.0, high=1.0)
  _check_scalar_or_schedule(alpha, 'alpha', fn)
  validation.check_range(eps, 'eps', low=0.0, fn=fn)
  validation.check_range(eps_root, 'eps_root', low=0.0, fn=fn)
  mu_dtype = adaptive._storage_dtype(mu_dtype, 'mu_dtype', fn)  # pylint: disable=protected-access

  def init_fn(params):
    return ScaleByAdemamixState(
        count=jnp.zeros([], jnp.int32), count_m2=jnp.zeros([], jnp.int32),
        m1=tree.tree_zeros_like(params, mu_dtype), m2=tree.tree_zeros_like(params, mu_dtype),
        nu=tree.tree_zeros_like(params, mu_dtype))

  def update_fn(updates, state, params=None):
    del params
    validation.check_state(state, ScaleByAdemamixState, fn)
    b3_t, alpha_t = _read(b3, state.count_m2), _read(alpha, state.count_m2)
    treedef, gs, m1s, m2s, nus = _flatten_with_state(updates, state, ('m1', 'm2', 'nu'), fn)
    gcs = _upcast_all(gs)
    m1 = _lmap(lambda g, m: moments.update_moment(g, tree.upcast(m), b1), gcs, m1s)
    m2 = _lmap(lambda g, m: moments.update_moment(g, tree.upcast(m), b3_t), gcs, m2s)
    nu = _lmap(lambda g, v: moments.update_moment(g, tree.upcast(v), b2, squared=True),
               gcs, nus)
    count_inc = tree.safe_increment(state.count)
    m1_hat = moments.bias_correction(m1, b1, count_inc)
    nu_hat = moments.bias_correction(nu, b2, count_inc)
    new_updates = _lmap(
        lambda g, a, b, v: tree.cast((a + alpha_t * b) / (jnp.sqrt(v + eps_root) + eps),
                                     tree.result_dtype(g)),
        gs, m1_hat, m2, nu_hat)
    return treedef.unflatten(new_updates), ScaleByAdemamixState(
        count=count_inc, count_m2=tree.safe_increment(state.count_m2),
        m1=treedef.unflatten(_store(m1, m1s)), m2=treedef.unflatten(_store(m2, m2s)),
        nu=treedef.unflatten(_store(nu, nus)))

  return base.grouping_free(base.GradientTransformation(init_fn, update_fn))


def ademamix(
    learning_rate: base.ScalarOrSchedule,
    b1: chex.Numeric = 0.9,
    b2: chex.Numeric = 0.999,
    b3: base.ScalarOrSchedule = 0.9999,
    alpha: base.ScalarOrSchedule = 5.0,
    eps: chex.Numeric = 1e-8,
    eps_root: chex.Numeric = 0.0,
    mu_dtype: Optional[Any] = None,
    weight_decay: chex.Numeric = 0.0,
    mask: Optional[Union[Any, Callable[[base.Params], Any]]] = None,
) -> base.GradientTransformationExtraArgs:
  r"""AdEMAMix: ``scale_by_ademamix``, coupled weight decay, then ``-learning_rate``.

  .. math::
    u_t = -\eta_t \left(\frac{\hat m^{(1)}_t + \alpha\, m^{(2)}_t}
    {\sqrt{\hat\nu_t + \bar\epsilon} + \epsilon} + \lambda\, p_t\right)

  (see ``scale_by_ademamix``; note optax's default ``alpha`` here is 5, not 6).
  Pagliardini et al. 2024, https://arxiv.org/abs/2409.03137.

  Args:
    learning_rate: :math:`\eta`, a number or a schedule.
    b1: decay of the fast average.
    b2: decay of the second moment.
    b3: decay of the slow average, or a schedule.
    alpha: weight of the slow average, or a schedule.
    eps: added to the root in the denominator.
    eps_root: added inside the root.
    mu_dtype: storage dtype of the averages.
    weight_decay: :math:`\lambda` (multiplied by the learning rate).
    mask: which leaves get weight decay.

  Returns:
    A ``GradientTransformationExtraArgs`` (optax's chain).

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like import contrib
    >>> opt = contrib.ademamix(0.1, b3=0.5, alpha=1.0, eps=0.0)
    >>> p = jnp.zeros(1)
    >>> u, _ = opt.update(jnp.array([4.0]), opt.init(p), p)
    >>> round(u.item(), 5)   # -0.1 * (4 + 2) / 4
    -0.15
  """
  def make(decay_mask):
    return base.chain(
        scale_by_ademamix(b1=b1, b2=b2, b3=b3, alpha=alpha, eps=eps, eps_root=eps_root,
                          mu_dtype=mu_dtype),
        add_decayed_weights(weight_decay, decay_mask),
        alias._lr(learning_rate, 'ademamix'))  # pylint: disable=protected-access
  return alias._fusable(make(mask), make, (mask,))  # pylint: disable=protected-access


def scale_by_simplified_ademamix(
    b1: chex.Numeric = 0.99,
    b2: chex.Numeric = 0.95,
    alpha: base.ScalarOrSchedule = 0.0,
    eps: chex.Numeric = 1e-8,
    eps_root: chex.Numeric = 0.0,
) -> base.GradientTransformation:
  r"""Rescales updates by simplified AdEMAMix: one undamped momentum plus ``alpha`` times
  the gradient, over Adam's denominator.

  With :math:`t` the 1-based step and :math:`\alpha` read (if a schedule) at :math:`t - 1`:

  .. math::
    m_t = \beta_1 m_{t-1} + g_t, \qquad
    n_t = g_t^2 + \beta_2 (n_{t-1} - g_t^2), \qquad
    u_t = \frac{m_t + \alpha\, g_t}{\sqrt{n_t / (1 - \beta_2^t) + \bar\epsilon} + \epsilon}

  (:math:`n_t` in optax's interpolation form; :math:`g_t^2` is the plain square, also
  for complex gradients, as in optax).

  Args:
    b1: decay of the momentum, ``>= 0``.
    b2: decay of the second moment, in ``[0, 1)``.
    alpha: weight of the current gradient, or a schedule.
    eps: added to the root in the denominator, ``>= 0``.
    eps_root: added inside the root, ``>= 0``.

  Returns:
    A ``GradientTransformation`` with state ``ScaleBySimplifiedAdEMAMixState(t, m, n)``.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like import contrib
    >>> tx = contrib.scale_by_simplified_ademamix(b1=0.5, b2=0.5, alpha=1.0, eps=0.0)
    >>> state = tx.init(jnp.zeros(1))
    >>> u, state = tx.update(jnp.array([2.0]), state)   # (2 + 2) / sqrt(4)
    >>> u, state = tx.update(jnp.array([2.0]), state)   # m = 3, n = 4: (3 + 2) / sqrt(4)
    >>> u.tolist(), state.m.tolist(), state.n.tolist()
    ([2.5], [3.0], [3.0])
  """
  fn = 'scale_by_simplified_ademamix'
  validation.check_range(b1, 'b1', low=0.0, fn=fn)
  validation.check_range(b2, 'b2', low=0.0, high=1.0, high_inclusive=False, fn=fn)
  _check_scalar_or_schedule(alpha, 'alpha', fn)
  validation.check_range(eps, 'eps', low=0.0, fn=fn)
  validation.check_range(eps_root, 'eps_root', low=0.0, fn=fn)

  def init_fn(params):
    return ScaleBySimplifiedAdEMAMixState(t=jnp.zeros([], jnp.int32),
                                          m=tree.tree_zeros_like(params),
                                          n=tree.tree_zeros_like(params))

  def update_fn(updates, state, params=None):
    del params
    validation.check_state(state, ScaleBySimplifiedAdEMAMixState, fn)
    alpha_t = _read(alpha, state.t)
    treedef, gs, ms, ns = _flatten_with_state(updates, state, ('m', 'n'), fn)
    gcs = _upcast_all(gs)
    m = _lmap(lambda g, m_: g + b1 * tree.upcast(m_), gcs, ms)
    n = _lmap(lambda g, n_: g * g + b2 * (tree.upcast(n_) - g * g), gcs, ns)
    t = tree.safe_increment(state.t)
    n_hat = moments.bias_correction(n, b2, t)
    new_updates = _lmap(
        lambda g, gc, m_, v: tree.cast((m_ + alpha_t * gc) / (jnp.sqrt(v + eps_root) + eps),
                                       tree.result_dtype(g)),
        gs, gcs, m, n_hat)
    return treedef.unflatten(new_updates), ScaleBySimplifiedAdEMAMixState(
        t=t, m=treedef.unflatten(_store(m, ms)), n=treedef.unflatten(_store(n, ns)))

  return base.grouping_free(base.GradientTransformation(init_fn, update_fn))


def simplified_ademamix(
    learning_rate: base.ScalarOrSchedule,
    b1: chex.Numeric = 0.99,
    b2: chex.Numeric = 0.95,
    alpha: base.ScalarOrSchedule = 0.0,
    eps: chex.Numeric = 1e-8,
    eps_root: chex.Numeric = 0.0,
    weight_decay: chex.Numeric = 0.0,
    mask: Optional[Union[Any, Callable[[base.Params], Any]]] = None,
) -> base.GradientTransformationExtraArgs:
  r"""Simplified AdEMAMix: ``scale_by_simplified_ademamix``, coupled weight decay, then
  ``-learning_rate``.

  .. math::
    u_t = -\eta_t \left(\frac{m_t + \alpha\, g_t}{\sqrt{\hat n_t + \bar\epsilon} + \epsilon}
    + \lambda\, p_t\right), \qquad m_t = \beta_1 m_{t-1} + g_t

  Morwani et al. 2025, https://arxiv.org/abs/2502.02431.

  Args:
    learning_rate: :math:`\eta`, a number or a schedule.
    b1: decay of the momentum.
    b2: decay of the second moment.
    alpha: weight of the current gradient, or a schedule.
    eps: added to the root in the denominator.
    eps_root: added inside the root.
    weight_decay: :math:`\lambda` (multiplied by the learning rate).
    mask: which leaves get weight decay.

  Returns:
    A ``GradientTransformationExtraArgs`` (optax's chain).

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like import contrib
    >>> opt = contrib.simplified_ademamix(0.5, eps=0.0)
    >>> p = jnp.zeros(1)
    >>> u, _ = opt.update(jnp.array([-3.0]), opt.init(p), p)
    >>> round(u.item(), 5)   # -0.5 * (-3 / 3)
    0.5
  """
  def make(decay_mask):
    return base.chain(
        scale_by_simplified_ademamix(b1=b1, b2=b2, alpha=alpha, eps=eps, eps_root=eps_root),
        add_decayed_weights(weight_decay, decay_mask),
        alias._lr(learning_rate, 'simplified_ademamix'))  # pylint: disable=protected-access
  return alias._fusable(make(mask), make, (mask,))  # pylint: disable=protected-access

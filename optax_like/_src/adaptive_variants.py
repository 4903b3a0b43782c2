r"""Variants of Adam's adaptive scaling: AdaBelief, Adamax, RAdam, Yogi, Adan, AdaDelta, NovoGrad.

Each transform is a drop-in for the optax transform of the same name (signature, defaults,
state class and fields, numbers for float32/float64 leaves). They follow the conventions of
``adaptive``, whose helpers they use:

* 16-bit (bf16/f16) leaves are computed in float32; state and updates are rounded only when
  stored or returned, and a step's update is computed from the unrounded moments of that step.
* A None update leaves its state leaves as they are and gives a None update.
* Mismatched update and state trees raise an error naming the tree path; hyperparameters are
  validated (decay rates in ``[0, 1)`` where ``1 - b**t`` divides, ``[0, 1]`` otherwise;
  non-negative epsilons; no booleans).

All but ``scale_by_novograd`` are elementwise and marked ``base.grouping_free`` (so ``fused``
runs them bucketed); NovoGrad's second moment is one norm per leaf, so ``fused`` refuses it.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

import chex
import jax
import jax.numpy as jnp

from optax_like._src import base
from optax_like._src import moments
from optax_like._src import tree
from optax_like._src import validation
from optax_like._src.adaptive import ScaleByAdamState
from optax_like._src.adaptive import _check_decay
from optax_like._src.adaptive import _check_nonnegative
from optax_like._src.adaptive import _flatten_with_state
from optax_like._src.adaptive import _lmap
from optax_like._src.adaptive import _storage_dtype
from optax_like._src.adaptive import _store
from optax_like._src.adaptive import _update_moments
from optax_like._src.adaptive import _upcast_all
from optax_like._src.adaptive import _zero_count


# ----------------------------------------------------------------------------
# State containers (names and fields as in optax).
# ----------------------------------------------------------------------------


class ScaleByBeliefState(NamedTuple):
  """State of ``scale_by_belief``: step count, first moment ``mu``, belief variance ``nu``."""
  count: chex.Array  # int32 scalar
  mu: base.Updates
  nu: base.Updates


class ScaleByAdaDeltaState(NamedTuple):
  """State of ``scale_by_adadelta``: averages of squared gradients ``e_g`` and updates ``e_x``."""
  e_g: base.Updates
  e_x: base.Updates


class ScaleByAdanState(NamedTuple):
  """State of ``scale_by_adan``: averages ``m`` (gradients), ``v`` (gradient differences),
  ``n`` (squared Nesterov term), the previous gradient ``g`` and the step count ``t``."""
  m: base.Updates
  v: base.Updates
  n: base.Updates
  g: base.Updates
  t: chex.Array  # int32 scalar


class ScaleByNovogradState(NamedTuple):
  """State of ``scale_by_novograd``: step count, momentum ``mu``, per-leaf scalar ``nu``."""
  count: chex.Array  # int32 scalar
  mu: base.Updates
  nu: base.Updates


# ----------------------------------------------------------------------------
# Helpers.
# ----------------------------------------------------------------------------


def _out(gs: list, values: list) -> list:
  """Updates in the dtype of their gradients (``tree.result_dtype``)."""
  return _lmap(lambda g, u: tree.cast(u, tree.result_dtype(g)), gs, values)


def _nesterov_mu_hat(mu: list, gcs: list, b1: Any, count_inc: jax.Array) -> list:
  r""":math:`\beta_1 m_t / (1 - \beta_1^{t+1}) + (1 - \beta_1) g_t / (1 - \beta_1^t)`."""
  return _lmap(lambda m, g: b1 * m + (1 - b1) * g,
               moments.bias_correction(mu, b1, tree.safe_increment(count_inc)),
               moments.bias_correction(gcs, b1, count_inc))


def _moments_update(fn: str, state_cls: Any, step: Any) -> Any:
  """The ``update_fn`` of a ``(count, mu, nu)`` transform, around its rule.

  ``step(gcs, mus, nus, count)`` gets the gradients in float32 (``gcs``), the stored moments
  and the incremented count, and returns the updates and the new moments as per-leaf lists;
  validation, flattening, storage dtypes and the updates' dtypes are handled here.
  """
  def update_fn(updates, state, params=None):
    del params
    validation.check_state(state, state_cls, fn)
    count_inc = tree.safe_increment(state.count)
    treedef, gs, mus, nus = _flatten_with_state(updates, state, ('mu', 'nu'), fn)
    new_updates, mu, nu = step(_upcast_all(gs), mus, nus, count_inc)
    return treedef.unflatten(_out(gs, new_updates)), state_cls(
        count=count_inc, mu=treedef.unflatten(_store(mu, mus)),
        nu=treedef.unflatten(_store(nu, nus)))
  return update_fn


def _check_common(fn: str, **hyper: Any) -> None:
  """Validates ``name=(value, kind)`` pairs: kind 'corrected' / 'decay' / 'nonneg' / 'number'."""
  for name, (value, kind) in hyper.items():
    if kind == 'corrected':
      _check_decay(value, name, fn, corrected=True)
    elif kind == 'decay':
      _check_decay(value, name, fn, corrected=False)
    elif kind == 'nonneg':
      _check_nonnegative(value, name, fn)
    else:   # any finite number (a schedule or a traced value is checked where it is used)
      validation.check_range(value, name, low=-float('inf'), high=float('inf'), fn=fn)


# ----------------------------------------------------------------------------
# AdaBelief.
# ----------------------------------------------------------------------------


def scale_by_belief(
    b1: chex.Numeric = 0.9,
    b2: chex.Numeric = 0.999,
    eps: chex.Numeric = 1e-16,
    eps_root: chex.Numeric = 1e-16,
    *,
    nesterov: bool = False,
) -> base.GradientTransformation:
  r"""Rescales updates by AdaBelief's estimate of the variance of the prediction error.

  With :math:`t` the 1-based step (Zhuang et al., 2020, https://arxiv.org/abs/2010.07468):

  .. math::
    m_t = (1 - \beta_1) g_t + \beta_1 m_{t-1}, \qquad
    s_t = (1 - \beta_2) |g_t - m_t|^2 + \beta_2 s_{t-1} + \bar\epsilon

  .. math::
    \hat m_t = \frac{m_t}{1 - \beta_1^t}, \qquad \hat s_t = \frac{s_t}{1 - \beta_2^t},
    \qquad u_t = \frac{\hat m_t}{\sqrt{\hat s_t} + \epsilon}

  where :math:`\bar\epsilon` = ``eps_root`` is stored in :math:`s_t`. With ``nesterov=True``
  :math:`\hat m_t = \beta_1 \frac{m_t}{1 - \beta_1^{t+1}} + (1 - \beta_1)\frac{g_t}{1 - \beta_1^t}`.

  Args:
    b1: decay of the first moment, in ``[0, 1)``.
    b2: decay of the second (central) moment, in ``[0, 1)``.
    eps: added to the denominator outside the square root, ``>= 0``.
    eps_root: added to the second moment at every step, ``>= 0``.
    nesterov: Nesterov momentum (see above).

  Returns:
    A ``GradientTransformation`` with state ``ScaleByBeliefState(count, mu, nu)``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> tx = ox.scale_by_belief(b1=0.5, b2=0.5, eps=0.0, eps_root=0.0)
    >>> state = tx.init(jnp.zeros(1))
    >>> u, state = tx.update(jnp.array([4.0]), state)   # m = 2, s = 2: u = 4 / 2
    >>> u.tolist(), state.mu.tolist(), state.nu.tolist()
    ([2.0], [2.0], [2.0])
  """
  fn = 'scale_by_belief'
  _check_common(fn, b1=(b1, 'corrected'), b2=(b2, 'corrected'), eps=(eps, 'nonneg'),
                eps_root=(eps_root, 'nonneg'))

  def init_fn(params):
    return ScaleByBeliefState(count=_zero_count(), mu=tree.tree_zeros_like(params),
                              nu=tree.tree_zeros_like(params))

  def step(gcs, mus, nus, count_inc):
    mu = _update_moments(gcs, mus, b1)
    nu = _lmap(lambda gc, m, s: moments.update_moment(gc - m, tree.upcast(s), b2, squared=True)
               + eps_root, gcs, mu, nus)
    mu_hat = (_nesterov_mu_hat(mu, gcs, b1, count_inc) if nesterov
              else moments.bias_correction(mu, b1, count_inc))
    nu_hat = moments.bias_correction(nu, b2, count_inc)
    return _lmap(lambda m, s: m / (jnp.sqrt(s) + eps), mu_hat, nu_hat), mu, nu

  return base.grouping_free(base.GradientTransformation(
      init_fn, _moments_update(fn, ScaleByBeliefState, step)))


# ----------------------------------------------------------------------------
# Adamax.
# ----------------------------------------------------------------------------


def scale_by_adamax(
    b1: chex.Numeric = 0.9,
    b2: chex.Numeric = 0.999,
    eps: chex.Numeric = 1e-8,
) -> base.GradientTransformation:
  r"""Rescales updates by Adamax: Adam with an exponentially weighted infinity norm.

  With :math:`t` the 1-based step (Kingma & Ba, 2014, https://arxiv.org/abs/1412.6980, sec. 7):

  .. math::
    m_t = (1 - \beta_1) g_t + \beta_1 m_{t-1}, \qquad
    v_t = \max(|g_t| + \epsilon,\ \beta_2 v_{t-1}), \qquad
    u_t = \frac{m_t}{(1 - \beta_1^t)\, v_t}

  Args:
    b1: decay of the first moment, in ``[0, 1)``.
    b2: decay of the running maximum, in ``[0, 1]``.
    eps: added to :math:`|g_t|`, ``>= 0``.

  Returns:
    A ``GradientTransformation`` with state ``ScaleByAdamState(count, mu, nu)`` (as optax).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> tx = ox.scale_by_adamax(b1=0.5, b2=0.5, eps=0.0)
    >>> state = tx.init(jnp.zeros(1))
    >>> u, state = tx.update(jnp.array([4.0]), state)   # m = 2, m^ = 4, v = 4
    >>> u, state = tx.update(jnp.array([1.0]), state)   # m = 1.5, m^ = 2, v = max(1, 2)
    >>> u.tolist(), state.mu.tolist(), state.nu.tolist()
    ([1.0], [1.5], [2.0])
  """
  fn = 'scale_by_adamax'
  _check_common(fn, b1=(b1, 'corrected'), b2=(b2, 'decay'), eps=(eps, 'nonneg'))

  def init_fn(params):
    return ScaleByAdamState(count=_zero_count(), mu=tree.tree_zeros_like(params),
                            nu=tree.tree_zeros_like(params))

  def step(gcs, mus, nus, count_inc):
    mu = _update_moments(gcs, mus, b1)
    nu = _lmap(lambda gc, v: jnp.maximum(jnp.abs(gc) + eps, b2 * tree.upcast(v)), gcs, nus)
    mu_hat = moments.bias_correction(mu, b1, count_inc)
    return _lmap(lambda m, v: m / v, mu_hat, nu), mu, nu

  return base.grouping_free(base.GradientTransformation(
      init_fn, _moments_update(fn, ScaleByAdamState, step)))


# ----------------------------------------------------------------------------
# Yogi.
# ----------------------------------------------------------------------------


def scale_by_yogi(
    b1: chex.Numeric = 0.9,
    b2: chex.Numeric = 0.999,
    eps: chex.Numeric = 1e-3,
    eps_root: chex.Numeric = 0.0,
    initial_accumulator_value: chex.Numeric = 1e-6,
) -> base.GradientTransformation:
  r"""Rescales updates by Yogi: Adam whose second moment moves additively toward :math:`g^2`.

  With :math:`t` the 1-based step (Zaheer et al., NeurIPS 2018, "Adaptive Methods for
  Nonconvex Optimization"):

  .. math::
    m_t = (1 - \beta_1) g_t + \beta_1 m_{t-1}, \qquad
    v_t = v_{t-1} - (1 - \beta_2)\,\operatorname{sign}(v_{t-1} - |g_t|^2)\,|g_t|^2

  .. math::
    u_t = \frac{m_t / (1 - \beta_1^t)}{\sqrt{v_t / (1 - \beta_2^t) + \epsilon_{root}} + \epsilon}

  with :math:`m_0 = v_0` = ``initial_accumulator_value``.

  Args:
    b1: decay of the first moment, in ``[0, 1)``.
    b2: rate of the second moment, in ``[0, 1)``.
    eps: added to the denominator outside the square root, ``>= 0``.
    eps_root: added inside the square root, ``>= 0``.
    initial_accumulator_value: starting value of both moments, ``>= 0``.

  Returns:
    A ``GradientTransformation`` with state ``ScaleByAdamState(count, mu, nu)`` (as optax).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> tx = ox.scale_by_yogi(b1=0.0, b2=0.5, eps=0.0, initial_accumulator_value=0.0)
    >>> state = tx.init(jnp.zeros(1))
    >>> u, state = tx.update(jnp.array([2.0]), state)   # v = 0 + 0.5 * 4 = 2, v^ = 4
    >>> u.tolist(), state.nu.tolist()
    ([1.0], [2.0])
  """
  fn = 'scale_by_yogi'
  _check_common(fn, b1=(b1, 'corrected'), b2=(b2, 'corrected'), eps=(eps, 'nonneg'),
                eps_root=(eps_root, 'nonneg'),
                initial_accumulator_value=(initial_accumulator_value, 'nonneg'))

  def init_fn(params):
    return ScaleByAdamState(count=_zero_count(),
                            mu=tree.tree_full_like(params, initial_accumulator_value),
                            nu=tree.tree_full_like(params, initial_accumulator_value))

  def additive_nu(gc, v):
    vc, g_sq = tree.upcast(v), tree.abs_sq(gc)
    return vc - (1 - b2) * jnp.sign(vc - g_sq) * g_sq

  def step(gcs, mus, nus, count_inc):
    mu = _update_moments(gcs, mus, b1)
    nu = _lmap(additive_nu, gcs, nus)
    mu_hat = moments.bias_correction(mu, b1, count_inc)
    nu_hat = moments.bias_correction(nu, b2, count_inc)
    return _lmap(lambda m, v: m / (jnp.sqrt(v + eps_root) + eps), mu_hat, nu_hat), mu, nu

  return base.grouping_free(base.GradientTransformation(
      init_fn, _moments_update(fn, ScaleByAdamState, step)))


# ----------------------------------------------------------------------------
# Rectified Adam.
# ----------------------------------------------------------------------------


def scale_by_radam(
    b1: chex.Numeric = 0.9,
    b2: chex.Numeric = 0.999,
    eps: chex.Numeric = 1e-8,
    eps_root: chex.Numeric = 0.0,
    threshold: chex.Numeric = 5.0,
    *,
    nesterov: bool = False,
) -> base.GradientTransformation:
  r"""Rescales updates by Rectified Adam: Adam's step once the variance estimate is tractable.

  With :math:`t` the 1-based step (Liu et al., 2020, https://arxiv.org/abs/1908.03265), Adam's
  moments :math:`m_t, v_t` and their bias-corrected :math:`\hat m_t, \hat v_t`:

  .. math::
    \rho_\infty = \frac{2}{1 - \beta_2} - 1, \qquad
    \rho_t = \rho_\infty - \frac{2 t \beta_2^t}{1 - \beta_2^t}, \qquad
    r_t = \sqrt{\frac{(\rho_t - 4)(\rho_t - 2)\rho_\infty}{(\rho_\infty - 4)(\rho_\infty - 2)\rho_t}}

  .. math::
    u_t = \begin{cases} r_t\,\hat m_t / (\sqrt{\hat v_t + \epsilon_{root}} + \epsilon)
      & \rho_t \ge \text{threshold} \\ \hat m_t & \text{otherwise} \end{cases}

  With ``nesterov=True``, :math:`\hat m_t` is the Nesterov estimate of ``scale_by_adam``.

  Args:
    b1: decay of the first moment, in ``[0, 1)``.
    b2: decay of the second moment, in ``[0, 1)``.
    eps: added to the denominator outside the square root, ``>= 0``.
    eps_root: added inside the square root, ``>= 0``.
    threshold: the value of :math:`\rho_t` from which the adaptive step is used.
    nesterov: Nesterov momentum.

  Returns:
    A ``GradientTransformation`` with state ``ScaleByAdamState(count, mu, nu)`` (as optax).

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> tx = ox.scale_by_radam()
    >>> state = tx.init(jnp.zeros(1))
    >>> u, state = tx.update(jnp.array([3.0]), state)   # rho_1 = 1 < 5: u = m^ = g
    >>> round(float(u[0]), 5)
    3.0
  """
  fn = 'scale_by_radam'
  _check_common(fn, b1=(b1, 'corrected'), b2=(b2, 'corrected'), eps=(eps, 'nonneg'),
                eps_root=(eps_root, 'nonneg'), threshold=(threshold, 'number'))
  rho_inf = 2.0 / (1.0 - b2) - 1.0

  def rectification(rho):
    return jnp.sqrt((rho - 4.0) * (rho - 2.0) * rho_inf
                    / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho))

  def init_fn(params):
    return ScaleByAdamState(count=_zero_count(), mu=tree.tree_zeros_like(params),
                            nu=tree.tree_zeros_like(params))

  def step(gcs, mus, nus, count_inc):
    mu = _update_moments(gcs, mus, b1)
    nu = _update_moments(gcs, nus, b2, squared=True)
    # The same operations, in the same order, as optax: 1 - b2**t cancels catastrophically for
    # small t, so any regrouping would move rho_t (and r_t) by far more than float rounding.
    b2_t = b2 ** count_inc
    rho = rho_inf - 2 * count_inc * b2_t / (1 - b2_t)
    mu_hat = (_nesterov_mu_hat(mu, gcs, b1, count_inc) if nesterov
              else moments.bias_correction(mu, b1, count_inc))
    nu_hat = moments.bias_correction(nu, b2, count_inc)
    r = rectification(rho)
    tractable = rho >= threshold
    new_updates = _lmap(
        lambda m, v: jnp.where(tractable, r.astype(m.dtype) * m / (jnp.sqrt(v + eps_root) + eps),
                               m),
        mu_hat, nu_hat)
    return new_updates, mu, nu

  return base.grouping_free(base.GradientTransformation(
      init_fn, _moments_update(fn, ScaleByAdamState, step)))


# ----------------------------------------------------------------------------
# Adan.
# ----------------------------------------------------------------------------


def scale_by_adan(
    b1: chex.Numeric = 0.98,
    b2: chex.Numeric = 0.92,
    b3: chex.Numeric = 0.99,
    eps: chex.Numeric = 1e-8,
    eps_root: chex.Numeric = 0.0,
) -> base.GradientTransformation:
  r"""Rescales updates by Adan's Nesterov momentum estimates.

  With :math:`t` the 1-based step and :math:`\Delta_t = g_t - g_{t-1}` (0 at the first step)
  (Xie et al., 2022, https://arxiv.org/abs/2208.06677, Algorithm 1):

  .. math::
    m_t = (1 - \beta_1) g_t + \beta_1 m_{t-1}, \qquad
    v_t = (1 - \beta_2) \Delta_t + \beta_2 v_{t-1}

  .. math::
    n_t = (1 - \beta_3) |g_t + (1 - \beta_2)\Delta_t|^2 + \beta_3 n_{t-1}, \qquad
    u_t = \frac{\hat m_t + (1 - \beta_2) \hat v_t}{\sqrt{\hat n_t + \epsilon_{root}} + \epsilon}

  where the hats divide by :math:`1 - \beta_i^t`. The state keeps the last gradient.

  Args:
    b1: decay of the gradient average, in ``[0, 1)``.
    b2: decay of the gradient-difference average, in ``[0, 1)``.
    b3: decay of the squared term, in ``[0, 1)``.
    eps: added to the denominator outside the square root, ``>= 0``.
    eps_root: added inside the square root, ``>= 0``.

  Returns:
    A ``GradientTransformation`` with state ``ScaleByAdanState(m, v, n, g, t)``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> tx = ox.scale_by_adan(b1=0.5, b2=0.5, b3=0.5, eps=0.0)
    >>> state = tx.init(jnp.zeros(1))
    >>> u, state = tx.update(jnp.array([2.0]), state)   # m^ = 2, v^ = 0, n^ = 4
    >>> u, state = tx.update(jnp.array([4.0]), state)   # m^ = 10/3, v^ = 4/3, n^ = 18
    >>> round(float(u[0]), 6), state.g.tolist(), int(state.t)   # (10/3 + 2/3) / sqrt(18)
    (0.942809, [4.0], 2)
  """
  fn = 'scale_by_adan'
  _check_common(fn, b1=(b1, 'corrected'), b2=(b2, 'corrected'), b3=(b3, 'corrected'),
                eps=(eps, 'nonneg'), eps_root=(eps_root, 'nonneg'))

  def init_fn(params):
    return ScaleByAdanState(m=tree.tree_zeros_like(params), v=tree.tree_zeros_like(params),
                            n=tree.tree_zeros_like(params), g=tree.tree_zeros_like(params),
                            t=_zero_count())

  def update_fn(updates, state, params=None):
    del params
    validation.check_state(state, ScaleByAdanState, fn)
    treedef, gs, ms, vs, ns, prevs = _flatten_with_state(updates, state, ('m', 'v', 'n', 'g'),
                                                         fn)
    gcs = _upcast_all(gs)
    first = state.t == 0

    diff = _lmap(lambda gc, p: jnp.where(first, jnp.zeros_like(gc), gc - tree.upcast(p)),
                 gcs, prevs)
    m = _update_moments(gcs, ms, b1)
    v = _update_moments(diff, vs, b2)
    nesterov_term = _lmap(lambda gc, d: gc + (1 - b2) * d, gcs, diff)
    n = _update_moments(nesterov_term, ns, b3, squared=True)
    t = tree.safe_increment(state.t)
    m_hat = moments.bias_correction(m, b1, t)
    v_hat = moments.bias_correction(v, b2, t)
    n_hat = moments.bias_correction(n, b3, t)
    new_updates = _lmap(lambda mh, vh, nh: (mh + (1 - b2) * vh) / (jnp.sqrt(nh + eps_root) + eps),
                        m_hat, v_hat, n_hat)
    return treedef.unflatten(_out(gs, new_updates)), ScaleByAdanState(
        m=treedef.unflatten(_store(m, ms)), v=treedef.unflatten(_store(v, vs)),
        n=treedef.unflatten(_store(n, ns)), g=treedef.unflatten(_store(gs, prevs)), t=t)

  return base.grouping_free(base.GradientTransformation(init_fn, update_fn))


# ----------------------------------------------------------------------------
# AdaDelta.
# ----------------------------------------------------------------------------


def scale_by_adadelta(
    rho: chex.Numeric = 0.9,
    eps: chex.Numeric = 1e-6,
) -> base.GradientTransformation:
  r"""Rescales updates by AdaDelta: the ratio of the RMS of past updates to that of gradients.

  (Zeiler, 2012, https://arxiv.org/abs/1212.5701):

  .. math::
    E[g^2]_t = (1 - \rho) g_t^2 + \rho E[g^2]_{t-1}, \qquad
    u_t = \frac{\sqrt{E[u^2]_{t-1} + \epsilon}}{\sqrt{E[g^2]_t + \epsilon}}\, g_t, \qquad
    E[u^2]_t = (1 - \rho) u_t^2 + \rho E[u^2]_{t-1}

  Args:
    rho: decay of both averages, in ``[0, 1]``.
    eps: added inside both square roots, ``>= 0``.

  Returns:
    A ``GradientTransformation`` with state ``ScaleByAdaDeltaState(e_g, e_x)``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> tx = ox.scale_by_adadelta(rho=0.5, eps=1.0)
    >>> state = tx.init(jnp.zeros(1))
    >>> u, state = tx.update(jnp.array([4.0]), state)   # E[g^2] = 8: u = 4 * 1 / 3
    >>> round(float(u[0]), 6), state.e_g.tolist(), round(float(state.e_x[0]), 6)
    (1.333333, [8.0], 0.888889)
  """
  fn = 'scale_by_adadelta'
  _check_common(fn, rho=(rho, 'decay'), eps=(eps, 'nonneg'))

  def init_fn(params):
    return ScaleByAdaDeltaState(e_g=tree.tree_zeros_like(params),
                                e_x=tree.tree_zeros_like(params))

  def update_fn(updates, state, params=None):
    del params
    validation.check_state(state, ScaleByAdaDeltaState, fn)
    treedef, gs, e_gs, e_xs = _flatten_with_state(updates, state, ('e_g', 'e_x'), fn)
    gcs = _upcast_all(gs)

    e_g = _update_moments(gcs, e_gs, rho, squared=True)
    new_updates = _lmap(lambda gc, eg, ex: jnp.sqrt(tree.upcast(ex) + eps) / jnp.sqrt(eg + eps)
                        * gc, gcs, e_g, e_xs)
    e_x = _update_moments(new_updates, e_xs, rho, squared=True)
    return treedef.unflatten(_out(gs, new_updates)), ScaleByAdaDeltaState(
        e_g=treedef.unflatten(_store(e_g, e_gs)), e_x=treedef.unflatten(_store(e_x, e_xs)))

  return base.grouping_free(base.GradientTransformation(init_fn, update_fn))


# ----------------------------------------------------------------------------
# NovoGrad.
# ----------------------------------------------------------------------------


def scale_by_novograd(
    b1: chex.Numeric = 0.9,
    b2: chex.Numeric = 0.25,
    eps: chex.Numeric = 1e-8,
    eps_root: chex.Numeric = 0.0,
    weight_decay: chex.Numeric = 0.0,
    mu_dtype: Optional[Any] = None,
) -> base.GradientTransformation:
  r"""Computes NovoGrad updates: layer-wise second moments and decoupled weight decay.

  For each leaf (layer) :math:`l`, with :math:`t` the 1-based step (Ginsburg et al., 2019,
  https://arxiv.org/abs/1905.11286):

  .. math::
    v^l_t = \begin{cases} \|g^l_1\|^2 & t = 1 \\
      (1 - \beta_2)\|g^l_t\|^2 + \beta_2 v^l_{t-1} & t > 1 \end{cases}

  .. math::
    m^l_t = \begin{cases} d^l_1 & t = 1 \\ \beta_1 m^l_{t-1} + d^l_t & t > 1 \end{cases},
    \qquad d^l_t = \frac{g^l_t}{\sqrt{v^l_t + \epsilon_{root}} + \epsilon} + \lambda w^l_t,
    \qquad u_t = m_t

  where :math:`\lambda` = ``weight_decay`` and :math:`w` the parameters. :math:`v^l` is one
  scalar per leaf, so the transform is not elementwise (``fused`` does not run it).

  Args:
    b1: momentum decay, in ``[0, 1]``.
    b2: decay of the per-layer second moment, in ``[0, 1]``.
    eps: added to the denominator outside the square root, ``>= 0``.
    eps_root: added inside the square root, ``>= 0``.
    weight_decay: rate :math:`\lambda` of the decoupled weight decay (a number).
    mu_dtype: storage dtype of ``mu`` (default: the parameter's dtype); as in optax, the
      updates are ``mu`` in that dtype.

  Returns:
    A ``GradientTransformation`` with state ``ScaleByNovogradState(count, mu, nu)``; its
    ``update`` needs ``params``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> tx = ox.scale_by_novograd(b1=0.5, b2=0.5, eps=0.0)
    >>> p = jnp.zeros(2)
    >>> state = tx.init(p)
    >>> u, state = tx.update(jnp.array([3.0, 4.0]), state, p)   # v = 25: u = g / 5
    >>> u, state = tx.update(jnp.array([0.0, 5.0]), state, p)   # v = 25: u = u / 2 + g / 5
    >>> u.tolist(), state.nu.tolist()
    ([0.30000001192092896, 1.399999976158142], 25.0)
  """
  fn = 'scale_by_novograd'
  _check_common(fn, b1=(b1, 'decay'), b2=(b2, 'decay'), eps=(eps, 'nonneg'),
                eps_root=(eps_root, 'nonneg'), weight_decay=(weight_decay, 'number'))
  if callable(weight_decay):   # multiplied into every step: a schedule would fail there
    raise TypeError(f'{fn}: `weight_decay` must be a number, not a schedule, got '
                    f'{weight_decay!r:.80}.')
  mu_dtype = _storage_dtype(mu_dtype, 'mu_dtype', fn)

  def init_fn(params):
    return ScaleByNovogradState(
        count=_zero_count(), mu=tree.tree_zeros_like(params, mu_dtype),
        nu=jax.tree.map(lambda p: jnp.zeros([], p.dtype), params))

  def update_fn(updates, state, params=None):
    validation.require_params(params, fn)
    validation.check_state(state, ScaleByNovogradState, fn)
    count_inc = tree.safe_increment(state.count)
    first = count_inc == 1
    treedef, gs, mus, nus = _flatten_with_state(updates, state, ('mu', 'nu'), fn)
    try:
      ps = treedef.flatten_up_to(params)
    except (ValueError, TypeError):
      validation.check_same_structure(updates, params, 'updates', 'params', fn)
      raise
    gcs = _upcast_all(gs)

    # The first step initialises, later ones average. As in optax, the two cases are the
    # branches of a ``lax.cond``: compiled even in an eager step, they round as optax's do.
    def sq_norm(gc):
      return jnp.linalg.norm(gc) ** 2

    def nu_first(gcs, nus):
      return _lmap(lambda gc, n: sq_norm(gc).astype(tree.upcast(n).dtype), gcs, nus)

    def nu_later(gcs, nus):
      return _lmap(lambda gc, n: (1 - b2) * sq_norm(gc) + b2 * tree.upcast(n), gcs, nus)

    def step(gc, p, n):
      return gc / (jnp.sqrt(n + eps_root) + eps) + weight_decay * tree.upcast(p)

    def first_mu(gc, p, m, n):   # in the dtype the later branch gives (cond needs both equal)
      d = step(gc, p, n)
      return d.astype(jnp.result_type(d, tree.upcast(m)))

    def mu_first(gcs, ps, mus, nu):
      return _lmap(first_mu, gcs, ps, mus, nu)

    def mu_later(gcs, ps, mus, nu):
      return _lmap(lambda gc, p, m, n: b1 * tree.upcast(m) + step(gc, p, n), gcs, ps, mus, nu)

    nu = jax.lax.cond(first, nu_first, nu_later, gcs, nus)
    mu = jax.lax.cond(first, mu_first, mu_later, gcs, ps, mus, nu)
    if mu_dtype is not None:   # optax returns the stored (cast) momentum as the update
      mu = _lmap(lambda m: tree.cast(m, mu_dtype), mu)
      new_updates = mu
    else:
      new_updates = _out(gs, mu)
    return treedef.unflatten(new_updates), ScaleByNovogradState(
        count=count_inc, mu=treedef.unflatten(_store(mu, mus)),
        nu=treedef.unflatten(_store(nu, nus)))

  return base.GradientTransformation(init_fn, update_fn)


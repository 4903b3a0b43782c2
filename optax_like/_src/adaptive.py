r"""Adaptive scaling: updates divided by a running estimate of the gradient's scale.

Adam, AMSGrad, RMS / centred RMS (stddev), Lion and the root-sum-of-squares of Adagrad.
Every transform here is a drop-in for the optax transform of the same name (same
signature, defaults, state classes and, for float32/float64 leaves, the same numbers),
with two kinds of additions:

* Precision: 16-bit (bf16/f16) leaves are computed in float32 and only rounded when stored
  (state) or returned (updates), so ``b2=0.999`` never rounds to 1.0. Moments are used
  unrounded for the update of the step that produced them. ``mu_dtype`` / ``nu_dtype``
  choose the storage dtype of the first / second moment.
* Keras numerics, selected by keyword-only options: ``eps_hat=True`` on
  ``scale_by_adam``/``scale_by_amsgrad`` follows TF's ``ResourceApplyAdam`` /
  ``ResourceApplyAdamWithAmsgrad`` kernels, ``lerp=True`` on ``scale_by_rms``/
  ``scale_by_stddev`` the moment updates of ``ResourceApply(Centered)RMSProp``.
  In these modes the decay rates are read as Keras stores them, as float32 numbers
  (``jnp.float32(b1)``, then converted to the leaf's compute dtype), so that
  ``1 - b1`` rounds as in TF; ``eps`` is used as given, like Keras's epsilon.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Literal, NamedTuple, Optional

import chex
import jax
import jax.numpy as jnp

from optax_like._src import base
from optax_like._src import moments
from optax_like._src import tree
from optax_like._src import validation


# ----------------------------------------------------------------------------
# State containers (names and fields as in optax).
# ----------------------------------------------------------------------------


class ScaleByRssState(NamedTuple):
  """State of ``scale_by_rss``: the running sum of squared gradients."""
  sum_of_squares: base.Updates


class ScaleByRmsState(NamedTuple):
  """State of ``scale_by_rms`` without bias correction: the EMA of squared gradients."""
  nu: base.Updates


class ScaleByRmsWithCountState(NamedTuple):
  """State of ``scale_by_rms(bias_correction=True)``: step count and EMA of squares."""
  count: chex.Array  # int32 scalar
  nu: base.Updates


class ScaleByRStdDevState(NamedTuple):
  """State of ``scale_by_stddev`` without bias correction: EMAs of gradients and squares."""
  mu: base.Updates
  nu: base.Updates


class ScaleByRStdDevWithCountState(NamedTuple):
  """State of ``scale_by_stddev(bias_correction=True)``."""
  count: chex.Array  # int32 scalar
  mu: base.Updates
  nu: base.Updates


class ScaleByAdamState(NamedTuple):
  """State of ``scale_by_adam``: step count, first moment ``mu``, second moment ``nu``."""
  count: chex.Array  # int32 scalar
  mu: base.Updates
  nu: base.Updates


class ScaleByAmsgradState(NamedTuple):
  """State of ``scale_by_amsgrad``: as Adam's, plus the running maximum ``nu_max``."""
  count: chex.Array  # int32 scalar
  mu: base.Updates
  nu: base.Updates
  nu_max: base.Updates


class ScaleByLionState(NamedTuple):
  """State of ``scale_by_lion``: step count and momentum ``mu``."""
  count: chex.Array  # int32 scalar
  mu: base.Updates


# ----------------------------------------------------------------------------
# Helpers.
# ----------------------------------------------------------------------------


def _flatten_updates(updates: Any) -> tuple[Any, list]:
  """Leaves of ``updates`` with None counted as a leaf (a None update carries no gradient)."""
  treedef = jax.tree.structure(updates, is_leaf=tree.is_none)
  return treedef, treedef.flatten_up_to(updates)


def _flatten_state(treedef: Any, updates: Any, state_tree: Any, name: str, fn: str) -> list:
  """Leaves of a state tree, aligned with ``_flatten_updates(updates)``."""
  try:
    leaves = treedef.flatten_up_to(state_tree)
  except (ValueError, TypeError):
    validation.check_same_structure(updates, state_tree, 'updates', name, fn)
    raise
  if any(leaf is None for leaf in leaves):
    paths_and_updates = jax.tree_util.tree_flatten_with_path(updates, is_leaf=tree.is_none)[0]
    for leaf, (path, g) in zip(leaves, paths_and_updates):
      if leaf is None and g is not None:
        raise ValueError(
            f'{fn}: {name} has no entry at {jax.tree_util.keystr(path)} but the updates '
            'do; was the state initialised with None there?')
  return leaves


def _flatten_with_state(updates: Any, state: Any, fields: tuple, fn: str) -> tuple:
  """``(treedef, update leaves, *leaves of each named state field)``, all aligned."""
  treedef, gs = _flatten_updates(updates)
  return (treedef, gs, *(_flatten_state(treedef, updates, getattr(state, field),
                                        f'state.{field}', fn) for field in fields))


def _lmap(f: Callable[..., Any], gs: list, *lists: list) -> list:
  """``f(g, *others)`` at every position whose update ``g`` is not None; None elsewhere."""
  return [None if g is None else f(g, *xs) for g, *xs in zip(gs, *lists)]


def _store(new: list, old: list) -> list:
  """New state leaves in the stored dtype; a leaf without an update keeps its old value.

  An integer leaf (the state of integer parameters) becomes a float, as in optax, so the
  moments are never truncated.
  """
  return [o if n is None else tree.cast(n, tree.result_dtype(o.dtype)) for n, o in zip(new, old)]


def _upcast_all(xs: list) -> list:
  return [None if x is None else tree.upcast(x) for x in xs]


def _unzip(out: list, n: int) -> tuple:
  """Per-leaf ``n``-tuples (None where there is no update) as ``n`` lists."""
  return tuple([None if o is None else o[k] for o in out] for k in range(n))


@functools.partial(jax.jit, inline=True)
def _one_minus_power(decay: Any, count: jax.Array) -> jax.Array:
  """``1 - decay**count``, always traced (``inline`` fuses it into an enclosing ``jit``).

  An eager ``pow`` with an integer exponent rounds differently from the compiled one and
  ``1 - b**t`` magnifies the difference; tracing keeps eager and jitted steps equal.
  """
  return 1 - decay ** count


def _rate(decay: Any, keras: bool) -> Any:
  """The decay used in a bias correction: as given, or as Keras's float32 number."""
  return jnp.asarray(decay, jnp.float32) if keras else decay


def _real_dtype(*xs: jax.Array) -> jnp.dtype:
  return jnp.finfo(jnp.result_type(*xs)).dtype


def _keras_scalar(value: Any, dtype: Any) -> jax.Array:
  """A hyperparameter as Keras reads it: a float32 variable cast to the variable's dtype."""
  return jnp.asarray(value, jnp.float32).astype(dtype)


def _update_moments(gcs: list, states: list, decay: Any, *, squared: bool = False,
                    lerp: bool = False) -> list:
  """The unrounded new averages of the upcast updates ``gcs`` (``moments.update_moment``).

  With ``lerp`` in TF's kernel form, the decay read as Keras's float32 number.
  """
  def leaf(gc, m):
    mc = tree.upcast(m)
    rate = _keras_scalar(decay, _real_dtype(gc, mc)) if lerp else decay
    return moments.update_moment(gc, mc, rate, squared=squared, lerp=lerp)
  return _lmap(leaf, gcs, states)


def _storage_dtype(dtype: Any, name: str, fn: str) -> Optional[jnp.dtype]:
  if dtype is None:
    return None
  try:
    dtype = tree.canonicalize_dtype(dtype)
  except TypeError as e:
    raise TypeError(f'{fn}: `{name}` must be a dtype or None, got {dtype!r}.') from e
  if not jnp.issubdtype(dtype, jnp.inexact):
    raise TypeError(f'{fn}: `{name}` must be a floating (or complex) dtype, got {dtype}.')
  return dtype


def _check_decay(value: Any, name: str, fn: str, *, corrected: bool) -> None:
  """A decay rate lies in [0, 1]; with bias correction ``1 - decay**t`` must not vanish."""
  validation.check_range(value, name, low=0.0, high=1.0, high_inclusive=not corrected, fn=fn)


def _check_nonnegative(value: Any, name: str, fn: str) -> None:
  validation.check_range(value, name, low=0.0, fn=fn)


def _is_static_zero(value: Any) -> bool:
  return validation._static_number(value) == 0.0  # pylint: disable=protected-access


def _zero_count() -> jax.Array:
  return jnp.zeros([], jnp.int32)


# ----------------------------------------------------------------------------
# Adagrad's root sum of squares.
# ----------------------------------------------------------------------------


def scale_by_rss(
    initial_accumulator_value: chex.Numeric = 0.1,
    eps: chex.Numeric = 1e-7,
) -> base.GradientTransformation:
  r"""Divides updates by the root of the running sum of squared gradients (Adagrad).

  .. math::
    s_t = s_{t-1} + |g_t|^2, \qquad
    u_t = \begin{cases} g_t / \sqrt{s_t + \epsilon} & s_t > 0 \\ 0 & s_t = 0 \end{cases}

  with :math:`s_0` = ``initial_accumulator_value`` (state ``ScaleByRssState(sum_of_squares)``).

  Args:
    initial_accumulator_value: starting value of the sum, ``>= 0``.
    eps: added inside the square root, ``>= 0``.

  Returns:
    A ``GradientTransformation``.

  Example:
    >>> import jax.numpy as jnp
    >>> import optax_like._src.adaptive as adaptive
    >>> tx = adaptive.scale_by_rss(initial_accumulator_value=0.0, eps=0.0)
    >>> state = tx.init(jnp.zeros(2))
    >>> u, state = tx.update(jnp.array([3.0, 0.0]), state)
    >>> u, state = tx.update(jnp.array([4.0, 0.0]), state)
    >>> u.tolist(), state.sum_of_squares.tolist()   # 4 / sqrt(9 + 16)
    ([0.800000011920929, 0.0], [25.0, 0.0])
  """
  fn = 'scale_by_rss'
  _check_nonnegative(initial_accumulator_value, 'initial_accumulator_value', fn)
  _check_nonnegative(eps, 'eps', fn)

  def init_fn(params):
    return ScaleByRssState(
        sum_of_squares=tree.tree_full_like(params, initial_accumulator_value))

  def leaf(g, s):
    gc = tree.upcast(g)
    total = tree.abs_sq(gc) + tree.upcast(s)
    inv_root = jnp.where(total > 0, jax.lax.rsqrt(total + eps), 0.0)
    return tree.cast(inv_root * gc, tree.result_dtype(g)), total

  def update_fn(updates, state, params=None):
    del params
    validation.check_state(state, ScaleByRssState, fn)
    treedef, gs, sums = _flatten_with_state(updates, state, ('sum_of_squares',), fn)
    new_updates, totals = _unzip(_lmap(leaf, gs, sums), 2)
    new_sums = _store(totals, sums)
    return (treedef.unflatten(new_updates),
            ScaleByRssState(sum_of_squares=treedef.unflatten(new_sums)))

  return base.grouping_free(base.GradientTransformation(init_fn, update_fn))


# ----------------------------------------------------------------------------
# RMS and centred RMS.
# ----------------------------------------------------------------------------


def _inverse_root(nu_hat: jax.Array, eps: Any, eps_in_sqrt: bool) -> jax.Array:
  if eps_in_sqrt:
    return jax.lax.rsqrt(nu_hat + eps)
  return 1 / (jnp.sqrt(nu_hat) + eps)


def scale_by_rms(
    decay: chex.Numeric = 0.9,
    eps: chex.Numeric = 1e-8,
    initial_scale: chex.Numeric = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
    *,
    lerp: bool = False,
) -> base.GradientTransformation:
  r"""Divides updates by the root of an exponential moving average of squared gradients.

  .. math::
    \nu_t = (1 - \rho)\,|g_t|^2 + \rho\,\nu_{t-1}, \qquad
    \hat\nu_t = \begin{cases}\nu_t / (1 - \rho^t) & \text{bias\_correction} \\
                             \nu_t & \text{otherwise}\end{cases}

  .. math::
    u_t = \frac{g_t}{\sqrt{\hat\nu_t + \epsilon}} \ \text{(eps\_in\_sqrt)}
    \quad\text{or}\quad u_t = \frac{g_t}{\sqrt{\hat\nu_t} + \epsilon}

  with :math:`\nu_0` = ``initial_scale`` and :math:`\rho` = ``decay``. The state is
  ``ScaleByRmsState(nu)``, or ``ScaleByRmsWithCountState(count, nu)`` with bias correction.

  Args:
    decay: decay rate :math:`\rho` in ``[0, 1]`` (``[0, 1)`` with bias correction).
    eps: stabilising term, ``>= 0``.
    initial_scale: initial value of :math:`\nu`, ``>= 0``.
    eps_in_sqrt: add ``eps`` inside the square root (True) or outside it (False).
    bias_correction: divide :math:`\nu_t` by :math:`1 - \rho^t`.
    lerp: keyword-only. Update the average in TF's kernel form
      :math:`\nu_t = \nu_{t-1} + (|g_t|^2 - \nu_{t-1})(1 - \rho)` (as
      ``ResourceApplyRMSProp`` does), with :math:`\rho` read as a float32 number. Same
      value in exact arithmetic, different float rounding.

  Returns:
    A ``GradientTransformation``.

  Example:
    >>> import jax.numpy as jnp
    >>> import optax_like._src.adaptive as adaptive
    >>> tx = adaptive.scale_by_rms(decay=0.5, eps=0.0)
    >>> state = tx.init(jnp.zeros(1))
    >>> u, state = tx.update(jnp.array([2.0]), state)   # nu = 2, u = 2 / sqrt(2)
    >>> u, state = tx.update(jnp.array([2.0]), state)   # nu = 3, u = 2 / sqrt(3)
    >>> round(float(u[0]), 6), state.nu.tolist()
    (1.154701, [3.0])
  """
  fn = 'scale_by_rms'
  _check_decay(decay, 'decay', fn, corrected=bias_correction)
  _check_nonnegative(eps, 'eps', fn)
  _check_nonnegative(initial_scale, 'initial_scale', fn)

  def init_fn(params):
    nu = tree.tree_full_like(params, initial_scale)
    if bias_correction:
      return ScaleByRmsWithCountState(count=_zero_count(), nu=nu)
    return ScaleByRmsState(nu=nu)

  def update_fn(updates, state, params=None):
    del params
    validation.check_state(state, ScaleByRmsWithCountState if bias_correction else ScaleByRmsState,
                           fn)
    count_inc = tree.safe_increment(state.count) if bias_correction else None

    treedef, gs, nus = _flatten_with_state(updates, state, ('nu',), fn)
    gcs = _upcast_all(gs)

    nu = _update_moments(gcs, nus, decay, squared=True, lerp=lerp)
    nu_hat = (moments.bias_correction(nu, _rate(decay, lerp), count_inc) if bias_correction
              else nu)
    new_updates = _lmap(
        lambda g, gc, n: tree.cast(_inverse_root(n, eps, eps_in_sqrt) * gc,
                                   tree.result_dtype(g)),
        gs, gcs, nu_hat)
    new_nu = treedef.unflatten(_store(nu, nus))
    if bias_correction:
      return treedef.unflatten(new_updates), ScaleByRmsWithCountState(count=count_inc, nu=new_nu)
    return treedef.unflatten(new_updates), ScaleByRmsState(nu=new_nu)

  return base.grouping_free(base.GradientTransformation(init_fn, update_fn))


def scale_by_stddev(
    decay: chex.Numeric = 0.9,
    eps: chex.Numeric = 1e-8,
    initial_scale: chex.Numeric = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
    *,
    lerp: bool = False,
) -> base.GradientTransformation:
  r"""Divides updates by the root of the centred moving variance of the gradients.

  .. math::
    \mu_t = (1 - \rho)\,g_t + \rho\,\mu_{t-1}, \qquad
    \nu_t = (1 - \rho)\,|g_t|^2 + \rho\,\nu_{t-1}

  .. math::
    u_t = \frac{g_t}{\sqrt{\hat\nu_t - |\hat\mu_t|^2 + \epsilon}} \ \text{(eps\_in\_sqrt)}
    \quad\text{or}\quad u_t = \frac{g_t}{\sqrt{\hat\nu_t - |\hat\mu_t|^2} + \epsilon}

  where the hats divide by :math:`1 - \rho^t` when ``bias_correction`` is set and are the
  identity otherwise; :math:`\mu_0 = 0`, :math:`\nu_0` = ``initial_scale``. The state is
  ``ScaleByRStdDevState(mu, nu)`` or ``ScaleByRStdDevWithCountState(count, mu, nu)``.

  Args:
    decay: decay rate :math:`\rho` in ``[0, 1]`` (``[0, 1)`` with bias correction).
    eps: stabilising term, ``>= 0``.
    initial_scale: initial value of :math:`\nu`, ``>= 0``.
    eps_in_sqrt: add ``eps`` inside the square root (True) or outside it (False).
    bias_correction: divide both averages by :math:`1 - \rho^t`.
    lerp: keyword-only. Update both averages in TF's kernel form
      :math:`x_t = x_{t-1} + (y_t - x_{t-1})(1 - \rho)` (as
      ``ResourceApplyCenteredRMSProp`` does), with :math:`\rho` read as a float32 number.

  Returns:
    A ``GradientTransformation``.

  Example:
    >>> import jax.numpy as jnp
    >>> import optax_like._src.adaptive as adaptive
    >>> tx = adaptive.scale_by_stddev(decay=0.5, eps=0.0)
    >>> state = tx.init(jnp.zeros(1))
    >>> u, state = tx.update(jnp.array([2.0]), state)   # mu = 1, nu = 2: 2 / sqrt(2 - 1)
    >>> u.tolist(), state.mu.tolist(), state.nu.tolist()
    ([2.0], [1.0], [2.0])
  """
  fn = 'scale_by_stddev'
  _check_decay(decay, 'decay', fn, corrected=bias_correction)
  _check_nonnegative(eps, 'eps', fn)
  _check_nonnegative(initial_scale, 'initial_scale', fn)

  def init_fn(params):
    mu = tree.tree_zeros_like(params)
    nu = tree.tree_full_like(params, initial_scale)
    if bias_correction:
      return ScaleByRStdDevWithCountState(count=_zero_count(), mu=mu, nu=nu)
    return ScaleByRStdDevState(mu=mu, nu=nu)

  def update_fn(updates, state, params=None):
    del params
    validation.check_state(
        state, ScaleByRStdDevWithCountState if bias_correction else ScaleByRStdDevState, fn)
    count_inc = tree.safe_increment(state.count) if bias_correction else None

    treedef, gs, mus, nus = _flatten_with_state(updates, state, ('mu', 'nu'), fn)
    gcs = _upcast_all(gs)

    mu = _update_moments(gcs, mus, decay, lerp=lerp)
    nu = _update_moments(gcs, nus, decay, squared=True, lerp=lerp)
    if bias_correction:
      mu_hat = moments.bias_correction(mu, _rate(decay, lerp), count_inc)
      nu_hat = moments.bias_correction(nu, _rate(decay, lerp), count_inc)
    else:
      mu_hat, nu_hat = mu, nu
    new_updates = treedef.unflatten(_lmap(
        lambda g, gc, m, n: tree.cast(_inverse_root(n - tree.abs_sq(m), eps, eps_in_sqrt) * gc,
                                      tree.result_dtype(g)),
        gs, gcs, mu_hat, nu_hat))
    new_mu = treedef.unflatten(_store(mu, mus))
    new_nu = treedef.unflatten(_store(nu, nus))
    if bias_correction:
      return new_updates, ScaleByRStdDevWithCountState(count=count_inc, mu=new_mu, nu=new_nu)
    return new_updates, ScaleByRStdDevState(mu=new_mu, nu=new_nu)

  return base.grouping_free(base.GradientTransformation(init_fn, update_fn))


# ----------------------------------------------------------------------------
# Adam and AMSGrad.
# ----------------------------------------------------------------------------


def _check_eps_hat(eps_root: Any, fn: str) -> None:
  v = validation._static_number(eps_root)  # pylint: disable=protected-access
  if v is not None and v != 0.0:
    raise ValueError(
        f'{fn}: `eps_root` must be 0 with `eps_hat=True` (the Keras kernel adds epsilon '
        f'outside the square root only), got {eps_root!r}.')


def _keras_alpha(b1: jax.Array, b2: jax.Array, t: jax.Array, *, correct_mu: bool = True,
                 correct_nu: bool = True) -> jax.Array:
  """TF's ``alpha`` without the learning rate: ``sqrt(1 - b2^t) / (1 - b1^t)``."""
  alpha = jnp.sqrt(_one_minus_power(b2, t)) if correct_nu else jnp.ones_like(b2)
  if correct_mu:
    alpha = alpha / _one_minus_power(b1, t)
  return alpha


def _eps_hat_denominator(nu: jax.Array, eps: Any, eps_root: Any) -> jax.Array:
  # A traced eps_root can't be checked at construction; it is 0 in any valid use, and
  # `nu + 0.0 == nu` exactly, so adding it keeps the kernel's numbers.
  root = jnp.sqrt(nu) if _is_static_zero(eps_root) else jnp.sqrt(nu + eps_root)
  return root + eps


def _check_adam_args(fn: str, b1: Any, b2: Any, eps: Any, eps_root: Any, eps_hat: bool, *,
                     correct_mu: bool = True, correct_nu: bool = True) -> None:
  """Validates the hyperparameters that Adam and AMSGrad share."""
  _check_decay(b1, 'b1', fn, corrected=correct_mu)
  _check_decay(b2, 'b2', fn, corrected=correct_nu)
  _check_nonnegative(eps, 'eps', fn)
  _check_nonnegative(eps_root, 'eps_root', fn)
  if eps_hat:
    _check_eps_hat(eps_root, fn)


def _keras_moments(gc: jax.Array, m: jax.Array, v: jax.Array, b1: Any, b2: Any) -> tuple:
  """Adam's moments in TF's kernel form, the betas read as Keras's float32 numbers.

  Returns the unrounded ``(mu, nu)`` and the betas, all in the compute dtype of the leaves.
  """
  mc, vc = tree.upcast(m), tree.upcast(v)
  dtype = _real_dtype(gc, mc, vc)
  beta1, beta2 = _keras_scalar(b1, dtype), _keras_scalar(b2, dtype)
  return (moments.update_moment(gc, mc, beta1, lerp=True),
          moments.update_moment(gc, vc, beta2, squared=True, lerp=True), beta1, beta2)


def _adam_updates(gs: list, mu_hat: list, nu_hat: list, eps: Any, eps_root: Any) -> list:
  """optax's ``mu_hat / (sqrt(nu_hat + eps_root) + eps)``, in each update's dtype."""
  return _lmap(lambda g, m, v: tree.cast(m / (jnp.sqrt(v + eps_root) + eps),
                                         tree.result_dtype(g)),
               gs, mu_hat, nu_hat)


def scale_by_adam(
    b1: chex.Numeric = 0.9,
    b2: chex.Numeric = 0.999,
    eps: chex.Numeric = 1e-8,
    eps_root: chex.Numeric = 0.0,
    mu_dtype: Optional[Any] = None,
    *,
    nesterov: bool = False,
    nu_dtype: Optional[Any] = None,
    eps_hat: bool = False,
) -> base.GradientTransformation:
  r"""Rescales updates by Adam's bias-corrected moment estimates.

  With :math:`t` the 1-based step:

  .. math::
    m_t = (1 - \beta_1) g_t + \beta_1 m_{t-1}, \qquad
    v_t = (1 - \beta_2) |g_t|^2 + \beta_2 v_{t-1}

  .. math::
    \hat m_t = \frac{m_t}{1 - \beta_1^t}, \qquad \hat v_t = \frac{v_t}{1 - \beta_2^t},
    \qquad u_t = \frac{\hat m_t}{\sqrt{\hat v_t + \epsilon_{root}} + \epsilon}

  With ``nesterov=True`` (NAdam, Dozat 2016)
  :math:`\hat m_t = \beta_1 \frac{m_t}{1 - \beta_1^{t+1}} + (1 - \beta_1)\frac{g_t}{1 - \beta_1^t}`.

  With ``eps_hat=True`` (tf.keras 2 ``Adam``, TF's ``ResourceApplyAdam`` kernel), epsilon
  is "epsilon hat", added to the raw root and not bias-corrected, and the moments use the
  kernel's rounding form:

  .. math::
    m_t = m_{t-1} + (g_t - m_{t-1})(1 - \beta_1), \qquad
    v_t = v_{t-1} + (g_t^2 - v_{t-1})(1 - \beta_2)

  .. math::
    \alpha_t = \frac{\sqrt{1 - \beta_2^t}}{1 - \beta_1^t}, \qquad
    u_t = \frac{m_t\,\alpha_t}{\sqrt{v_t} + \hat\epsilon}

  and with ``nesterov=True`` as well, the kernel's ``use_nesterov`` branch (used by
  ``tf.contrib.opt.NadamOptimizer``):
  :math:`u_t = \frac{(g_t (1 - \beta_1) + \beta_1 m_t)\,\alpha_t}{\sqrt{v_t} + \hat\epsilon}`.
  The betas are read as float32 numbers (as Keras stores them), ``eps_root`` must be 0.

  Args:
    b1: decay of the first moment, in ``[0, 1)``.
    b2: decay of the second moment, in ``[0, 1)``.
    eps: added to the denominator outside the square root, ``>= 0``.
    eps_root: added inside the square root, ``>= 0`` (useful when differentiating
      through the update); must be 0 with ``eps_hat``.
    mu_dtype: storage dtype of ``mu`` (default: the parameter's dtype).
    nesterov: keyword-only; Nesterov momentum (see above).
    nu_dtype: keyword-only; storage dtype of ``nu`` (default: the parameter's dtype).
      E.g. ``jnp.float32`` keeps an accurate second moment for bf16 parameters.
    eps_hat: keyword-only; tf.keras 2 / TF kernel numerics (see above).

  Returns:
    A ``GradientTransformation`` with state ``ScaleByAdamState(count, mu, nu)``.

  Example:
    >>> import jax.numpy as jnp
    >>> import optax_like._src.adaptive as adaptive
    >>> tx = adaptive.scale_by_adam(b1=0.5, b2=0.5, eps=0.0)
    >>> state = tx.init(jnp.zeros(1))
    >>> u, state = tx.update(jnp.array([2.0]), state)   # m^ = 2, v^ = 4
    >>> u, state = tx.update(jnp.array([1.0]), state)   # m^ = 4/3, v^ = 2
    >>> round(float(u[0]), 6), state.mu.tolist(), state.nu.tolist()
    (0.942809, [1.0], [1.5])
  """
  fn = 'scale_by_adam'
  _check_adam_args(fn, b1, b2, eps, eps_root, eps_hat)
  mu_dtype = _storage_dtype(mu_dtype, 'mu_dtype', fn)
  nu_dtype = _storage_dtype(nu_dtype, 'nu_dtype', fn)

  def init_fn(params):
    return ScaleByAdamState(count=_zero_count(),
                            mu=tree.tree_zeros_like(params, mu_dtype),
                            nu=tree.tree_zeros_like(params, nu_dtype))

  def update_fn(updates, state, params=None):
    del params
    validation.check_state(state, ScaleByAdamState, fn)
    count_inc = tree.safe_increment(state.count)

    treedef, gs, mus, nus = _flatten_with_state(updates, state, ('mu', 'nu'), fn)
    gcs = _upcast_all(gs)

    if eps_hat:
      def keras_leaf(g, gc, m, v):
        mu, nu, beta1, beta2 = _keras_moments(gc, m, v, b1, b2)
        alpha = _keras_alpha(beta1, beta2, count_inc.astype(beta1.dtype))
        if nesterov:
          numerator = (gc * (1 - beta1) + beta1 * mu) * alpha
        else:
          numerator = mu * alpha
        u = numerator / _eps_hat_denominator(nu, eps, eps_root)
        return u.astype(tree.result_dtype(g)), mu, nu

      new_updates, mu, nu = _unzip(_lmap(keras_leaf, gs, gcs, mus, nus), 3)
    else:
      mu = _update_moments(gcs, mus, b1)
      nu = _update_moments(gcs, nus, b2, squared=True)
      if nesterov:
        mu_hat = _lmap(lambda m, g: b1 * m + (1 - b1) * g,
                       moments.bias_correction(mu, b1, tree.safe_increment(count_inc)),
                       moments.bias_correction(gcs, b1, count_inc))
      else:
        mu_hat = moments.bias_correction(mu, b1, count_inc)
      nu_hat = moments.bias_correction(nu, b2, count_inc)
      new_updates = _adam_updates(gs, mu_hat, nu_hat, eps, eps_root)
    return treedef.unflatten(new_updates), ScaleByAdamState(
        count=count_inc, mu=treedef.unflatten(_store(mu, mus)),
        nu=treedef.unflatten(_store(nu, nus)))

  return base.grouping_free(base.GradientTransformation(init_fn, update_fn))


def scale_by_amsgrad(
    b1: chex.Numeric = 0.9,
    b2: chex.Numeric = 0.999,
    eps: chex.Numeric = 1e-8,
    eps_root: chex.Numeric = 0.0,
    mu_dtype: Optional[Any] = None,
    bias_correction_mu: bool = True,
    bias_correction_nu: bool = True,
    *,
    nu_dtype: Optional[Any] = None,
    eps_hat: bool = False,
) -> base.GradientTransformation:
  r"""Rescales updates by AMSGrad: Adam with a non-decreasing second moment.

  With Adam's :math:`m_t, v_t` and :math:`t` the 1-based step (optax's form):

  .. math::
    \hat m_t = \frac{m_t}{1 - \beta_1^t}, \qquad
    \nu^{max}_t = \max\left(\nu^{max}_{t-1}, \frac{v_t}{1 - \beta_2^t}\right), \qquad
    u_t = \frac{\hat m_t}{\sqrt{\nu^{max}_t + \epsilon_{root}} + \epsilon}

  where ``bias_correction_mu=False`` / ``bias_correction_nu=False`` drop the respective
  division (the original AMSGrad paper uses neither).

  With ``eps_hat=True`` (tf.keras 2 ``Adam(amsgrad=True)``, TF's
  ``ResourceApplyAdamWithAmsgrad``), the moments use the kernel's rounding form
  (see ``scale_by_adam``), the maximum is over the raw :math:`v_t` and epsilon is added to
  the raw root:

  .. math::
    \nu^{max}_t = \max(\nu^{max}_{t-1}, v_t), \qquad
    u_t = \frac{m_t\,\alpha_t}{\sqrt{\nu^{max}_t} + \hat\epsilon}, \qquad
    \alpha_t = \frac{\sqrt{1 - \beta_2^t}}{1 - \beta_1^t}

  where ``bias_correction_nu=False`` drops the numerator of :math:`\alpha_t` and
  ``bias_correction_mu=False`` its denominator.

  Args:
    b1: decay of the first moment, in ``[0, 1)`` (``[0, 1]`` without its correction).
    b2: decay of the second moment, in ``[0, 1)`` (``[0, 1]`` without its correction).
    eps: added to the denominator outside the square root, ``>= 0``.
    eps_root: added inside the square root, ``>= 0``; must be 0 with ``eps_hat``.
    mu_dtype: storage dtype of ``mu`` (default: the parameter's dtype).
    bias_correction_mu: bias-correct the first moment.
    bias_correction_nu: bias-correct the second moment.
    nu_dtype: keyword-only; storage dtype of ``nu`` and ``nu_max``.
    eps_hat: keyword-only; tf.keras 2 / TF kernel numerics (see above).

  Returns:
    A ``GradientTransformation`` with state ``ScaleByAmsgradState(count, mu, nu, nu_max)``.

  Example:
    >>> import jax.numpy as jnp
    >>> import optax_like._src.adaptive as adaptive
    >>> tx = adaptive.scale_by_amsgrad(b1=0.0, b2=0.5, eps=0.0)
    >>> state = tx.init(jnp.zeros(1))
    >>> u, state = tx.update(jnp.array([4.0]), state)   # v^ = 16, u = 4 / 4
    >>> u, state = tx.update(jnp.array([1.0]), state)   # v^ = 6 < 16: u = 1 / 4
    >>> u.tolist(), state.nu_max.tolist()
    ([0.25], [16.0])
  """
  fn = 'scale_by_amsgrad'
  _check_adam_args(fn, b1, b2, eps, eps_root, eps_hat, correct_mu=bias_correction_mu,
                   correct_nu=bias_correction_nu)
  mu_dtype = _storage_dtype(mu_dtype, 'mu_dtype', fn)
  nu_dtype = _storage_dtype(nu_dtype, 'nu_dtype', fn)

  def init_fn(params):
    return ScaleByAmsgradState(count=_zero_count(),
                               mu=tree.tree_zeros_like(params, mu_dtype),
                               nu=tree.tree_zeros_like(params, nu_dtype),
                               nu_max=tree.tree_zeros_like(params, nu_dtype))

  def update_fn(updates, state, params=None):
    del params
    validation.check_state(state, ScaleByAmsgradState, fn)
    count_inc = tree.safe_increment(state.count)

    treedef, gs, mus, nus, nu_maxes = _flatten_with_state(
        updates, state, ('mu', 'nu', 'nu_max'), fn)
    gcs = _upcast_all(gs)

    if eps_hat:
      def keras_leaf(g, gc, m, v, vmax):
        mu, nu, beta1, beta2 = _keras_moments(gc, m, v, b1, b2)
        nu_max = jnp.maximum(tree.upcast(vmax), nu)
        numerator = mu
        if bias_correction_mu or bias_correction_nu:
          numerator = mu * _keras_alpha(beta1, beta2, count_inc.astype(beta1.dtype),
                                        correct_mu=bias_correction_mu,
                                        correct_nu=bias_correction_nu)
        u = numerator / _eps_hat_denominator(nu_max, eps, eps_root)
        return u.astype(tree.result_dtype(g)), mu, nu, nu_max

      new_updates, mu, nu, nu_max = _unzip(_lmap(keras_leaf, gs, gcs, mus, nus, nu_maxes), 4)
    else:
      mu = _update_moments(gcs, mus, b1)
      nu = _update_moments(gcs, nus, b2, squared=True)
      mu_hat = moments.bias_correction(mu, b1, count_inc) if bias_correction_mu else mu
      nu_eff = moments.bias_correction(nu, b2, count_inc) if bias_correction_nu else nu
      nu_max = _lmap(lambda n, vmax: jnp.maximum(tree.upcast(vmax), n), nu_eff, nu_maxes)
      new_updates = _adam_updates(gs, mu_hat, nu_max, eps, eps_root)
    return treedef.unflatten(new_updates), ScaleByAmsgradState(
        count=count_inc, mu=treedef.unflatten(_store(mu, mus)),
        nu=treedef.unflatten(_store(nu, nus)),
        nu_max=treedef.unflatten(_store(nu_max, nu_maxes)))

  return base.grouping_free(base.GradientTransformation(init_fn, update_fn))


# ----------------------------------------------------------------------------
# Lion.
# ----------------------------------------------------------------------------

_LION_MODES = ('hard', 'smooth', 'refined')


def scale_by_lion(
    b1: chex.Numeric = 0.9,
    b2: chex.Numeric = 0.99,
    mu_dtype: Optional[Any] = None,
    *,
    mode: Literal['hard', 'smooth', 'refined'] = 'hard',
    smooth_beta: float = 1.0,
) -> base.GradientTransformation:
  r"""Rescales updates by the sign of an interpolated momentum (Lion, Chen et al. 2023).

  .. math::
    c_t = (1 - \beta_1) g_t + \beta_1 m_{t-1}, \qquad u_t = \operatorname{sign}(c_t),
    \qquad m_t = (1 - \beta_2) g_t + \beta_2 m_{t-1}

  ``mode='smooth'`` uses :math:`\tanh(\text{smooth\_beta}\cdot c_t)` instead of the sign,
  ``mode='refined'`` keeps :math:`c_t` where :math:`|c_t| < 1` and its sign elsewhere.

  Args:
    b1: interpolation weight of the momentum in the update, in ``[0, 1]``.
    b2: decay of the momentum, in ``[0, 1]``.
    mu_dtype: storage dtype of ``mu`` (default: the parameter's dtype).
    mode: keyword-only; ``'hard'``, ``'smooth'`` or ``'refined'`` (as in optax).
    smooth_beta: keyword-only; slope of the ``'smooth'`` mode.

  Returns:
    A ``GradientTransformation`` with state ``ScaleByLionState(count, mu)``.

  Example:
    >>> import jax.numpy as jnp
    >>> import optax_like._src.adaptive as adaptive
    >>> tx = adaptive.scale_by_lion(b1=0.5, b2=0.5)
    >>> state = tx.init(jnp.zeros(2))
    >>> u, state = tx.update(jnp.array([4.0, -2.0]), state)   # m = [2, -1]
    >>> u, state = tx.update(jnp.array([-1.0, 1.0]), state)   # c = [0.5, 0]
    >>> u.tolist(), state.mu.tolist()
    ([1.0, 0.0], [0.5, 0.0])
  """
  fn = 'scale_by_lion'
  _check_decay(b1, 'b1', fn, corrected=False)
  _check_decay(b2, 'b2', fn, corrected=False)
  validation.check_range(smooth_beta, 'smooth_beta', fn=fn)  # a number: no bool, no array
  mu_dtype = _storage_dtype(mu_dtype, 'mu_dtype', fn)

  def check_mode():
    # Checked in ``update``, where optax raises (its tests build the transform first).
    if mode not in _LION_MODES:
      raise ValueError(f'{fn}: `mode` must be one of {list(_LION_MODES)}, got {mode!r}.')

  def direction(c):
    if mode == 'hard':
      return jnp.sign(c)
    if mode == 'smooth':
      return jnp.tanh(smooth_beta * c)
    return jnp.where(jnp.abs(c) < 1.0, c, jnp.sign(c))

  def init_fn(params):
    return ScaleByLionState(count=_zero_count(), mu=tree.tree_zeros_like(params, mu_dtype))

  def update_fn(updates, state, params=None):
    del params
    check_mode()
    validation.check_state(state, ScaleByLionState, fn)
    treedef, gs, mus = _flatten_with_state(updates, state, ('mu',), fn)
    gcs = _upcast_all(gs)
    new_updates = _lmap(
        lambda g, gc, m: tree.cast(direction((1.0 - b1) * gc + b1 * tree.upcast(m)),
                                   tree.result_dtype(g)),
        gs, gcs, mus)
    mu = _update_moments(gcs, mus, b2)
    return treedef.unflatten(new_updates), ScaleByLionState(
        count=tree.safe_increment(state.count), mu=treedef.unflatten(_store(mu, mus)))

  return base.grouping_free(base.GradientTransformation(init_fn, update_fn))

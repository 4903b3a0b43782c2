"""Learning-rate schedules: pure functions of the step count.

Every schedule here is numerically interchangeable with the optax (0.2.8)
schedule of the same name: same signature, same defaults, same boundary
conventions and the same sequence of floating-point operations, so results
agree to the last float32 bit and carry the same dtype and weak type.

Each schedule accepts a Python int or float, a NumPy scalar, or a JAX array
(also a tracer inside ``jax.jit`` / ``jax.vmap``) as its step count. A float
count such as ``3.0`` gives the same value as the int count ``3``.

Where optax silently builds a schedule that can only yield ``inf``/``nan`` or
that ignores part of its configuration in a confusing way, these constructors
raise a ``ValueError`` naming the offending argument instead. Where optax
deliberately falls back to a constant schedule (a non-positive
``transition_steps`` in the linear, polynomial and exponential schedules, or a
zero ``decay_rate``), the same fallback is kept, so the numbers stay the same.
"""

import logging
from typing import Any, Iterable, Mapping, Optional, Sequence

import chex
import jax
import jax.numpy as jnp
import numpy as np

from optax_like._src.base import Schedule  # the one Schedule type of the package
from optax_like._src import validation

_log = logging.getLogger(__name__)

__all__ = [
    'Schedule',
    'constant_schedule',
    'linear_schedule',
    'polynomial_schedule',
    'exponential_decay',
    'piecewise_constant_schedule',
    'cosine_decay_schedule',
    'warmup_cosine_decay_schedule',
    'warmup_exponential_decay_schedule',
    'sgdr_schedule',
    'join_schedules',
    'piecewise_interpolate_schedule',
    'linear_onecycle_schedule',
    'cosine_onecycle_schedule',
    'warmup_constant_schedule',
]


# ----------------------------------------------------------------------------
# Validation helpers.
# ----------------------------------------------------------------------------


def _concrete(value: Any) -> Optional[np.ndarray]:
  """Returns ``value`` as a NumPy array, or ``None`` when it is a tracer.

  Hyperparameters may legitimately be traced (a schedule built inside
  ``jax.jit``); the extra checks of this module are then skipped rather than
  turning into a tracer-conversion error that optax would not raise.
  """
  try:
    return np.asarray(value)
  except (jax.errors.TracerArrayConversionError,
          jax.errors.ConcretizationTypeError):
    return None


def _check_not_negative(fn_name: str, arg_name: str, value: Any) -> None:
  validation.check_not_bool(value, arg_name, fn_name)
  concrete = _concrete(value)
  if concrete is not None and np.any(concrete < 0):
    raise ValueError(
        f'{fn_name}: `{arg_name}` must be non-negative, got {arg_name}='
        f'{value!r}.'
    )


def _check_numbers(fn_name: str, **values: Any) -> None:
  """Raises TypeError naming the argument for a boolean given where a number is meant."""
  for arg_name, value in values.items():
    validation.check_not_bool(value, arg_name, fn_name)


def _as_python_float(value: Any) -> Any:
  """Turns a Python int into a float (leaves everything else untouched).

  Done so that Python-int step counts never become int32 (and overflow) when
  they meet a traced value; float conversion of a Python int is exact up to
  2**53.
  """
  return float(value) if isinstance(value, int) else value


# ----------------------------------------------------------------------------
# Schedules.
# ----------------------------------------------------------------------------


def constant_schedule(value: chex.Numeric) -> Schedule:
  r"""Returns a schedule that always yields ``value``.

  .. math::
    \eta(t) = v

  The value is returned as given (not converted to an array), exactly as optax
  does.

  Args:
    value: the value held throughout.

  Returns:
    A function mapping a step count to ``value``.

  Example:
    >>> import optax_like._src.schedules as sched
    >>> fn = sched.constant_schedule(0.1)
    >>> fn(0), fn(1000)
    (0.1, 0.1)
  """

  def schedule(count: chex.Numeric) -> chex.Numeric:
    del count
    return value

  return schedule


def polynomial_schedule(
    init_value: chex.Numeric,
    end_value: chex.Numeric,
    power: chex.Numeric,
    transition_steps: int,
    transition_begin: int = 0,
) -> Schedule:
  r"""Polynomial interpolation from ``init_value`` to ``end_value``.

  With :math:`I` = ``init_value``, :math:`E` = ``end_value``, :math:`P` =
  ``power``, :math:`B` = ``transition_begin`` and :math:`T` =
  ``transition_steps``:

  .. math::
    \eta(t) = (I - E)\left(1 - \frac{\min(\max(t - B, 0), T)}{T}\right)^P + E

  i.e. :math:`I` for :math:`t \le B`, :math:`E` for :math:`t \ge B + T`.

  As in optax, ``transition_steps <= 0`` is not an error: the schedule is the
  constant ``init_value`` (returned as given). A negative
  ``transition_begin`` is treated as ``0``.

  Unlike optax 0.2.8, the value at and after the end of the transition is
  exactly ``end_value`` also under ``jax.jit`` (optax gives ``nan`` there for a
  fractional ``power``, and may miss ``end_value`` by an ulp); all other
  values are identical.

  Args:
    init_value: value before and at the start of the transition.
    end_value: value at and after the end of the transition.
    power: exponent of the polynomial; must be non-negative (a negative power
      would make the value infinite at the end of the transition).
    transition_steps: length of the transition in steps.
    transition_begin: number of steps the value is held at ``init_value``
      before the transition starts.

  Returns:
    A function mapping a step count to a value.

  Raises:
    ValueError: if ``power`` is negative.

  Example:
    >>> import optax_like._src.schedules as sched
    >>> fn = sched.polynomial_schedule(1.0, 0.0, power=2, transition_steps=4)
    >>> [float(fn(t)) for t in (0, 1, 2, 4, 10)]
    [1.0, 0.5625, 0.25, 0.0, 0.0]
  """
  _check_numbers('polynomial_schedule', init_value=init_value, end_value=end_value,
                 transition_steps=transition_steps, transition_begin=transition_begin)
  _check_not_negative('polynomial_schedule', 'power', power)
  if transition_steps <= 0:
    _log.info(
        'polynomial_schedule: non-positive transition_steps=%r; the schedule '
        'is the constant init_value.', transition_steps)
    return constant_schedule(init_value)
  if transition_begin < 0:
    _log.info(
        'polynomial_schedule: negative transition_begin=%r is treated as 0.',
        transition_begin)
    transition_begin = 0

  def schedule(count: chex.Numeric) -> chex.Numeric:
    elapsed = jnp.clip(count - transition_begin, 0, transition_steps)
    # Under jit XLA turns `/ transition_steps` into a multiply by the rounded
    # reciprocal, so `1 - elapsed / T` can be +-2e-8 at elapsed == T; optax
    # then returns nan for fractional powers (negative base) and misses
    # end_value by an ulp. Both guards are no-ops where the quotient is exact,
    # so eager values stay bit-identical to optax.
    remaining = jnp.where(
        elapsed >= transition_steps,
        0,
        jnp.maximum(1 - elapsed / transition_steps, 0),
    )
    return (init_value - end_value) * (remaining**power) + end_value

  return schedule


def linear_schedule(
    init_value: chex.Numeric,
    end_value: chex.Numeric,
    transition_steps: int,
    transition_begin: int = 0,
) -> Schedule:
  r"""Linear interpolation from ``init_value`` to ``end_value``.

  .. math::
    \eta(t) = I + \frac{\min(\max(t - B, 0), T)}{T}(E - I)

  computed as :func:`polynomial_schedule` with ``power=1`` (so the values are
  bit-identical to optax's). ``transition_steps <= 0`` gives the constant
  ``init_value``; a negative ``transition_begin`` is treated as ``0``.

  Args:
    init_value: value before and at the start of the transition.
    end_value: value at and after the end of the transition.
    transition_steps: length of the transition in steps.
    transition_begin: number of steps the value is held at ``init_value``
      before the transition starts.

  Returns:
    A function mapping a step count to a value.

  Example:
    >>> import optax_like._src.schedules as sched
    >>> fn = sched.linear_schedule(1.0, 0.0, transition_steps=4)
    >>> [float(fn(t)) for t in (0, 1, 2, 4, 10)]
    [1.0, 0.75, 0.5, 0.0, 0.0]
  """
  return polynomial_schedule(
      init_value=init_value,
      end_value=end_value,
      power=1,
      transition_steps=transition_steps,
      transition_begin=transition_begin,
  )


def piecewise_constant_schedule(
    init_value: chex.Numeric,
    boundaries_and_scales: Optional[Mapping[int, float]] = None,
) -> Schedule:
  r"""Piecewise-constant schedule that multiplies in a factor at each boundary.

  .. math::
    \eta(t) = v_0 \prod_{i:\ t \ge b_i} s_i

  for ``boundaries_and_scales = {b_i: s_i}``; a boundary applies from its own
  step on (``t == b_i`` is already scaled). With no boundaries the schedule
  returns ``init_value`` as given.

  Args:
    init_value: value before the first boundary.
    boundaries_and_scales: ``{step: scale}``; every scale must be
      non-negative.

  Returns:
    A function mapping a step count to a value.

  Raises:
    ValueError: if a scale in ``boundaries_and_scales`` is negative.

  Example:
    >>> import optax_like._src.schedules as sched
    >>> fn = sched.piecewise_constant_schedule(1.0, {2: 0.5, 4: 0.5})
    >>> [float(fn(t)) for t in (0, 1, 2, 3, 4, 9)]
    [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
  """
  items = ()
  if boundaries_and_scales is not None:
    for boundary, scale in boundaries_and_scales.items():
      if not scale >= 0.0:
        raise ValueError(
            'piecewise_constant_schedule: every scale in '
            '`boundaries_and_scales` must be non-negative, got scale '
            f'{scale!r} at boundary {boundary!r}.'
        )
    items = tuple(sorted(boundaries_and_scales.items()))

  def schedule(count: chex.Numeric) -> chex.Numeric:
    value = init_value
    for boundary, scale in items:
      # 1 strictly before the boundary, 0 from the boundary on. The blend below
      # is the exact optax arithmetic (x * 1 + 0 * y and x * 0 + 1 * y are exact
      # for finite x, y), which keeps dtypes and bits identical.
      before = jnp.maximum(0.0, jnp.sign(boundary - count))
      value = value * before + (1 - before) * scale * value
    return value

  return schedule


def exponential_decay(
    init_value: chex.Numeric,
    transition_steps: int,
    decay_rate: float,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: Optional[chex.Numeric] = None,
) -> Schedule:
  r"""Exponential decay, continuous or in steps.

  With :math:`p = (t - B) / T` (floored when ``staircase``):

  .. math::
    \eta(t) = \begin{cases}
      I & t \le B \\
      I \cdot r^{p} & t > B
    \end{cases}

  then clipped from below by ``end_value`` when :math:`r < 1` and from above
  when :math:`r \ge 1` (if ``end_value`` is given).

  As in optax, ``transition_steps <= 0`` or ``decay_rate == 0`` is not an
  error: the schedule is the constant ``init_value`` (returned as given). A
  negative ``transition_begin`` is treated as ``0``.

  Args:
    init_value: value up to and including step ``transition_begin``.
    transition_steps: number of steps over which the value is multiplied by
      ``decay_rate`` once.
    decay_rate: the decay factor :math:`r`; must be non-negative (a negative
      rate gives ``nan`` for fractional exponents).
    transition_begin: number of steps the value is held at ``init_value``.
    staircase: if ``True`` the exponent is floored, giving discrete steps.
    end_value: optional bound the decay stops at.

  Returns:
    A function mapping a step count to a value.

  Raises:
    ValueError: if ``decay_rate`` is negative.

  Example:
    >>> import optax_like._src.schedules as sched
    >>> fn = sched.exponential_decay(1.0, transition_steps=2, decay_rate=0.5)
    >>> [float(fn(t)) for t in (0, 2, 4, 6)]
    [1.0, 0.5, 0.25, 0.125]
    >>> fn = sched.exponential_decay(1.0, 2, 0.5, staircase=True,
    ...                              end_value=0.2)
    >>> [round(float(fn(t)), 6) for t in (0, 1, 2, 3, 4, 6)]
    [1.0, 1.0, 0.5, 0.5, 0.25, 0.2]
  """
  _check_numbers('exponential_decay', init_value=init_value, transition_steps=transition_steps,
                 transition_begin=transition_begin, end_value=end_value)
  _check_not_negative('exponential_decay', 'decay_rate', decay_rate)
  if transition_steps <= 0:
    _log.info(
        'exponential_decay: non-positive transition_steps=%r; the schedule '
        'is the constant init_value.', transition_steps)
    return constant_schedule(init_value)
  if decay_rate == 0:
    _log.info(
        'exponential_decay: decay_rate=0; the schedule is the constant '
        'init_value.')
    return constant_schedule(init_value)
  if transition_begin < 0:
    _log.info(
        'exponential_decay: negative transition_begin=%r is treated as 0.',
        transition_begin)
    transition_begin = 0

  # A rate below one decays, so end_value is a floor; otherwise a ceiling.
  bound = jnp.maximum if decay_rate < 1.0 else jnp.minimum

  def schedule(count: chex.Numeric) -> chex.Numeric:
    elapsed = count - transition_begin
    exponent = elapsed / transition_steps
    if staircase:
      exponent = jnp.floor(exponent)
    value = jnp.where(
        elapsed <= 0, init_value, init_value * jnp.power(decay_rate, exponent)
    )
    if end_value is not None:
      value = bound(value, end_value)
    return value

  return schedule


def cosine_decay_schedule(
    init_value: chex.Numeric,
    decay_steps: int,
    alpha: chex.Numeric = 0.0,
    exponent: chex.Numeric = 1.0,
) -> Schedule:
  r"""Cosine decay from ``init_value`` to ``alpha * init_value``.

  .. math::
    \eta(t) = I\left[(1 - \alpha)\left(\tfrac12\left(1 + \cos\frac{\pi
      \min(t, T)}{T}\right)\right)^{p} + \alpha\right]

  with :math:`T` = ``decay_steps`` and :math:`p` = ``exponent``; the value is
  held at :math:`\alpha I` for :math:`t \ge T`. Python-int counts and
  ``decay_steps`` are converted to float first so that they never overflow
  int32.

  Args:
    init_value: value at step 0.
    decay_steps: length of the decay; must be positive.
    alpha: final value as a fraction of ``init_value``.
    exponent: exponent applied to the cosine factor; must be non-negative.

  Returns:
    A function mapping a step count to a value.

  Raises:
    ValueError: if ``decay_steps`` is not positive or ``exponent`` is
      negative.

  Example:
    >>> import optax_like._src.schedules as sched
    >>> fn = sched.cosine_decay_schedule(1.0, decay_steps=4, alpha=0.1)
    >>> [round(float(fn(t)), 6) for t in (0, 2, 4, 10)]
    [1.0, 0.55, 0.1, 0.1]
  """
  if not decay_steps > 0:
    raise ValueError(
        'cosine_decay_schedule: `decay_steps` must be positive, got '
        f'decay_steps={decay_steps!r}.'
    )
  _check_numbers('cosine_decay_schedule', init_value=init_value, decay_steps=decay_steps,
                 alpha=alpha)
  _check_not_negative('cosine_decay_schedule', 'exponent', exponent)
  total = _as_python_float(decay_steps)

  def schedule(count: chex.Numeric) -> chex.Numeric:
    t = jnp.minimum(_as_python_float(count), total)
    cosine = 0.5 * (1 + jnp.cos(jnp.pi * t / total))
    return init_value * ((1 - alpha) * cosine**exponent + alpha)

  return schedule


def join_schedules(
    schedules: Sequence[Schedule], boundaries: Sequence[int]
) -> Schedule:
  r"""Runs ``schedules`` one after another, switching at ``boundaries``.

  .. math::
    \eta(t) = s_k(t - b_k) \quad \text{for } b_k \le t < b_{k+1},
    \qquad b_0 = 0

  i.e. the first schedule sees the raw count, and schedule :math:`k` starts
  from count 0 at step ``boundaries[k - 1]`` (the boundary step itself already
  belongs to the new schedule).

  Args:
    schedules: the schedules, in order (at least one).
    boundaries: the switch steps, one fewer than ``schedules``, in
      non-decreasing order.

  Returns:
    A function mapping a step count to a value.

  Raises:
    ValueError: if ``schedules`` is empty, ``len(boundaries) !=
      len(schedules) - 1`` or ``boundaries`` decrease.
    TypeError: if an entry of ``schedules`` is not callable.

  Example:
    >>> import optax_like._src.schedules as sched
    >>> fn = sched.join_schedules(
    ...     [sched.constant_schedule(1.0), sched.linear_schedule(1.0, 0.0, 4)],
    ...     boundaries=[2])
    >>> [float(fn(t)) for t in (0, 1, 2, 3, 4, 6)]
    [1.0, 1.0, 1.0, 0.75, 0.5, 0.0]
  """
  schedules = list(schedules)
  boundaries = list(boundaries)
  if not schedules:
    raise ValueError('join_schedules: `schedules` must not be empty.')
  for i, fn in enumerate(schedules):
    if not callable(fn):
      raise TypeError(
          f'join_schedules: `schedules[{i}]` must be callable, got {fn!r}.')
  if len(boundaries) != len(schedules) - 1:
    raise ValueError(
        'join_schedules: `boundaries` must have exactly one entry fewer than '
        f'`schedules`; got len(boundaries)={len(boundaries)} and '
        f'len(schedules)={len(schedules)}.'
    )
  concrete = [_concrete(b) for b in boundaries]
  for i in range(1, len(concrete)):
    prev, cur = concrete[i - 1], concrete[i]
    if prev is not None and cur is not None and np.any(cur < prev):
      raise ValueError(
          '`boundaries` of join_schedules must be non-decreasing, got '
          f'boundaries={boundaries!r}.'
      )

  def schedule(count: chex.Numeric) -> chex.Numeric:
    value = schedules[0](count)
    for boundary, fn in zip(boundaries, schedules[1:]):
      value = jnp.where(count < boundary, value, fn(count - boundary))
    return value

  return schedule


def warmup_cosine_decay_schedule(
    init_value: chex.Numeric,
    peak_value: chex.Numeric,
    warmup_steps: int,
    decay_steps: int,
    end_value: chex.Numeric = 0.0,
    exponent: chex.Numeric = 1.0,
) -> Schedule:
  r"""Linear warmup to ``peak_value``, then cosine decay to ``end_value``.

  With :math:`W` = ``warmup_steps``, :math:`D` = ``decay_steps`` (the total
  length, warmup included) and :math:`\alpha = E / P` (``0`` when the peak is
  ``0``):

  .. math::
    \eta(t) = \begin{cases}
      I + \frac{t}{W}(P - I) & t < W \\
      P\left[(1 - \alpha)\left(\tfrac12\left(1 + \cos\frac{\pi
        \min(t - W, D - W)}{D - W}\right)\right)^{p} + \alpha\right] & t \ge W
    \end{cases}

  As in optax, a ``peak_value`` of ``0`` makes the decay phase identically
  ``0`` whatever ``end_value`` is, and the value at the end is computed as
  ``peak_value * (end_value / peak_value)``, which may differ from
  ``end_value`` in the last float32 bit.

  Args:
    init_value: value at step 0.
    peak_value: value at the end of the warmup.
    warmup_steps: length of the linear warmup; must be non-negative (``0``
      means no warmup).
    decay_steps: total length of the schedule including the warmup; must be
      greater than ``warmup_steps``.
    end_value: value at and after step ``decay_steps``.
    exponent: exponent applied to the cosine factor; must be non-negative.

  Returns:
    A function mapping a step count to a value.

  Raises:
    ValueError: if ``warmup_steps`` is negative, ``decay_steps <=
      warmup_steps`` or ``exponent`` is negative.

  Example:
    >>> import optax_like._src.schedules as sched
    >>> fn = sched.warmup_cosine_decay_schedule(
    ...     init_value=0.0, peak_value=1.0, warmup_steps=2, decay_steps=6)
    >>> [round(float(fn(t)), 6) for t in (0, 1, 2, 4, 6, 9)]
    [0.0, 0.5, 1.0, 0.5, 0.0, 0.0]
  """
  _check_numbers('warmup_cosine_decay_schedule', init_value=init_value, peak_value=peak_value,
                 decay_steps=decay_steps, end_value=end_value)
  _check_not_negative('warmup_cosine_decay_schedule', 'warmup_steps',
                      warmup_steps)
  if not decay_steps - warmup_steps > 0:
    raise ValueError(
        'warmup_cosine_decay_schedule: `decay_steps` (the total length, '
        'warmup included) must be greater than `warmup_steps`, got '
        f'decay_steps={decay_steps!r}, warmup_steps={warmup_steps!r}.'
    )
  _check_not_negative('warmup_cosine_decay_schedule', 'exponent', exponent)
  alpha = 0.0 if peak_value == 0.0 else end_value / peak_value
  return join_schedules(
      [
          linear_schedule(
              init_value=init_value,
              end_value=peak_value,
              transition_steps=warmup_steps,
          ),
          cosine_decay_schedule(
              init_value=peak_value,
              decay_steps=decay_steps - warmup_steps,
              alpha=alpha,
              exponent=exponent,
          ),
      ],
      [warmup_steps],
  )


def warmup_exponential_decay_schedule(
    init_value: chex.Numeric,
    peak_value: chex.Numeric,
    warmup_steps: int,
    transition_steps: int,
    decay_rate: chex.Numeric,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: Optional[chex.Numeric] = None,
) -> Schedule:
  r"""Linear warmup to ``peak_value``, then :func:`exponential_decay`.

  .. math::
    \eta(t) = \begin{cases}
      I + \frac{t}{W}(P - I) & t < W \\
      \mathrm{exponential\_decay}(P, T, r, B, \ldots)(t - W) & t \ge W
    \end{cases}

  ``transition_begin`` counts from the end of the warmup. The fallbacks of
  :func:`exponential_decay` apply to the decay phase (``transition_steps <=
  0`` or ``decay_rate == 0`` hold it at ``peak_value``).

  Args:
    init_value: value at step 0.
    peak_value: value at the end of the warmup.
    warmup_steps: length of the linear warmup; must be non-negative (``0``
      means no warmup).
    transition_steps: see :func:`exponential_decay`.
    decay_rate: see :func:`exponential_decay`; must be non-negative.
    transition_begin: steps after the warmup during which the value is held at
      ``peak_value``.
    staircase: if ``True`` the decay happens in discrete steps.
    end_value: optional bound the decay stops at.

  Returns:
    A function mapping a step count to a value.

  Raises:
    ValueError: if ``warmup_steps`` or ``decay_rate`` is negative.

  Example:
    >>> import optax_like._src.schedules as sched
    >>> fn = sched.warmup_exponential_decay_schedule(
    ...     init_value=0.0, peak_value=1.0, warmup_steps=2,
    ...     transition_steps=1, decay_rate=0.5)
    >>> [float(fn(t)) for t in (0, 1, 2, 3, 4)]
    [0.0, 0.5, 1.0, 0.5, 0.25]
  """
  _check_numbers('warmup_exponential_decay_schedule', init_value=init_value,
                 peak_value=peak_value, transition_steps=transition_steps,
                 transition_begin=transition_begin, end_value=end_value)
  _check_not_negative('warmup_exponential_decay_schedule', 'warmup_steps',
                      warmup_steps)
  return join_schedules(
      [
          linear_schedule(
              init_value=init_value,
              end_value=peak_value,
              transition_steps=warmup_steps,
          ),
          exponential_decay(
              init_value=peak_value,
              transition_steps=transition_steps,
              decay_rate=decay_rate,
              transition_begin=transition_begin,
              staircase=staircase,
              end_value=end_value,
          ),
      ],
      [warmup_steps],
  )


def sgdr_schedule(
    cosine_kwargs: Iterable[dict[str, chex.Numeric]],
) -> Schedule:
  r"""SGD with warm restarts: consecutive warmup-cosine cycles.

  Cycle :math:`k` is ``warmup_cosine_decay_schedule(**cosine_kwargs[k])`` and
  runs for its own ``decay_steps``; it sees the count relative to its own
  start :math:`S_k = \sum_{j<k} D_j`:

  .. math::
    \eta(t) = c_k(t - S_k) \quad \text{for } S_k \le t < S_{k+1}

  The last cycle continues (at its end value) after it finishes.

  Args:
    cosine_kwargs: the keyword arguments of each cycle's
      :func:`warmup_cosine_decay_schedule`; at least one cycle.

  Returns:
    A function mapping a step count to a value.

  Raises:
    ValueError: if ``cosine_kwargs`` is empty or a cycle has no
      ``decay_steps``, or a cycle's own arguments are invalid.

  Example:
    >>> import optax_like._src.schedules as sched
    >>> cycle = dict(init_value=0.0, peak_value=1.0, warmup_steps=1,
    ...              decay_steps=3)
    >>> fn = sched.sgdr_schedule([cycle, cycle])
    >>> [round(float(fn(t)), 6) for t in (0, 1, 2, 3, 4, 5, 6, 9)]
    [0.0, 1.0, 0.5, 0.0, 1.0, 0.5, 0.0, 0.0]
  """
  schedules = []
  boundaries = []
  start = 0
  for i, kwargs in enumerate(cosine_kwargs):
    if 'decay_steps' not in kwargs:
      raise ValueError(
          f'sgdr_schedule: `cosine_kwargs[{i}]` has no `decay_steps`.')
    schedules.append(warmup_cosine_decay_schedule(**kwargs))
    start += kwargs['decay_steps']
    boundaries.append(start)
  if not schedules:
    raise ValueError(
        'sgdr_schedule: `cosine_kwargs` must describe at least one cycle.')
  return join_schedules(schedules, boundaries[:-1])


# ----------------------------------------------------------------------------
# Interpolated and one-cycle schedules.
# ----------------------------------------------------------------------------


def _interpolate_linearly(start: Any, end: Any, fraction: Any) -> Any:
  return (end - start) * fraction + start


def _interpolate_cosine(start: Any, end: Any, fraction: Any) -> Any:
  # Half a cosine period from `start` (fraction 0) to `end` (fraction 1), flat at both ends.
  return end + (start - end) / 2.0 * (jnp.cos(jnp.pi * fraction) + 1)


_INTERPOLATIONS = {'linear': _interpolate_linearly, 'cosine': _interpolate_cosine}


def piecewise_interpolate_schedule(
    interpolate_type: str,
    init_value: chex.Numeric,
    boundaries_and_scales: Optional[dict[int, float]] = None,
) -> Schedule:
  r"""Interpolates, linearly or along a half cosine, between the values reached at boundaries.

  With boundaries :math:`0 = b_0 < b_1 < \dots < b_K` (the keys of
  ``boundaries_and_scales``, sorted, after :math:`b_0 = 0`) and the running products
  :math:`v_k = v_0 \prod_{i \le k} s_i` of the scales (:math:`v_0` = ``init_value``):

  .. math::
    \eta(t) = \begin{cases}
      \mathrm{interp}\big(v_{k-1}, v_k, \tfrac{t - b_{k-1}}{\max(b_k - b_{k-1}, 1)}\big)
        & b_{k-1} \le t < b_k \\
      v_K & t \ge b_K
    \end{cases}

  where :math:`\mathrm{interp}(a, b, f) = a + f (b - a)` (``'linear'``) or
  :math:`b + \frac{a - b}{2}(1 + \cos \pi f)` (``'cosine'``). The scales multiply: the value
  reached at a boundary is the previous one times its scale. With no boundaries the schedule is
  the constant ``init_value`` (as an array).

  Args:
    interpolate_type: ``'linear'`` or ``'cosine'``.
    init_value: value at step 0.
    boundaries_and_scales: ``{step: scale}``; steps must be non-negative and scales
      non-negative.

  Returns:
    A function mapping a step count to a value.

  Raises:
    ValueError: for another ``interpolate_type``, a negative scale or a negative boundary.

  Example:
    >>> import optax_like as ox
    >>> fn = ox.piecewise_interpolate_schedule('linear', 1.0, {4: 0.5, 6: 2.0})
    >>> [float(fn(t)) for t in (0, 2, 4, 5, 6, 9)]
    [1.0, 0.75, 0.5, 0.75, 1.0, 1.0]
  """
  fn_name = 'piecewise_interpolate_schedule'
  if not isinstance(interpolate_type, str) or interpolate_type not in _INTERPOLATIONS:
    raise ValueError(f"{fn_name}: `interpolate_type` must be 'linear' or 'cosine', got "
                     f'{interpolate_type!r}.')
  interpolate = _INTERPOLATIONS[interpolate_type]
  validation.check_not_bool(init_value, 'init_value', fn_name)
  boundaries, scales = (), ()
  if boundaries_and_scales:
    for boundary, scale in boundaries_and_scales.items():
      validation.check_not_bool(scale, 'boundaries_and_scales', fn_name)
      if not scale >= 0.0:
        raise ValueError(f'{fn_name}: every scale in `boundaries_and_scales` must be '
                         f'non-negative, got scale {scale!r} at boundary {boundary!r}.')
      if boundary < 0:
        raise ValueError(f'{fn_name}: every boundary in `boundaries_and_scales` must be a '
                         f'non-negative step, got {boundary!r}.')
    boundaries, scales = zip(*sorted(boundaries_and_scales.items()))

  def schedule(count: chex.Numeric) -> chex.Numeric:
    starts_and_ends = jnp.stack((0,) + tuple(boundaries))
    reached = jnp.cumprod(jnp.stack((init_value,) + tuple(scales)))
    start, end = starts_and_ends[:-1], starts_and_ends[1:]
    fraction = (count - start) / jnp.maximum(end - start, 1)
    inside = (start <= count) & (count < end)
    between = interpolate(reached[:-1], reached[1:], fraction)
    # One segment at most holds `count`: the sum picks its value exactly.
    return (jnp.sum(jnp.where(inside, between, 0), dtype=between.dtype)
            + (starts_and_ends[-1] <= count) * reached[-1])

  return schedule


def _check_onecycle(fn_name: str, transition_steps: Any, peak_value: Any, pct_start: Any,
                    div_factor: Any, final_div_factor: Any, pct_final: Any = None) -> None:
  _check_numbers(fn_name, transition_steps=transition_steps, peak_value=peak_value)
  if not transition_steps > 0:
    raise ValueError(f'{fn_name}: `transition_steps` must be positive, got '
                     f'transition_steps={transition_steps!r}.')
  validation.check_range(pct_start, 'pct_start', low=0, high=1, fn=fn_name)
  if pct_final is not None:
    validation.check_range(pct_final, 'pct_final', low=pct_start, high=1, fn=fn_name)
  validation.check_range(div_factor, 'div_factor', low=0, low_inclusive=False, fn=fn_name)
  validation.check_range(final_div_factor, 'final_div_factor', low=0, low_inclusive=False,
                         fn=fn_name)


def linear_onecycle_schedule(
    transition_steps: int,
    peak_value: chex.Numeric,
    pct_start: float = 0.3,
    pct_final: float = 0.85,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> Schedule:
  r"""The one-cycle policy in three linear phases.

  With :math:`T` = ``transition_steps``, :math:`P` = ``peak_value``, :math:`d` =
  ``div_factor``, :math:`d_f` = ``final_div_factor``, :math:`t_1 = \lfloor p_s T \rfloor`,
  :math:`t_2 = \lfloor p_f T \rfloor`: linear from :math:`P/d` up to :math:`P` over
  :math:`[0, t_1]`, back down to :math:`P/d` over :math:`[t_1, t_2]`, then down to
  :math:`P/(d\,d_f)` over :math:`[t_2, T]`, and constant after; i.e.
  ``piecewise_interpolate_schedule('linear', P / d, {t1: d, t2: 1 / d, T: 1 / d_f})``.

  Reference: Smith & Topin, `Super-Convergence: Very Fast Training of Neural Networks Using
  Large Learning Rates <https://arxiv.org/abs/1708.07120>`_, 2017.

  Args:
    transition_steps: length of the cycle; must be positive.
    peak_value: the value at step :math:`t_1`.
    pct_start: fraction of the cycle spent increasing, in [0, 1].
    pct_final: fraction of the cycle at which the value is back at :math:`P/d`, in
      [pct_start, 1].
    div_factor: the initial value is ``peak_value / div_factor``; must be positive.
    final_div_factor: the final value is the initial value divided by this; must be positive.

  Returns:
    A function mapping a step count to a value.

  Example:
    >>> import optax_like as ox
    >>> fn = ox.linear_onecycle_schedule(10, 1.0, pct_start=0.2, pct_final=0.6,
    ...                                  div_factor=4.0, final_div_factor=5.0)
    >>> [round(float(fn(t)), 6) for t in (0, 1, 2, 4, 6, 8, 10, 12)]
    [0.25, 0.625, 1.0, 0.625, 0.25, 0.15, 0.05, 0.05]
  """
  _check_onecycle('linear_onecycle_schedule', transition_steps, peak_value, pct_start,
                  div_factor, final_div_factor, pct_final)
  return piecewise_interpolate_schedule(
      'linear', peak_value / div_factor,
      {int(pct_start * transition_steps): div_factor,
       int(pct_final * transition_steps): 1.0 / div_factor,
       transition_steps: 1.0 / final_div_factor})


def cosine_onecycle_schedule(
    transition_steps: int,
    peak_value: chex.Numeric,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> Schedule:
  r"""The one-cycle policy with half-cosine phases: up from :math:`P/d` to the peak :math:`P`
  over the first ``pct_start`` of the cycle, then down to :math:`P/(d\,d_f)` at step
  :math:`T` = ``transition_steps``, constant after; i.e.
  ``piecewise_interpolate_schedule('cosine', P / d, {floor(pct_start T): d, T: 1 / (d d_f)})``.

  Reference: Smith & Topin, `Super-Convergence: Very Fast Training of Neural Networks Using
  Large Learning Rates <https://arxiv.org/abs/1708.07120>`_, 2017.

  Args:
    transition_steps: length of the cycle; must be positive.
    peak_value: the value at the end of the increasing phase.
    pct_start: fraction of the cycle spent increasing, in [0, 1].
    div_factor: the initial value is ``peak_value / div_factor``; must be positive.
    final_div_factor: the final value is the initial value divided by this; must be positive.

  Returns:
    A function mapping a step count to a value.

  Example:
    >>> import optax_like as ox
    >>> fn = ox.cosine_onecycle_schedule(6, 1.0, pct_start=1 / 3, div_factor=2.0,
    ...                                  final_div_factor=5.0)
    >>> [round(float(fn(t)), 6) for t in (0, 1, 2, 4, 6, 9)]
    [0.5, 0.75, 1.0, 0.55, 0.1, 0.1]
  """
  _check_onecycle('cosine_onecycle_schedule', transition_steps, peak_value, pct_start,
                  div_factor, final_div_factor)
  return piecewise_interpolate_schedule(
      'cosine', peak_value / div_factor,
      {int(pct_start * transition_steps): div_factor,
       int(transition_steps): 1.0 / (div_factor * final_div_factor)})


def warmup_constant_schedule(
    init_value: chex.Numeric,
    peak_value: chex.Numeric,
    warmup_steps: int,
) -> Schedule:
  r"""Linear warmup from ``init_value`` to ``peak_value``, then constant.

  .. math::
    \eta(t) = I + \frac{\min(\max(t, 0), W)}{W}(P - I)

  (:func:`linear_schedule` with ``transition_steps=warmup_steps``, so the numbers are optax's).
  ``warmup_steps=0`` is accepted only when ``init_value == peak_value``: optax then returns the
  constant ``init_value`` and never reaches a different ``peak_value``.

  Args:
    init_value: value at step 0.
    peak_value: value at and after step ``warmup_steps``.
    warmup_steps: length of the warmup; must be positive (or 0, see above).

  Returns:
    A function mapping a step count to a value.

  Raises:
    ValueError: if ``warmup_steps`` is negative, or 0 with ``init_value != peak_value``.

  Example:
    >>> import optax_like as ox
    >>> fn = ox.warmup_constant_schedule(0.0, 1.0, warmup_steps=4)
    >>> [float(fn(t)) for t in (0, 1, 2, 4, 10)]
    [0.0, 0.25, 0.5, 1.0, 1.0]
  """
  fn_name = 'warmup_constant_schedule'
  _check_numbers(fn_name, init_value=init_value, peak_value=peak_value,
                 warmup_steps=warmup_steps)
  _check_not_negative(fn_name, 'warmup_steps', warmup_steps)
  if warmup_steps == 0:
    init, peak = _concrete(init_value), _concrete(peak_value)
    if init is not None and peak is not None and np.any(init != peak):
      raise ValueError(f'{fn_name}: `warmup_steps`=0 would hold the schedule at init_value='
                       f'{init_value!r} forever and never reach peak_value={peak_value!r}; '
                       'give a positive warmup_steps, or init_value equal to peak_value.')
  return linear_schedule(init_value=init_value, end_value=peak_value,
                         transition_steps=warmup_steps)

r"""Measurements kept in the optimizer state, for logging from inside a chain.

``snapshot`` stores ``measure(updates)`` as the updates pass its position in the chain;
``monitor`` stores several measurements, each possibly stateful (``measure_with_ema``: an
exponential moving average of a measurement). The updates always pass unchanged, and a
measurement is found in the state by name (``optax.tree.get(state, name)``).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional, Union

import chex
import jax

from optax_like._src import accumulation
from optax_like._src import base
from optax_like._src import validation


class SnapshotState(NamedTuple):
  """State of ``snapshot``: ``{measure_name: measurement}``."""
  measurement: dict[str, Any]


def _check_name(name: Any, what: str, fn: str) -> None:
  if not isinstance(name, str):
    raise TypeError(f'{fn}: {what} must be a string, got {type(name).__name__}: {name!r:.60}')


def snapshot(measure_name: str,
             measure: Callable[[base.Updates], chex.ArrayTree]) -> base.GradientTransformation:
  r"""Stores ``measure(updates)`` in the state under ``measure_name``; updates pass unchanged.

  .. math:: s \leftarrow \{\texttt{measure\_name}: \mathrm{measure}(u)\}, \qquad u \leftarrow u

  ``init`` stores ``measure(params)``, so the state has its final structure from the start.

  Args:
    measure_name: the key of the measurement in the state.
    measure: a function of the updates (as they arrive at this position of a chain).

  Returns:
    A ``GradientTransformation`` with state ``SnapshotState({measure_name: ...})``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> tx = ox.chain(ox.snapshot('norm', ox.global_norm), ox.clip_by_global_norm(1.0))
    >>> _, state = tx.update(jnp.array([3.0, 4.0]), tx.init(jnp.zeros(2)))
    >>> float(state[0].measurement['norm'])
    5.0
  """
  fn = 'snapshot'
  _check_name(measure_name, '`measure_name`', fn)
  if not callable(measure):
    raise TypeError(f'{fn}: `measure` must be callable, got {type(measure).__name__}.')

  def init_fn(params):
    return SnapshotState({measure_name: measure(params)})

  def update_fn(updates, state, params=None):
    del params, state
    return updates, SnapshotState({measure_name: measure(updates)})

  return base.GradientTransformation(init_fn, update_fn)


class MonitorState(NamedTuple):
  """State of ``monitor``: the last measurements by name (empty after ``init``) and the
  measures' own states, in the order of ``measures``."""
  measurements: dict[str, chex.ArrayTree]
  measure_states: tuple[base.OptState, ...]


def monitor(measures: dict[str, Union[base.GradientTransformationExtraArgs,
                                      Callable[[base.Updates], chex.ArrayTree]]]):
  r"""Stores several measurements of the updates in the state; updates pass unchanged.

  .. math:: (m_j, s_j) \leftarrow \mathrm{measure}_j(u, s_j), \qquad u \leftarrow u

  A measure is a function of the updates (stateless), or a transformation whose "updates" are
  the measurement (stateful, e.g. ``measure_with_ema``); it gets the params and any extra
  arguments of ``update``. As in optax, ``measurements`` is empty after ``init`` and holds one
  entry per measure after the first ``update``.

  Args:
    measures: a dict from measurement name to measure.

  Returns:
    A ``GradientTransformationExtraArgs`` with state ``MonitorState``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> tx = ox.monitor({'norm': ox.global_norm,
    ...                  'ema': ox.measure_with_ema(ox.global_norm, decay=0.5)})
    >>> state = tx.init(jnp.zeros(2))
    >>> for g in (jnp.array([3.0, 4.0]), jnp.array([6.0, 8.0])):
    ...   _, state = tx.update(g, state)
    >>> float(state.measurements['norm']), float(state.measurements['ema'])  # (2.5+5)/1.5
    (10.0, 8.333333015441895)
  """
  fn = 'monitor'
  if not isinstance(measures, dict):
    raise TypeError(f'{fn}: `measures` must be a dict from name to measure, got '
                    f'{type(measures).__name__}.')
  wrapped = {}
  for name, measure in measures.items():
    _check_name(name, 'every key of `measures`', fn)
    if callable(measure):
      measure_tx = base.stateless(lambda u, _, m=measure: m(u))
    else:
      validation.check_transformation(measure, f'{fn}: measures[{name!r}]')
      measure_tx = measure
    wrapped[name] = base.with_extra_args_support(measure_tx)
  names = tuple(wrapped)

  def init_fn(params):
    return MonitorState({}, tuple(wrapped[name].init(params) for name in names))

  def update_fn(updates, state, params=None, **extra_args):
    validation.check_state(state, MonitorState, fn)
    if len(state.measure_states) != len(names):
      raise ValueError(f'{fn}: the state holds {len(state.measure_states)} measure states but '
                       f'there are {len(names)} measures; was it made by another monitor?')
    measurements, new_states = {}, []
    for name, measure_state in zip(names, state.measure_states):
      measurements[name], new_state = wrapped[name].update(updates, measure_state, params,
                                                           **extra_args)
      new_states.append(new_state)
    return updates, MonitorState(measurements, tuple(new_states))

  return base.GradientTransformationExtraArgs(init_fn, update_fn)


def measure_with_ema(measure: Callable[[base.Updates], chex.ArrayTree],
                     decay: jax.typing.ArrayLike,
                     debias: bool = True,
                     accumulator_dtype: Optional[Any] = None
                     ) -> base.GradientTransformationExtraArgs:
  r"""An exponential moving average of ``measure(updates)``, as a measure for ``monitor``.

  .. math::
    e_t = \beta e_{t-1} + (1 - \beta)\, \mathrm{measure}(u_t), \qquad
    \text{out}_t = e_t / (1 - \beta^t) \;\; (\texttt{debias})

  It is ``chain(stateless(measure), ema(decay, debias, accumulator_dtype))`` whose ``ema`` is
  initialised from ``measure(params)``, so its "updates" are the averaged measurement.

  Args:
    measure: a function of the updates.
    decay: :math:`\beta`.
    debias: divide by :math:`1 - \beta^t`.
    accumulator_dtype: dtype of the stored average (None: the measurement's float dtype).

  Returns:
    A ``GradientTransformationExtraArgs`` with state ``(EmptyState(), EmaState(count, ema))``.

  Example:
    >>> import jax.numpy as jnp, optax_like as ox
    >>> tx = ox.measure_with_ema(ox.global_norm, decay=0.5, debias=False)
    >>> state = tx.init(jnp.zeros(2))
    >>> float(tx.update(jnp.array([3.0, 4.0]), state)[0])
    2.5
  """
  if not callable(measure):
    raise TypeError(f'measure_with_ema: `measure` must be callable, got {type(measure).__name__}.')
  average = accumulation.ema(decay, debias, accumulator_dtype)

  def init_from_measurement(params):
    # The average has the shape of a measurement, not of the parameters.
    return average.init(measure(params))

  return base.chain(base.stateless(lambda updates, _: measure(updates)),
                    average._replace(init=init_from_measurement))

r"""SAM: sharpness-aware minimisation as a wrapper of an outer and an adversarial optimizer.

Foret et al., `Sharpness-Aware Minimization for Efficiently Improving Generalization
<https://arxiv.org/abs/2010.01412>`_, 2021. Every ``sync_period`` calls, ``sync_period - 1``
adversarial steps (e.g. normalised gradient ascent of radius rho) are followed by one step of
the outer optimizer, taken from the parameters cached before the adversarial steps with the
gradient at the perturbed point.
"""

from typing import Callable, NamedTuple, Optional

import chex
import jax
import jax.numpy as jnp

from optax_like._src import base
from optax_like._src import tree
from optax_like._src import validation


class SAMState(NamedTuple):
  """State of ``sam`` (optax's fields and order)."""
  steps_since_sync: chex.Array     # int32, in [0, sync_period)
  opt_state: base.OptState         # the outer optimizer's
  adv_state: base.OptState         # the adversarial optimizer's
  cache: Optional[base.Params]     # the parameters before the adversarial steps (None opaque)


def _select(flag: jax.Array, if_true, if_false):
  """Leafwise ``flag * a + (1 - flag) * b`` (optax's arithmetic selection, NaNs included)."""
  return jax.tree.map(lambda a, b: flag * a + (1 - flag) * b, if_true, if_false)


def sam(
    optimizer: base.GradientTransformation,
    adv_optimizer: base.GradientTransformation,
    sync_period: int = 2,
    reset_state: bool = True,
    opaque_mode: bool = False,
    batch_axis_name: Optional[str] = None,
) -> base.GradientTransformationExtraArgs:
  r"""Sharpness-Aware Minimisation around ``optimizer`` with ``adv_optimizer`` as the ascent.

  With the cache :math:`c` (the parameters at the start of a period), on call :math:`k` of a
  period of length :math:`n` = ``sync_period``:

  .. math::
    u = \begin{cases} -\,\text{adv}(g) & k < n - 1 \\
                      c - x + \text{opt}(g;\, c) & k = n - 1 \end{cases}

  so the adversarial steps move away from :math:`c` and the last call of the period returns to
  :math:`c` plus the outer optimizer's step computed with the gradient at the perturbed point.
  With ``reset_state`` the adversarial optimizer restarts each period. With ``opaque_mode``
  the whole period runs inside one call, which needs ``update(..., grad_fn=f)`` where
  ``f(params, i)`` returns the gradient at ``params`` for adversarial step ``i``
  (``batch_axis_name``: ``pmean`` of those gradients over that axis). Reference: Foret et al.,
  `Sharpness-Aware Minimization <https://arxiv.org/abs/2010.01412>`_, 2021.

  Args:
    optimizer: the outer optimizer.
    adv_optimizer: the adversarial (ascent) optimizer, e.g. ``chain(normalize(), sgd(rho))``.
    sync_period: calls per period, an int ``>= 1``.
    reset_state: re-initialise ``adv_optimizer``'s state at the end of each period.
    opaque_mode: run a whole period per call (needs ``grad_fn``).
    batch_axis_name: axis name for ``jax.lax.pmean`` of the inner gradients (opaque mode).

  Returns:
    A ``GradientTransformationExtraArgs`` that needs ``params``.

  Example:
    >>> import jax.numpy as jnp
    >>> import optax_like as ox
    >>> from optax_like import contrib
    >>> opt = contrib.sam(ox.sgd(0.1), ox.sgd(0.5), sync_period=2)
    >>> x = jnp.array([1.0])
    >>> state = opt.init(x)
    >>> u, state = opt.update(jnp.array([2.0]), state, x)   # ascent: +0.5 * 2
    >>> x = x + u
    >>> u, state = opt.update(jnp.array([4.0]), state, x)   # back to 1, then -0.1 * 4
    >>> u.tolist(), (x + u).tolist()
    ([-1.399999976158142], [0.6000000238418579])
  """
  fn = 'sam'
  validation.check_transformation(optimizer, 'optimizer')
  validation.check_transformation(adv_optimizer, 'adv_optimizer')
  validation.check_not_bool(sync_period, 'sync_period', fn)
  if not isinstance(sync_period, int) or sync_period < 1:
    raise ValueError(f'{fn}: `sync_period` (the synchronization period) must be an int '
                     f'>= 1, got {sync_period!r}.')
  for name, value in (('reset_state', reset_state), ('opaque_mode', opaque_mode)):
    if not validation.is_bool(value):
      raise TypeError(f'{fn}: `{name}` must be a bool, got {value!r}.')
  if batch_axis_name is not None and not isinstance(batch_axis_name, str):
    raise TypeError(f'{fn}: `batch_axis_name` must be a str or None, got {batch_axis_name!r}.')

  def init_fn(params):
    return SAMState(
        steps_since_sync=jnp.zeros([], jnp.int32),
        opt_state=optimizer.init(params),
        adv_state=adv_optimizer.init(params),
        cache=None if opaque_mode else params)

  def transparent_update(updates, state, params=None, *, grad_fn=None, **extra_args):
    del grad_fn, extra_args
    validation.require_params(params, fn)
    validation.check_state(state, SAMState, fn)
    validation.check_same_structure(params, state.cache, 'params', 'state.cache', fn)
    first = state.steps_since_sync == 0
    last = state.steps_since_sync == sync_period - 1
    adv_updates, adv_state = adv_optimizer.update(updates, state.adv_state, params)
    adv_updates = jax.tree.map(jnp.negative, adv_updates)
    opt_updates, opt_state = optimizer.update(updates, state.opt_state, state.cache)
    opt_updates = jax.tree.map(lambda c, p, u: c - p + u, state.cache, params, opt_updates)
    cache = _select(first, params, state.cache)
    new_updates = _select(last, opt_updates, adv_updates)
    if reset_state:
      adv_state = _select(last, adv_optimizer.init(params), adv_state)
    else:
      adv_state = _select(last, state.adv_state, adv_state)
    opt_state = _select(last, opt_state, state.opt_state)
    return new_updates, SAMState(
        steps_since_sync=(state.steps_since_sync + 1) % sync_period,
        opt_state=opt_state, adv_state=adv_state, cache=cache)

  def opaque_update(updates, state, params=None, *, grad_fn=None, **extra_args):
    del extra_args
    if grad_fn is None:
      raise ValueError(f'{fn}: opaque_mode=True needs `grad_fn`: call '
                       '`update(updates, state, params, grad_fn=f)` with f(params, i) -> grads.')
    validation.require_params(params, fn)
    validation.check_state(state, SAMState, fn)
    adv_params, adv_updates, adv_state = params, updates, state.adv_state
    for i in range(sync_period - 1):
      adv_updates, adv_state = adv_optimizer.update(adv_updates, adv_state, adv_params)
      adv_params = tree.apply_updates(adv_params, jax.tree.map(jnp.negative, adv_updates))
      adv_updates = grad_fn(adv_params, i)
      if batch_axis_name is not None:
        adv_updates = jax.lax.pmean(adv_updates, axis_name=batch_axis_name)
    if reset_state:
      adv_state = adv_optimizer.init(params)
    new_updates, opt_state = optimizer.update(adv_updates, state.opt_state, params)
    return new_updates, SAMState(steps_since_sync=jnp.zeros([], jnp.int32),
                                 opt_state=opt_state, adv_state=adv_state, cache=None)

  return base.GradientTransformationExtraArgs(
      init_fn, opaque_update if opaque_mode else transparent_update)

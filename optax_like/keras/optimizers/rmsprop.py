"""``RMSprop``: tf.keras 2 RMSprop (plain, momentum, centered)."""

from __future__ import annotations

from typing import Any, Optional


from optax_like._src import keras_numerics as kn
from optax_like.keras.optimizers.base import Optimizer, _check_momentum, _momentum_flag


class RMSprop(Optimizer):
  r"""RMSprop, as ``tf.keras.optimizers.legacy.RMSprop`` (both of its epsilon placements).

  With momentum (TF's ``ResourceApply[Centered]RMSProp``):

  .. math::
    r \leftarrow r + (g^2 - r)(1 - \rho); \quad
    m \leftarrow \mu m + \eta g / \sqrt{r - [\bar g^2] + \epsilon}; \quad w \leftarrow w - m

  without: ``r = rho r + (1 - rho) g^2``, ``w -= lr g / (sqrt(r - [mg^2]) + eps)``. Centered
  keeps ``mg``, the average gradient. Slots ``rms`` (starts at 0), ``momentum``, ``mg``.

  Example:
    >>> from optax_like.keras import RMSprop, Variable
    >>> opt = RMSprop(learning_rate=0.1, rho=0.0, epsilon=1e-12)
    >>> var = Variable(1.0)
    >>> _ = opt.minimize(lambda: (var ** 2) / 2.0, [var])
    >>> round(var.numpy().item(), 6), opt.get_slot_names()
    (0.9, ['rms'])
  """

  _HYPER_NAMES = ('learning_rate', 'decay', 'rho', 'momentum')
  _WEIGHTS_MAY_OMIT_ITERATIONS = True
  _SLOT_MAP = {('ScaleByRmsState', 'nu'): ('rms', 1), ('ScaleByRStdDevState', 'nu'): ('rms', 1),
               ('ScaleByRStdDevState', 'mu'): ('mg', 1), ('TraceState', 'trace'): ('momentum', -1)}

  def __init__(self, learning_rate: Any = 0.001, rho: Any = 0.9, momentum: Any = 0.0,
               epsilon: Optional[float] = 1e-07, centered: bool = False, name: str = 'RMSprop',
               **kwargs: Any):
    super().__init__(name, **kwargs)
    learning_rate = kwargs.get('lr', learning_rate)
    self._momentum = _momentum_flag(momentum)
    _check_momentum(momentum)
    self._set_hypers(learning_rate, rho=rho, momentum=momentum)
    self.epsilon = epsilon or 1e-7
    self.centered = centered

  def _static_config(self):
    return (self._momentum, float(self.epsilon), bool(self.centered))

  def _step_slot_names(self):
    return (('rms',) + (('momentum',) if self._momentum else ())
            + (('mg',) if self.centered else ()))

  def _sparse_strategy(self):
    return 'rows' if self._momentum else 'dense_slots_rows_var'

  def _step_hyper_names(self):
    return ('rho', 'momentum') if self._momentum else ('rho',)

  @classmethod
  def _build_chain(cls, cfg, hypers):
    momentum_path, epsilon, centered = cfg.static
    lr = cls._learning_rate(cfg, hypers)
    # A traced momentum selects keras_rmsprop's momentum branch (eps inside the root).
    return kn.keras_rmsprop(lr, rho=hypers['rho'],
                            momentum=hypers['momentum'] if momentum_path else 0.0,
                            epsilon=epsilon, centered=centered)

  def get_config(self):
    config = super().get_config()
    config.update(self._hyper_config(), epsilon=self.epsilon, centered=self.centered)
    return config

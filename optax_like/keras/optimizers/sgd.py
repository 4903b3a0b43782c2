"""``SGD``: tf.keras 2 gradient descent with (Nesterov) momentum."""

from __future__ import annotations

from typing import Any

from optax_like._src import keras_numerics as kn
from optax_like.keras.optimizers.base import Optimizer, _check_momentum, _momentum_flag


class SGD(Optimizer):
  r"""Gradient descent with optional (Nesterov) momentum, as ``tf.keras.optimizers.legacy.SGD``.

  .. math::
    v \leftarrow \mu v - \eta g; \qquad
    w \leftarrow w + v \;\; (\text{nesterov: } w + \mu v - \eta g)

  and ``w -= lr * g`` when ``momentum == 0`` (no slot). The chain is ``keras_sgd``.

  Example:
    >>> from optax_like.keras import SGD, Variable
    >>> opt = SGD(learning_rate=0.1)
    >>> var = Variable(1.0)
    >>> loss = lambda: (var ** 2) / 2.0         # d(loss)/d(var) = var
    >>> step_count = opt.minimize(loss, [var]).numpy()
    >>> round(var.numpy().item(), 6)
    0.9
  """

  _HYPER_NAMES = ('learning_rate', 'decay', 'momentum')
  _SLOT_MAP = {('TraceState', 'trace'): ('momentum', 1)}

  def __init__(self, learning_rate: Any = 0.01, momentum: Any = 0.0, nesterov: bool = False,
               name: str = 'SGD', **kwargs: Any):
    super().__init__(name, **kwargs)
    learning_rate = kwargs.get('lr', learning_rate)
    self._momentum = _momentum_flag(momentum)
    _check_momentum(momentum)
    self._set_hypers(learning_rate, momentum=momentum)
    self.nesterov = nesterov

  def _static_config(self):
    return (self._momentum, bool(self.nesterov))

  def _step_slot_names(self):
    return ('momentum',) if self._momentum else ()

  def _sparse_strategy(self):
    return 'rows' if self._momentum else 'scatter'

  def _step_hyper_names(self):
    return ('momentum',) if self._momentum else ()

  @classmethod
  def _build_chain(cls, cfg, hypers):
    momentum_path, nesterov = cfg.static
    lr = cls._learning_rate(cfg, hypers)
    # A traced momentum selects keras_sgd's momentum branch; 0.0 the plain one.
    return kn.keras_sgd(lr, momentum=hypers['momentum'] if momentum_path else 0.0,
                        nesterov=nesterov)

  def get_config(self):
    config = super().get_config()
    config.update(self._hyper_config(), nesterov=self.nesterov)
    return config

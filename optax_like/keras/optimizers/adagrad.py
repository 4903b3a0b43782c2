"""``Adagrad``: tf.keras 2 Adagrad (``ResourceApplyAdagradV2``)."""

from __future__ import annotations

from typing import Any, Optional


from optax_like._src import keras_numerics as kn
from optax_like.keras.optimizers._constant import constant
from optax_like.keras.optimizers.base import Optimizer


class Adagrad(Optimizer):
  r"""Adagrad, as ``tf.keras.optimizers.legacy.Adagrad``.

  .. math::
    a \leftarrow a + g^2; \qquad w \leftarrow w - \eta \frac{g}{\sqrt{a} + \epsilon}

  One slot, ``accumulator``, starting at ``initial_accumulator_value``. Sparse gradients
  update the rows they touch (repeated indices summed first). The chain is ``keras_adagrad``.
  Duchi et al., 2011 (https://jmlr.org/papers/v12/duchi11a.html).

  Example:
    >>> from optax_like.keras import Adagrad, Variable
    >>> opt = Adagrad(learning_rate=0.1, initial_accumulator_value=0.0, epsilon=1e-12)
    >>> var = Variable(1.0)
    >>> _ = opt.minimize(lambda: (var ** 2) / 2.0, [var])
    >>> round(var.numpy().item(), 6), opt.get_slot_names()
    (0.9, ['accumulator'])
  """

  _HYPER_NAMES = ('learning_rate', 'decay')
  _SLOT_MAP = {('ScaleByRssState', 'sum_of_squares'): ('accumulator', 1)}
  _SPARSE_STRATEGY = 'rows'
  _WEIGHTS_MAY_OMIT_ITERATIONS = True

  def __init__(self, learning_rate: Any = 0.001, initial_accumulator_value: float = 0.1,
               epsilon: Optional[float] = 1e-7, name: str = 'Adagrad', **kwargs: Any):
    if initial_accumulator_value < 0.0:
      raise ValueError('initial_accumulator_value must be non-negative: '
                       f'{initial_accumulator_value}')
    super().__init__(name, **kwargs)
    learning_rate = kwargs.get('lr', learning_rate)
    self._set_hypers(learning_rate)
    self._initial_accumulator_value = initial_accumulator_value
    self.epsilon = epsilon or 1e-7

  def _slot_initializer(self, slot_name):
    return constant(self._initial_accumulator_value)

  def _static_config(self):
    return (float(self.epsilon),)

  def _step_slot_names(self):
    return ('accumulator',)

  @classmethod
  def _build_chain(cls, cfg, hypers):
    (epsilon,) = cfg.static
    return kn.keras_adagrad(cls._learning_rate(cfg, hypers), initial_accumulator_value=0.0,
                            epsilon=epsilon)

  @classmethod
  def from_config(cls, config, custom_objects=None):
    config = dict(config)
    config.setdefault('initial_accumulator_value', 0.1)
    return super().from_config(config, custom_objects=custom_objects)

  def get_config(self):
    config = super().get_config()
    config.update(self._hyper_config(),
                  initial_accumulator_value=self._initial_accumulator_value,
                  epsilon=self.epsilon)
    return config

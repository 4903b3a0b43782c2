"""``Adamax``: tf.keras 2 Adamax (``ResourceApplyAdaMax``)."""

from __future__ import annotations

from typing import Any, Optional

from optax_like._src import keras_numerics as kn
from optax_like.keras.optimizers.base import Optimizer


class Adamax(Optimizer):
  r"""Adamax, as ``tf.keras.optimizers.legacy.Adamax``.

  .. math::
    m \leftarrow m + (g - m)(1 - \beta_1); \quad v \leftarrow \max(\beta_2 v, |g|); \quad
    w \leftarrow w - \frac{\eta}{1 - \beta_1^t} \frac{m}{v + \epsilon}

  with ``t = iterations + 1``. Slots ``m`` and ``v``. Sparse gradients update the rows they
  touch (of ``m``, ``v`` and the variable). The chain is ``keras_adamax``. Kingma & Ba, 2014
  (https://arxiv.org/abs/1412.6980), section 7.

  Example:
    >>> from optax_like.keras import Adamax, Variable
    >>> opt = Adamax(learning_rate=0.1)
    >>> var = Variable(1.0)
    >>> _ = opt.minimize(lambda: (var ** 2) / 2.0, [var])
    >>> round(var.numpy().item(), 6), opt.get_slot_names()
    (0.9, ['m', 'v'])
  """

  _HYPER_NAMES = ('learning_rate', 'decay', 'beta_1', 'beta_2')
  _SLOT_MAP = {('ScaleByAdamState', 'mu'): ('m', 1), ('ScaleByAdamState', 'nu'): ('v', 1)}
  _SPARSE_STRATEGY = 'rows'
  _STEP_HYPERS = ('beta_1', 'beta_2')

  def __init__(self, learning_rate: Any = 0.001, beta_1: Any = 0.9, beta_2: Any = 0.999,
               epsilon: Optional[float] = 1e-7, name: str = 'Adamax', **kwargs: Any):
    super().__init__(name, **kwargs)
    learning_rate = kwargs.get('lr', learning_rate)
    self._set_hypers(learning_rate, beta_1=beta_1, beta_2=beta_2)
    self.epsilon = epsilon or 1e-7

  def _static_config(self):
    return (float(self.epsilon),)

  def _step_slot_names(self):
    return ('m', 'v')

  @classmethod
  def _build_chain(cls, cfg, hypers):
    (epsilon,) = cfg.static
    return kn.keras_adamax(cls._learning_rate(cfg, hypers), beta_1=hypers['beta_1'],
                           beta_2=hypers['beta_2'], epsilon=epsilon)

  def get_config(self):
    config = super().get_config()
    config.update(self._hyper_config(), epsilon=self.epsilon)
    return config

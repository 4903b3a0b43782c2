"""``Adadelta``: tf.keras 2 Adadelta (``ResourceApplyAdadelta``)."""

from __future__ import annotations

from typing import Any, Optional


from optax_like._src import keras_numerics as kn
from optax_like.keras.optimizers.base import Optimizer


class Adadelta(Optimizer):
  r"""Adadelta, as ``tf.keras.optimizers.legacy.Adadelta``.

  .. math::
    a_g \leftarrow \rho a_g + (1-\rho) g^2; \quad
    u = \frac{\sqrt{a_x + \epsilon}}{\sqrt{a_g + \epsilon}} g; \quad
    a_x \leftarrow \rho a_x + (1-\rho) u^2; \quad w \leftarrow w - \eta u

  Slots ``accum_grad`` (:math:`a_g`) and ``accum_var`` (:math:`a_x`). Sparse gradients update
  the rows they touch. The chain is ``keras_adadelta``. Zeiler, 2012
  (https://arxiv.org/abs/1212.5701).

  Example:
    >>> from optax_like.keras import Adadelta, Variable
    >>> opt = Adadelta(learning_rate=1.0, rho=0.0, epsilon=1.0)
    >>> var = Variable(2.0)
    >>> _ = opt.apply_gradients([(0.0, var)])
    >>> var.numpy().item(), opt.get_slot_names()
    (2.0, ['accum_grad', 'accum_var'])
  """

  _HYPER_NAMES = ('learning_rate', 'decay', 'rho')
  _SLOT_MAP = {('ScaleByAdaDeltaState', 'e_g'): ('accum_grad', 1),
               ('ScaleByAdaDeltaState', 'e_x'): ('accum_var', 1)}
  _SPARSE_STRATEGY = 'rows'
  _STEP_HYPERS = ('rho',)
  _WEIGHTS_MAY_OMIT_ITERATIONS = True

  def __init__(self, learning_rate: Any = 0.001, rho: Any = 0.95,
               epsilon: Optional[float] = 1e-7, name: str = 'Adadelta', **kwargs: Any):
    super().__init__(name, **kwargs)
    learning_rate = kwargs.get('lr', learning_rate)
    self._set_hypers(learning_rate, rho=rho)
    self.epsilon = epsilon or 1e-7

  def _static_config(self):
    return (float(self.epsilon),)

  def _step_slot_names(self):
    return ('accum_grad', 'accum_var')

  @classmethod
  def _build_chain(cls, cfg, hypers):
    (epsilon,) = cfg.static
    return kn.keras_adadelta(cls._learning_rate(cfg, hypers), rho=hypers['rho'],
                             epsilon=epsilon)

  def get_config(self):
    config = super().get_config()
    config.update(self._hyper_config(), epsilon=self.epsilon)
    return config

"""``LARS``: tf-models layer-wise adaptive rate scaling."""

from __future__ import annotations

from typing import Any, List, Optional

from optax_like._src import keras_numerics as kn
from optax_like.keras.optimizers._helpers import _as_input, _is_number
from optax_like.keras.optimizers.base import Optimizer


class LARS(Optimizer):
  r"""Layer-wise Adaptive Rate Scaling, as tf-models' ``official.modeling.optimization.LARS``.

  With ``d = g + wd w`` (unless the variable's name matches ``exclude_from_weight_decay``)
  and the trust ratio ``tr(x, y) = eeta ||x|| / ||y||`` (1.0 when a norm is 0 or the name
  matches ``exclude_from_layer_adaptation``, which defaults to the weight-decay list):

  * classic momentum: ``v = m v + lr tr(w, d) d``; ``w -= v`` (nesterov: ``m v + lr tr d``);
  * popular momentum: ``v = m v + d``; ``w -= lr tr(w, v) v`` (nesterov: ``m v + d``).

  Names are matched with ``re.search`` against ``Variable.name`` (``'dense/kernel:0'``). One
  slot, ``momentum``. ``lr=`` is accepted and ignored, as in tf-models. The chain is
  ``keras_lars``.

  Example:
    >>> from optax_like.keras import LARS, Variable
    >>> opt = LARS(learning_rate=0.1, momentum=0.0)
    >>> bias = Variable([0.0, 0.0], name='dense/bias')   # zero norm: trust ratio 1.0
    >>> _ = opt.apply_gradients([([1.0, 1.0], bias)])
    >>> [round(x, 6) for x in bias.numpy().tolist()]
    [-0.1, -0.1]
  """

  _HYPER_NAMES = ('learning_rate', 'decay')
  _USES_NAMES = True
  _CHAIN_TAKES_AXIS_NAME = True
  _ATTR_HYPERS = ('momentum', 'eeta')   # plain attributes in tf-models, inputs of the step

  def __init__(self, learning_rate: Any = 0.01, momentum: float = 0.9,
               weight_decay_rate: float = 0.0, eeta: float = 0.001, nesterov: bool = False,
               classic_momentum: bool = True,
               exclude_from_weight_decay: Optional[List[str]] = None,
               exclude_from_layer_adaptation: Optional[List[str]] = None, name: str = 'LARS',
               **kwargs: Any):
    super().__init__(name, **kwargs)
    self._set_hypers(learning_rate)
    self.momentum = momentum
    self.weight_decay_rate = weight_decay_rate
    self.eeta = eeta
    self.nesterov = nesterov
    self.classic_momentum = classic_momentum
    self.exclude_from_weight_decay = exclude_from_weight_decay
    if exclude_from_layer_adaptation:
      self.exclude_from_layer_adaptation = exclude_from_layer_adaptation
    else:
      self.exclude_from_layer_adaptation = exclude_from_weight_decay
    # Validation (and regex compilation) of the chain, with the concrete values.
    kn.keras_lars(0.0, momentum=momentum, weight_decay_rate=weight_decay_rate, eeta=eeta,
                  exclude_from_weight_decay=exclude_from_weight_decay,
                  exclude_from_layer_adaptation=exclude_from_layer_adaptation)

  def _slot_map(self):
    return {('TraceState', 'trace'): ('momentum', -1 if self.classic_momentum else 1)}

  def _static_config(self):
    freeze = lambda x: None if x is None else tuple(x)
    return (float(self.weight_decay_rate), bool(self.nesterov), bool(self.classic_momentum),
            freeze(self.exclude_from_weight_decay), freeze(self.exclude_from_layer_adaptation))

  def _step_slot_names(self):
    return ('momentum',)

  def _step_hypers(self):
    hypers = super()._step_hypers()
    # Plain Python floats in tf-models (cast to the variable's dtype at use): weakly typed.
    for name in self._ATTR_HYPERS:
      value = getattr(self, name)
      hypers[name] = float(value) if _is_number(value) else _as_input(value)
    return hypers

  @classmethod
  def _build_chain(cls, cfg, hypers, axis_name=None):
    wd, nesterov, classic, exclude_wd, exclude_la = cfg.static
    return kn.keras_lars(cls._learning_rate(cfg, hypers), momentum=hypers['momentum'],
                         weight_decay_rate=wd, eeta=hypers['eeta'], nesterov=nesterov,
                         classic_momentum=classic,
                         exclude_from_weight_decay=None if exclude_wd is None else list(exclude_wd),
                         exclude_from_layer_adaptation=None if exclude_la is None else list(exclude_la),
                         axis_name=axis_name)

  def get_config(self):
    config = super().get_config()
    config.update({
        'learning_rate': self._serialize_hyperparameter('learning_rate'),
        'decay': self._serialize_hyperparameter('decay'),
        'momentum': self.momentum,
        'classic_momentum': self.classic_momentum,
        'weight_decay_rate': self.weight_decay_rate,
        'eeta': self.eeta,
        'nesterov': self.nesterov,
    })
    return config

"""``Nadam``: tf.keras 2's legacy Nadam (Dozat's momentum schedule)."""

from __future__ import annotations

from typing import Any, Optional

from optax_like._src import keras_numerics as kn
from optax_like.keras import schedules
from optax_like.keras.optimizers._helpers import _is_schedule
from optax_like.keras.optimizers.base import Optimizer


class Nadam(Optimizer):
  r"""Nadam, as ``tf.keras.optimizers.legacy.Nadam``.

  With ``t = iterations + 1``, :math:`\mu_t = \beta_1 (1 - 0.5 \cdot 0.96^{0.004 t})` and the
  running product :math:`\Pi_t = \Pi_{t-1} \mu_t` (the ``momentum_cache`` weight):

  .. math::
    m \leftarrow \beta_1 m + (1-\beta_1) g; \quad v \leftarrow \beta_2 v + (1-\beta_2) g^2;
    \quad \bar m = (1-\mu_t)\frac{g}{1-\Pi_t} + \mu_{t+1} \frac{m}{1-\Pi_t \mu_{t+1}};
    \quad w \leftarrow w - \eta \frac{\bar m}{\sqrt{v / (1-\beta_2^t)} + \epsilon}

  ``get_weights()`` is ``[iterations, momentum_cache, m..., v...]``. The learning rate is not
  decayed (``decay`` is the schedule decay 0.004, replaced by ``schedule_decay=`` as in
  Keras) and may not be a ``LearningRateSchedule``. Sparse gradients decay ``m`` and ``v``
  everywhere and update the variable's touched rows. The chain is ``keras_nadam``.
  Dozat, 2016 (https://openreview.net/pdf?id=OM0jvwB8jIp57ZJjtNEZ).

  Example:
    >>> from optax_like.keras import Nadam, Variable
    >>> opt = Nadam(learning_rate=0.1)
    >>> var = Variable(1.0)
    >>> _ = opt.apply_gradients([(1.0, var)])
    >>> [w.shape for w in opt.get_weights()], opt.get_slot_names()
    ([(), (), (), ()], ['m', 'v'])
  """

  _HYPER_NAMES = ('learning_rate', 'decay', 'beta_1', 'beta_2')
  _SLOT_MAP = {('ScaleByKerasNadamState', 'mu'): ('m', 1),
               ('ScaleByKerasNadamState', 'nu'): ('v', 1),
               ('ScaleByKerasNadamState', 'm_cache'): ('momentum_cache', 0)}
  _SPARSE_STRATEGY = 'dense_slots_rows_var'
  _STEP_HYPERS = ('beta_1', 'beta_2')

  def __init__(self, learning_rate: Any = 0.001, beta_1: Any = 0.9, beta_2: Any = 0.999,
               epsilon: Optional[float] = 1e-7, name: str = 'Nadam', **kwargs: Any):
    kwargs['decay'] = kwargs.pop('schedule_decay', 0.004)
    learning_rate = kwargs.get('lr', learning_rate)
    if isinstance(learning_rate, schedules.LearningRateSchedule) or _is_schedule(learning_rate):
      raise ValueError('The Nadam optimizer does not support '
                       'tf.keras.optimizers.LearningRateSchedules as the learning rate.')
    super().__init__(name, **kwargs)
    self._set_hypers(learning_rate, beta_1=beta_1, beta_2=beta_2)
    self.epsilon = epsilon or 1e-7
    self._m_cache = None

  def _create_slots(self, var_list):
    if self._m_cache is None:
      self._m_cache = self.add_weight('momentum_cache', shape=[], dtype=var_list[0].dtype,
                                      initializer='ones', trainable=False)
      self._weights.append(self._m_cache)
    super()._create_slots(var_list)

  def _shared_variables(self):
    return {} if self._m_cache is None else {'momentum_cache': self._m_cache}

  def _static_config(self):
    return (float(self.epsilon),)

  def _step_slot_names(self):
    return ('m', 'v')

  def _step_hypers(self):
    hypers = super()._step_hypers()
    if self._m_cache is not None:
      hypers['momentum_cache'] = self._m_cache._value  # pylint: disable=protected-access
    return hypers

  @classmethod
  def _build_chain(cls, cfg, hypers):
    (epsilon,) = cfg.static
    return kn.keras_nadam(hypers['learning_rate'], beta_1=hypers['beta_1'],
                          beta_2=hypers['beta_2'], epsilon=epsilon, schedule_decay=cfg.decay)

  def get_config(self):
    config = super().get_config()
    config.update(self._hyper_config(), epsilon=self.epsilon)
    return config

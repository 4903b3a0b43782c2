"""``Ftrl``: tf.keras 2 FTRL-Proximal (``ResourceApplyFtrl``/``ResourceApplyFtrlV2``)."""

from __future__ import annotations

from typing import Any

from optax_like._src import keras_numerics as kn
from optax_like.keras.optimizers._constant import constant
from optax_like.keras.optimizers.base import Optimizer

_HYPERS = ('learning_rate_power', 'l1_regularization_strength', 'l2_regularization_strength',
           'beta')


class Ftrl(Optimizer):
  r"""FTRL-Proximal, as ``tf.keras.optimizers.legacy.Ftrl``.

  With ``n`` the accumulator, ``z`` the linear slot, ``p`` = ``learning_rate_power``,
  :math:`\lambda_2' = \lambda_2 + \beta / (2 \eta)` and :math:`\tilde g = g + 2\lambda_s w`:

  .. math::
    n' = n + g^2; \quad z \leftarrow z + \tilde g - \frac{n'^{-p} - n^{-p}}{\eta} w; \quad
    w \leftarrow \begin{cases} \frac{\lambda_1 \mathrm{sign}(z) - z}{n'^{-p}/\eta + 2\lambda_2'}
    & |z| > \lambda_1 \\ 0 & \text{else} \end{cases}

  Slots ``accumulator`` (starts at ``initial_accumulator_value``) and ``linear``, created per
  variable in turn. ``lr=`` is ignored, as in Keras. The chain is ``keras_ftrl``. McMahan
  et al., 2013 (https://research.google.com/pubs/archive/41159.pdf).

  Example:
    >>> from optax_like.keras import Ftrl, Variable
    >>> opt = Ftrl(learning_rate=1.0, initial_accumulator_value=0.0)
    >>> var = Variable(0.0)
    >>> _ = opt.apply_gradients([(2.0, var)])
    >>> var.numpy().item(), opt.get_slot_names()
    (-1.0, ['accumulator', 'linear'])
  """

  _HYPER_NAMES = ('learning_rate', 'decay') + _HYPERS
  _SLOT_MAP = {('KerasFtrlState', 'accumulator'): ('accumulator', 1),
               ('KerasFtrlState', 'linear'): ('linear', 1)}
  _SPARSE_STRATEGY = 'rows'
  _STEP_HYPERS = _HYPERS
  _UPDATES_ARE_VALUES = True   # the chain returns the new values (TF assigns them)

  def __init__(self, learning_rate: Any = 0.001, learning_rate_power: Any = -0.5,
               initial_accumulator_value: float = 0.1, l1_regularization_strength: Any = 0.0,
               l2_regularization_strength: Any = 0.0, name: str = 'Ftrl',
               l2_shrinkage_regularization_strength: float = 0.0, beta: Any = 0.0,
               **kwargs: Any):
    super().__init__(name, **kwargs)
    checks = (('initial_accumulator_value', initial_accumulator_value, 'positive or zero'),
              ('l1_regularization_strength', l1_regularization_strength, 'positive or zero'),
              ('l2_regularization_strength', l2_regularization_strength, 'positive or zero'),
              ('l2_shrinkage_regularization_strength', l2_shrinkage_regularization_strength,
               'positive or zero'))
    if learning_rate_power > 0.0:
      raise ValueError('`learning_rate_power` needs to be negative or zero. Received: '
                       f'learning_rate_power={learning_rate_power}.')
    for arg, value, what in checks:
      if value < 0.0:
        raise ValueError(f'`{arg}` needs to be {what}. Received: {arg}={value}.')
    self._set_hypers(learning_rate, learning_rate_power=learning_rate_power,
                     l1_regularization_strength=l1_regularization_strength,
                     l2_regularization_strength=l2_regularization_strength, beta=beta)
    self._initial_accumulator_value = initial_accumulator_value
    self._l2_shrinkage_regularization_strength = l2_shrinkage_regularization_strength

  _SLOTS_PER_VARIABLE = True   # accumulator and linear of each variable in turn, as TF

  def _slot_initializer(self, slot_name):
    return constant(self._initial_accumulator_value) if slot_name == 'accumulator' else 'zeros'

  def _static_config(self):
    return (float(self._l2_shrinkage_regularization_strength),)

  def _step_slot_names(self):
    return ('accumulator', 'linear')

  @classmethod
  def _build_chain(cls, cfg, hypers):
    (shrinkage,) = cfg.static
    return kn.keras_ftrl(cls._learning_rate(cfg, hypers),
                         learning_rate_power=hypers['learning_rate_power'],
                         initial_accumulator_value=0.0,
                         l1_regularization_strength=hypers['l1_regularization_strength'],
                         l2_regularization_strength=hypers['l2_regularization_strength'],
                         l2_shrinkage_regularization_strength=shrinkage, beta=hypers['beta'],
                         updates_are_values=True)

  def get_config(self):
    config = super().get_config()
    config.update(self._hyper_config(),
                  initial_accumulator_value=self._initial_accumulator_value,
                  l2_shrinkage_regularization_strength=(
                      self._l2_shrinkage_regularization_strength))
    return config

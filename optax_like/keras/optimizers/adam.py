"""``Adam``: tf.keras 2 Adam (epsilon-hat, AMSGrad)."""

from __future__ import annotations

from typing import Any, Optional


from optax_like._src import keras_numerics as kn
from optax_like.keras.optimizers.base import Optimizer


class Adam(Optimizer):
  r"""Adam with epsilon-hat, as ``tf.keras.optimizers.legacy.Adam`` (TF's ``ResourceApplyAdam``).

  .. math::
    m \leftarrow m + (g - m)(1 - \beta_1); \quad v \leftarrow v + (g^2 - v)(1 - \beta_2); \quad
    w \leftarrow w - \eta \frac{\sqrt{1 - \beta_2^t}}{1 - \beta_1^t} \frac{m}{\sqrt{v} + \hat\epsilon}

  with ``t = iterations + 1``; AMSGrad uses ``vhat = max(vhat, v)`` in the root. Slots
  ``m``, ``v`` (and ``vhat``). The chain is ``keras_adam``.

  Example:
    >>> from optax_like.keras import Adam, Variable
    >>> opt = Adam(learning_rate=0.1)
    >>> var = Variable(1.0)
    >>> _ = opt.minimize(lambda: (var ** 2) / 2.0, [var])
    >>> round(var.numpy().item(), 6), opt.get_slot_names()
    (0.9, ['m', 'v'])
  """

  _HYPER_NAMES = ('learning_rate', 'decay', 'beta_1', 'beta_2')
  _SLOT_MAP = {('ScaleByAdamState', 'mu'): ('m', 1), ('ScaleByAdamState', 'nu'): ('v', 1),
               ('ScaleByAmsgradState', 'mu'): ('m', 1), ('ScaleByAmsgradState', 'nu'): ('v', 1),
               ('ScaleByAmsgradState', 'nu_max'): ('vhat', 1)}
  _SPARSE_STRATEGY = 'dense'
  _STEP_HYPERS = ('beta_1', 'beta_2')

  def __init__(self, learning_rate: Any = 0.001, beta_1: Any = 0.9, beta_2: Any = 0.999,
               epsilon: Optional[float] = 1e-7, amsgrad: bool = False, name: str = 'Adam',
               **kwargs: Any):
    super().__init__(name, **kwargs)
    learning_rate = kwargs.get('lr', learning_rate)
    self._set_hypers(learning_rate, beta_1=beta_1, beta_2=beta_2)
    self.epsilon = epsilon or 1e-7
    self.amsgrad = amsgrad

  def _static_config(self):
    return (float(self.epsilon), bool(self.amsgrad))

  def _step_slot_names(self):
    return ('m', 'v', 'vhat') if self.amsgrad else ('m', 'v')

  @classmethod
  def _build_chain(cls, cfg, hypers):
    epsilon, amsgrad = cfg.static
    return kn.keras_adam(cls._learning_rate(cfg, hypers), beta_1=hypers['beta_1'],
                         beta_2=hypers['beta_2'], epsilon=epsilon, amsgrad=amsgrad)

  def set_weights(self, weights):
    params = self.weights
    num_vars = int((len(params) - 1) / 2)
    if len(weights) == 3 * num_vars + 1:
      weights = weights[:len(params)]
    super().set_weights(weights)

  def get_config(self):
    config = super().get_config()
    config.update(self._hyper_config(), epsilon=self.epsilon, amsgrad=self.amsgrad)
    return config

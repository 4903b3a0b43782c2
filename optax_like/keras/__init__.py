"""A stateful, tf.keras-2-shaped layer over the functional ``optax_like`` transforms.

* ``Variable`` / ``IndexedSlices``: mutable JAX arrays and sparse gradients
  (``optax_like.keras.variables``).
* ``SGD``, ``Adam``, ``RMSprop``, ``Adagrad``, ``Adadelta``, ``Adamax``, ``Nadam``, ``Ftrl``
  (tf.keras 2's legacy optimizers) and ``LARS`` (tf-models),
  with ``minimize``, ``apply_gradients``, slots, ``get_weights``/``set_weights`` and configs,
  giving tf.keras's numbers (``optax_like.keras.optimizers``).
* ``function``: a train step compiled once per input signature, with the Variables it reads
  and writes as state (``tf.function``'s habit; ``optax_like.keras.function``).
* ``schedules``: the tf.keras 2 learning-rate schedule classes (``ExponentialDecay``,
  ``PiecewiseConstantDecay``, ...), computed in float32 like Keras and usable directly as
  optax-style schedules of the step count.
* On a mesh: Variables take a ``sharding=`` (slots follow it, steps keep it); inside
  ``jax.shard_map``, ``Optimizer.stateless_apply`` with ``data_axis``/``variable_axes``
  (see ``docs/distributed.md``, section 5).

Example:
  >>> from optax_like import keras
  >>> var = keras.Variable(1.0)
  >>> opt = keras.optimizers.SGD(learning_rate=0.1, momentum=0.9)
  >>> _ = opt.minimize(lambda: (var ** 2) / 2.0, [var])
  >>> _ = opt.minimize(lambda: (var ** 2) / 2.0, [var])
  >>> round(float(var), 6)
  0.72
"""

from optax_like.keras import optimizers, schedules
from optax_like.keras.function import function
from optax_like.keras.optimizers import (LARS, SGD, Adadelta, Adagrad, Adam, Adamax, Ftrl, Nadam,
                                         Optimizer, RMSprop)
from optax_like.keras.variables import IndexedSlices, Variable

__all__ = ['Variable', 'IndexedSlices', 'Optimizer', 'SGD', 'Adam', 'RMSprop', 'LARS', 'Adagrad',
           'Adadelta', 'Adamax', 'Nadam', 'Ftrl',
           'optimizers', 'schedules', 'function']

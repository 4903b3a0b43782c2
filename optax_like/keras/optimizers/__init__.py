"""tf.keras 2 (legacy ``OptimizerV2``) and tf-models LARS as stateful optimizers over JAX.

Layout: ``base`` (the public ``Optimizer`` API), ``step`` (the compiled step),
``programs`` (tracing a loss, program fingerprints and the program cache), ``slots`` (chain
state <-> Keras slots; each optimizer class declares its slots once: ``_step_slot_names``,
which ``base`` creates them from, and ``_SLOT_MAP`` to the chain's state), one module per
optimizer (``sgd``, ``adam``, ``rmsprop``, ``lars``, ...) and ``registry`` (``get``,
``serialize``, ``deserialize``).

``SGD``, ``Adam``, ``RMSprop``, ``Adagrad``, ``Adadelta``, ``Adamax``, ``Nadam``, ``Ftrl`` and
``LARS`` hold their slots and iteration count as ``Variable``\\ s and apply the Keras-numerics
chains of ``optax_like._src.keras_numerics`` (``keras_sgd``, ``keras_adam``, ...,
``keras_ftrl``, with ``keras_gradient_clipping`` and ``keras_learning_rate``): the wrapper
keeps state, it does not re-implement the math. A user-defined optimizer written by tf.keras
2's recipe (``_create_slots``, ``_resource_apply_dense``/``_sparse``, see ``base.Optimizer``)
runs its methods inside the same compiled step. ``optax_like.keras.function`` compiles a
whole train step (``minimize`` or ``apply_gradients`` included) once per input signature.

How a step runs. ``apply_gradients`` drops ``None`` gradients (with a warning), creates the
iteration counter and the slots of variables seen for the first time (appended to
``weights``), then calls ONE compiled function that does, in Keras 2's order: the
``gradient_aggregator``, ``clipvalue``, ``clipnorm``, ``global_clipnorm``, each of the
``gradient_transformers``, the optimizer update of every variable, the variables'
constraints, and ``iterations + 1``. The slots map to the chain's state leaves (signs
included: Keras's RMSprop and classic-LARS velocities are ``+``, the trace behind
``scale_by_learning_rate`` holds ``-lr * ...``), and every step count of the chain state is
``optimizer.iterations``, so ``set_weights`` and ``opt.iterations.assign(n)`` act exactly.

Compilation. A compiled step is cached per (optimizer class and static configuration, the
learning-rate schedule, clipping, the user functions, the variables' shapes/dtypes/constraints
and which of them have gradients); hyperparameters (``learning_rate``, ``momentum``,
``beta_1``, ``beta_2``, ``rho``, LARS's ``momentum`` and ``eeta``) and the iteration count are
inputs, so ``opt.learning_rate = 0.05`` or a schedule stepping never recompiles. Float
hyperparameters are float32 variables as in Keras (cast to the variable's dtype at use);
``epsilon`` is a constant in the variable's dtype. Set ``opt.jit_compile = False`` to run the
same program op by op (no compilation; useful for a handful of steps).

``minimize(loss, var_list)`` traces ``loss`` (a callable of no arguments) with the values of
``var_list`` replaced by tracers, differentiates it with ``jax.vjp`` and applies the update in
the same compiled function. The loss is traced on every call, so arrays it reads (the batch,
other Variables) are fresh inputs each time; the compiled program is reused while the traced
program is the same. Only the forward pass is traced per call when its program identifies
the gradient (no ``custom_jvp``/``custom_vjp`` rule or callback in it: these are Python
functions, so then the gradient itself is traced and identifies the program). A variable the
loss does not depend on gets a ``None`` gradient, as under ``tf.GradientTape``. For the
lowest overhead, compile the whole train step with ``optax_like.keras.function`` (traced once
per input signature; see ``docs/keras_overhead.md``).

Sparse gradients (``IndexedSlices``) follow Keras 2 per optimizer: SGD without momentum
scatter-adds ``-lr * values`` (repeated indices add up); SGD with momentum and RMSprop with
momentum sum repeated indices and update the rows of the variable and of its slots only;
Adam and RMSprop without momentum decay their slots densely (a dense step with the summed
gradient, zero elsewhere; RMSprop changes only the gradient's rows of the variable); Adagrad,
Adadelta, Adamax and Ftrl update the summed rows of the variable and its slots only; Nadam
decays ``m``/``v`` densely and updates the variable's rows; LARS
raises ``NotImplementedError`` as tf-models does; a variable with a constraint raises
``RuntimeError``. Indices outside the variable raise ``ValueError`` (TF's CPU kernels reject
them too).

Deliberate differences from tf.keras 2: ``iterations`` is int64 only with
``jax_enable_x64`` on (JAX holds no int64 otherwise); without it, it is int32 and a step that
would pass 2**31 - 1 raises ``OverflowError`` (saying how to get an int64 counter) instead of
wrapping, and ``get_weights()`` still gives an int64 first entry; ``opt.iterations = n``
assigns instead of raising, a learning rate may
also be an optax-style schedule (a callable of the step count), the default
``gradient_aggregator`` is the identity (JAX's gradients of a global loss are already
summed) unless ``data_axis`` is set, and LARS validates ``momentum``/``eeta``/``weight_decay_rate`` (``>= 0``) at
construction and deserializes a schedule in ``from_config``.

On a mesh (see ``docs/distributed.md``). Under ``jax.jit`` with sharded arrays (GSPMD):
place the Variables with a ``NamedSharding`` (``Variable(x, sharding=...)``); slots are
created with their variable's sharding, and every step keeps the sharding of both.
Inside ``jax.shard_map``/``jax.pmap``: ``build(var_list)``, then the pure
``stateless_apply(optimizer_values, grads, values)`` (Keras 3's name) with ``data_axis``
(the default aggregator sums the replicas' gradients over it) and ``variable_axes`` (the
axes each variable is split over, for ``clipnorm``/``global_clipnorm`` and LARS's trust
ratio).
"""

from __future__ import annotations

import types

from optax_like.keras import schedules
from optax_like.keras.optimizers.adadelta import Adadelta
from optax_like.keras.optimizers.adagrad import Adagrad
from optax_like.keras.optimizers.adam import Adam
from optax_like.keras.optimizers.adamax import Adamax
from optax_like.keras.optimizers.base import Optimizer
from optax_like.keras.optimizers.ftrl import Ftrl
from optax_like.keras.optimizers.lars import LARS
from optax_like.keras.optimizers.nadam import Nadam
from optax_like.keras.optimizers.programs import _PROGRAMS, _STATS, _jaxpr_fingerprint
from optax_like.keras.optimizers.registry import deserialize, get, serialize
from optax_like.keras.optimizers.rmsprop import RMSprop
from optax_like.keras.optimizers.sgd import SGD

__all__ = ['Optimizer', 'SGD', 'Adam', 'RMSprop', 'LARS', 'Adagrad', 'Adadelta', 'Adamax',
           'Nadam', 'Ftrl', 'schedules', 'legacy', 'get',
           'serialize', 'deserialize']

legacy = types.SimpleNamespace(Optimizer=Optimizer, SGD=SGD, Adam=Adam, RMSprop=RMSprop,
                               Adagrad=Adagrad, Adadelta=Adadelta, Adamax=Adamax, Nadam=Nadam,
                               Ftrl=Ftrl)

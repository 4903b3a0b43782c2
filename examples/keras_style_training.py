"""A tf.keras-2-style training loop on JAX with ``optax_like.keras``.

Variables, a learning-rate schedule class, a ``@keras.function``-compiled train step calling
``opt.minimize``, and a checkpoint made of the variables' values and ``opt.get_weights()``
(tf.keras 2's list: iterations, then the slots). Halfway, the checkpoint is written to an
``.npz`` file; a fresh model and optimizer restore it (``set_weights``) and finish the run,
which ends bit for bit where the uninterrupted run ends.

    python examples/keras_style_training.py                        # 300 steps, hidden 32
    python examples/keras_style_training.py --steps 20 --hidden 4  # the test suite's size
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
from optax_like import keras


def make_data(n=256):
  rng = np.random.default_rng(0)
  x = rng.normal(size=(n, 3)).astype(np.float32)
  y = (np.tanh(x @ np.array([[1.0], [-2.0], [0.5]], np.float32)) + 0.1).astype(np.float32)
  return x, y


class Model:
  """A two-layer perceptron made of Keras-style Variables (named as tf.keras would)."""

  def __init__(self, hidden):
    rng = np.random.default_rng(1)
    self.variables = [
        keras.Variable(rng.normal(0, 0.5, (3, hidden)).astype(np.float32), name='dense/kernel'),
        keras.Variable(np.zeros(hidden, np.float32), name='dense/bias'),
        keras.Variable(rng.normal(0, 0.5, (hidden, 1)).astype(np.float32), name='out/kernel'),
        keras.Variable(np.zeros(1, np.float32), name='out/bias'),
    ]

  def __call__(self, x):
    k1, b1, k2, b2 = self.variables
    # JAX functions take arrays: w.value() (operators such as @ and + accept Variables).
    return jnp.tanh(x @ k1 + b1) @ k2 + b2.value()


def make_optimizer(steps):
  schedule = keras.schedules.ExponentialDecay(
      initial_learning_rate=0.05, decay_steps=max(1, steps // 4), decay_rate=0.5)
  return keras.optimizers.Adam(learning_rate=schedule)


def make_train_step(model, opt):
  @keras.function
  def train_step(x, y):
    def loss():
      return jnp.mean((model(x) - y) ** 2)
    opt.minimize(loss, model.variables)
    return loss()
  return train_step


def run(model, opt, x, y, start, stop, batch=32):
  train_step = make_train_step(model, opt)
  losses = []
  for step in range(start, stop):
    i = (step * batch) % len(x)
    losses.append(float(train_step(x[i:i + batch], y[i:i + batch])))
  return losses


def save(path, model, opt):
  np.savez(path, *[v.numpy() for v in model.variables], *opt.get_weights(),
           n_vars=len(model.variables))


def restore(path, hidden, steps):
  data = np.load(path)
  arrays = [data[f'arr_{i}'] for i in range(len(data.files) - 1)]
  n_vars = int(data['n_vars'])
  model = Model(hidden)
  for variable, value in zip(model.variables, arrays[:n_vars]):
    variable.assign(value)
  opt = make_optimizer(steps)
  opt.build(model.variables)          # create the slots, then load iterations and slots
  opt.set_weights(arrays[n_vars:])
  return model, opt


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--steps', type=int, default=300)
  parser.add_argument('--hidden', type=int, default=32)
  args = parser.parse_args()
  x, y = make_data()
  half = args.steps // 2

  model, opt = Model(args.hidden), make_optimizer(args.steps)
  losses = run(model, opt, x, y, 0, args.steps)
  final = [v.numpy() for v in model.variables]
  print(f'uninterrupted: loss {losses[0]:.5f} -> {losses[-1]:.5f}, iterations '
        f'{int(opt.iterations)}')

  model, opt = Model(args.hidden), make_optimizer(args.steps)
  run(model, opt, x, y, 0, half)
  with tempfile.TemporaryDirectory() as tmp:
    path = pathlib.Path(tmp) / 'checkpoint.npz'
    save(path, model, opt)
    print(f'saved variables and get_weights() ({len(opt.get_weights())} arrays: iterations + '
          f'slots {opt.get_slot_names()}) at iteration {int(opt.iterations)}')
    del model, opt
    model, opt = restore(path, args.hidden, args.steps)
  run(model, opt, x, y, half, args.steps)
  same = all(np.array_equal(a, v.numpy()) for a, v in zip(final, model.variables))
  print(f'restored at iteration {half}, finished at {int(opt.iterations)}; '
        f'resumed == uninterrupted (bit for bit): {same}')
  print(f'RESULT first_loss={losses[0]:.6f} last_loss={losses[-1]:.6f} bit_exact={same}')
  return 0 if same else 1


if __name__ == '__main__':
  sys.exit(main())

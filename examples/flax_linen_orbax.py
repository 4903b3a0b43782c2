"""flax linen ``TrainState`` with an optax_like optimizer and an orbax checkpoint.

Trains a small MLP classifier on generated data with ``TrainState.create(tx=optax_like...)``,
saves an orbax checkpoint halfway, resumes it in a *new process* and checks that the resumed
run ends bit for bit where an uninterrupted run ends.

    python examples/flax_linen_orbax.py                 # 400 steps, hidden width 64
    python examples/flax_linen_orbax.py --steps 20 --hidden 8   # the test suite's size

What it shows: an optax_like optimizer is a drop-in ``tx`` for flax's ``TrainState``; its state
is a plain pytree (optax's classes), so orbax saves and restores it with no custom handler; the
step count inside the state keeps the learning-rate schedule where it was.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
import optax_like as ox
import orbax.checkpoint as ocp
from flax import linen as nn
from flax.training import train_state


class MLP(nn.Module):
  hidden: int
  classes: int = 3

  @nn.compact
  def __call__(self, x):
    x = nn.relu(nn.Dense(self.hidden)(x))
    x = nn.relu(nn.Dense(self.hidden)(x))
    return nn.Dense(self.classes)(x)


def make_data(n=256, seed=0):
  """Three interleaved spirals: features (n, 2), labels (n,)."""
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, 3, n)
  radius = rng.uniform(0.1, 1.0, n)
  angle = 4.0 * radius + labels * 2.0 * np.pi / 3 + rng.normal(0, 0.1, n)
  features = np.stack([radius * np.cos(angle), radius * np.sin(angle)], 1).astype(np.float32)
  return jnp.asarray(features), jnp.asarray(labels)


def create_state(args):
  model = MLP(hidden=args.hidden)
  params = model.init(jax.random.key(0), jnp.zeros((1, 2)))['params']
  schedule = ox.warmup_cosine_decay_schedule(0.0, 1e-2, max(1, args.steps // 10), args.steps)
  tx = ox.chain(ox.clip_by_global_norm(1.0), ox.adamw(schedule, weight_decay=1e-4))
  return train_state.TrainState.create(apply_fn=model.apply, params=params, tx=tx)


@jax.jit
def train_step(state, x, y):
  def loss_fn(params):
    logits = state.apply_fn({'params': params}, x)
    return ox.losses.softmax_cross_entropy_with_integer_labels(logits, y).mean()
  loss, grads = jax.value_and_grad(loss_fn)(state.params)
  return state.apply_gradients(grads=grads), loss


def batch(features, labels, step, size=64):
  """The batch of a step: a function of the step only, so a resumed run sees the same data."""
  idx = jax.random.choice(jax.random.fold_in(jax.random.key(1), step), len(labels), (size,))
  return features[idx], labels[idx]


def train(state, features, labels, start, stop):
  losses = []
  for step in range(start, stop):
    state, loss = train_step(state, *batch(features, labels, step))
    losses.append(float(loss))
  return state, losses


def fingerprint(state):
  """The exact bits of params and optimizer state."""
  leaves = jax.tree.leaves((state.params, state.opt_state))
  return np.concatenate([np.asarray(x).reshape(-1).view(np.uint8) for x in leaves])


def resume(args):
  """Runs in a new process: restores the checkpoint, trains to the end, saves the bits."""
  features, labels = make_data()
  target = create_state(args)   # the structure to restore into (apply_fn and tx are code)
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
  with ocp.StandardCheckpointer() as checkpointer:
    state = checkpointer.restore(pathlib.Path(args.resume).absolute(), abstract)
  start = int(state.step)
  state, _ = train(state, features, labels, start, args.steps)
  np.save(args.out, fingerprint(state))
  print(f'resumed at step {start}, finished at step {int(state.step)}')


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--steps', type=int, default=400)
  parser.add_argument('--hidden', type=int, default=64)
  parser.add_argument('--resume', default=None, help=argparse.SUPPRESS)  # internal: the child
  parser.add_argument('--out', default=None, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.resume:
    return resume(args)

  features, labels = make_data()
  half = args.steps // 2

  # 1. Uninterrupted run.
  full, losses = train(create_state(args), features, labels, 0, args.steps)
  logits = full.apply_fn({'params': full.params}, features)
  accuracy = float((logits.argmax(-1) == labels).mean())
  print(f'uninterrupted: loss {losses[0]:.4f} -> {losses[-1]:.4f}, '
        f'train accuracy {accuracy:.3f} after {args.steps} steps')

  # 2. Half a run, an orbax checkpoint, then a new process resumes it.
  with tempfile.TemporaryDirectory() as tmp:
    state, _ = train(create_state(args), features, labels, 0, half)
    path = pathlib.Path(tmp) / f'checkpoint_{half}'
    with ocp.StandardCheckpointer() as checkpointer:
      checkpointer.save(path, state)
    print(f'saved an orbax checkpoint at step {int(state.step)}')
    out = pathlib.Path(tmp) / 'resumed.npy'
    child = [sys.executable, os.path.abspath(__file__), '--steps', str(args.steps),
             '--hidden', str(args.hidden), '--resume', str(path), '--out', str(out)]
    subprocess.run(child, check=True)
    resumed = np.load(out)

  same = resumed.shape == fingerprint(full).shape and bool(np.all(resumed == fingerprint(full)))
  print(f'resumed == uninterrupted (bit for bit): {same}')
  print(f'RESULT first_loss={losses[0]:.6f} last_loss={losses[-1]:.6f} '
        f'accuracy={accuracy:.4f} bit_exact={same}')
  return 0 if same else 1


if __name__ == '__main__':
  sys.exit(main())

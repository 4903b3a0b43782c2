"""flax nnx: ``nnx.Optimizer`` driven by an optax_like optimizer.

Trains a small nnx MLP on a generated regression task with ``nnx.Optimizer(model,
optax_like.adamw(...), wrt=nnx.Param)``. Where optax is installed, the same run with optax's
``adamw`` is repeated and the two final models compared (they agree to float32 rounding).

    python examples/flax_nnx.py                       # 300 steps, hidden width 64
    python examples/flax_nnx.py --steps 20 --hidden 8 # the test suite's size
"""

from __future__ import annotations

import argparse
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax_like as ox
from flax import nnx


class MLP(nnx.Module):

  def __init__(self, hidden: int, rngs: nnx.Rngs):
    self.hidden = nnx.Linear(4, hidden, rngs=rngs)
    self.out = nnx.Linear(hidden, 1, rngs=rngs)

  def __call__(self, x):
    return self.out(nnx.gelu(self.hidden(x)))


def make_data(n=256):
  rng = np.random.default_rng(0)
  x = rng.normal(size=(n, 4)).astype(np.float32)
  y = (np.sin(x[:, :1] * 2.0) + 0.5 * x[:, 1:2] * x[:, 2:3]).astype(np.float32)
  return jnp.asarray(x), jnp.asarray(y)


@nnx.jit
def train_step(model, optimizer, x, y):
  def loss_fn(model):
    return jnp.mean((model(x) - y) ** 2)
  loss, grads = nnx.value_and_grad(loss_fn)(model)
  optimizer.update(model, grads)
  return loss


def run(tx, args):
  x, y = make_data()
  model = MLP(args.hidden, nnx.Rngs(0))
  optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
  losses = [float(train_step(model, optimizer, x, y)) for _ in range(args.steps)]
  return model, losses


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--steps', type=int, default=300)
  parser.add_argument('--hidden', type=int, default=64)
  args = parser.parse_args()

  model, losses = run(ox.adamw(1e-2, weight_decay=1e-4), args)
  print(f'optax_like adamw: loss {losses[0]:.5f} -> {losses[-1]:.5f} in {args.steps} steps')
  difference = float('nan')
  try:
    import optax  # pylint: disable=import-outside-toplevel
  except ImportError:
    print('optax is not installed: skipping the comparison with optax')
  else:
    reference, _ = run(optax.adamw(1e-2, weight_decay=1e-4), args)
    ours = jax.tree.leaves(nnx.state(model, nnx.Param))
    theirs = jax.tree.leaves(nnx.state(reference, nnx.Param))
    difference = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(ours, theirs))
    print(f'max |optax_like - optax| over the trained parameters: {difference:.2e}')
  print(f'RESULT first_loss={losses[0]:.6f} last_loss={losses[-1]:.6f} '
        f'max_diff_vs_optax={difference:.3e}')
  return 0


if __name__ == '__main__':
  sys.exit(main())

"""equinox: an optax_like optimizer over an ``eqx.nn.MLP``.

The equinox way: the optimizer state is built from the array leaves of the model
(``eqx.filter(model, eqx.is_array)``), gradients come from ``eqx.filter_value_and_grad`` and
updates are applied with ``eqx.apply_updates``. Where optax is installed, the same run with optax
is repeated and the two final models compared.

    python examples/equinox_train.py                        # 300 steps, width 64
    python examples/equinox_train.py --steps 20 --width 8   # the test suite's size
"""

from __future__ import annotations

import argparse
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax_like as ox


def make_data(n=256):
  rng = np.random.default_rng(0)
  x = rng.uniform(-2.0, 2.0, size=(n, 1)).astype(np.float32)
  y = (np.sin(2.0 * x) + 0.1 * x ** 2).astype(np.float32)
  return jnp.asarray(x), jnp.asarray(y)


def run(optimizer, args):
  x, y = make_data()
  model = eqx.nn.MLP(1, 1, width_size=args.width, depth=2, activation=jax.nn.tanh,
                     key=jax.random.key(0))
  opt_state = optimizer.init(eqx.filter(model, eqx.is_array))

  @eqx.filter_jit
  def step(model, opt_state):
    def loss_fn(model):
      return jnp.mean((jax.vmap(model)(x) - y) ** 2)
    loss, grads = eqx.filter_value_and_grad(loss_fn)(model)
    updates, opt_state = optimizer.update(grads, opt_state, eqx.filter(model, eqx.is_array))
    return eqx.apply_updates(model, updates), opt_state, loss

  losses = []
  for _ in range(args.steps):
    model, opt_state, loss = step(model, opt_state)
    losses.append(float(loss))
  return model, losses


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--steps', type=int, default=300)
  parser.add_argument('--width', type=int, default=64)
  args = parser.parse_args()

  def make(lib):
    return lib.chain(lib.clip_by_global_norm(1.0), lib.adam(1e-2))

  model, losses = run(make(ox), args)
  print(f'optax_like clip+adam: loss {losses[0]:.5f} -> {losses[-1]:.5f} in {args.steps} steps')
  difference = float('nan')
  try:
    import optax  # pylint: disable=import-outside-toplevel
  except ImportError:
    print('optax is not installed: skipping the comparison with optax')
  else:
    reference, _ = run(make(optax), args)
    ours = jax.tree.leaves(eqx.filter(model, eqx.is_array))
    theirs = jax.tree.leaves(eqx.filter(reference, eqx.is_array))
    difference = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(ours, theirs))
    print(f'max |optax_like - optax| over the trained parameters: {difference:.2e}')
  print(f'RESULT first_loss={losses[0]:.6f} last_loss={losses[-1]:.6f} '
        f'max_diff_vs_optax={difference:.3e}')
  return 0


if __name__ == '__main__':
  sys.exit(main())

"""Train a small MLP with optax_like's optimizers and print a comparison table.

Run: ``python -m optax_like.demo [--steps N] [--seed S]``

The data is generated (three interleaved spirals, 2-D inputs, 3 classes; nothing is
downloaded). Each optimizer trains the same two-hidden-layer MLP from the same
initialization with minibatches; the table shows final train loss, train and test accuracy,
and the mean wall time of one jitted training step.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import optax_like as ox


def make_spirals(n_per_class: int, seed: int, noise: float = 0.45):
  """Three interleaved spirals: returns (x float32 [N, 2], y int32 [N])."""
  rng = np.random.default_rng(seed)
  xs, ys = [], []
  for label in range(3):
    r = np.linspace(0.05, 1.0, n_per_class)
    theta = np.linspace(0.0, 6.0, n_per_class) + label * 2 * np.pi / 3
    theta = theta + rng.normal(scale=noise, size=n_per_class)
    xs.append(np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1))
    ys.append(np.full(n_per_class, label))
  x = np.concatenate(xs).astype(np.float32)
  y = np.concatenate(ys).astype(np.int32)
  order = rng.permutation(len(y))
  return x[order], y[order]


def init_mlp(key: jax.Array, sizes=(2, 64, 64, 3)) -> dict:
  params = {}
  for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
    key, sub = jax.random.split(key)
    params[f'dense_{i}'] = {
        'kernel': jax.random.normal(sub, (fan_in, fan_out)) * jnp.sqrt(2.0 / fan_in),
        'bias': jnp.zeros((fan_out,)),
    }
  return params


def mlp(params: dict, x: jax.Array) -> jax.Array:
  layers = sorted(params)
  for name in layers[:-1]:
    x = jax.nn.relu(x @ params[name]['kernel'] + params[name]['bias'])
  last = params[layers[-1]]
  return x @ last['kernel'] + last['bias']


def loss_fn(params: dict, x: jax.Array, y: jax.Array) -> jax.Array:
  logits = mlp(params, x)
  return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))


def accuracy(params: dict, x: jax.Array, y: jax.Array) -> float:
  return float(jnp.mean(jnp.argmax(mlp(params, x), axis=1) == y))


class Result(NamedTuple):
  name: str
  loss: float
  train_acc: float
  test_acc: float
  ms_per_step: float


def progress(done: int, total: int, label: str, width: int = 30) -> None:
  """A progress bar redrawn in place on a terminal; piped, one final line per optimizer."""
  interactive = sys.stderr.isatty()
  if not interactive and done != total:
    return
  filled = int(width * done / total)
  bar = '#' * filled + '-' * (width - filled)
  sys.stderr.write(f'{chr(13) if interactive else ""}{label:<14} [{bar}] {done:>5}/{total}')
  if done == total:
    sys.stderr.write('\n')
  sys.stderr.flush()


def train(name: str, opt: ox.GradientTransformation, data, steps: int, batch: int,
          seed: int) -> Result:
  x_train, y_train, x_test, y_test = data
  params = init_mlp(jax.random.PRNGKey(seed))
  state = opt.init(params)

  @jax.jit
  def step(params, state, x, y):
    loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
    updates, state = opt.update(grads, state, params)
    return ox.apply_updates(params, updates), state, loss

  rng = np.random.default_rng(seed)
  n = len(y_train)
  batches = [rng.choice(n, batch, replace=False) for _ in range(steps)]
  # Compile outside the timed loop.
  jax.block_until_ready(step(params, state, x_train[batches[0]], y_train[batches[0]]))
  elapsed = 0.0
  for i, idx in enumerate(batches):
    xb, yb = x_train[idx], y_train[idx]
    t0 = time.perf_counter()
    params, state, loss = step(params, state, xb, yb)
    jax.block_until_ready(loss)
    elapsed += time.perf_counter() - t0
    if (i + 1) % max(1, steps // 50) == 0 or i + 1 == steps:
      progress(i + 1, steps, name)
  final_loss = float(loss_fn(params, x_train, y_train))
  return Result(name, final_loss, accuracy(params, x_train, y_train),
                accuracy(params, x_test, y_test), 1e3 * elapsed / steps)


def optimizers() -> dict[str, ox.GradientTransformation]:
  schedule = ox.warmup_cosine_decay_schedule(0.0, 0.05, warmup_steps=50, decay_steps=1000)
  return {
      'sgd': ox.sgd(0.2),
      'momentum': ox.sgd(0.05, momentum=0.9),
      'nesterov+cos': ox.sgd(schedule, momentum=0.9, nesterov=True),
      'adam': ox.adam(1e-2),
      'rmsprop': ox.rmsprop(3e-3, momentum=0.5),
      'lars': ox.lars(2.0, weight_decay=1e-4, momentum=0.9),
      'keras_adam': ox.keras_adam(1e-2),
  }


def format_table(results: list[Result]) -> str:
  header = f'{"optimizer":<14} {"loss":>8} {"train acc":>10} {"test acc":>9} {"ms/step":>8}'
  lines = [header, '-' * len(header)]
  for r in results:
    lines.append(f'{r.name:<14} {r.loss:>8.4f} {r.train_acc:>10.3f} {r.test_acc:>9.3f} '
                 f'{r.ms_per_step:>8.3f}')
  return '\n'.join(lines)


def main(argv=None) -> list[Result]:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--steps", type=int, default=1000)
  parser.add_argument('--batch', type=int, default=128)
  parser.add_argument('--seed', type=int, default=0)
  args = parser.parse_args(argv)
  x_train, y_train = make_spirals(400, args.seed)
  x_test, y_test = make_spirals(200, args.seed + 1)
  data = (jnp.asarray(x_train), jnp.asarray(y_train), jnp.asarray(x_test), jnp.asarray(y_test))
  print(f'Three-spirals classification: {len(y_train)} train / {len(y_test)} test points, '
        f'MLP 2-64-64-3, {args.steps} steps of batch {args.batch}, jax {jax.__version__} '
        f'on {jax.devices()[0].platform}.')
  results = [train(name, opt, data, args.steps, args.batch, args.seed)
             for name, opt in optimizers().items()]
  print(format_table(results))
  return results


if __name__ == '__main__':
  main()

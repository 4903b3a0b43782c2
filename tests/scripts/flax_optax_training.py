"""A flax linen training script written for optax, used unchanged with optax_like.

``tests/test_unchanged_script.py`` runs this file twice in fresh processes: once as it is, and
once with ``sys.modules['optax']`` pointing at ``optax_like`` before the script runs, so the
``import optax`` below gets optax_like. It prints one JSON line of results.
"""

import json

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.training import train_state


class MLP(nn.Module):
  @nn.compact
  def __call__(self, x):
    x = nn.relu(nn.Dense(32)(x))
    return nn.Dense(3)(x)


def data(n=256):
  rng = np.random.default_rng(0)
  x = rng.normal(size=(n, 4)).astype(np.float32)
  y = (np.argmax(x[:, :3] + 0.3 * x[:, 3:], axis=1)).astype(np.int32)
  return jnp.asarray(x), jnp.asarray(y)


def main():
  x, y = data()
  model = MLP()
  params = model.init(jax.random.PRNGKey(0), x[:1])['params']
  schedule = optax.warmup_cosine_decay_schedule(0.0, 3e-2, warmup_steps=10, decay_steps=60)
  tx = optax.chain(
      optax.clip_by_global_norm(1.0),
      optax.inject_hyperparams(optax.adamw)(learning_rate=schedule, weight_decay=1e-4),
  )
  state = train_state.TrainState.create(apply_fn=model.apply, params=params, tx=tx)

  def loss_fn(params, xb, yb):
    logits = state.apply_fn({'params': params}, xb)
    smoothed = optax.smooth_labels(jax.nn.one_hot(yb, 3), 0.1)
    return (optax.softmax_cross_entropy(logits, smoothed).mean()
            + 0.1 * optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean())

  @jax.jit
  def train_step(state, xb, yb):
    loss, grads = jax.value_and_grad(loss_fn)(state.params, xb, yb)
    grad_norm = optax.tree.norm(grads)
    state = state.apply_gradients(grads=grads)
    return state, loss, grad_norm

  losses, norms = [], []
  for step in range(60):
    i = (step * 32) % 256
    state, loss, grad_norm = train_step(state, x[i:i + 32], y[i:i + 32])
    losses.append(float(loss))
    norms.append(float(grad_norm))
  lr = state.opt_state[1].hyperparams['learning_rate']
  counts = [int(v) for _, v in optax.tree.get_all_with_path(state.opt_state, 'count')]
  accuracy = float(jnp.mean(jnp.argmax(model.apply({'params': state.params}, x), -1) == y))
  l2 = optax.tree.sum(optax.tree.map_params(tx, lambda p: p * 0 + 1, state.opt_state,
                                            transform_non_params=lambda _: 0))
  print(json.dumps({
      'optax_module': optax.__name__,
      'losses': losses, 'grad_norms': norms, 'learning_rate': float(lr),
      'counts': counts, 'accuracy': accuracy,
      'param_sum': float(optax.tree.sum(state.params)),
      'ones_in_param_shaped_state': float(l2),
  }))


if __name__ == '__main__':
  main()

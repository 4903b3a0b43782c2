"""Per-call overhead of ``optax_like.keras`` against a raw jitted optax step and tf-keras.

    python -m benchmarks.keras_overhead [--optimizer adam] [--rounds 15] [--calls 50]

A small MLP (``--sizes 32,64,64,10``, batch ``--batch 32``, tanh) is trained by:

* **apply** group, the same precomputed gradients every call:
  ``optax (jit)``: ``jax.jit`` of ``optax.<opt>.update`` + ``apply_updates`` over the params;
  ``keras.apply_gradients``: ``optax_like.keras.<Opt>.apply_gradients(zip(grads, vars))``;
  ``tf-keras apply (eager)`` and ``tf-keras apply (tf.function)``: ``tf_keras.optimizers.legacy``.
* **minimize** group, a fresh batch every call:
  ``optax (jit)``: one jitted ``value_and_grad`` + update step;
  ``keras.minimize``: ``opt.minimize(loss_fn, vars)`` (the loss is traced each call, so the
  new batch is read; the compiled program is reused);
  ``jit grad + keras.apply``: gradients from a jitted ``jax.grad``, then ``apply_gradients``;
  ``tf-keras minimize (eager)``;
  ``keras.function(minimize)``: ``@optax_like.keras.function def train_step(x, y):
  opt.minimize(lambda: loss(x, y), vars)`` (one compiled program per input signature, the
  Variables as state). The apply group has ``keras.function(apply_gradients)`` likewise.

Contenders alternate round by round (the order rotates every round); each round times
``--calls`` calls of every contender (ending with ``block_until_ready``), and the table gives
the median per-call time and the median over rounds of the per-round ratio to the group's
``optax (jit)``. The tf-keras columns need TensorFlow and tf-keras: they are imported from
the current environment, else from ``--tf-site`` (a ``site-packages`` directory, default the
repository's ``.venv-golden`` if present, made by ``tools/gen_keras_golden.py``), else skipped.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import pathlib
import statistics
import sys
import time
import warnings
from typing import Any, Callable, Dict, List, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optax_like import keras as K

REPO = pathlib.Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------
# Optional TensorFlow.

def import_tf(site: Optional[str]):
  """``((tf, tf_keras), None)`` or ``(None, reason)``; never required."""
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
  try:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    import tf_keras  # pylint: disable=g-import-not-at-top
    return (tf, tf_keras), None
  except ImportError:
    pass
  candidates = [site] if site else glob.glob(str(REPO / '.venv-golden' / 'lib' / 'python*' /
                                                 'site-packages'))
  for path in candidates:
    if path and os.path.isdir(path) and path not in sys.path:
      sys.path.append(path)  # after our own site-packages: our jax/numpy win
      try:
        import tensorflow as tf  # pylint: disable=g-import-not-at-top
        import tf_keras  # pylint: disable=g-import-not-at-top
        return (tf, tf_keras), None
      except Exception as e:  # pylint: disable=broad-except
        return None, f'TensorFlow not importable from {path}: {type(e).__name__}: {e}'
  return None, 'TensorFlow / tf-keras not installed (see tools/gen_keras_golden.py)'


# ---------------------------------------------------------------------------------------------
# The workload.

def make_problem(sizes: List[int], batch: int, n_batches: int = 8, seed: int = 0):
  rng = np.random.default_rng(seed)
  weights = []
  for a, b in zip(sizes[:-1], sizes[1:]):
    weights.append((rng.normal(size=(a, b)) / np.sqrt(a)).astype(np.float32))
    weights.append(np.zeros(b, np.float32))
  batches = [(rng.normal(size=(batch, sizes[0])).astype(np.float32),
              rng.normal(size=(batch, sizes[-1])).astype(np.float32)) for _ in range(n_batches)]
  grads = [rng.normal(size=w.shape).astype(np.float32) * 0.01 for w in weights]
  return weights, batches, grads


def mlp(ws, x, tanh):
  h = x
  n = len(ws) // 2
  for i in range(n):
    h = h @ ws[2 * i] + ws[2 * i + 1]
    if i < n - 1:
      h = tanh(h)
  return h


OPTAX = {'adam': lambda: optax.adam(1e-3), 'sgd': lambda: optax.sgd(1e-2, momentum=0.9),
         'rmsprop': lambda: optax.rmsprop(1e-3)}
KERAS = {'adam': lambda m: m.Adam(1e-3), 'sgd': lambda m: m.SGD(1e-2, momentum=0.9),
         'rmsprop': lambda m: m.RMSprop(1e-3)}


def build_contenders(args, tf_mod) -> Dict[str, Dict[str, Callable[[], Any]]]:
  """``{group: {name: run_one_call}}``; each callable performs one optimizer call."""
  sizes = [int(s) for s in args.sizes.split(',')]
  weights, batches, grads = make_problem(sizes, args.batch)
  counter = {'i': 0}

  def next_batch():
    counter['i'] = (counter['i'] + 1) % len(batches)
    return batches[counter['i']]

  # optax, raw jitted steps.
  tx = OPTAX[args.optimizer]()
  jgrads = [jnp.asarray(g) for g in grads]
  optax_state = {'p': [jnp.asarray(w) for w in weights]}
  optax_state['s'] = tx.init(optax_state['p'])

  @jax.jit
  def optax_apply(params, state, g):
    updates, state = tx.update(g, state, params)
    return optax.apply_updates(params, updates), state

  def loss_of(params, x, y):
    return jnp.mean((mlp(params, x, jnp.tanh) - y) ** 2)

  @jax.jit
  def optax_min(params, state, x, y):
    loss, g = jax.value_and_grad(loss_of)(params, x, y)
    updates, state = tx.update(g, state, params)
    return optax.apply_updates(params, updates), state, loss

  def run_optax_apply():
    optax_state['p'], optax_state['s'] = optax_apply(optax_state['p'], optax_state['s'], jgrads)
    return optax_state['p']

  min_state = {'p': [jnp.asarray(w) for w in weights]}
  min_state['s'] = tx.init(min_state['p'])

  def run_optax_min():
    x, y = next_batch()
    min_state['p'], min_state['s'], _ = optax_min(min_state['p'], min_state['s'], x, y)
    return min_state['p']

  # optax_like.keras.
  kvars = [K.Variable(w, name=f'dense_{i // 2}/{"kernel" if i % 2 == 0 else "bias"}')
           for i, w in enumerate(weights)]
  kopt = KERAS[args.optimizer](K)

  def run_keras_apply():
    kopt.apply_gradients(zip(jgrads, kvars))
    return [v.value() for v in kvars]

  mvars = [K.Variable(w) for w in weights]
  mopt = KERAS[args.optimizer](K)
  current = {}
  loss_fn = lambda: jnp.mean((mlp(mvars, current['x'], jnp.tanh) - current['y']) ** 2)

  def run_keras_min():
    current['x'], current['y'] = next_batch()
    mopt.minimize(loss_fn, mvars)
    return [v.value() for v in mvars]

  gvars = [K.Variable(w) for w in weights]
  gopt = KERAS[args.optimizer](K)
  grad_fn = jax.jit(jax.grad(loss_of))

  def run_grad_apply():
    x, y = next_batch()
    g = grad_fn([v.value() for v in gvars], x, y)
    gopt.apply_gradients(zip(g, gvars))
    return [v.value() for v in gvars]

  # optax_like.keras.function: the train step compiled once (tf.function's habit).
  kf_vars = [K.Variable(w) for w in weights]
  kf_opt = KERAS[args.optimizer](K)

  @K.function
  def train_step(x, y):
    kf_opt.minimize(lambda: jnp.mean((mlp(kf_vars, x, jnp.tanh) - y) ** 2), kf_vars)

  def run_function_min():
    x, y = next_batch()
    train_step(x, y)
    return [v.value() for v in kf_vars]

  ka_vars = [K.Variable(w) for w in weights]
  ka_opt = KERAS[args.optimizer](K)

  @K.function
  def apply_step(gs):
    ka_opt.apply_gradients(zip(gs, ka_vars))

  def run_function_apply():
    apply_step(jgrads)
    return [v.value() for v in ka_vars]

  groups = {
      'apply': {'optax (jit)': run_optax_apply, 'keras.apply_gradients': run_keras_apply,
                'keras.function(apply_gradients)': run_function_apply},
      'minimize': {'optax (jit)': run_optax_min, 'keras.function(minimize)': run_function_min,
                   'keras.minimize': run_keras_min, 'jit grad + keras.apply': run_grad_apply},
  }

  if tf_mod is not None:
    tf, tf_keras = tf_mod
    legacy = tf_keras.optimizers.legacy
    tvars = [tf.Variable(w) for w in weights]
    topt = KERAS[args.optimizer](legacy)
    tgrads = [tf.constant(g) for g in grads]

    def run_tf_apply():
      topt.apply_gradients(zip(tgrads, tvars))

    fvars = [tf.Variable(w) for w in weights]
    fopt = KERAS[args.optimizer](legacy)

    @tf.function
    def tf_function_apply():
      fopt.apply_gradients(zip(tgrads, fvars))

    mtvars = [tf.Variable(w) for w in weights]
    mtopt = KERAS[args.optimizer](legacy)
    tcur = {}
    tf_loss = lambda: tf.reduce_mean((mlp(mtvars, tcur['x'], tf.tanh) - tcur['y']) ** 2)

    def run_tf_min():
      x, y = next_batch()
      tcur['x'], tcur['y'] = tf.constant(x), tf.constant(y)
      mtopt.minimize(tf_loss, mtvars)

    groups['apply']['tf-keras apply (eager)'] = run_tf_apply
    groups['apply']['tf-keras apply (tf.function)'] = tf_function_apply
    groups['minimize']['tf-keras minimize (eager)'] = run_tf_min
  return groups


# ---------------------------------------------------------------------------------------------
# Timing.

def _block(out):
  if out is not None:
    jax.block_until_ready(out)


def time_groups(groups, rounds: int, calls: Dict[str, int], warmup: int = 3):
  results = {}
  for group, contenders in groups.items():
    names = list(contenders)
    for fn in contenders.values():  # compile / build / first-call costs out of the way
      for _ in range(warmup):
        _block(fn())
    per_call = {n: [] for n in names}
    for r in range(rounds):
      order = names[r % len(names):] + names[:r % len(names)]
      for name in order:
        fn = contenders[name]
        n = calls[group]
        start = time.perf_counter()
        out = None
        for _ in range(n):
          out = fn()
        _block(out)
        per_call[name].append((time.perf_counter() - start) / n)
    base = per_call['optax (jit)']
    results[group] = {
        name: {'us': statistics.median(t) * 1e6,
               'ratio': statistics.median(a / b for a, b in zip(t, base))}
        for name, t in per_call.items()}
  return results


def format_table(results, args, device: str, tf_note: Optional[str]) -> str:
  lines = [f'optax_like.keras per-call overhead: {args.optimizer}, MLP {args.sizes}, batch '
           f'{args.batch}, {args.rounds} rounds x {args.calls} calls (minimize: '
           f'{args.min_calls}), {device}', '',
           '| group | contender | median per call (us) | median ratio to optax (jit) |',
           '|---|---|---:|---:|']
  for group, rows in results.items():
    for name, r in rows.items():
      lines.append(f'| {group} | {name} | {r["us"]:.1f} | {r["ratio"]:.2f} |')
  if tf_note:
    lines.append('')
    lines.append(f'tf-keras columns skipped: {tf_note}')
  return '\n'.join(lines)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--optimizer', choices=sorted(OPTAX), default='adam')
  parser.add_argument('--sizes', default='32,64,64,10')
  parser.add_argument('--batch', type=int, default=32)
  parser.add_argument('--rounds', type=int, default=15)
  parser.add_argument('--calls', type=int, default=50, help='calls per round (apply group)')
  parser.add_argument('--min-calls', type=int, default=20, help='calls per round (minimize)')
  parser.add_argument('--no-tf', action='store_true', help='skip the tf-keras columns')
  parser.add_argument('--tf-site', default=None, help='site-packages holding tensorflow')
  parser.add_argument('--json', default=None, help='also write the results here')
  args = parser.parse_args(argv)

  tf_mod, tf_note = (None, 'disabled by --no-tf') if args.no_tf else import_tf(args.tf_site)
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    groups = build_contenders(args, tf_mod)
    results = time_groups(groups, args.rounds,
                          {'apply': args.calls, 'minimize': args.min_calls})
  device = f'jax {jax.__version__} on {jax.devices()[0].platform}'
  if tf_mod is not None:
    device += f', tensorflow {tf_mod[0].__version__}'
  print(format_table(results, args, device, tf_note))
  if args.json:
    pathlib.Path(args.json).write_text(json.dumps({'args': vars(args), 'device': device,
                                                   'results': results}, indent=2))


if __name__ == '__main__':
  main()

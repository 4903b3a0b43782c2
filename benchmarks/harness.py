"""Timing machinery: bandwidth probes, per-library step runners, alternating rounds, progress bar.

Every JAX step is ``jax.jit(step, donate_argnums=(0, 1))`` (params and optimizer state donated,
so the update can happen in place), compiled once with ``.lower(...).compile()`` (that call is
the measured compile time, tracing included) and called through the compiled object, so there is
no second compilation. Each timed block ends with ``block_until_ready``.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
import warnings
from typing import Any, Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.workloads import Workload

# Donation of scalar state leaves (Adam's count) may be reported as unusable; that is harmless.
warnings.filterwarnings('ignore', message='Some donated buffers were not usable')


# ---------------------------------------------------------------------------------------------
# Progress bar (stderr; one redrawn line on a terminal, one line per stage otherwise).

class Progress:
  """A minimal progress bar: ``advance(label)`` after each unit of work."""

  def __init__(self, total: int, stream=None, width: int = 30, enabled: bool = True):
    self.total = max(1, total)
    self.done = 0
    self.stream = stream if stream is not None else sys.stderr
    self.width = width
    self.enabled = enabled
    self.start = time.perf_counter()
    self.label = ''
    self._tty = bool(getattr(self.stream, 'isatty', lambda: False)())

  def set_label(self, label: str) -> None:
    changed = label != self.label
    self.label = label
    if changed and not self._tty:
      self._draw(force_line=True)
    elif self._tty:
      self._draw()

  def advance(self, n: int = 1, label: Optional[str] = None) -> None:
    self.done = min(self.total, self.done + n)
    if label is not None and label != self.label:
      self.set_label(label)
    elif self._tty:
      self._draw()

  def _draw(self, force_line: bool = False) -> None:
    if not self.enabled:
      return
    frac = self.done / self.total
    filled = int(round(frac * self.width))
    bar = '#' * filled + '-' * (self.width - filled)
    elapsed = time.perf_counter() - self.start
    line = f'[{bar}] {self.done:>3}/{self.total} {elapsed:6.0f}s  {self.label}'
    if self._tty:
      self.stream.write('\r' + line[:120].ljust(120))
    elif force_line:
      self.stream.write(line + '\n')
    self.stream.flush()

  def close(self) -> None:
    if self.enabled:
      self.done = self.total
      if self._tty:
        self._draw()
        self.stream.write('\n')
      else:
        self._draw(force_line=True)
      self.stream.flush()


# ---------------------------------------------------------------------------------------------
# Memory bandwidth: in-place scale of a large float32 array, bytes moved = read + write.

def _median_bandwidth(times: Sequence[float], n: int) -> float:
  return 2 * 4 * n / statistics.median(times)


def bandwidth_xla(n: int, reps: int) -> dict:
  """Times ``x * c`` jitted with x donated (in place): 8 bytes per element per call."""
  scale = jax.jit(lambda a: a * jnp.float32(1.0000001), donate_argnums=0)
  x = jnp.ones((n,), jnp.float32)
  x = scale(x).block_until_ready()  # compile + first touch
  times = []
  for _ in range(reps):
    t0 = time.perf_counter()
    x = scale(x)
    x.block_until_ready()
    times.append(time.perf_counter() - t0)
  del x
  return {'times_s': times, 'gb_per_s': _median_bandwidth(times, n) / 1e9,
          'gb_per_s_best': 8 * n / min(times) / 1e9}


def torch_sync(torch, device: str) -> None:
  if device.startswith('cuda'):
    torch.cuda.synchronize()


def bandwidth_torch(torch, n: int, reps: int, device: str = 'cpu') -> dict:
  """Times ``x.mul_(c)`` on a torch tensor on ``device``: 8 bytes per element per call."""
  x = torch.ones(n, dtype=torch.float32, device=device)
  x.mul_(1.0000001)
  torch_sync(torch, device)
  times = []
  for _ in range(reps):
    t0 = time.perf_counter()
    x.mul_(1.0000001)
    torch_sync(torch, device)
    times.append(time.perf_counter() - t0)
  del x
  return {'times_s': times, 'gb_per_s': _median_bandwidth(times, n) / 1e9,
          'gb_per_s_best': 8 * n / min(times) / 1e9}


def kernel_probe(n_leaves: int = 300, reps: int = 10) -> dict:
  """Per-kernel run and compile cost of a jitted step over many small leaves, on this backend.

  ``p * a + g`` over ``n_leaves`` leaves of 32 float32 (one kernel each), params donated: the
  step time per kernel (dominated by the launch) and the compile time per kernel. The budget
  planner (``benchmarks.budget``) scales its estimates for many-leaf workloads with these.
  """
  params = [jnp.full((32,), 1.0 + i, jnp.float32) for i in range(n_leaves)]
  grads = [jnp.full((32,), 0.1, jnp.float32) for _ in range(n_leaves)]
  step = jax.jit(lambda ps, gs: [p * jnp.float32(0.9) + g for p, g in zip(ps, gs)],
                 donate_argnums=0)
  t0 = time.perf_counter()
  compiled = step.lower(params, grads).compile()
  compile_s = time.perf_counter() - t0
  params = jax.block_until_ready(compiled(params, grads))
  times = []
  for _ in range(reps):
    t0 = time.perf_counter()
    params = jax.block_until_ready(compiled(params, grads))
    times.append(time.perf_counter() - t0)
  kernels = max(1, compiled.as_text().count(' fusion(')) if hasattr(compiled, 'as_text') \
      else n_leaves
  del params
  return {'n_leaves': n_leaves, 'kernels': kernels, 'compile_s': compile_s,
          'step_s': statistics.median(times),
          'launch_s': statistics.median(times) / kernels,
          'compile_s_per_kernel': compile_s / kernels}


# ---------------------------------------------------------------------------------------------
# Data.

def make_data(w: Workload, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
  """Params and grads as float32 numpy arrays, one per leaf (the same for every library)."""
  rng = np.random.default_rng(seed)
  params = [rng.standard_normal(s, dtype=np.float32) for s in w.shapes]
  grads = [(1e-2 * rng.standard_normal(s, dtype=np.float32)).astype(np.float32)
           for s in w.shapes]
  return params, grads


def as_tree(leaves: list[np.ndarray]) -> dict:
  """A flat dict 'p0000' -> leaf, like a model's parameter dict (fresh device arrays)."""
  width = max(4, len(str(len(leaves))))
  return {f'p{i:0{width}d}': jnp.array(a) for i, a in enumerate(leaves)}


def hlo_stats(compiled) -> dict:
  """Fusion count and XLA's own estimate of bytes accessed for a compiled step."""
  stats: dict[str, Any] = {}
  try:
    text = compiled.as_text()
    stats['fusions'] = text.count(' fusion(')
    stats['hlo_chars'] = len(text)
  except Exception as e:  # noqa: BLE001 - diagnostics only
    stats['error'] = repr(e)
  try:
    cost = compiled.cost_analysis()
    if isinstance(cost, (list, tuple)):
      cost = cost[0] if cost else {}
    if cost and 'bytes accessed' in cost:
      stats['bytes_accessed'] = float(cost['bytes accessed'])
  except Exception as e:  # noqa: BLE001
    stats['cost_error'] = repr(e)
  return stats


# ---------------------------------------------------------------------------------------------
# Runners: one per (workload, library); `steps(k)` runs k steps and returns seconds per step.

class JaxRunner:
  """A jitted, donated step of an optax-API library over one workload.

  ``wrap`` (e.g. ``optax_like.fused``) is applied to the workload's optimizer: the variant
  "optax_like.fused(tx)" is ``JaxRunner(optax_like, w, ..., wrap=optax_like.fused)``.
  """

  def __init__(self, lib, w: Workload, params_np, grads_np,
               wrap: Optional[Callable[[Any], Any]] = None):
    self.lib = lib
    self.wrap = wrap
    self.workload = w
    self.params = as_tree(params_np)
    self.grads = as_tree(grads_np)
    self.state = self.make_opt().init(self.params)  # eager: only the step's compile is timed
    jax.block_until_ready(self.state)
    self.compile_s, self.compiled = self.compile()
    self.compile_samples = [self.compile_s]
    self.hlo = hlo_stats(self.compiled)

  def compile(self):
    """(seconds, compiled) of ``jax.jit(step).lower(...).compile()``, tracing included.

    The optimizer and the step are built afresh each time, so no JAX cache is hit.
    """
    lib, opt = self.lib, self.make_opt()

    def step(params, state, grads):
      updates, state = opt.update(grads, state, params)
      return lib.apply_updates(params, updates), state

    t0 = time.perf_counter()
    lowered = jax.jit(step, donate_argnums=(0, 1)).lower(self.params, self.state, self.grads)
    compiled = lowered.compile()
    return time.perf_counter() - t0, compiled

  def make_opt(self):
    opt = self.workload.make_opt(self.lib)
    return opt if self.wrap is None else self.wrap(opt)

  def compile_again(self) -> float:
    """One more compile-time sample; ``compile_s`` becomes the median of the samples."""
    seconds, _ = self.compile()
    self.compile_samples.append(seconds)
    self.compile_s = statistics.median(self.compile_samples)
    return seconds

  def steps(self, k: int) -> float:
    params, state, grads, f = self.params, self.state, self.grads, self.compiled
    t0 = time.perf_counter()
    for _ in range(k):
      params, state = f(params, state, grads)
    jax.block_until_ready((params, state))
    dt = time.perf_counter() - t0
    self.params, self.state = params, state
    return dt / k

  def check_finite(self) -> bool:
    leaves = jax.tree.leaves(self.params)
    return all(bool(jnp.all(jnp.isfinite(x))) for x in leaves)

  def close(self) -> None:
    self.params = self.state = self.grads = self.compiled = None


class TorchRunner:
  """A torch optimizer over the same data (tensors on ``device``, gradients fixed)."""

  def __init__(self, torch, w: Workload, params_np, grads_np, device: str = 'cpu'):
    self.torch = torch
    self.device = device
    self.params = [torch.nn.Parameter(torch.from_numpy(a.copy()).to(device)) for a in params_np]
    for p, g in zip(self.params, grads_np):
      p.grad = torch.from_numpy(g.copy()).to(device)
    self.opt = w.make_torch_opt(torch, self.params)
    self.compile_s = None
    self.hlo = None

  def steps(self, k: int) -> float:
    torch_sync(self.torch, self.device)
    t0 = time.perf_counter()
    for _ in range(k):
      self.opt.step()
    torch_sync(self.torch, self.device)
    return (time.perf_counter() - t0) / k

  def check_finite(self) -> bool:
    return all(bool(self.torch.isfinite(p).all()) for p in self.params)

  def close(self) -> None:
    self.params = self.opt = None


def run_rounds(runners: dict[str, Any], rounds: int, steps_per_round: int,
               on_round: Callable[[int], None] = lambda r: None) -> dict[str, list[float]]:
  """Alternates libraries round by round (the order rotates each round); one untimed warm-up
  step per library per round, then ``steps_per_round`` timed steps. Seconds per step per round.
  """
  names = list(runners)
  times: dict[str, list[float]] = {n: [] for n in names}
  for r in range(rounds):
    k = r % len(names)
    for name in names[k:] + names[:k]:
      runner = runners[name]
      runner.steps(1)
      times[name].append(runner.steps(steps_per_round))
    on_round(r)
  return times


def steps_for(seconds_per_step: float, target_s: float, lo: int, hi: int) -> int:
  if seconds_per_step <= 0:
    return hi
  return int(min(hi, max(lo, math.ceil(target_s / seconds_per_step))))

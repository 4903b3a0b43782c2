"""The benchmark workloads: which optimizer, over which parameter tree, and its bandwidth limit.

A workload is library-agnostic: ``make_opt(lib)`` builds the optimizer from a module that has
optax's API (``optax`` itself or ``optax_like``), so both libraries run exactly the same
configuration. ``passes`` is the number of float32 passes over all parameters that the step must
make at the very least (each read or write of one parameter-sized array is one pass); the
bandwidth-limit time of a step is ``passes * 4 bytes * n_params / bandwidth``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Optional, Sequence

import numpy as np

Shape = tuple[int, ...]

# Tags: which output a workload feeds.
TABLE = 'table'                # a row of the main table (the targets of issue 4)
PARAMS_SWEEP = 'params_sweep'  # step time against parameter count (one leaf)
LEAVES_SWEEP = 'leaves_sweep'  # step and compile time against number of leaves (constant total)


@dataclasses.dataclass(frozen=True)
class Workload:
  """One optimizer over one parameter tree, run identically by every library."""
  name: str
  description: str
  make_opt: Callable[[Any], Any]  # lib (optax-like module) -> GradientTransformation
  shapes: tuple[Shape, ...]
  passes: int
  tags: frozenset[str]
  # Builds a torch optimizer over a list of torch Parameters; None: no torch counterpart.
  make_torch_opt: Optional[Callable[[Any, list], Any]] = None

  @property
  def n_params(self) -> int:
    return sum(math.prod(s) for s in self.shapes)

  @property
  def n_leaves(self) -> int:
    return len(self.shapes)


# Minimum float32 passes per step, one comment per count. A "pass" is one parameter-sized array
# read or written once; what a fused kernel can't avoid.
# Adam: read p, g, m, v; write p, m, v.
ADAM_PASSES = 7
# RMSprop with momentum: read p, g, nu, trace; write p, nu, trace.
RMSPROP_MOMENTUM_PASSES = 7
# SGD with momentum: read p, g, trace; write p, trace.
SGD_MOMENTUM_PASSES = 5
# LARS (weight decay on, momentum): the trust ratio needs ||p|| and ||g + wd p|| before any
# update, so a first sweep reads p and g (both norms at once: 2 passes); then the update reads
# p, g, trace and writes p, trace (5 passes). Total 7.
LARS_PASSES = 7
# clip_by_global_norm + Adam: the global norm must be known before any update, so a first sweep
# reads g (1 pass); then Adam's 7. Total 8.
CLIP_ADAM_PASSES = 8


def human(n: int) -> str:
  """20_000_000 -> '20M', 400_000 -> '400k', 100 -> '100' (exact only: 1234 stays '1234')."""
  if n >= 1_000_000 and n % 100_000 == 0:
    return f'{n / 1_000_000:g}M'
  if n >= 1_000 and n % 100 == 0:
    return f'{n / 1_000:g}k'
  return str(n)


# One "layer" of a small model: dense kernels and biases, a norm scale, a scalar gain, a conv
# kernel. Leaves of a real model repeat a few shapes; compile time depends on that (XLA reuses a
# kernel across identical shapes: optax compiles 1000 leaves of 317 distinct shapes ~4x slower
# than 1000 leaves of one shape), so the mix stays model-like rather than random.
LAYER_SHAPES: tuple[Shape, ...] = ((32, 32), (32,), (32, 64), (64,), (64, 32), (32,), (32,), (),
                                   (3, 3, 8, 8), (8,))


def mixed_shapes(n_leaves: int) -> tuple[Shape, ...]:
  """``n_leaves`` leaves taken layer by layer from LAYER_SHAPES (a model of n/10 layers)."""
  return tuple(LAYER_SHAPES[i % len(LAYER_SHAPES)] for i in range(n_leaves))


# ---------------------------------------------------------------------------------------------
# Optimizer factories (module-level functions, so results name them and tests can reuse them).

LR = 1e-3


def adam(lib):
  return lib.adam(LR)


def rmsprop_momentum(lib):
  return lib.rmsprop(LR, momentum=0.9)


def sgd_momentum(lib):
  return lib.sgd(LR, momentum=0.9)


def lars_wd(lib):
  return lib.lars(LR, weight_decay=1e-4)


def clip_adam(lib):
  return lib.chain(lib.clip_by_global_norm(1.0), lib.adam(LR))


def torch_adam_fused(torch, params: list):
  return torch.optim.Adam(params, lr=LR, fused=True)


# ---------------------------------------------------------------------------------------------
# Workload lists.

@dataclasses.dataclass(frozen=True)
class SuiteConfig:
  """Sizes and repetition counts of one run of the suite."""
  name: str
  big: int                       # single-leaf size of the 'large' workloads (20M in full)
  bigger: int                    # the second Adam size (50M in full)
  mixed_leaves: int              # number of mixed small leaves (1000 in full)
  many_leaves: int               # number of leaves of `small_leaf` params (4000 in full)
  small_leaf: int                # params per leaf of the many-leaves workload (100 in full)
  params_sweep: Sequence[int]    # single-leaf Adam sizes for the params plot
  leaves_sweep: Sequence[int]    # leaf counts for the leaves plot, total fixed below
  leaves_total: int              # total params of every leaves-sweep point
  bandwidth_n: int               # float32 elements of the bandwidth probe
  bandwidth_reps: int
  rounds: int
  round_target_s: float          # wanted wall time of one library's timed steps in a round
  min_steps: int
  max_steps: int
  # Compile time is one sample per library, or the median of `compile_reps` samples (libraries
  # alternating) where every library's first compile took less than `compile_reps_below_s`.
  compile_reps: int = 3
  compile_reps_below_s: float = 20.0


FULL = SuiteConfig(
    name='full', big=20_000_000, bigger=50_000_000, mixed_leaves=1000, many_leaves=4000,
    small_leaf=100, params_sweep=(1_000_000, 5_000_000, 20_000_000, 50_000_000),
    # Capped at 4000 leaves: optax's compile time grows superlinearly (minutes at 4000).
    leaves_sweep=(1, 10, 100, 1000, 4000), leaves_total=400_000,
    bandwidth_n=100_000_000, bandwidth_reps=10, rounds=15, round_target_s=0.25, min_steps=3,
    max_steps=200)

QUICK = SuiteConfig(
    name='quick', big=20_000, bigger=50_000, mixed_leaves=12, many_leaves=16, small_leaf=25,
    params_sweep=(1_000, 5_000, 20_000, 50_000), leaves_sweep=(1, 4, 16), leaves_total=400,
    bandwidth_n=1_000_000, bandwidth_reps=3, rounds=3, round_target_s=0.002, min_steps=2,
    max_steps=5, compile_reps=1)


def build_workloads(cfg: SuiteConfig, max_leaves: Optional[int] = None) -> list[Workload]:
  """The workloads of one suite run, table rows first, each name unique.

  Sweep points that coincide with a table workload (Adam 20M/50M, clip+Adam 4000x100) are the
  same workload with both tags, so they are measured (and compiled) once.
  """
  by_name: dict[str, Workload] = {}

  def add(name, description, make_opt, shapes, passes, tag, torch_opt=None):
    if max_leaves is not None and len(shapes) > max_leaves:
      return
    if name in by_name:
      old = by_name[name]
      by_name[name] = dataclasses.replace(old, tags=old.tags | {tag})
      return
    by_name[name] = Workload(name, description, make_opt, tuple(shapes), passes,
                             frozenset({tag}), torch_opt)

  big, bigger = cfg.big, cfg.bigger
  add(f'adam_{human(big)}', f'adam, one leaf of {human(big)}', adam, [(big,)], ADAM_PASSES,
      TABLE, torch_adam_fused)
  add(f'adam_{human(bigger)}', f'adam, one leaf of {human(bigger)}', adam, [(bigger,)],
      ADAM_PASSES, TABLE, torch_adam_fused)
  add(f'rmsprop_momentum_{human(big)}', f'rmsprop(momentum=0.9), one leaf of {human(big)}',
      rmsprop_momentum, [(big,)], RMSPROP_MOMENTUM_PASSES, TABLE)
  add(f'sgd_momentum_{human(big)}', f'sgd(momentum=0.9), one leaf of {human(big)}',
      sgd_momentum, [(big,)], SGD_MOMENTUM_PASSES, TABLE)
  add(f'lars_wd_{human(big)}', f'lars(weight_decay=1e-4), one leaf of {human(big)}', lars_wd,
      [(big,)], LARS_PASSES, TABLE)
  mixed = mixed_shapes(cfg.mixed_leaves)
  add(f'clip_adam_{cfg.mixed_leaves}_mixed',
      f'chain(clip_by_global_norm, adam), {cfg.mixed_leaves} small leaves of '
      f'{len(set(mixed))} shapes ({sum(math.prod(s) for s in mixed):,} params)',
      clip_adam, mixed, CLIP_ADAM_PASSES, TABLE)
  add(f'lars_wd_{cfg.mixed_leaves}_mixed',
      f'lars(weight_decay=1e-4), {cfg.mixed_leaves} small leaves of {len(set(mixed))} shapes '
      f'(per-leaf trust ratios)', lars_wd, mixed, LARS_PASSES, TABLE)
  add(f'clip_adam_{cfg.many_leaves}x{human(cfg.small_leaf)}',
      f'chain(clip_by_global_norm, adam), {cfg.many_leaves} leaves of {cfg.small_leaf}',
      clip_adam, [(cfg.small_leaf,)] * cfg.many_leaves, CLIP_ADAM_PASSES, TABLE)

  for n in cfg.params_sweep:
    add(f'adam_{human(n)}', f'adam, one leaf of {human(n)}', adam, [(n,)], ADAM_PASSES,
        PARAMS_SWEEP, torch_adam_fused)
  for n_leaves in cfg.leaves_sweep:
    size = cfg.leaves_total // n_leaves
    add(f'clip_adam_{n_leaves}x{human(size)}',
        f'chain(clip_by_global_norm, adam), {n_leaves} leaves of {size}', clip_adam,
        [(size,)] * n_leaves, CLIP_ADAM_PASSES, LEAVES_SWEEP)
  return list(by_name.values())

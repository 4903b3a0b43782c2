"""Fitting the suite into a time budget (``python -m benchmarks.run --budget SECONDS``).

The suite's cost is dominated by two things that differ by orders of magnitude between
backends and machines: the compile time of steps over many leaves (optax needs minutes for
4000 leaves on a CPU) and the step time of large single leaves (memory bandwidth). So before
any workload runs, the machine is measured in the same process:

* ``bandwidth_bps``: the bandwidth probe of the suite (``harness.bandwidth_xla``);
* ``launch_s`` and ``compile_s_per_kernel``: ``harness.kernel_probe``, a jitted step of one
  small kernel per leaf over a few hundred leaves (what a step over many leaves costs per
  kernel to run and to compile on this backend).

From these, ``estimate`` gives each workload's cost (data setup, one compile per variant,
calibration, and the cost of one timed round), and ``plan`` picks workloads in ``priority``
order (the issue's table first, the 4000-leaf workload last) with the fewest rounds that still
give a median (``MIN_ROUNDS``), then spends what is left on more rounds, up to the suite's
count. ``run.run_suite`` re-checks the clock before and during every workload (compiles cannot
be interrupted, so estimates err on the slow side) and records what it skipped and why.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

from benchmarks import harness
from benchmarks.workloads import SuiteConfig, Workload, human

# Fewest timed rounds a planned workload gets (a median of per-round ratios needs a few).
MIN_ROUNDS = 3

# Kernels per leaf of optax's compiled step (the slowest variant to compile), from the fusion
# counts of docs/fused.md: clip+adam 5.5 per leaf (5498 for 1000 leaves), LARS 9.2.
KERNELS_PER_LEAF = {'adam': 4.0, 'clip_adam': 5.5, 'lars_wd': 9.5, 'sgd_momentum': 3.0,
                    'rmsprop_momentum': 4.0}
# float32 passes over the parameters of optax's step (the slowest variant on one large leaf):
# Adam compiles to 10 passes (docs/fused.md), optax's LARS to about 4x Adam's time.
STEP_PASSES = {'adam': 10, 'clip_adam': 12, 'lars_wd': 40, 'sgd_momentum': 6,
               'rmsprop_momentum': 12}
# Compile time grows faster than the kernel count: optax's clip+adam compiles 5.1x the kernels
# of 1000 mixed leaves (4000x100) in ~16x the time. ``F * (1 + F / SUPERLINEAR)`` fits that.
SUPERLINEAR = 5000.0
# Safety factors: estimates should be slow rather than fast (a compile cannot be interrupted).
COMPILE_SAFETY = 1.5
STEP_SAFETY = 1.5
# Compile time of the fused variant relative to optax's, for more than one leaf (it compiles
# one kernel per output leaf plus a few per bucket: 3-15x faster in docs/fused.md).
FUSED_COMPILE_FRACTION = 0.4
# Compile-time samples beyond the first are taken only when they cost at most this (seconds).
CHEAP_COMPILE_S = 5.0


@dataclasses.dataclass(frozen=True)
class Machine:
  """What the planner knows about this backend, measured in the same process."""
  bandwidth_bps: float
  launch_s: float            # run time per kernel of a jitted step over many small leaves
  compile_s_per_kernel: float  # compile time per kernel, at a few hundred kernels

  def compile_s(self, kernels: float) -> float:
    return 0.05 + COMPILE_SAFETY * self.compile_s_per_kernel * kernels * (
        1 + kernels / SUPERLINEAR)


@dataclasses.dataclass(frozen=True)
class Estimate:
  """Seconds one workload costs, all variants together."""
  setup_s: float      # data, device transfer, eager init, finite checks
  compile_s: float    # one compile per JAX variant (all of them)
  compile_each: dict  # variant -> its one compile
  compile_samples: int  # compiles per variant: the suite's samples when they are cheap, else 1
  step_s: float       # one step of the slowest variant
  steps: int          # timed steps per round (as ``measure_workload`` will pick them)
  runners: int        # variants timed each round (JAX variants + torch)

  @property
  def round_s(self) -> float:
    return self.runners * (self.steps + 1) * self.step_s  # + 1: the untimed warm-up step

  @property
  def fixed_s(self) -> float:
    return (self.setup_s + self.compile_samples * self.compile_s
            + 4 * self.runners * self.step_s)  # 4: calibration steps

  def total_s(self, rounds: int) -> float:
    return self.fixed_s + rounds * self.round_s


def estimate(w: Workload, m: Machine, cfg: SuiteConfig, jax_variants: Sequence[str],
             torch: bool, fused_name: str = '') -> Estimate:
  """The cost of ``w`` on machine ``m``, from its size, leaf count and optimizer."""
  opt = w.make_opt.__name__
  kernels = KERNELS_PER_LEAF.get(opt, 10.0) * w.n_leaves + 8
  one = m.compile_s(kernels)
  each = {v: one * (FUSED_COMPILE_FRACTION if v == fused_name and w.n_leaves > 1 else 1)
          for v in jax_variants}
  compile_s = sum(each.values())
  # Extra compile-time samples only where they are cheap (a few seconds in all).
  samples = cfg.compile_reps if compile_s * (cfg.compile_reps - 1) <= CHEAP_COMPILE_S else 1
  bytes_s = STEP_PASSES.get(opt, 40) * 4 * w.n_params / m.bandwidth_bps
  step_s = STEP_SAFETY * (bytes_s + kernels * m.launch_s)
  runners = len(jax_variants) + (1 if torch and w.make_torch_opt is not None else 0)
  # Data: params and grads drawn on the host (~45 ns per parameter on 2 CPU cores), then per
  # runner a copy to the device, an eager init (a few ops per leaf) and a finite check at the
  # end (one op per leaf; its first compile ~1 s).
  setup_s = (1.0 + 5e-8 * w.n_params
             + runners * (0.1 + 4e-8 * w.n_params + 3 * 4 * w.n_params / m.bandwidth_bps
                          + 1e-3 * w.n_leaves))
  steps = harness.steps_for(step_s, cfg.round_target_s, cfg.min_steps, cfg.max_steps)
  return Estimate(setup_s, compile_s, each, samples, step_s, steps, runners)


def priority(workloads: Sequence[Workload], cfg: SuiteConfig) -> list[Workload]:
  """The order in which a budget is spent: the table rows the issue asks about first.

  Adam and clip+adam over mixed leaves (the default-path targets), LARS, then the other
  single leaves, then the sweeps by leaf count, so the slow-compiling many-leaf workloads come
  last.
  """
  big, mixed = human(cfg.big), cfg.mixed_leaves
  first = [f'adam_{big}', f'clip_adam_{mixed}_mixed', f'lars_wd_{big}',
           f'lars_wd_{mixed}_mixed', f'sgd_momentum_{big}', f'rmsprop_momentum_{big}',
           f'adam_{human(cfg.bigger)}']

  def key(w):
    if w.name in first:
      return (0, first.index(w.name), 0)
    return (1, w.n_leaves, w.n_params)

  return sorted(workloads, key=key)


@dataclasses.dataclass
class Plan:
  """Which workloads run (in this order) with how many rounds; which were left out and why."""
  rounds: dict[str, int]                 # name -> planned rounds, in run order
  estimates: dict[str, Estimate]
  skipped: list[dict]                    # {'name', 'reason', 'estimate_s'}

  def min_s(self, name: str) -> float:
    return self.estimates[name].total_s(min(MIN_ROUNDS, self.rounds[name]))


def plan(workloads: Sequence[Workload], estimates: dict[str, Estimate], available_s: float,
         max_rounds: int) -> Plan:
  """Greedy in the given (priority) order with ``MIN_ROUNDS`` each, then more rounds for all.

  A workload that does not fit is skipped, but later (cheaper) ones may still fit.
  """
  min_rounds = min(MIN_ROUNDS, max_rounds)
  chosen: list[str] = []
  skipped: list[dict] = []
  used = 0.0
  for w in workloads:
    need = estimates[w.name].total_s(min_rounds)
    if used + need <= available_s:
      chosen.append(w.name)
      used += need
    else:
      skipped.append({'name': w.name, 'estimate_s': round(need, 1),
                      'reason': f'budget: needs ~{need:.0f} s with {min_rounds} rounds, '
                                f'{max(0.0, available_s - used):.0f} s left in the plan'})
  rounds = {name: min_rounds for name in chosen}
  # Spend what is left one round at a time, in priority order, up to the suite's count.
  grew = True
  while grew:
    grew = False
    for name in chosen:
      extra = estimates[name].round_s
      if rounds[name] < max_rounds and used + extra <= available_s:
        rounds[name] += 1
        used += extra
        grew = True
  return Plan(rounds, dict(estimates), skipped)


def fit_rounds(planned: int, round_s: float, left_s: float, later_s: float = 0.0) -> int:
  """Rounds to run now that a round's real cost is known: the plan's, or what still fits.

  Rounds beyond ``MIN_ROUNDS`` must leave ``later_s`` for the workloads planned after this one;
  up to ``MIN_ROUNDS`` this one (more important: it runs first) may use their time. At least
  one round (a workload that got this far is reported), at most ``planned``.
  """
  if round_s <= 0:
    return planned
  rounds = math.floor((left_s - later_s) / round_s)
  if rounds < MIN_ROUNDS:
    rounds = min(MIN_ROUNDS, math.floor(left_s / round_s))
  return max(1, min(planned, rounds))

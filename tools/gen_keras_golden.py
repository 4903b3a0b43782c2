#!/usr/bin/env python3
"""Generate ``tests/data/keras_golden.json`` and ``keras_golden_more.json``: golden
optimizer trajectories recorded from the *real* tf.keras 2 legacy optimizers
(``tf_keras.optimizers.legacy.SGD/Adam/RMSprop``, and ``Adagrad/Adadelta/Adamax/Nadam/Ftrl``
in the second file) and the *real* tf-models LARS
(``official/modeling/optimization/lars.py``).

CI never installs TensorFlow; it only reads the JSON this script writes.

Usage (from anywhere; paths are relative to the repository root)::

    python3 tools/gen_keras_golden.py            # bootstrap venv, regenerate, verify
    python3 tools/gen_keras_golden.py --verify-only   # re-check the existing JSONs

Stage 1 (any Python 3.10-3.13, no third-party packages needed) creates
``.venv-golden/`` at the repository root, installs the pinned versions below
and re-executes this file with the venv's interpreter.  Stage 2 (inside the
venv) runs every case eagerly on CPU and writes the JSON, then checks the
recorded data against an independent numpy model of the documented semantics
and prints the result.

Determinism: gradients and initial values come from
``numpy.random.default_rng([NUMPY_SEED, crc32(case_name)])`` so adding or
reordering cases never changes another case's data.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

PINS = {
    "tensorflow-cpu": "2.21.0",
    "tf-keras": "2.21.0",
    # Installed with --no-deps: only the single file lars.py is used.
    "tf-models-official": "2.20.0",
}
NUMPY_SEED = 0
REPO = Path(__file__).resolve().parents[1]
DEFAULT_VENV = REPO / ".venv-golden"
DEFAULT_OUT = REPO / "tests" / "data" / "keras_golden.json"
DEFAULT_OUT_MORE = REPO / "tests" / "data" / "keras_golden_more.json"
SCRIPT_REL = "tools/gen_keras_golden.py"
STAGE_ENV = "KERAS_GOLDEN_STAGE2"


# --------------------------------------------------------------------------
# Stage 1: bootstrap the venv and re-exec.
# --------------------------------------------------------------------------
def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _installed_versions(py: Path) -> dict:
    code = (
        "import json, importlib.metadata as m\n"
        "out = {}\n"
        f"for n in {sorted(PINS)!r}:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: out[n] = None\n"
        "print(json.dumps(out))\n"
    )
    res = subprocess.run([str(py), "-c", code], capture_output=True, text=True)
    if res.returncode != 0:
        return {}
    return json.loads(res.stdout)


def bootstrap(args: argparse.Namespace) -> None:
    venv = Path(args.venv).resolve()
    py = _venv_python(venv)
    if not py.exists():
        print(f"[golden] creating venv {venv}", flush=True)
        subprocess.check_call([sys.executable, "-m", "venv", str(venv)])
    have = _installed_versions(py)
    if any(have.get(k) != v for k, v in PINS.items()):
        print(f"[golden] installing {PINS} into {venv}", flush=True)
        pip = [str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
        subprocess.check_call(
            pip + [f"tensorflow-cpu=={PINS['tensorflow-cpu']}",
                   f"tf-keras=={PINS['tf-keras']}"])
        # tf-models-official pulls a huge dependency tree; lars.py itself only
        # needs tensorflow + tf_keras, so install the wheel without deps.
        subprocess.check_call(
            pip + ["--no-deps", f"tf-models-official=={PINS['tf-models-official']}"])
        have = _installed_versions(py)
        bad = {k: (have.get(k), v) for k, v in PINS.items() if have.get(k) != v}
        if bad:
            raise SystemExit(f"[golden] version mismatch after install: {bad}")
    env = dict(os.environ)
    env[STAGE_ENV] = "1"
    env.update(_tf_env())
    argv = [str(py), str(Path(__file__).resolve())] + sys.argv[1:]
    sys.stdout.flush()
    os.execve(str(py), argv, env)


def _tf_env() -> dict:
    return {
        "TF_USE_LEGACY_KERAS": "1",     # tf.keras -> tf_keras (Keras 2)
        "CUDA_VISIBLE_DEVICES": "-1",   # CPU kernels only
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "TF_ENABLE_ONEDNN_OPTS": "0",   # plain Eigen kernels, reproducible
        "TF_DETERMINISTIC_OPS": "1",
        "PYTHONHASHSEED": "0",
    }


# --------------------------------------------------------------------------
# Case definitions (pure data; JSON-able kwargs).
# --------------------------------------------------------------------------
KERNEL = ("dense/kernel", (3, 4), "normal")
BIAS = ("dense/bias", (4,), "zeros")
SCALAR = ("dense/scale", (), "normal")
CONV = ("conv/kernel", (2, 2, 3), "normal")
EMB = ("embedding/embeddings", (6, 3), "normal")

# Per-step gradient scales.
MIXED = [8.0, 0.1, 6.0, 0.05, 10.0, 0.2]      # clipping triggers on some steps only
LARGE = [6.0, 8.0, 5.0, 10.0, 7.0, 9.0]       # clipping triggers on every step
SHRINK = [10.0, 5.0, 2.0, 1.0, 0.5, 0.2]      # amsgrad: v decays below vhat


def sched(cls: str, **config) -> dict:
    return {"schedule": cls, "config": config}


def C(name, optimizer, kwargs, variables=(KERNEL, BIAS), dtype="float32",
      steps=6, scales=None, none_at=None, sparse=(), zero_at=None, record_lr=None):
    """A case spec.

    none_at: {var_index: [steps]} -> gradient None at those steps.
    zero_at: {var_index: [steps]} -> an all-zero dense gradient at those steps.
    sparse:  var indices that receive tf.IndexedSlices gradients.
    """
    if record_lr is None:
        lr = kwargs.get("learning_rate")
        record_lr = isinstance(lr, dict) or bool(kwargs.get("decay"))
    return dict(name=name, optimizer=optimizer, kwargs=kwargs,
                variables=list(variables), dtype=dtype, steps=steps,
                scales=scales or [1.0] * steps, none_at=none_at or {},
                sparse=list(sparse), zero_at=zero_at or {}, record_lr=record_lr)


def build_cases() -> list:
    cs = []
    # ---------------- SGD ----------------
    cs += [
        C("sgd_default", "SGD", {}),
        C("sgd_plain", "SGD", {"learning_rate": 0.1}),
        C("sgd_momentum", "SGD", {"learning_rate": 0.1, "momentum": 0.9}),
        C("sgd_momentum_nesterov", "SGD",
          {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
        C("sgd_decay", "SGD", {"learning_rate": 0.1, "decay": 0.1}),
        C("sgd_momentum_decay", "SGD",
          {"learning_rate": 0.1, "momentum": 0.9, "decay": 0.5}),
        C("sgd_lr_alias", "SGD", {"learning_rate": 0.05, "lr": 0.3}),
        C("sgd_clipvalue", "SGD", {"learning_rate": 0.1, "clipvalue": 0.5},
          scales=MIXED),
        C("sgd_clipnorm", "SGD", {"learning_rate": 0.1, "clipnorm": 1.0},
          variables=(KERNEL, BIAS, SCALAR), scales=MIXED),
        C("sgd_global_clipnorm", "SGD",
          {"learning_rate": 0.1, "global_clipnorm": 1.0},
          variables=(KERNEL, BIAS, SCALAR), scales=MIXED),
        C("sgd_clipvalue_clipnorm", "SGD",
          {"learning_rate": 0.1, "clipvalue": 2.0, "clipnorm": 3.0},
          scales=LARGE),
        C("sgd_clipvalue_global_clipnorm", "SGD",
          {"learning_rate": 0.1, "clipvalue": 2.0, "global_clipnorm": 3.0},
          variables=(KERNEL, BIAS, CONV), scales=MIXED),
        C("sgd_momentum_none_grads", "SGD", {"learning_rate": 0.1, "momentum": 0.9},
          variables=(KERNEL, BIAS, CONV),
          none_at={1: [1, 3], 2: [0, 1]}),   # conv first gets a grad at step 3
        C("sgd_float64_momentum", "SGD", {"learning_rate": 0.1, "momentum": 0.9},
          dtype="float64"),
        C("sgd_float64_plain", "SGD", {"learning_rate": 0.1}, dtype="float64"),
        C("sgd_sparse", "SGD", {"learning_rate": 0.1},
          variables=(EMB, BIAS), sparse=[0]),
        C("sgd_sparse_momentum", "SGD", {"learning_rate": 0.1, "momentum": 0.9},
          variables=(EMB, BIAS), sparse=[0]),
        C("sgd_sparse_momentum_nesterov", "SGD",
          {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True},
          variables=(EMB, BIAS), sparse=[0]),
    ]
    # ---------------- schedules (via plain SGD, 8 steps) ----------------
    S = lambda n, s: C("sgd_schedule_" + n, "SGD", {"learning_rate": s}, steps=8)  # noqa: E731
    cs += [
        S("exponential", sched("ExponentialDecay", initial_learning_rate=0.1,
                               decay_steps=3, decay_rate=0.5, staircase=False)),
        S("exponential_staircase", sched("ExponentialDecay", initial_learning_rate=0.1,
                                         decay_steps=3, decay_rate=0.5, staircase=True)),
        S("piecewise_constant", sched("PiecewiseConstantDecay", boundaries=[2, 5],
                                      values=[0.1, 0.05, 0.01])),
        S("polynomial", sched("PolynomialDecay", initial_learning_rate=0.1,
                              decay_steps=4, end_learning_rate=0.01, power=2.0,
                              cycle=False)),
        S("polynomial_cycle", sched("PolynomialDecay", initial_learning_rate=0.1,
                                    decay_steps=3, end_learning_rate=0.01, power=2.0,
                                    cycle=True)),
        S("inverse_time", sched("InverseTimeDecay", initial_learning_rate=0.1,
                                decay_steps=2, decay_rate=0.5, staircase=False)),
        S("inverse_time_staircase", sched("InverseTimeDecay", initial_learning_rate=0.1,
                                          decay_steps=2, decay_rate=0.5, staircase=True)),
        S("cosine", sched("CosineDecay", initial_learning_rate=0.1, decay_steps=5)),
        S("cosine_alpha", sched("CosineDecay", initial_learning_rate=0.1,
                                decay_steps=5, alpha=0.1)),
        S("cosine_warmup", sched("CosineDecay", initial_learning_rate=0.01,
                                 decay_steps=4, alpha=0.0, warmup_target=0.1,
                                 warmup_steps=3)),
        S("cosine_restarts", sched("CosineDecayRestarts", initial_learning_rate=0.1,
                                   first_decay_steps=2, t_mul=2.0, m_mul=1.0,
                                   alpha=0.0)),
        S("cosine_restarts_tmul1", sched("CosineDecayRestarts", initial_learning_rate=0.1,
                                         first_decay_steps=3, t_mul=1.0, m_mul=0.5,
                                         alpha=0.1)),
    ]
    # ---------------- Adam ----------------
    cs += [
        C("adam_default", "Adam", {}),
        C("adam_lr", "Adam", {"learning_rate": 0.01}),
        C("adam_amsgrad", "Adam", {"learning_rate": 0.01, "amsgrad": True}),
        C("adam_custom_betas_eps", "Adam",
          {"learning_rate": 0.01, "beta_1": 0.5, "beta_2": 0.9, "epsilon": 1e-3}),
        C("adam_epsilon_zero", "Adam", {"learning_rate": 0.01, "epsilon": 0.0}),
        C("adam_schedule_exponential", "Adam",
          {"learning_rate": sched("ExponentialDecay", initial_learning_rate=0.01,
                                  decay_steps=2, decay_rate=0.5)}),
        C("adam_decay", "Adam", {"learning_rate": 0.01, "decay": 0.1}),
        C("adam_clipnorm", "Adam", {"learning_rate": 0.01, "clipnorm": 1.0},
          scales=MIXED),
        C("adam_global_clipnorm", "Adam", {"learning_rate": 0.01, "global_clipnorm": 1.0},
          variables=(KERNEL, BIAS, SCALAR), scales=MIXED),
        C("adam_float64", "Adam", {"learning_rate": 0.01}, dtype="float64"),
        C("adam_float64_amsgrad", "Adam", {"learning_rate": 0.01, "amsgrad": True},
          dtype="float64", scales=SHRINK),
        C("adam_sparse", "Adam", {"learning_rate": 0.01},
          variables=(EMB, BIAS), sparse=[0]),
        C("adam_sparse_amsgrad", "Adam", {"learning_rate": 0.01, "amsgrad": True},
          variables=(EMB, BIAS), sparse=[0], scales=SHRINK),
        C("adam_amsgrad_shrinking", "Adam", {"learning_rate": 0.01, "amsgrad": True},
          scales=SHRINK),
        C("adam_none_grads_late_var", "Adam", {"learning_rate": 0.01},
          variables=(KERNEL, BIAS, CONV), none_at={1: [1, 4], 2: [0, 1]}),
    ]
    # ---------------- RMSprop ----------------
    cs += [
        C("rmsprop_default", "RMSprop", {}),
        C("rmsprop_lr", "RMSprop", {"learning_rate": 0.01}),
        C("rmsprop_momentum", "RMSprop", {"learning_rate": 0.01, "momentum": 0.9}),
        C("rmsprop_centered", "RMSprop", {"learning_rate": 0.01, "centered": True}),
        C("rmsprop_centered_momentum", "RMSprop",
          {"learning_rate": 0.01, "centered": True, "momentum": 0.9}),
        C("rmsprop_rho_eps", "RMSprop",
          {"learning_rate": 0.01, "rho": 0.5, "epsilon": 1e-2}, scales=SHRINK),
        C("rmsprop_rho_eps_momentum", "RMSprop",
          {"learning_rate": 0.01, "rho": 0.5, "epsilon": 1e-2, "momentum": 0.5},
          scales=SHRINK),
        C("rmsprop_schedule_piecewise", "RMSprop",
          {"learning_rate": sched("PiecewiseConstantDecay", boundaries=[1, 3],
                                  values=[0.01, 0.005, 0.001])}),
        C("rmsprop_decay", "RMSprop", {"learning_rate": 0.01, "decay": 0.2}),
        C("rmsprop_clipvalue", "RMSprop", {"learning_rate": 0.01, "clipvalue": 0.5},
          scales=MIXED),
        C("rmsprop_float64", "RMSprop", {"learning_rate": 0.01}, dtype="float64"),
        C("rmsprop_float64_centered_momentum", "RMSprop",
          {"learning_rate": 0.01, "centered": True, "momentum": 0.9}, dtype="float64"),
        C("rmsprop_sparse", "RMSprop", {"learning_rate": 0.01},
          variables=(EMB, BIAS), sparse=[0]),
        C("rmsprop_sparse_momentum", "RMSprop", {"learning_rate": 0.01, "momentum": 0.9},
          variables=(EMB, BIAS), sparse=[0]),
        C("rmsprop_sparse_centered", "RMSprop", {"learning_rate": 0.01, "centered": True},
          variables=(EMB, BIAS), sparse=[0]),
        C("rmsprop_sparse_centered_momentum", "RMSprop",
          {"learning_rate": 0.01, "centered": True, "momentum": 0.9},
          variables=(EMB, BIAS), sparse=[0]),
        C("rmsprop_none_grads_late_var", "RMSprop",
          {"learning_rate": 0.01, "centered": True, "momentum": 0.9},
          variables=(KERNEL, BIAS, CONV), none_at={1: [2], 2: [0, 1]}),
    ]
    # ---------------- LARS (tf-models) ----------------
    cs += [
        C("lars_default", "LARS", {}),
        C("lars_lr", "LARS", {"learning_rate": 0.1}),
        C("lars_weight_decay_exclude_bias", "LARS",
          {"learning_rate": 0.1, "weight_decay_rate": 1e-3,
           "exclude_from_weight_decay": ["bias"]}),
        C("lars_separate_excludes", "LARS",
          {"learning_rate": 0.1, "weight_decay_rate": 1e-2,
           "exclude_from_weight_decay": ["kernel"],
           "exclude_from_layer_adaptation": ["bias"]},
          variables=(KERNEL, BIAS, SCALAR)),
        C("lars_popular", "LARS", {"learning_rate": 0.1, "classic_momentum": False}),
        C("lars_popular_weight_decay", "LARS",
          {"learning_rate": 0.1, "classic_momentum": False, "weight_decay_rate": 1e-2,
           "exclude_from_weight_decay": ["bias"]}),
        C("lars_nesterov_classic", "LARS", {"learning_rate": 0.1, "nesterov": True}),
        C("lars_nesterov_popular", "LARS",
          {"learning_rate": 0.1, "nesterov": True, "classic_momentum": False}),
        C("lars_momentum_zero", "LARS", {"learning_rate": 0.1, "momentum": 0.0}),
        C("lars_zero_bias_not_excluded", "LARS",
          {"learning_rate": 1.0, "weight_decay_rate": 1e-3},
          variables=(KERNEL, BIAS, CONV)),
        C("lars_zero_grad_step", "LARS", {"learning_rate": 0.1},
          zero_at={0: [2, 3], 1: [0]}),
        C("lars_popular_zero_grad_step", "LARS",
          {"learning_rate": 0.1, "classic_momentum": False},
          zero_at={0: [2, 3], 1: [0]}),
        C("lars_eeta", "LARS", {"learning_rate": 0.1, "eeta": 0.01}),
        C("lars_schedule_polynomial", "LARS",
          {"learning_rate": sched("PolynomialDecay", initial_learning_rate=0.1,
                                  decay_steps=4, end_learning_rate=0.01, power=1.0)}),
        C("lars_decay", "LARS", {"learning_rate": 0.1, "decay": 0.1}),
        C("lars_clipnorm", "LARS", {"learning_rate": 0.1, "clipnorm": 1.0},
          scales=MIXED),
        C("lars_lr_alias_ignored", "LARS", {"learning_rate": 0.1, "lr": 0.5}),
        C("lars_float64", "LARS",
          {"learning_rate": 0.1, "weight_decay_rate": 1e-3,
           "exclude_from_weight_decay": ["bias"]}, dtype="float64"),
    ]
    names = [c["name"] for c in cs]
    assert len(names) == len(set(names)), "duplicate case names"
    return cs


def build_more_cases() -> list:
    """tf.keras 2's other legacy optimizers (written to ``keras_golden_more.json``).

    ``verify``'s numpy model covers them too (TF's kernels: ApplyAdagradV2, ApplyAdadelta,
    ApplyAdaMax, ApplyFtrl/ApplyFtrlV2, and the legacy Python code of Nadam and of the sparse
    Adamax/Nadam paths).
    """
    SP = dict(variables=(EMB, BIAS), sparse=[0])
    NONE = dict(variables=(KERNEL, BIAS, CONV), none_at={1: [1, 4], 2: [0, 1]})
    EXP = sched("ExponentialDecay", initial_learning_rate=0.05, decay_steps=2, decay_rate=0.5)
    PW = sched("PiecewiseConstantDecay", boundaries=[1, 3], values=[0.1, 0.05, 0.01])
    cs = []
    cs += [
        C("adagrad_default", "Adagrad", {}),
        C("adagrad_lr", "Adagrad", {"learning_rate": 0.1}),
        C("adagrad_init_eps", "Adagrad",
          {"learning_rate": 0.1, "initial_accumulator_value": 0.0, "epsilon": 1e-3}),
        C("adagrad_decay", "Adagrad", {"learning_rate": 0.1, "decay": 0.2}),
        C("adagrad_schedule", "Adagrad", {"learning_rate": EXP}),
        C("adagrad_clipnorm", "Adagrad", {"learning_rate": 0.1, "clipnorm": 1.0}, scales=MIXED),
        C("adagrad_float64", "Adagrad", {"learning_rate": 0.1}, dtype="float64"),
        C("adagrad_sparse", "Adagrad", {"learning_rate": 0.1}, **SP),
        C("adagrad_none_grads", "Adagrad", {"learning_rate": 0.1}, **NONE),
    ]
    cs += [
        C("adadelta_default", "Adadelta", {}),
        C("adadelta_lr_rho", "Adadelta", {"learning_rate": 1.0, "rho": 0.9}),
        C("adadelta_eps", "Adadelta", {"learning_rate": 1.0, "epsilon": 1e-3}, scales=SHRINK),
        C("adadelta_schedule", "Adadelta", {"learning_rate": PW}),
        C("adadelta_clipvalue", "Adadelta", {"learning_rate": 1.0, "clipvalue": 0.5},
          scales=MIXED),
        C("adadelta_float64", "Adadelta", {"learning_rate": 1.0}, dtype="float64"),
        C("adadelta_sparse", "Adadelta", {"learning_rate": 1.0}, **SP),
        C("adadelta_none_grads", "Adadelta", {"learning_rate": 1.0}, **NONE),
    ]
    cs += [
        C("adamax_default", "Adamax", {}),
        C("adamax_lr", "Adamax", {"learning_rate": 0.01}),
        C("adamax_betas_eps", "Adamax",
          {"learning_rate": 0.01, "beta_1": 0.5, "beta_2": 0.9, "epsilon": 1e-3}, scales=SHRINK),
        C("adamax_decay", "Adamax", {"learning_rate": 0.01, "decay": 0.1}),
        C("adamax_schedule", "Adamax", {"learning_rate": EXP}),
        C("adamax_global_clipnorm", "Adamax", {"learning_rate": 0.01, "global_clipnorm": 1.0},
          variables=(KERNEL, BIAS, SCALAR), scales=MIXED),
        C("adamax_float64", "Adamax", {"learning_rate": 0.01}, dtype="float64"),
        C("adamax_sparse", "Adamax", {"learning_rate": 0.01}, scales=SHRINK, **SP),
        C("adamax_none_grads", "Adamax", {"learning_rate": 0.01}, **NONE),
    ]
    cs += [
        C("nadam_default", "Nadam", {}),
        C("nadam_lr", "Nadam", {"learning_rate": 0.01}),
        C("nadam_betas_eps", "Nadam",
          {"learning_rate": 0.01, "beta_1": 0.5, "beta_2": 0.9, "epsilon": 1e-3}),
        C("nadam_schedule_decay", "Nadam", {"learning_rate": 0.01, "schedule_decay": 0.05}),
        C("nadam_decay_ignored", "Nadam", {"learning_rate": 0.01, "decay": 0.5}),
        C("nadam_clipnorm", "Nadam", {"learning_rate": 0.01, "clipnorm": 1.0}, scales=MIXED),
        C("nadam_float64", "Nadam", {"learning_rate": 0.01}, dtype="float64"),
        C("nadam_sparse", "Nadam", {"learning_rate": 0.01}, **SP),
        C("nadam_none_grads", "Nadam", {"learning_rate": 0.01}, **NONE),
    ]
    cs += [
        C("ftrl_default", "Ftrl", {}),
        C("ftrl_lr", "Ftrl", {"learning_rate": 0.1}),
        C("ftrl_l1_l2", "Ftrl", {"learning_rate": 0.1, "l1_regularization_strength": 0.05,
                                 "l2_regularization_strength": 0.1}),
        C("ftrl_power", "Ftrl", {"learning_rate": 0.1, "learning_rate_power": -0.7,
                                 "initial_accumulator_value": 0.5}),
        C("ftrl_power_zero", "Ftrl", {"learning_rate": 0.1, "learning_rate_power": 0.0}),
        C("ftrl_beta", "Ftrl", {"learning_rate": 0.1, "beta": 0.5,
                                "l1_regularization_strength": 0.01}),
        C("ftrl_shrinkage", "Ftrl", {"learning_rate": 0.1,
                                     "l2_shrinkage_regularization_strength": 0.05,
                                     "l1_regularization_strength": 0.01}),
        C("ftrl_decay", "Ftrl", {"learning_rate": 0.1, "decay": 0.2}),
        C("ftrl_schedule", "Ftrl", {"learning_rate": EXP}),
        C("ftrl_clipvalue", "Ftrl", {"learning_rate": 0.1, "clipvalue": 0.5}, scales=MIXED),
        C("ftrl_float64", "Ftrl", {"learning_rate": 0.1, "l1_regularization_strength": 0.01},
          dtype="float64"),
        C("ftrl_sparse", "Ftrl", {"learning_rate": 0.1, "l1_regularization_strength": 0.01},
          **SP),
        C("ftrl_sparse_shrinkage", "Ftrl",
          {"learning_rate": 0.1, "l2_shrinkage_regularization_strength": 0.05}, **SP),
        C("ftrl_none_grads", "Ftrl", {"learning_rate": 0.1}, **NONE),
    ]
    names = [c["name"] for c in cs] + [c["name"] for c in build_cases()]
    assert len(names) == len(set(names)), "duplicate case names"
    return cs


# --------------------------------------------------------------------------
# Stage 2: record from TensorFlow.
# --------------------------------------------------------------------------
def make_inputs(case, np):
    """Initial values and per-step gradients (JSON form) for a case."""
    dt = np.dtype(case["dtype"])
    rng = np.random.default_rng([NUMPY_SEED, zlib.crc32(case["name"].encode())])
    inits = []
    for name, shape, kind in case["variables"]:
        if kind == "zeros":
            a = np.zeros(shape, dt)
        else:
            a = (0.5 * rng.standard_normal(shape)).astype(dt)
        inits.append(a)
    grads = []
    for k in range(case["steps"]):
        row = []
        for i, (name, shape, kind) in enumerate(case["variables"]):
            if k in case["none_at"].get(i, ()):
                row.append(None)
                continue
            if i in case["sparse"]:
                n = 4
                idx = rng.integers(0, shape[0], size=n)
                idx[-1] = idx[0]          # guarantee a duplicate index
                vals = (case["scales"][k] * rng.standard_normal((n,) + shape[1:])).astype(dt)
                row.append({"indices": [int(j) for j in idx], "values": vals})
                continue
            g = (case["scales"][k] * rng.standard_normal(shape)).astype(dt)
            if k in case["zero_at"].get(i, ()):
                g = np.zeros(shape, dt)
            row.append(g)
        grads.append(row)
    return inits, grads


def load_lars_class():
    import importlib.util
    import official  # namespace/package from tf-models-official (no-deps install)
    base = Path(list(official.__path__)[0])
    path = base / "modeling" / "optimization" / "lars.py"
    spec = importlib.util.spec_from_file_location("_tfm_lars", str(path))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.LARS, path


def tolist(a):
    return a.tolist()


def run_case(case, tf, tf_keras, LARS, np):
    dt = {"float32": tf.float32, "float64": tf.float64}[case["dtype"]]
    inits, grads = make_inputs(case, np)

    kwargs = {}
    for k, v in case["kwargs"].items():
        if isinstance(v, dict) and "schedule" in v:
            v = getattr(tf_keras.optimizers.schedules, v["schedule"])(**v["config"])
        kwargs[k] = v
    legacy = tf_keras.optimizers.legacy
    cls = {"SGD": legacy.SGD, "Adam": legacy.Adam, "RMSprop": legacy.RMSprop, "LARS": LARS,
           "Adagrad": legacy.Adagrad, "Adadelta": legacy.Adadelta, "Adamax": legacy.Adamax,
           "Nadam": legacy.Nadam, "Ftrl": legacy.Ftrl}[case["optimizer"]]
    opt = cls(**kwargs)

    tvars = [tf.Variable(a, name=name, dtype=dt)
             for a, (name, _, _) in zip(inits, case["variables"])]
    for v, (name, _, _) in zip(tvars, case["variables"]):
        assert v.name == name + ":0", v.name

    traj, lrs = [], []
    for k, row in enumerate(grads):
        tg = []
        for g, (name, shape, _) in zip(row, case["variables"]):
            if g is None:
                tg.append(None)
            elif isinstance(g, dict):
                tg.append(tf.IndexedSlices(
                    values=tf.constant(g["values"], dtype=dt),
                    indices=tf.constant(g["indices"], dtype=tf.int32),
                    dense_shape=tf.constant(shape, dtype=tf.int32)))
            else:
                tg.append(tf.constant(g, dtype=dt))
        if case["record_lr"]:
            lrs.append(float(opt._decayed_lr(tf.float32)))
        opt.apply_gradients(zip(tg, tvars))
        traj.append([tolist(v.numpy()) for v in tvars])

    out = {
        "name": case["name"],
        "optimizer": case["optimizer"],
        "kwargs": case["kwargs"],
        "dtype": case["dtype"],
        "variables": [{"name": name, "initial": tolist(a)}
                      for a, (name, _, _) in zip(inits, case["variables"])],
        "grads": [[None if g is None else
                   ({"indices": g["indices"], "values": tolist(g["values"])}
                    if isinstance(g, dict) else tolist(g)) for g in row]
                  for row in grads],
        "trajectory": traj,
    }
    if case["record_lr"]:
        out["lr"] = lrs
    out["weights"] = [tolist(np.asarray(w)) for w in opt.get_weights()]
    out["slot_names"] = list(opt.get_slot_names())
    out["iterations"] = int(opt.iterations.numpy())
    return out


def dump(data, path: Path) -> None:
    """One case per line: valid JSON, small, diff-friendly."""
    lines = ["{", ' "generator": ' + json.dumps(data["generator"], sort_keys=False) + ",",
             ' "cases": [']
    cases = [json.dumps(c, allow_nan=False, separators=(",", ":")) for c in data["cases"]]
    lines += ["  " + c + ("," if i < len(cases) - 1 else "") for i, c in enumerate(cases)]
    lines += [" ]", "}"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def generate(args) -> None:
    for k, v in _tf_env().items():
        os.environ.setdefault(k, v)
    import numpy as np
    import tensorflow as tf
    import tf_keras
    import importlib.metadata as md
    import platform

    tf.get_logger().setLevel("ERROR")
    tf.config.set_visible_devices([], "GPU")
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    assert tf.keras.__name__.startswith("tf_keras"), tf.keras.__name__
    LARS, lars_path = load_lars_class()
    assert issubclass(LARS, tf_keras.optimizers.legacy.Optimizer)

    for out_path, cases in ((Path(args.out), build_cases()),
                            (Path(args.out_more), build_more_cases())):
        if args.only:
            cases = [c for c in cases if any(s in c["name"] for s in args.only)]
        write_cases(cases, out_path, args, tf, tf_keras, LARS, np, md, platform, lars_path)


def write_cases(cases, out, args, tf, tf_keras, LARS, np, md, platform, lars_path):
    del lars_path
    results = []
    for case in cases:
        results.append(run_case(case, tf, tf_keras, LARS, np))
        print(f"[golden] {case['name']}: ok", flush=True)

    data = {
        "generator": {
            "script": SCRIPT_REL,
            "tensorflow": tf.__version__,
            "tf_keras": tf_keras.__version__,
            "tf_models_official": md.version("tf-models-official"),
            "numpy_seed": NUMPY_SEED,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "lars_source": "official/modeling/optimization/lars.py",
            "execution": "eager, CPU, 1 thread, TF_ENABLE_ONEDNN_OPTS=0",
            "rng": "numpy.random.default_rng([numpy_seed, zlib.crc32(case_name)])",
        },
        "cases": results,
    }
    dump(data, out)
    print(f"[golden] wrote {len(results)} cases to {out} "
          f"({out.stat().st_size / 1024:.1f} KiB)", flush=True)
    if args.graph_check:
        graph_check(cases, results, tf, tf_keras, LARS, np)


def graph_check(cases, results, tf, tf_keras, LARS, np):
    """Re-run dense cases under tf.function and report any bit difference."""
    ndiff = 0
    for case, res in zip(cases, results):
        if case["sparse"] or case["none_at"]:
            continue
        dt = {"float32": tf.float32, "float64": tf.float64}[case["dtype"]]
        inits, grads = make_inputs(case, np)
        kwargs = {k: (getattr(tf_keras.optimizers.schedules, v["schedule"])(**v["config"])
                      if isinstance(v, dict) else v) for k, v in case["kwargs"].items()}
        cls = (LARS if case["optimizer"] == "LARS"
               else getattr(tf_keras.optimizers.legacy, case["optimizer"]))
        opt = cls(**kwargs)
        tvars = [tf.Variable(a, name=n, dtype=dt) for a, (n, _, _) in zip(inits, case["variables"])]

        @tf.function
        def step(gs):
            opt.apply_gradients(zip(gs, tvars))

        worst = 0.0
        try:
            step.get_concrete_function([tf.constant(g, dtype=dt) for g in grads[0]])
        except Exception as e:  # noqa: BLE001  (report, keep going)
            msg = str(e).strip().splitlines()[-1]
            print(f"[graph-check] {case['name']}: FAILS to trace under tf.function: {msg}")
            continue
        for k, row in enumerate(grads):
            step([tf.constant(g, dtype=dt) for g in row])
            for v, ref in zip(tvars, res["trajectory"][k]):
                worst = max(worst, float(np.max(np.abs(v.numpy() - np.asarray(ref))) if v.shape.rank else abs(v.numpy() - ref)))
        if worst:
            ndiff += 1
            print(f"[graph-check] {case['name']}: tf.function differs from eager by {worst:.3g}")
    print(f"[graph-check] {ndiff} dense case(s) differ between tf.function and eager")


# --------------------------------------------------------------------------
# Verification: an independent numpy model of the documented semantics.
# --------------------------------------------------------------------------
def verify(path: Path) -> int:
    import math
    import numpy as np

    data = json.loads(path.read_text())
    gen = data["generator"]
    print(f"[verify] {path}: {len(data['cases'])} cases, generator={gen}")
    assert path.stat().st_size < 1_000_000, "golden file too large"
    names = [c["name"] for c in data["cases"]]
    assert len(set(names)) == len(names)
    failures = 0

    def f32(x):
        return np.float32(x)

    def sched_lr(spec, step):
        c = dict(spec["config"])
        s = float(step)
        kind = spec["schedule"]
        if kind == "ExponentialDecay":
            p = s / c["decay_steps"]
            if c.get("staircase"):
                p = math.floor(p)
            return c["initial_learning_rate"] * c["decay_rate"] ** p
        if kind == "PiecewiseConstantDecay":
            for b, v in zip(c["boundaries"], c["values"]):
                if s <= b:
                    return v
            return c["values"][-1]
        if kind == "PolynomialDecay":
            D = c["decay_steps"]
            end = c.get("end_learning_rate", 1e-4)
            power = c.get("power", 1.0)
            if c.get("cycle"):
                D = D * (1 if s == 0 else math.ceil(s / D))
            else:
                s = min(s, D)
            return (c["initial_learning_rate"] - end) * (1 - s / D) ** power + end
        if kind == "InverseTimeDecay":
            p = s / c["decay_steps"]
            if c.get("staircase"):
                p = math.floor(p)
            return c["initial_learning_rate"] / (1 + c["decay_rate"] * p)
        if kind == "CosineDecay":
            D, a = c["decay_steps"], c.get("alpha", 0.0)
            dec = lambda x, frm: frm * ((1 - a) * 0.5 * (1 + math.cos(math.pi * x / D)) + a)  # noqa
            if c.get("warmup_target") is None:
                return dec(min(s, D), c["initial_learning_rate"])
            W = c.get("warmup_steps", 0)
            s = min(s, D + W)
            if s < W:
                return (c["warmup_target"] - c["initial_learning_rate"]) * s / W + \
                    c["initial_learning_rate"]
            return dec(s - W, c["warmup_target"])
        if kind == "CosineDecayRestarts":
            f = s / c["first_decay_steps"]
            tm, mm, a = c.get("t_mul", 2.0), c.get("m_mul", 1.0), c.get("alpha", 0.0)
            if tm == 1.0:
                i = math.floor(f)
                f -= i
            else:
                i = math.floor(math.log(1 - f * (1 - tm)) / math.log(tm))
                f = (f - (1 - tm ** i) / (1 - tm)) / tm ** i
            return c["initial_learning_rate"] * ((1 - a) * 0.5 * mm ** i *
                                                  (1 + math.cos(math.pi * f)) + a)
        raise ValueError(kind)

    def model(case):
        """Replay a case with the semantics in keras-semantics.md."""
        D = np.dtype(case["dtype"]).type
        kw = case["kwargs"]
        opt = case["optimizer"]
        hyp = lambda x: D(f32(x))  # float hypers live in float32 variables  # noqa
        lr_kw = kw.get("learning_rate", {"SGD": 0.01, "LARS": 0.01}.get(opt, 0.001))
        if opt not in ("LARS", "Ftrl") and "lr" in kw:
            lr_kw = kw["lr"]           # legacy alias wins (ignored by LARS and Ftrl)
        decay = kw.get("decay", 0.0)
        if opt == "Nadam":
            # Nadam turns `decay` into its momentum schedule_decay (a user's `decay` is
            # overwritten); `_decayed_lr` (recorded) divides by it, the update does not.
            decay = kw.get("schedule_decay", 0.004)
        ws = [np.array(v["initial"], D) for v in case["variables"]]
        n = len(ws)
        slots = {}
        order = []                      # slot creation order: (slot_name, var index)

        initial_accumulator = D(kw.get("initial_accumulator_value", 0.1))

        def slot(name, i):
            if (name, i) not in slots:
                slots[(name, i)] = np.zeros_like(ws[i])
                if name == "accumulator":      # Adagrad, Ftrl
                    slots[(name, i)] += initial_accumulator
            return slots[(name, i)]

        extra = {}                      # optimizer weights that are not slots
        if opt == "Nadam":
            extra["momentum_cache"] = D(1)

        def create_slots(idxs):
            new = [i for i in idxs if ("__seen", i) not in slots]
            names_ = {"SGD": ["momentum"] if kw.get("momentum", 0.0) > 0 else [],
                      "Adam": ["m", "v"] + (["vhat"] if kw.get("amsgrad") else []),
                      "RMSprop": ["rms"] + (["momentum"] if kw.get("momentum", 0.0) > 0 else [])
                      + (["mg"] if kw.get("centered") else []),
                      "LARS": ["momentum"], "Adagrad": ["accumulator"],
                      "Adadelta": ["accum_grad", "accum_var"], "Adamax": ["m", "v"],
                      "Nadam": ["m", "v"], "Ftrl": ["accumulator", "linear"]}[opt]
            if opt == "Ftrl":           # both slots of one variable, then the next
                pairs = [(sn, i) for i in new for sn in names_]
            else:                       # each slot over all new variables in turn
                pairs = [(sn, i) for sn in names_ for i in new]
            for sn, i in pairs:
                slot(sn, i)
                order.append((sn, i))
            for i in new:
                slots[("__seen", i)] = True

        traj, lrs = [], []
        for step, row in enumerate(case["grads"]):
            idxs = [i for i in range(n) if row[i] is not None]
            create_slots(idxs)
            # learning rate (float32 computation for the float32 record)
            if isinstance(lr_kw, dict):
                lr32 = f32(sched_lr(lr_kw, step))
            else:
                lr32 = f32(lr_kw)
            if decay > 0:
                lr32 = lr32 / (f32(1.0) + f32(decay) * f32(step))
            lrs.append(float(lr32))
            if case.get("lr") is not None:
                lr_used = case["lr"][step]
            else:
                lr_used = float(lr32)
            if opt == "Nadam":
                lr_t = D(f32(lr_kw))          # Nadam's update reads the plain learning rate
            elif D is np.float64:
                # schedules compute in float32 (dtype of initial_learning_rate);
                # `decay` is applied in the variable dtype.
                lr_t = D(f32(sched_lr(lr_kw, step))) if isinstance(lr_kw, dict) \
                    else D(f32(lr_kw))
                if decay > 0:
                    lr_t = lr_t / (D(1) + D(decay) * D(step))
            else:
                lr_t = D(lr_used)
            # gradients
            gs = {}
            for i in idxs:
                g = row[i]
                if isinstance(g, dict):
                    gs[i] = ("sparse", np.array(g["indices"]), np.array(g["values"], D))
                else:
                    gs[i] = ("dense", None, np.array(g, D))
            vals = {i: gs[i][2] for i in idxs}
            if kw.get("clipvalue") is not None:
                c = D(kw["clipvalue"])
                vals = {i: np.clip(v, -c, c) for i, v in vals.items()}
            if kw.get("clipnorm") is not None:
                c = D(kw["clipnorm"])
                out = {}
                for i, v in vals.items():
                    nrm = np.sqrt(np.sum(v * v, dtype=D))
                    out[i] = v * c / max(nrm, c)
                vals = out
            if kw.get("global_clipnorm") is not None:
                c = D(kw["global_clipnorm"])
                N = np.sqrt(sum(np.sum(v * v, dtype=np.float64) for v in vals.values()))
                N = D(N)
                scale = c * min(D(1) / N, D(1) / c)
                vals = {i: v * scale for i, v in vals.items()}
            if opt == "Nadam":
                extra["schedule"] = nadam_schedule(kw, D, hyp, step, extra["momentum_cache"])
                extra["momentum_cache"] = extra["schedule"][2]
            for i in idxs:
                kind, ind, _ = gs[i]
                g = vals[i]
                w = ws[i]
                if kind == "sparse":
                    if opt == "SGD" and not kw.get("momentum", 0.0) > 0:
                        np.add.at(w, ind, -g * lr_t)
                        continue
                    uniq, inv = np.unique(ind, return_inverse=True)
                    gsum = np.zeros((len(uniq),) + g.shape[1:], D)
                    np.add.at(gsum, inv, g)
                    ind, g = uniq, gsum
                ws[i] = w = update(opt, kw, D, hyp, lr_t, step, i, w, g, ind, slot, case,
                                   extra)
            traj.append([x.copy() for x in ws])
        weights = ([step + 1] + [extra[k] for k in ("momentum_cache",) if k in extra]
                   + [slots[k] for k in order])
        return traj, weights, [k[0] for k in order], lrs

    def nadam_schedule(kw, D, hyp, step, cache):
        """Dozat's momentum schedule at step t = step + 1: (m_t, m_{t+1}, cache * m_t)."""
        b1 = hyp(kw.get("beta_1", 0.9))
        sd = kw.get("schedule_decay", 0.004)
        t, base = D(step + 1), D(f32(0.96))   # tf.cast(0.96, var_dtype): a float32 constant first
        m_t = b1 * (D(1) - D(0.5) * base ** (D(sd) * t))
        m_t_1 = b1 * (D(1) - D(0.5) * base ** (D(sd) * (t + D(1))))
        return m_t, m_t_1, cache * m_t

    def update(opt, kw, D, hyp, lr, step, i, w, g, ind, slot, case, extra):
        sparse = ind is not None
        rows = (lambda a: a[ind]) if sparse else (lambda a: a)

        def put(a, v):
            if sparse:
                a[ind] = v
            else:
                a[...] = v

        if opt == "SGD":
            mu = kw.get("momentum", 0.0)
            if mu > 0:
                m = slot("momentum", i)
                mom = hyp(mu)
                acc = rows(m) * mom - g * lr
                put(m, acc)
                upd = acc * mom - g * lr if kw.get("nesterov") else acc
                w = w.copy()
                put(w, rows(w) + upd)
                return w
            return w - g * lr
        if opt == "Adam":
            b1, b2 = hyp(kw.get("beta_1", 0.9)), hyp(kw.get("beta_2", 0.999))
            eps = D(kw.get("epsilon") or 1e-7)
            t = D(step + 1)
            b1p, b2p = b1 ** t, b2 ** t
            m, v = slot("m", i), slot("v", i)
            if sparse:
                m[...] = m * b1
                m[ind] += g * (D(1) - b1)
                v[...] = v * b2
                v[ind] += g * g * (D(1) - b2)
            else:
                m += (g - m) * (D(1) - b1)
                v += (g * g - v) * (D(1) - b2)
            vv = v
            if kw.get("amsgrad"):
                vh = slot("vhat", i)
                vh[...] = np.maximum(vh, v)
                vv = vh
            alpha = lr * np.sqrt(D(1) - b2p) / (D(1) - b1p)
            return w - (m * alpha) / (np.sqrt(vv) + eps)
        if opt == "RMSprop":
            rho = hyp(kw.get("rho", 0.9))
            mu = kw.get("momentum", 0.0)
            eps = D(kw.get("epsilon") or 1e-7)
            centered = kw.get("centered", False)
            rms = slot("rms", i)
            if mu > 0:
                mom = slot("momentum", i)
                ms = rows(rms)
                ms = ms + (g * g - ms) * (D(1) - rho)
                put(rms, ms)
                denom = ms
                if centered:
                    mg = slot("mg", i)
                    a = rows(mg)
                    a = a + (g - a) * (D(1) - rho)
                    put(mg, a)
                    denom = ms - a * a
                nm = rows(mom) * hyp(mu) + g * lr / np.sqrt(denom + eps)
                put(mom, nm)
                w = w.copy()
                put(w, rows(w) - nm)
                return w
            # no momentum: python path, dense decay of every row, eps outside sqrt
            rms[...] = rms * rho
            if sparse:
                rms[ind] += g * g * (D(1) - rho)
            else:
                rms += g * g * (D(1) - rho)
            denom = rows(rms)
            if centered:
                mg = slot("mg", i)
                mg[...] = mg * rho
                if sparse:
                    mg[ind] += g * (D(1) - rho)
                else:
                    mg += g * (D(1) - rho)
                denom = denom - rows(mg) ** 2
            w = w.copy()
            put(w, rows(w) - lr * g / (np.sqrt(denom) + eps))
            return w
        if opt == "LARS":
            import re
            name = case["variables"][i]["name"] + ":0"
            mu = D(kw.get("momentum", 0.9))
            wd = kw.get("weight_decay_rate", 0.0)
            eeta = D(kw.get("eeta", 0.001))
            ex_wd = kw.get("exclude_from_weight_decay")
            ex_la = kw.get("exclude_from_layer_adaptation") or ex_wd
            use_wd = bool(wd) and not any(re.search(r, name) for r in (ex_wd or []))
            adapt = not any(re.search(r, name) for r in (ex_la or []))
            if use_wd:
                g = g + D(wd) * w
            v = slot("momentum", i)

            def tr(x, y):
                nx, ny = np.sqrt(np.sum(x * x)), np.sqrt(np.sum(y * y))
                return (eeta * nx / ny if ny > 0 else D(1)) if nx > 0 else D(1)

            if kw.get("classic_momentum", True):
                s = lr * (tr(w, g) if adapt else D(1))
                nv = mu * v + s * g
                upd = mu * nv + s * g if kw.get("nesterov") else nv
                v[...] = nv
                return w - upd
            nv = mu * v + g
            upd = mu * nv + g if kw.get("nesterov") else nv
            s = (tr(w, upd) if adapt else D(1)) * lr
            v[...] = nv
            return w - s * upd
        eps = D(kw.get("epsilon") or 1e-7)
        w = w.copy()
        if opt == "Adagrad":            # ApplyAdagradV2 (sparse: the same on the rows)
            acc = slot("accumulator", i)
            a = rows(acc) + g * g
            put(acc, a)
            put(w, rows(w) - lr * g / (np.sqrt(a) + eps))
            return w
        if opt == "Adadelta":           # ApplyAdadelta
            rho = hyp(kw.get("rho", 0.95))
            ag, av = slot("accum_grad", i), slot("accum_var", i)
            a = rows(ag) * rho + g * g * (D(1) - rho)
            upd = np.sqrt(rows(av) + eps) / np.sqrt(a + eps) * g
            put(ag, a)
            put(av, rows(av) * rho + upd * upd * (D(1) - rho))
            put(w, rows(w) - upd * lr)
            return w
        if opt == "Adamax":             # ApplyAdaMax; sparse: the python rows path
            b1, b2 = hyp(kw.get("beta_1", 0.9)), hyp(kw.get("beta_2", 0.999))
            m, v = slot("m", i), slot("v", i)
            mm = rows(m) + (g - rows(m)) * (D(1) - b1) if not sparse else \
                rows(m) * b1 + g * (D(1) - b1)
            vv = np.maximum(rows(v) * b2, np.abs(g))
            put(m, mm)
            put(v, vv)
            put(w, rows(w) - lr / (D(1) - b1 ** D(step + 1)) * (mm / (vv + eps)))
            return w
        if opt == "Nadam":              # the legacy python update (dense decay when sparse)
            b1, b2 = hyp(kw.get("beta_1", 0.9)), hyp(kw.get("beta_2", 0.999))
            m_t, m_t_1, m_new = extra["schedule"]
            m_next = m_new * m_t_1
            m, v = slot("m", i), slot("v", i)
            m[...] = m * b1
            v[...] = v * b2
            if sparse:
                m[ind] += g * (D(1) - b1)
                v[ind] += g * g * (D(1) - b2)
            else:
                m += g * (D(1) - b1)
                v += g * g * (D(1) - b2)
            m_bar = (D(1) - m_t) * (g / (D(1) - m_new)) + m_t_1 * (rows(m) / (D(1) - m_next))
            v_prime = rows(v) / (D(1) - b2 ** D(step + 1))
            put(w, rows(w) - lr * m_bar / (np.sqrt(v_prime) + eps))
            return w
        if opt == "Ftrl":               # ApplyFtrl / ApplyFtrlV2 (l2 shrinkage)
            power = hyp(kw.get("learning_rate_power", -0.5))
            l1 = hyp(kw.get("l1_regularization_strength", 0.0))
            l2 = hyp(kw.get("l2_regularization_strength", 0.0)) + \
                hyp(kw.get("beta", 0.0)) / (D(2) * lr)
            shrink = D(kw.get("l2_shrinkage_regularization_strength", 0.0))
            acc, lin = slot("accumulator", i), slot("linear", i)
            n, z, x = rows(acc), rows(lin), rows(w)
            root = np.sqrt if power == D(-0.5) else (lambda a: a ** -power)
            n_new = n + g * g
            g_shrunk = g + D(2) * shrink * x if shrink > 0 else g
            z = z + (g_shrunk - (root(n_new) - root(n)) / lr * x)
            quadratic = root(n_new) / lr + D(2) * l2
            x_new = np.where(np.abs(z) > l1, (l1 * np.sign(z) - z) / quadratic, D(0))
            put(acc, n_new)
            put(lin, z)
            put(w, x_new.astype(D))
            return w
        raise ValueError(opt)

    for case in data["cases"]:
        D = np.dtype(case["dtype"])
        tol = 2e-5 if D == np.float32 else 1e-12
        traj, weights, slot_order, lrs = model(case)
        worst = 0.0
        for k, step_vals in enumerate(case["trajectory"]):
            for got, ref in zip(step_vals, traj[k]):
                got = np.asarray(got, np.float64)
                ref = ref.astype(np.float64)
                err = np.max(np.abs(got - ref) / (np.abs(ref) + 1e-3), initial=0.0)
                worst = max(worst, float(err))
        msgs = []
        if worst > tol:
            msgs.append(f"trajectory rel-err {worst:.3g} > {tol}")
        if case["iterations"] != len(case["grads"]):
            msgs.append(f"iterations {case['iterations']}")
        if case["weights"][0] != case["iterations"]:
            msgs.append("weights[0] != iterations")
        if len(case["weights"]) != len(weights):
            msgs.append(f"{len(case['weights'])} weights, model expects {len(weights)}")
        else:
            for got, ref in zip(case["weights"][1:], weights[1:]):
                e = np.max(np.abs(np.asarray(got) - ref) / (np.abs(ref) + 1e-3), initial=0.0)
                if e > tol * 10:
                    msgs.append(f"slot rel-err {e:.3g}")
                    break
        if sorted(set(slot_order)) != sorted(case["slot_names"]):
            msgs.append(f"slot names {case['slot_names']} vs model {sorted(set(slot_order))}")
        if "lr" in case:
            e = max(abs(a - b) / abs(b) if b else abs(a) for a, b in zip(case["lr"], lrs))
            if e > 1e-6:
                msgs.append(f"lr rel-err {e:.3g}: tf={case['lr']} model={lrs}")
        status = "OK " if not msgs else "BAD"
        failures += bool(msgs)
        print(f"[verify] {status} {case['name']:<36} max rel-err {worst:.2e}"
              + ("" if not msgs else "  <- " + "; ".join(msgs)))

    # A few exact spot checks (keras_golden.json).
    by = {c["name"]: c for c in data["cases"]}
    if "sgd_plain" not in by:
        print(f"[verify] {failures} case(s) disagree with the numpy model")
        return failures
    c = by["sgd_plain"]
    for j, v in enumerate(c["variables"]):
        w0 = np.array(v["initial"], np.float32)
        g0 = np.array(c["grads"][0][j], np.float32)
        exact = w0 - g0 * np.float32(0.1)
        same = np.array_equal(np.array(c["trajectory"][0][j], np.float32), exact)
        print(f"[verify] sgd_plain step0 {v['name']}: trajectory == init - lr*grad "
              f"exactly in float32: {same}")
        failures += not same
    c = by["sgd_lr_alias"]
    print(f"[verify] sgd_lr_alias: lr used = "
          f"{(np.float32(c['variables'][0]['initial'][0][0]) - np.float32(c['trajectory'][0][0][0][0])) / np.float32(c['grads'][0][0][0][0]):.6f}")
    print(f"[verify] {failures} case(s) disagree with the numpy model")
    return failures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--out-more", default=str(DEFAULT_OUT_MORE),
                    help="the Adagrad/Adadelta/Adamax/Nadam/Ftrl cases")
    ap.add_argument("--venv", default=str(DEFAULT_VENV))
    ap.add_argument("--no-bootstrap", action="store_true",
                    help="run with the current interpreter (TF already installed)")
    ap.add_argument("--verify-only", action="store_true",
                    help="only check the existing JSONs against the numpy model")
    ap.add_argument("--graph-check", action="store_true",
                    help="also re-run dense cases under tf.function and compare")
    ap.add_argument("--only", nargs="*", help="substring filter on case names (debug)")
    args = ap.parse_args()

    if args.verify_only:
        try:
            import numpy  # noqa: F401
        except ImportError:
            if os.environ.get(STAGE_ENV) != "1" and not args.no_bootstrap:
                bootstrap(args)
        sys.exit(1 if verify(Path(args.out)) + verify(Path(args.out_more)) else 0)
    if os.environ.get(STAGE_ENV) != "1" and not args.no_bootstrap:
        bootstrap(args)       # does not return
    generate(args)
    sys.exit(1 if verify(Path(args.out)) + verify(Path(args.out_more)) else 0)


if __name__ == "__main__":
    main()

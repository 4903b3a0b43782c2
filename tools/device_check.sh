#!/usr/bin/env bash
# The checks that need a GPU, as one call on a lent device machine (see DEVELOPERS.md):
#   versions; the optax_like.keras overhead table on the GPU and on the same host's CPUs
#   (16 cores, uncontended); the optimizer and Keras test files on the GPU.
# Run from the repository root. Optional wheels in .whl/ (e.g. optax==0.2.8, the oracle the
# differential tests expect) are installed first. Results go to $OUT (or ./device_out).
set -u
OUT=${OUT:-device_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
nvidia-smi -L
python3 -c "import jax, optax, chex; print('jax', jax.__version__, jax.devices(), 'optax', optax.__version__)"
bench() {  # $1: file name, then arguments
  local name=$1; shift
  timeout 150 python3 -m benchmarks.keras_overhead --rounds 20 --calls 100 --min-calls 20 --no-tf "$@" \
    > "$OUT/$name.md" 2>&1
  tail -12 "$OUT/$name.md"
}
bench overhead_gpu_adam
bench overhead_gpu_sgd --optimizer sgd
JAX_PLATFORMS=cpu bench overhead_cpu16_adam
JAX_PLATFORMS=cpu bench overhead_cpu16_sgd --optimizer sgd
# GPU numerics: the Keras layer (golden tf.keras trajectories), fused vs plain, optax oracles.
XLA_PYTHON_CLIENT_MEM_FRACTION=0.08 timeout "${TEST_TIMEOUT:-300}" python3 -m pytest -q -n 8 \
  -p no:cacheprovider -rf tests/test_keras_*.py tests/test_fused.py tests/test_differential.py \
  tests/test_alias.py tests/test_no_silent_wrong_answers.py tests/test_adaptive.py \
  > "$OUT/tests_gpu.log" 2>&1
echo "pytest exit: $?"
grep -E "^(FAILED|ERROR)|passed|failed" "$OUT/tests_gpu.log" | tail -40

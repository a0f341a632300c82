#!/usr/bin/env bash
# The prepared accelerator check (benchmarks/accelerator_check.py), under 10 minutes on one GPU:
# attention parity by path, encoder and train-step throughput, compile time and memory.
#
#   bash benchmarks/accelerator_check.sh [OUT.json [accelerator_check.py options]]
#
# Runs with the python3 on PATH, which needs jax (with its GPU or TPU plugin), flax, optax and
# numpy. A machine without the other runtime dependencies it needs (ml_collections, ftfy,
# wcwidth) can be given their wheels in .whl/ (and a flax wheel in .whl/extra/, used only if the
# installed flax cannot build the model): they are installed into /tmp/alt_jax_site first.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-benchmarks/results/accelerator_check.json}"
shift $(($# > 0 ? 1 : 0))
site=/tmp/alt_jax_site
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$site" .whl/*.whl
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}"
probe() {
  python3 -c "from flax import nnx; import alt_jax.train.steps; from alt_jax.models.clip import CLIP, get_preset; CLIP(get_preset('tiny'), rngs=nnx.Rngs(0))"
}
if ! probe 2>/dev/null; then
  if compgen -G ".whl/extra/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target "$site" .whl/extra/*.whl
  fi
  probe  # says what is missing
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || true
export PYTHONUNBUFFERED=1
python3 benchmarks/accelerator_check.py --out="$out" "$@"

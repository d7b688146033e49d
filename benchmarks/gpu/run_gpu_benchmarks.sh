#!/usr/bin/env bash
# Issue 11's GPU figures on a bare GPU machine, from the repository root (see benchmarks/gpu/gpu_benchmarks.py).
#
#   bash benchmarks/gpu/run_gpu_benchmarks.sh                       # on the GPU machine: figures into $OUT
#   PYTHON=.venv/bin/python bash benchmarks/gpu/run_gpu_benchmarks.sh --device cpu --small   # a check on a CPU
#
# SCRIPT picks another benchmark that takes --out (issue 26's fine-tuning throughput):
#
#   SCRIPT=benchmarks/bench_training.py bash benchmarks/gpu/run_gpu_benchmarks.sh --device cuda
#
# Wheels in .whl/ (open_clip_torch, ftfy, wcwidth: what the GPU image lacks) are installed into a private folder;
# this checkout is registered as the c2vbench distribution there, so nothing is built or downloaded.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
OUT=${OUT:-$PWD/gpu-benchmark-out}
SITE=${SITE:-/tmp/c2vbench-gpu-site}
mkdir -p "$OUT" "$SITE"
if compgen -G ".whl/*.whl" > /dev/null && ! "$PYTHON" -c "import open_clip" 2>/dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl
fi
export PYTHONPATH="$SITE:$PWD:$PWD/plugins${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
"$PYTHON" benchmarks/gpu/register_checkout.py "$SITE"
"$PYTHON" -m pip list 2>/dev/null | grep -iE "^(torch|torchvision|timm|open.clip.torch|numpy|pillow) " || true
SCRIPT=${SCRIPT:-benchmarks/gpu/gpu_benchmarks.py}
"$PYTHON" "$SCRIPT" --out "$OUT" "$@" 2>&1 | tee "$OUT/$(basename "$SCRIPT" .py).log"

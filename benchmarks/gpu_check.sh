#!/usr/bin/env bash
# The GPU check, one command (see benchmarks/gpu_check.py for what it measures):
#   benchmarks/gpu_check.sh [--json FILE] [--batch-size N]   on a CUDA machine; under 5 minutes on one H200
#   benchmarks/gpu_check.sh --cpu-smoke                      the same steps on CPU, on a handful of documents
# Without CUDA it says so and exits 0. Exit status 1: nDCG@10 of the two paths differ by more than 0.005,
# or the check took more than 5 minutes. Reads ../shared (CACM, CAsT 2019, SPLADE-tiny) like the benchmarks.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-$repo/.venv/bin/python}"
if [ ! -x "$python" ]; then
    echo "gpu_check: $python is missing: create the virtualenv ($repo/.venv, see README) or set PYTHON" >&2
    exit 2
fi
exec "$python" "$repo/benchmarks/gpu_check.py" "$@"

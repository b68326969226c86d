#!/usr/bin/env bash
# The benchmarks on a CUDA machine: XLS-R 300M shape (random init: speed does not depend on the weights),
# bf16, ours against the reference recipe in the same run. Writes benchmarks/results/*_gpu.json and
# summary_gpu.md; commit them with the CPU results.
#
#   bash benchmarks/gpu.sh                 # uses .venv/bin/python if present, else python3
#   PYTHON=/path/to/python bash benchmarks/gpu.sh
#
# Needs a CUDA build of torch and the project installed (pip install -e . plus requirements-nodeps.txt);
# `make setup` installs the CPU build, so on a GPU machine install torch for its CUDA first.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || command -v python3 )}
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else "torch sees no CUDA GPU: install a CUDA build of torch")'
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONUNBUFFERED=1
exec "$PYTHON" benchmarks/run_all.py --device cuda

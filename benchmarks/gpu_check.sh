#!/usr/bin/env bash
# GPU check, one prepared script for a machine with a CUDA GPU (under 8 minutes):
#   1. the fake-CUDA tests, then the same separator cores for real on the GPU;
#   2. benchmarks/gpu_check.py: mixtures/s (batches 1, 16, 64 of 10-s mixtures, N = 2, 3) for
#      AuxIVA, ILRMA, FastMVAE2, CPU/GPU agreement, and training steps/s of the three networks.
# Usage: bash benchmarks/gpu_check.sh [PYTHON]   (default .venv/bin/python, else python3)
set -euo pipefail
cd "$(dirname "$0")/.."
py=${1:-$( [[ -x .venv/bin/python ]] && echo .venv/bin/python || echo python3 )}
"$py" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu_check: no CUDA GPU visible')"
timeout 180 "$py" -m pytest -q -p no:cacheprovider tests/separation/test_fake_cuda.py
timeout 360 "$py" benchmarks/gpu_check.py --device cuda --batches 1 16 64

#!/usr/bin/env bash
# The GPU latency table and the peer comparison in one command (about 10 minutes on one GPU):
#
#   bash benchmarks/gpu.sh                              # CUDA: writes benchmarks/results/gpu/
#   bash benchmarks/gpu.sh --device cpu --dry-run       # the same steps at toy sizes (what the test runs)
#
# Steps (each a command of this repository, CUDA events for timing, bf16 autocast where the GPU
# supports it, else fp16, channels-last):
#   1. segzoo's default recipes through the fast path at 512x512 and 1024x2048, batch 1 and 4;
#   2. the same with torch.compile (mode "max-autotune": autotuned kernels and CUDA graphs;
#      the compile time is its own column);
#   3. segzoo against torchvision (and smp when installed) on the same networks.
# --dry-run: the default recipes replaced by fcn_r50 on the tiny backbone at
# 64x64, one iteration, the compiled run printed instead of run (inductor takes minutes on a CPU).
set -euo pipefail

DEVICE=cuda
DRY=0
OUT=benchmarks/results/gpu
PYTHON=${PYTHON:-python}
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE=$2; shift 2 ;;
    --dry-run) DRY=1; shift ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "gpu.sh: unknown option $1 (use --device DEV, --dry-run, --out DIR)" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.."
mkdir -p "$OUT"

if [ "$DRY" = 1 ]; then
  MODELS=(fcn_r50)
  RUN_ARGS=(--size 64x64 --batch 1 --iters 1 --warmup 0 --set backbone=tiny --gemm-size 128)
  PEER_ARGS=(--only fcn_r50 --size 64 --iters 1 --warmup 0)
else
  if [ "$DEVICE" != cpu ]; then
    "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu.sh: no CUDA device; use --device cpu --dry-run to check the script')"
  fi
  MODELS=()
  RUN_ARGS=(--size 512x512,1024x2048 --batch 1,4 --iters 20 --warmup 5 --gemm-size 8192)
  PEER_ARGS=(--iters 20 --warmup 5)
fi

run() { echo "+ $*"; "$@"; }

run "$PYTHON" benchmarks/run.py "${MODELS[@]}" --device "$DEVICE" --precision auto "${RUN_ARGS[@]}" \
  --name latency --out "$OUT" --no-progress
COMPILED=("$PYTHON" benchmarks/run.py "${MODELS[@]}" --device "$DEVICE" --precision auto --compile "${RUN_ARGS[@]}" \
  --name latency_compiled --out "$OUT" --no-progress)
if [ "$DRY" = 1 ]; then
  echo "+ (dry run, not run) ${COMPILED[*]}"
else
  run "${COMPILED[@]}"
fi
run "$PYTHON" benchmarks/compare_peers.py --device "$DEVICE" "${PEER_ARGS[@]}" --out "$OUT"
echo "gpu.sh: tables in $OUT (latency.md, latency_compiled.md, compare_peers.md)"

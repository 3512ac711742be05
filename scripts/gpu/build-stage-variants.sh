#!/bin/bash
# Builds scripts/gpu/stage_variants.cu (the stage kernels' harness) for sm_90a into $1 (default .device/stage_variants
# of the main checkout's pack folder): the working tree's kernels, the same kernels at base revision $BASE (default
# main) as namespace moe_old, and the working tree's kernels with the tuning knobs in $ALT_FLAGS as namespace moe_alt.
#   scripts/gpu/build-stage-variants.sh OUT_BINARY
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUTBIN=${1:?output binary path}
BASE=${BASE:-main}
ALT_FLAGS=${ALT_FLAGS:-"-DMOE_QUANT_GROUPS_PER_HALF=2 -DMOE_ACT_VECS_PER_THREAD=1 -DMOE_GATHER_VECS=2"}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
FILES="quantize.cu activation.cu permute.cu unpermute.cu"
mkdir -p "$W/old"
for f in $FILES common.cuh ops.h errors.h; do git -C "$ROOT" show "$BASE:kernels/native/$f" > "$W/old/$f"; done
sed 's/^#pragma once//' "$ROOT/kernels/native/ops.h" > "$W/ops_again.h"
sed 's/^#pragma once//' "$W/old/ops.h" > "$W/ops_old.h"
NVCC="nvcc -O3 -std=c++17 -lineinfo -gencode=arch=compute_90a,code=sm_90a"
pids=()
for f in $FILES; do
  $NVCC -Dmoe=moe_old -c "$W/old/$f" -o "$W/old_${f%.cu}.o" & pids+=($!)
  $NVCC -c "$ROOT/kernels/native/$f" -o "$W/new_${f%.cu}.o" & pids+=($!)
  for p in "${pids[@]}"; do wait "$p"; done; pids=()
  $NVCC -Dmoe=moe_alt $ALT_FLAGS -c "$ROOT/kernels/native/$f" -o "$W/alt_${f%.cu}.o"
done
$NVCC -I"$W" -o "$OUTBIN" "$ROOT/scripts/gpu/stage_variants.cu" "$W"/*.o
echo "built $OUTBIN (base $BASE; alt: $ALT_FLAGS)"

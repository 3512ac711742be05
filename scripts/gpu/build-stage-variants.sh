#!/bin/bash
# Builds scripts/gpu/stage_variants.cu (the stage kernels' harness) for sm_90a into $1: the working tree's kernels
# ("new"), the same kernels at base revision $BASE (default main) as namespace moe_old ("old"), and the working
# tree's kernels with the tuning knobs in $ALT_FLAGS, $ALT2_FLAGS and $ALT3_FLAGS as namespaces moe_alt, moe_alt2
# and moe_alt3 ("alt", "alt2", "alt3").
#   scripts/gpu/build-stage-variants.sh OUT_BINARY
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUTBIN=${1:?output binary path}
BASE=${BASE:-main}
ALT_FLAGS=${ALT_FLAGS:-"-DMOE_QUANT_GROUPS_PER_HALF=2 -DMOE_GATHER_MAX_VECS=4"}
ALT2_FLAGS=${ALT2_FLAGS:-"-DMOE_QUANT_GROUPS_PER_HALF=8 -DMOE_ACT_VECS_PER_THREAD=4 -DMOE_GATHER_MAX_VECS=2"}
ALT3_FLAGS=${ALT3_FLAGS:-"-DMOE_ACT_VECS_PER_THREAD=1"}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
FILES="quantize.cu activation.cu permute.cu unpermute.cu"
mkdir -p "$W/old"
for f in $FILES common.cuh ops.h errors.h; do git -C "$ROOT" show "$BASE:kernels/native/$f" > "$W/old/$f"; done
sed 's/^#pragma once//' "$ROOT/kernels/native/ops.h" > "$W/ops_again.h"
sed 's/^#pragma once//' "$W/old/ops.h" > "$W/ops_old.h"
NVCC="nvcc -O3 -std=c++17 -lineinfo -gencode=arch=compute_90a,code=sm_90a"
for f in $FILES; do
  $NVCC -Dmoe=moe_old -c "$W/old/$f" -o "$W/old_${f%.cu}.o" &
  $NVCC -c "$ROOT/kernels/native/$f" -o "$W/new_${f%.cu}.o" &
  wait
  # shellcheck disable=SC2086
  $NVCC -Dmoe=moe_alt $ALT_FLAGS -c "$ROOT/kernels/native/$f" -o "$W/alt_${f%.cu}.o" &
  # shellcheck disable=SC2086
  $NVCC -Dmoe=moe_alt2 $ALT2_FLAGS -c "$ROOT/kernels/native/$f" -o "$W/alt2_${f%.cu}.o" &
  wait
  # shellcheck disable=SC2086
  $NVCC -Dmoe=moe_alt3 $ALT3_FLAGS -c "$ROOT/kernels/native/$f" -o "$W/alt3_${f%.cu}.o"
done
$NVCC -I"$W" -o "$OUTBIN" "$ROOT/scripts/gpu/stage_variants.cu" "$W"/*.o
echo "built $OUTBIN (base $BASE; alt: $ALT_FLAGS; alt2: $ALT2_FLAGS; alt3: $ALT3_FLAGS)"

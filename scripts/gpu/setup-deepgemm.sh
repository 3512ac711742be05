# Source on the GPU machine: builds DeepGEMM (the benchmark's peer) from the source tarball a call carried, unless a
# build carried back from an earlier call is there, and exports what scripts/bench_gpu_deepgemm.py needs.
#   . scripts/gpu/setup-deepgemm.sh DIR      DIR holds deepgemm-src.tar.xz (and optionally deepgemm-built.tar.xz)
# deepgemm-src.tar.xz: DeepGEMM at the commit whose deep_gemm/__init__.py says 2.6.1, with third-party/cutlass/include
# and third-party/fmt/include at the commits its .gitmodules pins (made by scripts/gpu/pack-device.sh; never committed).
# Recipe from ../shared/DEVICE.md: the system g++, DG_USE_LOCAL_VERSION=0, cute/cutlass linked into deep_gemm/include
# (its JIT compiles against that folder), a writable DG_JIT_CACHE_DIR.
DGSRC="$1"
DGROOT=/tmp/deepgemm
export CUDA_HOME="${CUDA_HOME:-/usr/local/cuda}" DG_JIT_CACHE_DIR=/tmp/deepgemm-jit MOE_DEEPGEMM_DIR="$DGROOT/DeepGEMM"
mkdir -p "$DGROOT" "$DG_JIT_CACHE_DIR"
if [ ! -d "$DGROOT/DeepGEMM" ]; then
  tar xJf "$DGSRC/deepgemm-src.tar.xz" -C "$DGROOT"
  if [ -f "$DGSRC/deepgemm-built.tar" ]; then
    tar xf "$DGSRC/deepgemm-built.tar" -C "$DGROOT"   # deep_gemm/_C*.so and the JIT cache of an earlier call
    [ -d "$DGROOT/jit" ] && cp -r "$DGROOT/jit/." "$DG_JIT_CACHE_DIR/"
  fi
  ( cd "$DGROOT/DeepGEMM" &&
    ln -sfn ../../third-party/cutlass/include/cute deep_gemm/include/cute &&
    ln -sfn ../../third-party/cutlass/include/cutlass deep_gemm/include/cutlass &&
    if ! ls deep_gemm/_C*.so >/dev/null 2>&1; then
      t0=$(date +%s)
      CXX=/usr/bin/g++ CC=/usr/bin/gcc DG_USE_LOCAL_VERSION=0 MAX_JOBS=16 python3 setup.py build_ext --inplace > "$DGROOT/build.log" 2>&1 &&
        echo "DeepGEMM built in $(( $(date +%s) - t0 )) s" || { echo "DeepGEMM build failed:"; tail -20 "$DGROOT/build.log"; }
    else
      echo "DeepGEMM: using the carried build"
    fi )
fi

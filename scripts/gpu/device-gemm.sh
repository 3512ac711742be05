#!/bin/bash
# The GPU-machine half of scripts/gpu/pack-device.sh: run from the packed folder (cd .device/gemm). Steps, chosen
# with STEPS="..." (default: all but ncu), each bounded by a timeout so that a hang costs minutes, not the call:
#   check   the harness's correctness sweep of every tile configuration (contiguous and masked layouts)
#   time    the harness's timings on the five shapes and a masked one (TIME_ONLY="192_2 …" picks configurations)
#   tests   npm run test:gpu (node scripts/run-tests.mjs .gpu.test.ts), while DeepGEMM builds
#   bench   npm run bench:gpu (ours, DeepGEMM, torch in one run; writes BENCHMARKS.md here and $OUT/gpu-section.md)
#   masked  DeepGEMM's masked GEMM on the harness's masked shape
#   ncu     Nsight Compute on the DeepSeek-V3 GEMM1 shape: our kernel and DeepGEMM's
#   sass    instruction counts of our kernel's SASS
#   inputs  scripts/bench-inputs.ts --gpu: a DeepSeek-V3 EP8 layer file through run --backend cuda, against reading it
#   stages  the stage kernels' harness (.device/stage_variants, scripts/gpu/build-stage-variants.sh): new, base and
#           alternative builds byte-compared and timed on the bench's layer shapes
# DeepGEMM is built in the background from the start (about 90 s on 16 cores).
set -u
cd "$(dirname "$0")/../.."
O=${OUT:-/tmp/out}
mkdir -p "$O"
STEPS=${STEPS:-"check time tests bench masked sass"}
exec > >(tee -a "$O/run.log") 2>&1
step() { echo; echo "=== $* ($(date +%T))"; }
has() { [[ " $STEPS " == *" $1 "* ]]; }
D=$PWD/.device
export PYTHONUNBUFFERED=1
[ -x "$D/node" ] || { xz -dc "$D/node.xz" > "$D/node" && chmod +x "$D/node"; }
export PATH="$D:$PATH"
[ -d node_modules/tsx ] || tar xJf "$D/nm.tar.xz"
[ -d "$D/golden" ] || { mkdir -p "$D/golden" && tar xJf "$D/golden.tar.xz" -C "$D/golden"; }
export MOE_GOLDEN_DIR="$D/golden" ESBUILD_BINARY_PATH="$PWD/node_modules/esbuild/bin/esbuild"
export CUDA_HOME=/usr/local/cuda DG_JIT_CACHE_DIR=/tmp/deepgemm-jit MOE_DEEPGEMM_DIR=/tmp/deepgemm/DeepGEMM
step "machine"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv
node --version; python3 -c 'import torch; print("torch", torch.__version__)'
# DeepGEMM is only the peer of the timing steps: steps that only test skip its build
if has bench || has masked || has ncu; then ( . scripts/gpu/setup-deepgemm.sh "$D" > "$O/dgbuild.log" 2>&1 ) & DGPID=$!; else DGPID=; fi

T0=$(date +%s)
left() { echo $(( ${BUDGET_S:-560} - ($(date +%s) - T0) )); }
check_all() {  # sets PASS to the configurations whose check passes
  PASS=""
  for cfg in "128 1" "192 1" "128 2" "192 2"; do
    timeout 40 "$D/gemm_variants" check $cfg; rc=$?
    echo "config $cfg: exit $rc"
    [ $rc -eq 0 ] && PASS="$PASS${PASS:+,}$cfg"
  done
  echo "configurations that passed: ${PASS:-none}"
}
if has stages; then
  step "stages"
  if [ -x "$D/stage_variants" ]; then timeout ${STAGES_TIMEOUT:-150} "$D/stage_variants" 2>&1 | tee "$O/stages.txt"; echo "exit ${PIPESTATUS[0]}"
  else echo "no $D/stage_variants (build it with scripts/gpu/build-stage-variants.sh)"; fi
fi
if has check; then
  step "check (each configuration alone: a hang costs one timeout)"
  check_all
  if [ -z "$PASS" ]; then export MOE_GEMM=wgmma; echo "!! no configuration passed: tests and bench use the previous kernel (MOE_GEMM=wgmma)"
  elif [ "$PASS" != "128 1,192 1,128 2,192 2" ]; then
    first=${PASS%%,*}; export MOE_GEMM_BN=${first% *} MOE_GEMM_MC=${first#* }
    echo "!! not every configuration passed: tests and bench forced to bn $MOE_GEMM_BN mc $MOE_GEMM_MC"
  fi
fi
if has time; then
  step "time"
  for cfg in "128 1" "192 1" "128 2" "192 2"; do
    [[ " ${TIME_ONLY:-128_1 192_1 128_2 192_2} " == *" ${cfg/ /_} "* ]] || continue
    if [ -z "${PASS+x}" ] || [[ ",$PASS," == *",$cfg,"* ]]; then timeout 60 "$D/gemm_variants" time $cfg; echo "exit $?"; fi
  done
fi
if has tests; then
  step "tests"
  timeout ${TESTS_TIMEOUT_S:-200} node scripts/run-tests.mjs .gpu.test.ts > "$O/test-gpu.log" 2>&1; echo "exit $?"
  grep -E "^# (tests|pass|fail|skipped)|^not ok|e2e_small|rel mm1|stage-isolated|^# parity" "$O/test-gpu.log" | head -40
fi
[ -n "$DGPID" ] && { step "wait for DeepGEMM"; wait $DGPID; tail -3 "$O/dgbuild.log"; }
if has bench; then step "bench"; timeout $(( $(left) > 60 ? 300 : 60 )) node --import tsx scripts/bench-gpu.ts; echo "exit $?"; cp BENCHMARKS.md "$O/BENCHMARKS.md"; fi
if has inputs; then step "inputs (issue 11: a DeepSeek-V3 EP8 layer file through run --backend cuda)"; mkdir -p "$O/prof"; MOE_BENCH_PROFILE_DIR="$O/prof" timeout ${INPUTS_TIMEOUT_S:-240} node --import tsx scripts/bench-inputs.ts --gpu ${INPUTS_RUNS:-3} 2>&1 | grep -v "^…" | tail -40; echo "exit ${PIPESTATUS[0]}"; cp BENCHMARKS.md "$O/BENCHMARKS.md"; fi
if has masked; then
  step "DeepGEMM: its configurations on the five shapes, and its masked GEMM on the harness's masked shape"
  MM=$(python3 -c 'print([160 + (e * 37) % 64 for e in range(32)])')
  G='[{"name":"g1","rows":'$(python3 -c 'print([240]*32)')',"N":4096,"K":7168},{"name":"g2","rows":'$(python3 -c 'print([255]*32)')',"N":7168,"K":2048},{"name":"q1","rows":'$(python3 -c 'print([250]*128)')',"N":1536,"K":2048},{"name":"q2","rows":'$(python3 -c 'print([259]*128)')',"N":2048,"K":768},{"name":"large","rows":[9200,9200,9200,9200],"N":6144,"K":7168}]'
  DG_PRINT_CONFIGS=1 timeout 120 python3 scripts/bench_gpu_deepgemm.py "{\"gemms\": $G, \"masked\": [{\"name\": \"masked 32x256 4096 7168\", \"maskedM\": $MM, \"maxM\": 256, \"N\": 4096, \"K\": 7168}], \"repeats\": 20}" 2>&1 | grep -v "^\s*$" | cut -c1-400 | tail -14
fi
if has ncu && [ "$(left)" -gt 60 ]; then
  step "ncu (time left $(left) s)"
  SECS="--section SpeedOfLight --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis --section Occupancy --section WarpStateStats --section SchedulerStats --section LaunchStats"
  timeout $(( $(left) / 2 )) ncu --clock-control none $SECS -k regex:sm90TmaGroupedGemm --launch-skip 1 --launch-count 1 "$D/gemm_variants" one 0 ${NCU_BN:-192} ${NCU_MC:-2} > "$O/ncu.txt" 2>&1; echo "exit $?"
  cat > /tmp/dg_one.py <<'PY'
import json, subprocess, sys
sys.argv = ["x", json.dumps({"gemms": [{"name": "g1", "rows": [240] * 32, "N": 4096, "K": 7168}], "repeats": 1})]
exec(open("scripts/bench_gpu_deepgemm.py").read())
PY
  timeout $(( $(left) > 20 ? $(left) - 10 : 10 )) ncu --clock-control none $SECS -k regex:sm90_fp8_gemm_1d2d --launch-skip 2 --launch-count 1 python3 /tmp/dg_one.py >> "$O/ncu.txt" 2>&1; echo "exit $?"
  grep -E "sm90|Duration|Compute \(SM\) Throughput|DRAM Throughput|L1/TEX Hit|L2 Hit|Registers Per|Achieved Occupancy|Issue Slots Busy|No Eligible|Eligible Warps|Block Size|Grid Size|Dynamic Shared" "$O/ncu.txt" | head -60
fi
if has sass; then
  step "sass (our kernel's instructions)"
  "$CUDA_HOME/bin/cuobjdump" -sass build/Release/moe_native.node 2>&1 | awk '/Function : /{f=($0 ~ /sm90TmaGrouped/); if (f) print} f' > /tmp/sass.txt
  grep -c "Function :" /tmp/sass.txt
  grep -o "QGMMA[.A-Z0-9_]*\|UTMALDG[.A-Z0-9_]*\|UTMASTG[.A-Z0-9_]*\|STSM[.A-Z0-9_]*\|USETMAXREG[.A-Z0-9_]*\| LDL[.A-Z0-9_]*\| STL[.A-Z0-9_]*\|SYNCS[.A-Z0-9_]*" /tmp/sass.txt | sort | uniq -c | sort -rn | head -24
fi
step "done"; ls -la "$O"

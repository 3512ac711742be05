"""DeepGEMM as the peer of scripts/bench-gpu.ts, measured in the same call on the same GPU.

Reads a JSON job on argv[1]:
  {"gemms": [{"name", "rows": [...], "N", "K"}], "masked": [{"name", "maskedM": [...], "maxM", "N", "K"}], "repeats": n}
and prints one JSON object (last line of stdout):
  {"available": true, "version": "2.6.1", "path": ..., "gemms": [{"name", "ms"} | {"name", "error"}], "masked": [...]}
or {"available": false, "reason": "..."} when DeepGEMM cannot be imported (then the bench prints no ratio).

DeepGEMM is found on sys.path or in $MOE_DEEPGEMM_DIR (a source tree built in place: see scripts/gpu/setup-deepgemm.sh).
Inputs follow DeepGEMM's own SM90 recipe: FP8 A with 1x128 float32 scales given MN-major and TMA-aligned (so no
layout transform is timed), FP8 B with 128x128 float32 scales, BF16 D; the contiguous layout uses m_indices with -1
on the padding rows of 128-aligned segments, exactly as the project's kernel is fed. Times are CUDA-event medians
after warm-up (the first call compiles the kernel), on random data, never zeros.
"""
import json
import os
import sys
import traceback


def bench(torch, fn, repeats):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        a = torch.cuda.Event(enable_timing=True)
        b = torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    times.sort()
    n = len(times)
    return times[n // 2] if n % 2 else 0.5 * (times[n // 2 - 1] + times[n // 2])


def fp8_rand(torch, *shape):
    return (torch.randn(*shape, device="cuda") * 2).clamp(-448, 448).to(torch.float8_e4m3fn)


def contiguous(torch, dg, g, reps):
    rows, N, K = g["rows"], g["N"], g["K"]
    E = len(rows)
    seg = [(r + 127) // 128 * 128 for r in rows]
    M = sum(seg)
    idx = []
    for e, (r, s) in enumerate(zip(rows, seg)):
        idx += [e] * r + [-1] * (s - r)
    m_indices = torch.tensor(idx, device="cuda", dtype=torch.int32)
    A = fp8_rand(torch, M, K)
    sfa = (torch.rand(K // 128, M, device="cuda") + 0.5).t()  # (M, K/128), MN-major, M multiple of 128
    B = fp8_rand(torch, E, N, K)
    sfb = torch.rand(E, N // 128, K // 128, device="cuda") + 0.5
    D = torch.empty(M, N, device="cuda", dtype=torch.bfloat16)
    ms = bench(torch, lambda: dg.m_grouped_fp8_gemm_nt_contiguous((A, sfa), (B, sfb), D, m_indices, disable_ue8m0_cast=True), reps)
    return ms


def masked(torch, dg, g, reps):
    mm, maxM, N, K = g["maskedM"], g["maxM"], g["N"], g["K"]
    E = len(mm)
    A = fp8_rand(torch, E, maxM, K)
    sfa = (torch.rand(E, K // 128, maxM, device="cuda") + 0.5).transpose(1, 2)  # MN-major per expert
    B = fp8_rand(torch, E, N, K)
    sfb = torch.rand(E, N // 128, K // 128, device="cuda") + 0.5
    D = torch.empty(E, maxM, N, device="cuda", dtype=torch.bfloat16)
    masked_m = torch.tensor(mm, device="cuda", dtype=torch.int32)
    expected = max(1, sum(mm) // E)
    ms = bench(torch, lambda: dg.m_grouped_fp8_gemm_nt_masked((A, sfa), (B, sfb), D, masked_m, expected, disable_ue8m0_cast=True), reps)
    return ms


def main():
    job = json.loads(sys.argv[1])
    reps = int(job.get("repeats", 20))
    where = os.environ.get("MOE_DEEPGEMM_DIR")
    if where:
        sys.path.insert(0, where)
    try:
        import torch
        import deep_gemm as dg
    except Exception as e:  # not built / not importable: the bench says so and prints no ratio
        print(json.dumps({"available": False, "reason": f"import deep_gemm failed: {str(e).splitlines()[0][:300] if str(e) else type(e).__name__}"}))
        return
    out = {"available": True, "version": getattr(dg, "__version__", "?"), "path": os.path.dirname(dg.__file__), "gemms": [], "masked": []}
    for kind, fn in (("gemms", contiguous), ("masked", masked)):
        for g in job.get(kind, []):
            r = {"name": g["name"]}
            try:
                r["ms"] = fn(torch, dg, g, reps)
            except Exception as e:  # one refused shape must not hide the others
                r["error"] = (str(e).strip().splitlines() or [type(e).__name__])[-1][:300]
                traceback.print_exc(file=sys.stderr)
            torch.cuda.empty_cache()
            out[kind].append(r)
    print(json.dumps(out))


if __name__ == "__main__":
    main()

"""PyTorch peers for scripts/bench-gpu.ts, measured in the same call on the same GPU.

Reads a JSON job on argv[1]: {"gemms": [{"name", "rows": [...], "N", "K"}], "quant": [M, K], "repeats": n}
and prints one JSON object: the ceilings (device-to-device copy bandwidth, FP8 torch._scaled_mm 8192^3), each
grouped GEMM through torch._scaled_grouped_mm (FP8, row-wise scales) and torch._grouped_mm (BF16), and eager
per-token-group FP8 quantization. Times are CUDA-event medians after warm-up; inputs are random, never zeros.
"""
import json
import sys

import torch


def bench(fn, repeats):
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


def fp8_rand(*shape):
    return (torch.randn(*shape, device="cuda") * 2).clamp(-448, 448).to(torch.float8_e4m3fn)


def main():
    job = json.loads(sys.argv[1])
    reps = int(job.get("repeats", 20))
    out = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0)}

    # ceilings
    n = 1 << 30
    src = torch.randint(0, 255, (n,), dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    ms = bench(lambda: dst.copy_(src), reps)
    out["copyTBs"] = 2 * n / ms / 1e9
    del src, dst
    s = 8192
    a = fp8_rand(s, s)
    b = fp8_rand(s, s)
    one = torch.ones((), device="cuda")
    ms = bench(lambda: torch._scaled_mm(a, b.t(), scale_a=one, scale_b=one, out_dtype=torch.bfloat16), reps)
    out["fp8TFLOPs"] = 2 * s**3 / ms / 1e9
    del a, b

    gemms = []
    for g in job["gemms"]:
        rows, N, K = g["rows"], g["N"], g["K"]
        G = len(rows)
        useful = 2.0 * sum(rows) * N * K
        r = {"name": g["name"]}
        try:
            M = sum(rows)
            offs = torch.tensor(rows, device="cuda", dtype=torch.int32).cumsum(0, dtype=torch.int32)
            A = fp8_rand(M, K)
            B = fp8_rand(G, N, K)
            sa = torch.rand(M, device="cuda") + 0.5
            sb = torch.rand(G, N, device="cuda") + 0.5
            ms = bench(lambda: torch._scaled_grouped_mm(A, B.transpose(-2, -1), sa, sb, offs=offs, out_dtype=torch.bfloat16), reps)
            r["scaledGroupedMs"] = ms
            r["scaledGroupedTFLOPs"] = useful / ms / 1e9
            del A, B
        except Exception as e:  # the peer may refuse a shape; say so instead of failing the whole run
            r["scaledGroupedError"] = str(e).splitlines()[0][:200]
        try:
            M = sum(rows)
            offs = torch.tensor(rows, device="cuda", dtype=torch.int32).cumsum(0, dtype=torch.int32)
            A = torch.randn(M, K, device="cuda", dtype=torch.bfloat16)
            B = torch.randn(G, N, K, device="cuda", dtype=torch.bfloat16)
            ms = bench(lambda: torch._grouped_mm(A, B.transpose(-2, -1), offs=offs, out_dtype=torch.bfloat16), reps)
            r["bf16GroupedMs"] = ms
            r["bf16GroupedTFLOPs"] = useful / ms / 1e9
            del A, B
        except Exception as e:
            r["bf16GroupedError"] = str(e).splitlines()[0][:200]
        torch.cuda.empty_cache()
        gemms.append(r)
    out["gemms"] = gemms

    M, K = job["quant"]
    x = torch.randn(M, K, device="cuda", dtype=torch.bfloat16)

    def quant():
        xg = x.view(M, K // 128, 128).float()
        sc = xg.abs().amax(-1).clamp(min=1e-10) / 448.0
        q = (xg / sc.unsqueeze(-1)).clamp(-448, 448).to(torch.float8_e4m3fn)
        return q, sc

    ms = bench(quant, reps)
    out["quantEagerMs"] = ms
    out["quantEagerBytes"] = M * K * 3 + M * (K // 128) * 4
    print(json.dumps(out))


if __name__ == "__main__":
    main()

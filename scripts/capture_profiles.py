"""An FP8 MoE layer in plain PyTorch, profiled: the real-format test data of `moe-inspect import-trace`.

    python3 scripts/capture_profiles.py --trace OUT.json.gz      torch.profiler (Kineto) Chrome trace, gzip
    ncu --nvtx --nvtx-include "moe/" --csv --page details|raw … python3 scripts/capture_profiles.py --ncu

The layer: per-token-group FP8 quantization (eager ops), permutation by expert (argsort + index_select),
torch._scaled_grouped_mm for GEMM1 and GEMM2 (row-wise scales), SiLU-and-mul, requantization, weighted un-permute
(index_add_). Eager PyTorch kernels have generic names; the grouped GEMMs are recognised by their launching op.
Needs a Hopper GPU (torch._scaled_grouped_mm). See docs/profiles.md.
"""

import gzip
import os
import shutil
import sys

import torch

M, K, N, E, TOPK = 512, 1024, 512, 8, 2


def quant_rows(x):
    """row-wise FP8 quantization (torch._scaled_grouped_mm takes one scale per row)"""
    s = x.float().abs().amax(dim=-1).clamp(min=1e-10) / 448.0
    return (x.float() / s[:, None]).clamp(-448, 448).to(torch.float8_e4m3fn), s


GMM = {"scaled": True}


def gmm(a, sa, w, sw, offs):
    """torch._scaled_grouped_mm (FP8, row-wise scales); BF16 torch._grouped_mm when this build refuses the shape"""
    if GMM["scaled"]:
        try:
            return torch._scaled_grouped_mm(a, w.transpose(-2, -1), sa, sw, offs=offs, out_dtype=torch.bfloat16)
        except RuntimeError as e:
            GMM["scaled"] = False
            print("torch._scaled_grouped_mm refused (%s): using torch._grouped_mm" % str(e).splitlines()[0][:120], file=sys.stderr)
    af = (a.float() * sa[:, None]).to(torch.bfloat16)
    wf = (w.float() * sw[:, :, None]).to(torch.bfloat16)
    return torch._grouped_mm(af, wf.transpose(-2, -1), offs=offs, out_dtype=torch.bfloat16)


def layer(x, w13, s13, w2, s2, ids, weights):
    torch.cuda.nvtx.range_push("moe")
    with torch.profiler.record_function("moe::quantize"):
        q, sq = quant_rows(x)
    with torch.profiler.record_function("moe::permute"):
        flat = ids.flatten()
        order = torch.argsort(flat, stable=True)
        rows = order // TOPK
        counts = torch.bincount(flat, minlength=E)
        offs = counts.cumsum(0).to(torch.int32)
        qa = q.index_select(0, rows)
        sa = sq.index_select(0, rows)
    h = gmm(qa, sa, w13, s13, offs)
    with torch.profiler.record_function("moe::activation"):
        a = torch.nn.functional.silu(h[:, :N]) * h[:, N:]
    with torch.profiler.record_function("moe::requantize"):
        q2, s2a = quant_rows(a)
    y = gmm(q2, s2a, w2, s2, offs)
    with torch.profiler.record_function("moe::unpermute"):
        out = torch.zeros(M, K, device=x.device, dtype=torch.float32)
        out.index_add_(0, rows, y.float() * weights.flatten()[order][:, None])
    torch.cuda.nvtx.range_pop()
    return out.to(torch.bfloat16)


def inputs():
    g = torch.Generator(device="cuda").manual_seed(0)
    x = torch.randn(M, K, device="cuda", dtype=torch.bfloat16, generator=g)
    w13 = (torch.randn(E, 2 * N, K, device="cuda", generator=g) * 64).clamp(-448, 448).to(torch.float8_e4m3fn)
    w2 = (torch.randn(E, K, N, device="cuda", generator=g) * 64).clamp(-448, 448).to(torch.float8_e4m3fn)
    s13 = torch.full((E, 2 * N), 1e-3, device="cuda")
    s2 = torch.full((E, K), 1e-3, device="cuda")
    ids = torch.stack([torch.randperm(E, device="cuda", generator=g)[:TOPK] for _ in range(M)])
    weights = torch.softmax(torch.randn(M, TOPK, device="cuda", generator=g), dim=-1)
    return x, w13, s13, w2, s2, ids, weights


def main():
    args = inputs()
    if "--ncu" in sys.argv:
        layer(*args)
        torch.cuda.synchronize()
        return
    out = sys.argv[sys.argv.index("--trace") + 1] if "--trace" in sys.argv else "moe_trace.json.gz"
    for _ in range(2):  # warm-up: cuBLAS/CUTLASS heuristics, caching allocator
        layer(*args)
    torch.cuda.synchronize()
    acts = [torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
    with torch.profiler.profile(activities=acts) as prof:
        layer(*args)
        torch.cuda.synchronize()
    plain = out[:-3] if out.endswith(".gz") else out
    prof.export_chrome_trace(plain)
    if out.endswith(".gz"):
        with open(plain, "rb") as f, gzip.open(out, "wb") as g:
            shutil.copyfileobj(f, g)
        os.unlink(plain)
    print("wrote %s (torch %s, %s)" % (out, torch.__version__, torch.cuda.get_device_name()))


if __name__ == "__main__":
    main()

"""Dump one MoE layer's inputs from a running vLLM / SGLang model for MoE Layout Inspector.

Standard library + torch only (no safetensors, no numpy). Paste into the process that holds the model, or import it:

    from dump_layer_inputs import install_dump_hook
    handle = install_dump_hook(model, layer=3, path="/tmp/layer3.safetensors", min_tokens=128)
    ... run one prefill ...
    # then: moe-inspect run --checkpoint MODEL_DIR --layer-index 3 --inputs /tmp/layer3.safetensors

It hooks the layer's fused-MoE module (vLLM `FusedMoE`, SGLang `FusedMoE`/`EPMoE`/`DeepEPMoE`) and writes, on the
first call with at least `min_tokens` tokens:
    hidden_states (M, H)                 the module's input, as it came (BF16 usually)
    router_logits (M, E)                 vLLM: forward(hidden_states, router_logits)
    topk_ids, topk_weights (M, k)        SGLang: forward(hidden_states, topk_output) carries them
    with_weights=True adds the module's w13_weight, w13_weight_scale_inv, w2_weight, w2_weight_scale_inv when their
    shapes are the plain (E, 2N, K) / (E, ⌈2N/128⌉, ⌈K/128⌉) ones (some backends re-lay them out after loading;
    those are skipped with a message), so `moe-inspect run --layer FILE` can run it alone.
With torch.distributed initialised, each rank writes PATH with `.rankR` before the extension.
Files are written atomically (a temp file in the same folder, then a rename).

Run the model eagerly (vLLM: enforce_eager=True): CUDA graphs replay without calling Python hooks, and torch.compile
traces them. Docs: docs/dump-layer-inputs.md. `python3 dump_layer_inputs.py --self-test` checks the writer (and,
when torch is importable, the hook on a stand-in module).
"""

import ctypes
import json
import os
import struct
import sys
import tempfile

MOE_CLASS_NAMES = ("FusedMoE", "SharedFusedMoE", "EPMoE", "DeepEPMoE", "FlashInferFusedMoE")


def write_safetensors(path, entries, metadata=None):
    """entries: list of (name, dtype string such as "BF16", shape list, raw little-endian bytes). Atomic."""
    header = {"__metadata__": dict(metadata or {"format": "pt"})}
    offset = 0
    for name, dtype, shape, data in entries:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # data starts 8-byte aligned, as the reference writer does
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".dump-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for _, _, _, data in entries:
                f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _torch_entry(name, t):
    """a CPU copy of tensor t as a write_safetensors entry (raw bytes through ctypes: no numpy needed)"""
    import torch

    dtypes = {
        torch.bfloat16: "BF16", torch.float32: "F32", torch.float16: "F16", torch.int32: "I32",
        torch.int64: "I64", torch.uint8: "U8", torch.int8: "I8", torch.bool: "BOOL",
    }
    for attr, code in (("float8_e4m3fn", "F8_E4M3"), ("float8_e8m0fnu", "F8_E8M0")):
        if hasattr(torch, attr):
            dtypes[getattr(torch, attr)] = code
    if t.dtype not in dtypes:
        raise TypeError("%s: dtype %s has no safetensors code here" % (name, t.dtype))
    c = t.detach().to("cpu").contiguous().clone()
    return (name, dtypes[t.dtype], list(c.shape), ctypes.string_at(c.data_ptr(), c.numel() * c.element_size()))


def _rank_path(path):
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            root, ext = os.path.splitext(path)
            return "%s.rank%d%s" % (root, dist.get_rank(), ext)
    except Exception:
        pass
    return path


def find_moe_module(model, layer):
    """the fused-MoE module of decoder layer `layer` (by class name and a '.layers.L.' path)"""
    key = ".layers.%d." % layer
    for name, module in model.named_modules():
        if type(module).__name__ in MOE_CLASS_NAMES and (key in "." + name + "."):
            return name, module
    found = [n for n, m in model.named_modules() if type(m).__name__ in MOE_CLASS_NAMES]
    raise LookupError("no fused-MoE module for layer %d; fused-MoE modules: %s" % (layer, ", ".join(found[:8]) or "none"))


def _plain_weights(module):
    """the module's FP8 weights under vLLM names when their shapes are the plain block-scaled ones, else {}"""
    names = ("w13_weight", "w13_weight_scale_inv", "w2_weight", "w2_weight_scale_inv")
    ts = {n: getattr(module, n, None) for n in names}
    if any(t is None for t in ts.values()):
        return {}
    e, n2, k = ts["w13_weight"].shape
    n = n2 // 2
    want = {
        "w13_weight": (e, n2, k), "w2_weight": (e, k, n),
        "w13_weight_scale_inv": (e, -(-n2 // 128), -(-k // 128)), "w2_weight_scale_inv": (e, -(-k // 128), -(-n // 128)),
    }
    bad = [x for x in names if tuple(ts[x].shape) != want[x]]
    if bad:
        print("dump_layer_inputs: weights skipped, %s not in the plain layout (%s)" % (", ".join(bad), ", ".join("%s %s" % (x, tuple(ts[x].shape)) for x in bad)), file=sys.stderr)
        return {}
    return ts


def install_dump_hook(model, layer, path, min_tokens=1, with_weights=False):
    """hooks layer `layer`'s fused-MoE module; the first call with ≥ min_tokens tokens is written to `path`"""
    name, module = find_moe_module(model, layer)
    state = {"done": False}

    def hook(mod, args, kwargs, output):
        if state["done"]:
            return
        x = args[0] if args else kwargs.get("hidden_states")
        if x is None or x.dim() < 2 or x.shape[0] < min_tokens:
            return
        second = args[1] if len(args) > 1 else kwargs.get("router_logits", kwargs.get("topk_output"))
        entries = [_torch_entry("hidden_states", x)]
        if hasattr(second, "topk_ids") and hasattr(second, "topk_weights"):
            entries += [_torch_entry("topk_ids", second.topk_ids), _torch_entry("topk_weights", second.topk_weights.float())]
            second = getattr(second, "router_logits", None)
        if second is not None and hasattr(second, "dim"):
            entries.append(_torch_entry("router_logits", second))
        if with_weights:
            entries += [_torch_entry(n, t) for n, t in _plain_weights(mod).items()]
        out = _rank_path(path)
        write_safetensors(out, entries, {"format": "pt", "producer": "dump_layer_inputs.py", "module": name, "layer": str(layer)})
        state["done"] = True
        print("dump_layer_inputs: wrote %s (%s) from %s" % (out, ", ".join(e[0] for e in entries), name), file=sys.stderr)

    return module.register_forward_hook(hook, with_kwargs=True)


def _read_header(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n))


def _self_test(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    p = os.path.join(out_dir, "selftest.safetensors")
    x = struct.pack("<6H", 0x3F80, 0x4000, 0x4040, 0xBF80, 0x0000, 0x3F00)  # BF16 1, 2, 3, -1, 0, 0.5
    ids = struct.pack("<4i", 0, 3, 1, 2)
    w = struct.pack("<4f", 0.75, 0.25, 0.5, 0.5)
    write_safetensors(p, [("hidden_states", "BF16", [2, 3], x), ("topk_ids", "I32", [2, 2], ids), ("topk_weights", "F32", [2, 2], w)])
    h = _read_header(p)
    assert h["hidden_states"] == {"dtype": "BF16", "shape": [2, 3], "data_offsets": [0, 12]}, h
    assert (8 + len(json.dumps(h, separators=(",", ":")))) <= os.path.getsize(p)
    print("writer ok: %s" % p)
    try:
        import torch
    except ImportError:
        print("torch not importable: hook not tested")
        return

    class FusedMoE(torch.nn.Module):  # stand-in with vLLM's forward(hidden_states, router_logits) and weight names
        def __init__(self, e=4, n=256, k=256):
            super().__init__()
            self.w13_weight = torch.nn.Parameter(torch.zeros(e, 2 * n, k).to(torch.float8_e4m3fn), requires_grad=False)
            self.w13_weight_scale_inv = torch.nn.Parameter(torch.ones(e, 2 * n // 128, k // 128), requires_grad=False)
            self.w2_weight = torch.nn.Parameter(torch.zeros(e, k, n).to(torch.float8_e4m3fn), requires_grad=False)
            self.w2_weight_scale_inv = torch.nn.Parameter(torch.ones(e, k // 128, n // 128), requires_grad=False)

        def forward(self, hidden_states, router_logits):
            return hidden_states * 2

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.mlp = torch.nn.Module()
            self.mlp.experts = FusedMoE()

    model = torch.nn.Module()
    model.model = torch.nn.Module()
    model.model.layers = torch.nn.ModuleList([Block(), Block()])
    p2 = os.path.join(out_dir, "selftest_hook.safetensors")
    handle = install_dump_hook(model, layer=1, path=p2, min_tokens=4, with_weights=True)
    experts = model.model.layers[1].mlp.experts
    experts(torch.randn(2, 256, dtype=torch.bfloat16), torch.randn(2, 4))  # too few tokens: skipped
    assert not os.path.exists(p2)
    x = torch.randn(8, 256, dtype=torch.bfloat16)
    experts(x, torch.randn(8, 4))
    handle.remove()
    h = _read_header(p2)
    assert h["hidden_states"]["shape"] == [8, 256] and h["hidden_states"]["dtype"] == "BF16", h
    assert h["router_logits"]["shape"] == [8, 4] and h["w13_weight"]["dtype"] == "F8_E4M3", h
    with open(p2, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        f.seek(8 + n + h["hidden_states"]["data_offsets"][0])
        raw = f.read(16)
    assert raw == ctypes.string_at(x.contiguous().data_ptr(), 16), "hidden_states bytes"
    print("hook ok: %s (torch %s)" % (p2, torch.__version__))


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "--self-test":
        _self_test(sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp())
    else:
        print(__doc__)

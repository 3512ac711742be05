#!/usr/bin/env python3
"""Field-by-field check of the hover probe (extension/hover/probe.py) against real torch tensors.

Run it where torch is installed, ideally on a GPU machine:
    python3 scripts/probe-torch-check.py [--dump probe-torch.json]
It builds torch tensors of many dtypes, devices and layouts (float8_e4m3fn, float8_e8m0fnu, bfloat16, int, bool, CUDA,
the SM90 MN-major and SM100 packed scale layouts, views, Parameters, subclasses), runs the probe exactly as a debug
session would (one expression evaluated in the namespace), and compares every field with what torch itself says;
the sampled bytes are compared bit for bit with the same window copied by torch. It also checks the probe stays
harmless: no output, namespace and sys.modules unchanged, tensor subclasses' overrides never run.
Prints one line per check and exits 1 if any failed. --dump writes the probe answers plus torch's float values
of each window (JSON) for the TypeScript decoder test (MOE_TORCH_PROBE_DUMP=... node scripts/run-tests.mjs hover).
"""
import io
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PROBE = open(os.path.join(HERE, '..', 'extension', 'hover', 'probe.py'), encoding='utf8').read()

try:
    import torch
except Exception as e:  # noqa: BLE001
    print('SKIP: import torch failed: %s: %s' % (type(e).__name__, e))
    sys.exit(0)

failures = []
dump = []


def check(name, ok, detail=''):
    print('%s %s%s' % ('PASS' if ok else 'FAIL', name, (': ' + detail) if detail and not ok else ''))
    if not ok:
        failures.append(name)


def probe_expression(expr):
    """The debug-session form built by extension/hover/probeCode.ts (debugProbeExpression)."""
    return "(lambda n, g, l: (exec(%s, n), n['_p'](%s, g, l))[1])({}, globals(), locals())" % (json.dumps(PROBE), json.dumps(expr))


def run_probe(ns, expr):
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        text = eval(probe_expression(expr), ns)
    finally:
        sys.stdout, sys.stderr = saved
    return text, out.getvalue() + err.getvalue()


def window(shape, item):
    maxv = min(4096, 16384 // item)
    if len(shape) == 0:
        return [], 1, 1
    if len(shape) == 1:
        return [], 1, min(shape[0], maxv)
    cols = min(shape[-1], 64)
    rows = min(shape[-2], maxv // cols) if cols else 0
    return [0] * (len(shape) - 2), rows, cols


def torch_window(t, lead, rows, cols):
    t = t.detach()
    if t.dim() == 0:
        return t.reshape(1)
    if t.dim() == 1:
        return t[:cols]
    return t[tuple(lead) + (slice(0, rows), slice(0, cols))]


def expected_major(shape, strides):
    if len(shape) < 2:
        return None
    k = strides[-1] == 1 or shape[-1] == 1
    mn = strides[-2] == 1 or shape[-2] == 1
    return 'both' if k and mn else 'K' if k else 'MN' if mn else None


def check_tensor(ns, expr, t, name=None):
    name = name or expr
    text, output = run_probe(ns, expr)
    check(name + ': no output', output == '', repr(output[:80]))
    info = json.loads(text)
    if info is None:
        check(name + ': recognised', False, 'probe answered null')
        return
    base = t.detach()
    with torch._C.DisableTorchFunctionSubclass():
        shape = list(base.shape)
        strides = list(base.stride())
        item = base.element_size()
        expect = {
            'library': 'torch',
            'dtype': str(base.dtype).replace('torch.', ''),
            'item_bytes': item,
            'shape': shape,
            'strides': strides,
            'strides_bytes': [s * item for s in strides],
            'device': str(base.device),
            'requires_grad': bool(t.requires_grad),
            'c_contiguous': bool(base.is_contiguous()),
            'major': expected_major(shape, strides),
        }
        if base.device.type != 'meta':
            expect['storage'] = {'bytes': base.untyped_storage().nbytes(), 'offset_bytes': base.storage_offset() * item}
    for k, v in expect.items():
        check('%s: %s' % (name, k), info.get(k) == v, 'probe %r, torch %r' % (info.get(k), v))
    if base.device.type == 'meta':
        check(name + ': no sample for meta', info['sample'] is None)
        return
    lead, rows, cols = window(shape, item)
    s = info['sample']
    check(name + ': sample present', s is not None, str(info.get('sample_error')))
    if s is None:
        return
    check(name + ': window', (s['lead'], s['rows'], s['cols']) == (lead, rows, cols), '%r vs %r' % ((s['lead'], s['rows'], s['cols']), (lead, rows, cols)))
    w = torch_window(base, lead, rows, cols).contiguous().cpu().reshape(-1)
    raw = bytes(w.view(torch.uint8).tolist()) if w.dtype != torch.uint8 else bytes(w.tolist())
    check(name + ': sample bytes bit-exact', s['hex'] == raw.hex(), '%d vs %d bytes' % (len(s['hex']) // 2, len(raw)))
    try:
        floats = [None if v != v else (str(v) if v in (float('inf'), float('-inf')) else v) for v in w.double().tolist()]
    except Exception:  # noqa: BLE001
        floats = None
    dump.append({'expr': name, 'probe': info, 'values': floats})


def main():
    ns = {'torch': torch, '__name__': '__main__'}
    cuda = torch.cuda.is_available()
    print('torch %s, CUDA %s%s' % (torch.__version__, cuda, (' (' + torch.cuda.get_device_name(0) + ')') if cuda else ''))
    setup = r'''
g = torch.Generator().manual_seed(0)
f32 = torch.randn(37, 512, generator=g)
bf16 = f32.to(torch.bfloat16)
e4m3 = (f32 * 10).to(torch.float8_e4m3fn)
ue8m0 = torch.tensor([0.25, 1.0, 3.0, 1e-3, 2.0 ** 40]).to(torch.float8_e8m0fnu)
i32 = torch.arange(-5, 7, dtype=torch.int32).reshape(3, 4)
i64 = torch.tensor([[2 ** 40, -1], [7, 0]], dtype=torch.int64)
b = torch.tensor([True, False, True])
u8 = torch.arange(10, dtype=torch.uint8)
f16 = torch.tensor([1.5, float('inf'), float('nan'), -0.0], dtype=torch.float16)
f64 = torch.randn(100, 100, dtype=torch.float64, generator=g)
scalar0 = torch.tensor(2.5)
empty = torch.zeros(0, 5)
tr = f32.t()
sl = f32[3:9, 128:256]
sm90 = torch.empty_strided((5, 2), (1, 8)).copy_(torch.arange(10.).reshape(5, 2))
sm90g = torch.empty_strided((3, 33, 3), (108, 1, 36)).fill_(1.0)
packed = torch.zeros(264, dtype=torch.int32).as_strided((130, 2), (1, 132))
param = torch.nn.Parameter(torch.ones(8, 32, 56))
grad = torch.ones(4, 4, requires_grad=True)
w13 = (torch.randn(4, 256, 512, generator=g)).to(torch.float8_e4m3fn)
meta = torch.empty(1024, 1024, device='meta')
big = torch.zeros(4096, 4096)
class Sub(torch.Tensor):
    calls = []
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        Sub.calls.append(getattr(func, '__name__', str(func)))
        return super().__torch_function__(func, types, args, kwargs or {})
    @property
    def shape(self):
        Sub.calls.append('shape property')
        raise RuntimeError('shape')
sub = torch.arange(12.).reshape(3, 4).as_subclass(Sub)
Sub.calls.clear()
sparse = torch.eye(3).to_sparse()
'''
    if cuda:
        setup += r'''
cuda_f32 = torch.randn(4096, 7168, device='cuda')
cuda_e4m3 = cuda_f32.to(torch.float8_e4m3fn)
cuda_sf = torch.empty_strided((130, 56), (1, 132), device='cuda').fill_(0.5)
cuda_ue8m0 = torch.full((8, 32, 56), 0.5, device='cuda').to(torch.float8_e8m0fnu)
cuda_bf16 = torch.randn(37, 512, device='cuda').to(torch.bfloat16)
cuda_t = cuda_f32[:, :128].t()
'''
    exec(setup, ns)
    names = ['f32', 'bf16', 'e4m3', 'ue8m0', 'i32', 'i64', 'b', 'u8', 'f16', 'f64', 'scalar0', 'empty', 'tr', 'sl', 'sm90',
             'sm90g', 'packed', 'param', 'grad', 'w13', 'meta', 'big', 'w13[1]', 'e4m3[0]']
    if cuda:
        names += ['cuda_f32', 'cuda_e4m3', 'cuda_sf', 'cuda_ue8m0', 'cuda_bf16', 'cuda_t']

    keys_before = sorted(ns)
    mods_before = sorted(sys.modules)
    for n in names:
        check_tensor(ns, n, eval(n, ns))

    # subclass: read through the base class with __torch_function__ disabled; its overrides never run
    text, output = run_probe(ns, 'sub')
    info = json.loads(text)
    check('sub: recognised through the base class', info is not None and info['shape'] == [3, 4], text[:120])
    check('sub: no override ran', ns['Sub'].calls == [], repr(ns['Sub'].calls))
    check('sub: no output', output == '')
    text, output = run_probe(ns, 'sparse')
    check('sparse: null (not a strided tensor)', text == 'null', text[:80])

    if cuda:
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        peak0 = torch.cuda.max_memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        run_probe(ns, 'cuda_f32')
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - before
        check('cuda_f32: probe allocates only the window on the GPU (<= 1 MiB)', peak <= (1 << 20), '%d bytes' % peak)
        del peak0

    check('namespace unchanged', sorted(ns) == keys_before)
    check('sys.modules unchanged', sorted(sys.modules) == mods_before, str(set(sys.modules) ^ set(mods_before)))

    if '--dump' in sys.argv:
        path = sys.argv[sys.argv.index('--dump') + 1]
        with open(path, 'w') as f:
            json.dump(dump, f)
        print('wrote %d probe answers to %s' % (len(dump), path))
    print('%d checks failed' % len(failures) if failures else 'all checks passed')
    sys.exit(1 if failures else 0)


main()

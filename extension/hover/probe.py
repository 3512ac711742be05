# MoE Layout Inspector: hover probe.
#
# This source is exec'd into a fresh private dict (never the user's namespace) by the hover provider, which then
# calls _p(expression, globals(), locals()) in the user's frame. _p returns JSON text (a str) describing the torch
# tensor or NumPy array the expression names, or "null" for anything else. Rules it keeps, because it runs inside
# somebody's live kernel or paused program:
#   * it imports nothing new: torch and numpy are looked up in sys.modules (if the user has not imported them, the
#     value cannot be one of their tensors), and the JSON encoder is hand-written so `json` need not be loaded;
#   * it never calls repr/str/format/bool/len on user objects, and reads tensor metadata through the base classes'
#     own descriptors (ndarray.shape.__get__, TensorBase.stride) so a subclass's overriding property is not run;
#   * it catches every exception and prints nothing (stdout/stderr are swapped for a sink while user code such as
#     __getattr__ or a property can run, and restored afterwards);
#   * it copies at most a bounded window of values: slice on the device first, then move only the slice to the CPU.
# The expression itself was parsed by the extension (names, attribute chains, literal subscripts only).

_MAX_VALUES = 4096
# the debug adapter returns the result as a Python repr, capped around 64 KiB: keep the hex sample under 32 KiB
_MAX_SAMPLE_BYTES = 16384
_MAX_COLS = 64
_RAW_TORCH = ('float8_e4m3fn', 'float8_e4m3fnuz', 'float8_e5m2', 'float8_e5m2fnuz', 'float8_e8m0fnu', 'bfloat16')
_NUMPY_KINDS = 'biuf'
_NUMPY_EXTRA = ('bfloat16', 'float8_e4m3fn', 'float8_e5m2', 'float8_e8m0fnu')


class _Sink(object):
    """Swallows writes while user code may run (a __getattr__ or property that prints)."""

    def write(self, s):
        return 0

    def flush(self):
        pass

    def isatty(self):
        return False


def _js(s):
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == '\\':
            out.append('\\\\')
        elif o < 0x20 or o > 0x7E:
            if o > 0xFFFF:
                o -= 0x10000
                out.append('\\u%04x\\u%04x' % (0xD800 + (o >> 10), 0xDC00 + (o & 0x3FF)))
            else:
                out.append('\\u%04x' % o)
        else:
            out.append(ch)
    out.append('"')
    return ''.join(out)


def _json(v):
    """JSON for the plain values this probe builds itself (never for user objects)."""
    if v is None:
        return 'null'
    if v is True:
        return 'true'
    if v is False:
        return 'false'
    t = type(v)
    if t is int:
        return int.__repr__(v)
    if t is float:
        return float.__repr__(v) if v == v and v not in (float('inf'), float('-inf')) else 'null'
    if t is str:
        return _js(v)
    if t is list or t is tuple:
        return '[' + ','.join([_json(x) for x in v]) + ']'
    if t is dict:
        return '{' + ','.join([_js(k) + ':' + _json(x) for k, x in v.items()]) + '}'
    raise TypeError('probe: unexpected value type')


def _type_name(tp):
    try:
        mod = type.__dict__['__module__'].__get__(tp)
        qn = type.__dict__['__qualname__'].__get__(tp)
        if type(mod) is str and type(qn) is str:
            return qn if mod == 'builtins' else mod + '.' + qn
    except Exception:
        pass
    return '?'


def _mro(tp):
    return type.__dict__['__mro__'].__get__(tp)


def _layout_facts(shape, strides, item):
    """Contiguity, K-/MN-major and TMA alignment from shape and element strides (None strides: unknown)."""
    n = len(shape)
    facts = {'c_contiguous': None, 'f_contiguous': None, 'major': None, 'tma_aligned': None}
    if strides is None:
        return facts
    # a dimension of extent <= 1 never moves the address, so its stride does not matter (as in torch and numpy)
    acc = 1
    c = True
    for i in range(n - 1, -1, -1):
        if shape[i] > 1 and strides[i] != acc:
            c = False
        acc *= shape[i]
    acc = 1
    f = True
    for i in range(n):
        if shape[i] > 1 and strides[i] != acc:
            f = False
        acc *= shape[i]
    if 0 in shape:
        c = f = True
    facts['c_contiguous'] = c
    facts['f_contiguous'] = f
    if n >= 2:
        k_unit = strides[-1] == 1 or shape[-1] == 1
        mn_unit = strides[-2] == 1 or shape[-2] == 1
        if k_unit and not mn_unit:
            facts['major'] = 'K'
            other = strides[-2]
        elif mn_unit and not k_unit:
            facts['major'] = 'MN'
            other = strides[-1]
        elif k_unit and mn_unit:
            # (M, 1) or (1, K): both readings hold; alignment concerns the stride of the non-unit dimension
            facts['major'] = 'both'
            other = strides[-1] if shape[-1] != 1 else strides[-2]
        else:
            other = None
        if other is not None:
            facts['tma_aligned'] = (abs(other) * item) % 16 == 0
    return facts


def _window(shape, max_values):
    """Leading index (zeros) and the rows x cols window of the last two dims whose values are sampled."""
    n = len(shape)
    if n == 0:
        return (), 1, 1
    if n == 1:
        return (), 1, min(shape[0], max_values)
    cols = min(shape[-1], _MAX_COLS)
    rows = min(shape[-2], max_values // cols) if cols > 0 else 0
    lead = tuple([0] * (n - 2))
    if 0 in shape[:-2]:
        return lead, 0, 0
    return lead, rows, cols


def _torch_info(torch, obj, tp):
    C = torch._C
    TB = getattr(C, 'TensorBase', None) or getattr(C, '_TensorBase')
    # Subclasses with __torch_dispatch__ (FakeTensor, DTensor, ...) run Python for every op, metadata included:
    # not ours to poke. __torch_function__ overrides are switched off below instead.
    default_dispatch = getattr(C, '_disabled_torch_dispatch_impl', None)
    for cls in _mro(tp):
        if cls is torch.Tensor or cls is TB:
            break
        d = type.__dict__['__dict__'].__get__(cls)
        if '__torch_dispatch__' in d:
            fn = d['__torch_dispatch__']
            fn = getattr(fn, '__func__', fn)
            if fn is not default_dispatch:
                return None
    # torch >= 2.0; older releases only have the switch that disables every __torch_function__
    disable = getattr(C, 'DisableTorchFunctionSubclass', None) or getattr(C, 'DisableTorchFunction')
    with disable():
        if TB.layout.__get__(obj) is not torch.strided:
            return None
        dtype = TB.dtype.__get__(obj)
        dname = str(dtype)
        if dname.startswith('torch.'):
            dname = dname[6:]
        shape = [int(x) for x in TB.size(obj)]
        strides = [int(x) for x in TB.stride(obj)]
        item = int(TB.element_size(obj))
        offset = int(TB.storage_offset(obj))
        dev = TB.device.__get__(obj)
        device = str(dev)
        storage = None
        try:
            nbytes = int(TB.untyped_storage(obj).nbytes())
            storage = {'bytes': nbytes, 'offset_bytes': offset * item}
        except Exception:
            pass
        info = {
            'library': 'torch',
            'type': _type_name(tp),
            'dtype': dname,
            'item_bytes': item,
            'shape': shape,
            'strides': strides,
            'strides_bytes': [s * item for s in strides],
            'storage': storage,
            'device': device,
            'requires_grad': TB.requires_grad.__get__(obj) is True,
            'sample': None,
            'sample_error': None,
        }
        info.update(_layout_facts(shape, strides, item))
        if dev.type == 'meta':
            info['sample_error'] = 'meta tensor: no data'
            return info
        try:
            info['sample'] = _torch_sample(torch, TB, obj, dtype, dname, shape, item)
        except Exception as e:
            info['sample_error'] = 'sample failed: ' + _type_name(type(e))
        return info


def _torch_sample(torch, TB, obj, dtype, dname, shape, item):
    if TB.is_complex(obj) or TB.is_quantized.__get__(obj):
        return None
    lead, rows, cols = _window(shape, min(_MAX_VALUES, _MAX_SAMPLE_BYTES // item))
    t = TB.detach(obj)
    if len(shape) == 0:
        w = TB.reshape(t, (1,))
    elif len(shape) == 1:
        w = TB.__getitem__(t, slice(0, cols))
    else:
        w = TB.__getitem__(t, lead + (slice(0, rows), slice(0, cols)))
    # slice first (a view on the device), then copy only the window to the CPU
    w = TB.contiguous(TB.cpu(TB.contiguous(w)))
    w = TB.reshape(w, (-1,))
    if dtype is not torch.uint8:
        # one byte per element for float8/bool/int8; wider types become their little-endian bytes
        w = TB.view(w, torch.uint8)
    data = bytes(TB.tolist(w))
    return {'lead': list(lead), 'rows': rows, 'cols': cols, 'hex': data.hex()}


def _numpy_info(np, obj, tp):
    nd = np.ndarray
    dtype = nd.dtype.__get__(obj)
    item = int(nd.itemsize.__get__(obj))
    shape = [int(x) for x in nd.shape.__get__(obj)]
    sb = [int(x) for x in nd.strides.__get__(obj)]
    strides = [s // item for s in sb] if item > 0 and all(s % item == 0 for s in sb) else None
    dname = dtype.name
    if type(dname) is not str:
        dname = '?'
    try:
        storage = _numpy_storage(nd, obj)
    except Exception:
        storage = None
    info = {
        'library': 'numpy',
        'type': _type_name(tp),
        'dtype': dname,
        'item_bytes': item,
        'shape': shape,
        'strides': strides,
        'strides_bytes': sb,
        'storage': storage,
        'device': 'cpu',
        'requires_grad': False,
        'sample': None,
        'sample_error': None,
    }
    info.update(_layout_facts(shape, strides, item))
    kind = dtype.kind
    if (kind in _NUMPY_KINDS or dname in _NUMPY_EXTRA) and dtype.fields is None and item > 0:
        try:
            info['sample'] = _numpy_sample(nd, obj, dtype, shape, item)
        except Exception as e:
            info['sample_error'] = 'sample failed: ' + _type_name(type(e))
    else:
        info['sample_error'] = 'no numeric sample for dtype ' + dname
    return info


def _numpy_storage(nd, obj):
    """Bytes of the buffer that owns obj's data and obj's byte offset in it; None when the owner is foreign."""
    owner = obj
    b = nd.base.__get__(owner)
    for _ in range(256):
        if b is None:
            break
        tb = type(b)
        if issubclass(tb, nd):
            owner = b
            b = nd.base.__get__(b)
            continue
        if _type_name(tb).endswith('.DummyArray'):
            # numpy's as_strided keeps its source array on this helper object
            nb = object.__getattribute__(b, '__dict__').get('base')
            if nb is not None and issubclass(type(nb), nd):
                owner = nb
                b = nd.base.__get__(nb)
                continue
        # bytes, mmap, a foreign buffer: the extent of the memory behind it is not ours to know
        return None
    if b is not None:
        return None
    # an array that owns its data owns exactly nbytes of it, laid out densely
    p0 = nd.__array_interface__.__get__(obj)['data'][0]
    p1 = nd.__array_interface__.__get__(owner)['data'][0]
    return {'bytes': int(nd.nbytes.__get__(owner)), 'offset_bytes': int(p0 - p1)}


def _numpy_sample(nd, obj, dtype, shape, item):
    lead, rows, cols = _window(shape, min(_MAX_VALUES, _MAX_SAMPLE_BYTES // item))
    # a base-class view: subclass __getitem__ / __array_finalize__ never run
    a = nd.view(obj, nd)
    if len(shape) == 0:
        w = nd.reshape(a, (1,))
    elif len(shape) == 1:
        w = nd.__getitem__(a, slice(0, cols))
    else:
        w = nd.__getitem__(a, lead + (slice(0, rows), slice(0, cols)))
    w = nd.copy(w, order='C')
    if dtype.byteorder == '>':
        w = nd.byteswap(w)
    return {'lead': list(lead), 'rows': rows, 'cols': cols, 'hex': nd.tobytes(w).hex()}


def _describe(obj):
    import sys

    tp = type(obj)
    mods = sys.modules
    torch = mods.get('torch')
    if torch is not None:
        base = getattr(torch, 'Tensor', None)
        if isinstance(base, type) and issubclass(tp, base):
            return _torch_info(torch, obj, tp)
    np = mods.get('numpy')
    if np is not None:
        base = getattr(np, 'ndarray', None)
        if isinstance(base, type) and issubclass(tp, base):
            return _numpy_info(np, obj, tp)
    return None


def _p(expr, g, l):
    """JSON text for the tensor `expr` names in (g, l), or 'null'. Never raises, never prints."""
    try:
        import sys
    except BaseException:
        return 'null'
    saved = (sys.stdout, sys.stderr)
    result = 'null'
    try:
        sys.stdout = sys.stderr = _Sink()
        if type(expr) is not str or type(g) is not dict:
            return 'null'
        obj = eval(expr, g, l if l is not None else g)
        info = _describe(obj)
        if info is not None:
            result = _json(info)
    except BaseException:
        # KeyboardInterrupt included: a hover must never take down the user's kernel or program
        result = 'null'
    finally:
        sys.stdout, sys.stderr = saved
    return result


def _emit(text):
    """Notebook transport only: one marked line on stdout, which the kernel API hands to the extension."""
    import sys

    sys.stdout.write('\x1eMOE-PROBE ' + text + '\n')
    sys.stdout.flush()

/**
 * The probe runs inside somebody's live kernel or paused program, so it must stay harmless whatever it is pointed
 * at: objects with a malicious __repr__/__str__/__format__, __getattr__/__getattribute__ that raise or print,
 * __array__ and shape properties that raise, objects pretending to be arrays or tensors (a fake __class__, a fake
 * `torch` module), ndarray subclasses overriding everything, properties raising KeyboardInterrupt/SystemExit.
 * Proven three ways: the evil methods record every call in a list (which must stay empty for what the probe itself
 * touches), nothing is printed, and the namespace, sys.modules and builtins._ are identical before and after.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { findPythons, PythonSession, PROBE_SOURCE } from './python';
import { debugProbeExpression, findMarkedLine, notebookProbeCode, parseProbeJson, parsePythonStrRepr } from '../../../extension/hover/probeCode';

const SETUP = String.raw`
import numpy as np
calls = []
class EvilRepr:
    def __repr__(self): calls.append('repr'); print('REPR'); raise RuntimeError('repr')
    def __str__(self): calls.append('str'); raise RuntimeError('str')
    def __format__(self, spec): calls.append('format'); raise RuntimeError('format')
    def __bool__(self): calls.append('bool'); raise RuntimeError('bool')
    def __len__(self): calls.append('len'); raise RuntimeError('len')
    def __eq__(self, other): calls.append('eq'); raise RuntimeError('eq')
    __hash__ = None
class EvilGetattr:
    def __getattribute__(self, name):
        calls.append('getattribute:' + name); print('GETATTRIBUTE', name); raise RuntimeError(name)
    def __getattr__(self, name):
        calls.append('getattr:' + name); raise RuntimeError(name)
class EvilArray:
    def __array__(self, *a, **k): calls.append('__array__'); raise RuntimeError('array')
    @property
    def shape(self): calls.append('shape'); raise RuntimeError('shape')
    @property
    def __array_interface__(self): calls.append('__array_interface__'); raise RuntimeError('ai')
    dtype = np.dtype('float32')
    strides = (4,)
class PretendNdarray:
    # isinstance(x, np.ndarray) is True through __class__, but this is no array
    @property
    def __class__(self): calls.append('__class__'); return np.ndarray
    shape = (2, 2)
    strides = (8, 4)
    dtype = np.dtype('float32')
    itemsize = 4
class PretendTensor:
    shape = (2, 2)
    dtype = 'torch.float32'
    device = 'cuda:0'
    def stride(self): calls.append('stride'); return (2, 1)
    def untyped_storage(self): calls.append('untyped_storage'); raise RuntimeError('storage')
    def __repr__(self): calls.append('tensor repr'); return 'tensor(...)'
class EvilSub(np.ndarray):
    @property
    def shape(self): calls.append('sub.shape'); raise RuntimeError('shape')
    @property
    def strides(self): calls.append('sub.strides'); raise RuntimeError('strides')
    @property
    def dtype(self): calls.append('sub.dtype'); raise RuntimeError('dtype')
    def __getitem__(self, k): calls.append('sub.getitem'); raise RuntimeError('getitem')
    def __array_finalize__(self, obj): calls.append('sub.finalize')
    def __repr__(self): calls.append('sub.repr'); return 'x'
    def tobytes(self, *a, **k): calls.append('sub.tobytes'); raise RuntimeError('tobytes')
    def copy(self, *a, **k): calls.append('sub.copy'); raise RuntimeError('copy')
    def view(self, *a, **k): calls.append('sub.view'); raise RuntimeError('view')
evil_sub = np.arange(12, dtype=np.float32).reshape(3, 4).view(EvilSub)
class Holder:
    @property
    def w(self): print('PROP'); raise ValueError('w')
    @property
    def kb(self): raise KeyboardInterrupt
    @property
    def bye(self): raise SystemExit(3)
    @property
    def loud(self):
        import sys
        sys.stderr.write('LOUD'); print('LOUD'); return np.zeros((2, 2), np.float32)
holder = Holder()
evil_repr = EvilRepr()
evil_getattr = EvilGetattr()
evil_array = EvilArray()
pretend_nd = PretendNdarray()
pretend_t = PretendTensor()
evil_dict = {'k': EvilRepr()}
del calls[:]
`;

/** a `torch` that is not torch: a user module shadowing the name, with a Tensor class of its own */
const FAKE_TORCH = String.raw`
import sys, types
fake_torch = types.ModuleType('torch')
class _FakeTensor:
    def __init__(self): pass
    @property
    def shape(self): calls.append('fake.shape'); raise RuntimeError('shape')
fake_torch.Tensor = _FakeTensor
sys.modules['torch'] = fake_torch
fake_t = _FakeTensor()
del calls[:]
`;

/** the ASCII record separator the probe puts before its one marked line */
const RS = String.fromCharCode(0x1e);

/** evaluated by name only: the probe must not touch any of their methods */
const UNTOUCHED = ['evil_repr', 'evil_getattr', 'evil_array', 'pretend_nd', 'pretend_t', "evil_dict['k']", 'fake_t'];
/** the user's own expression runs their code (a property, __getattr__), which must stay silent and contained */
const CONTAINED = ['holder.w', 'holder.kb', 'holder.bye', 'evil_getattr.weight', 'evil_repr.x', "evil_dict['nope']"];

interface Snapshot {
  globals: string[];
  locals: string[];
  modules: string[];
  underscore: string;
}

const pythons = findPythons();

describe('hover probe stays harmless', () => {
  for (const python of pythons) {
    describe(`with ${python}`, () => {
      let py: PythonSession;
      before(async () => {
        py = new PythonSession(python);
        await py.exec(SETUP);
        await py.exec(FAKE_TORCH);
      });
      after(() => py.close());

      const snapshot = async (): Promise<Snapshot> => JSON.parse((await py.request('snapshot')).value!) as Snapshot;
      const calls = async (): Promise<string[]> => py.ref<string[]>('calls');

      async function debugForm(expr: string): Promise<string | undefined> {
        const r = await py.request('eval', debugProbeExpression(PROBE_SOURCE, expr));
        assert.equal(r.error, null, `${expr}: ${r.error}`);
        assert.equal(r.stdout, '', `${expr} printed to stdout`);
        assert.equal(r.stderr, '', `${expr} printed to stderr`);
        return parsePythonStrRepr(r.value!);
      }

      async function notebookForm(expr: string): Promise<string | undefined> {
        const r = await py.request('single', notebookProbeCode(PROBE_SOURCE, expr));
        assert.equal(r.error, null, `${expr}: ${r.error}`);
        assert.equal(r.stderr, '', `${expr} printed to stderr`);
        // exactly the one marked line and nothing else: no displayhook echo, no print from user code
        assert.match(r.stdout, new RegExp(`^${RS}MOE-PROBE [^\n]*\n$`));
        return findMarkedLine(r.stdout);
      }

      it('answers null, prints nothing and calls no method of objects it only looks at', async () => {
        const before = await snapshot();
        for (const e of UNTOUCHED) {
          assert.equal(await debugForm(e), 'null', e);
          assert.equal(await notebookForm(e), 'null', e);
        }
        assert.deepEqual(await calls(), []);
        assert.deepEqual(await snapshot(), before);
      });

      it('contains exceptions (KeyboardInterrupt and SystemExit included) and output from user properties', async () => {
        const before = await snapshot();
        for (const e of CONTAINED) {
          assert.equal(await debugForm(e), 'null', e);
          assert.equal(await notebookForm(e), 'null', e);
        }
        // a property that prints and returns a real array: the array is described, the print swallowed
        const loud = parseProbeJson((await debugForm('holder.loud'))!);
        assert.deepEqual(loud?.shape, [2, 2]);
        assert.deepEqual(await snapshot(), before);
      });

      it('reads an ndarray subclass through the base class: none of its overrides run', async () => {
        await py.exec('del calls[:]'); // the previous test ran user code on purpose
        const before = await snapshot();
        const w = parseProbeJson((await debugForm('evil_sub'))!);
        assert.ok(w);
        assert.equal(w.type, '__main__.EvilSub');
        assert.deepEqual(w.shape, [3, 4]);
        assert.deepEqual(w.strides, [4, 1]);
        assert.equal(w.dtype, 'float32');
        assert.equal(w.sample?.hex, Buffer.from(new Float32Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]).buffer).toString('hex'));
        assert.equal(await notebookForm('evil_sub'), (await debugForm('evil_sub'))!);
        assert.deepEqual(await calls(), []);
        assert.deepEqual(await snapshot(), before);
      });

      it('adds no module to sys.modules and no name anywhere, even on its first run in a fresh process', async () => {
        const fresh = new PythonSession(python);
        try {
          await fresh.exec('import numpy as np\nx = np.ones((4, 4), np.float32)');
          const before = JSON.parse((await fresh.request('snapshot')).value!) as Snapshot;
          const r = await fresh.request('single', notebookProbeCode(PROBE_SOURCE, 'x'));
          assert.ok(parseProbeJson(findMarkedLine(r.stdout)!));
          const r2 = await fresh.request('eval', debugProbeExpression(PROBE_SOURCE, 'x'));
          assert.ok(parseProbeJson(parsePythonStrRepr(r2.value!)!));
          assert.deepEqual(JSON.parse((await fresh.request('snapshot')).value!), before);
        } finally {
          fresh.close();
        }
      });
    });
  }
});

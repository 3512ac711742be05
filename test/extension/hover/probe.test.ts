/**
 * The Python probe against a real interpreter with NumPy: arrays of many shapes, dtypes and stride patterns, each
 * answer checked field by field against NumPy's own attributes (read separately, in a copy of the namespace) and
 * against storage/layout facts worked out by hand below. Runs once per interpreter found (numpy 1.x and 2.x here).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { findPythons, PythonSession, PROBE_SOURCE } from './python';
import { debugProbeExpression, parseProbeJson, parsePythonStrRepr, toProbedTensor } from '../../../extension/hover/probeCode';
import type { ProbedTensor } from '../../../extension/hover/types';

const SETUP = String.raw`
import numpy as np
from types import SimpleNamespace
base20 = np.arange(20, dtype=np.float32).reshape(4, 5)
a3 = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
fort = np.asfortranarray(np.arange(15.0).reshape(5, 3))
neg = base20[::-1, ::2]
bcast = np.broadcast_to(np.arange(4, dtype=np.int32), (3, 4))
big8 = np.zeros((8, 8), np.float32)
big8[2:5, 3:7] = np.arange(12).reshape(3, 4)
win = big8[2:5, 3:7]
sf90 = np.lib.stride_tricks.as_strided(np.arange(13, dtype=np.float32), (5, 2), (4, 32))
sf90g = np.lib.stride_tricks.as_strided(np.arange(324, dtype=np.float32), (3, 33, 3), (108 * 4, 4, 36 * 4))
packed = np.lib.stride_tricks.as_strided(np.arange(264, dtype=np.int32), (130, 2), (4, 132 * 4))
rowsf = np.linspace(0.5, 5, 10, dtype=np.float32).reshape(5, 2)
b = np.array([[True, False, True]])
i8 = np.array([-128, -1, 0, 127], np.int8)
u16 = np.array([0, 65535, 7], np.uint16)
i64 = np.array([[-(2**40), 5], [2**52, -7]], np.int64)
u64 = np.array([2**63, 1], np.uint64)
f16 = np.array([1.5, -0.0, np.inf, np.nan, 6.1e-5], np.float16)
scalar0 = np.array(3.5)
empty = np.zeros((0, 5), np.float32)
large = np.arange(200 * 100, dtype=np.float32).reshape(200, 100)
large64 = np.arange(100 * 100, dtype=np.float64).reshape(100, 100)
deep = np.arange(2 * 3 * 70 * 80, dtype=np.float32).reshape(2, 3, 70, 80)
bigend = np.arange(6, dtype='>i4').reshape(2, 3)
objarr = np.array([object(), object()], dtype=object)
struct = np.zeros(3, dtype=[('a', '<i4'), ('b', '<f8')])
fieldb = struct['b']
foreign = np.frombuffer(bytes(range(16)), np.float32)
layer = SimpleNamespace(w13_weight_scale_inv=np.ones((4, 8, 4), np.float32), inner=SimpleNamespace(x=a3))
d = {'k': a3, 3: fort}
lst = [a3, fort]
notatensor = [1, 2, 3]
`;

interface Expect {
  expr: string;
  /** owner buffer bytes and this view's byte offset, null when the memory is not owned by an array */
  storage: { bytes: number; offsetBytes: number } | null;
  /** undefined: not checked */
  major: 'K' | 'MN' | 'both' | null | undefined;
  tma: boolean | null | undefined;
}

// storage, K-/MN-major and TMA alignment worked out by hand from how each array was built (SETUP above)
const CASES: Expect[] = [
  { expr: 'a3', storage: { bytes: 96, offsetBytes: 0 }, major: 'K', tma: true },
  { expr: 'fort', storage: { bytes: 120, offsetBytes: 0 }, major: 'MN', tma: false }, // stride 5 × 8 B = 40 B
  { expr: 'neg', storage: { bytes: 80, offsetBytes: 60 }, major: null, tma: null }, // strides (-5, 2): starts at row 3
  { expr: 'bcast', storage: { bytes: 16, offsetBytes: 0 }, major: 'K', tma: true }, // strides (0, 1)
  { expr: 'win', storage: { bytes: 256, offsetBytes: 76 }, major: 'K', tma: true }, // (2·8 + 3)·4 B in, row stride 32 B
  { expr: 'sf90', storage: { bytes: 52, offsetBytes: 0 }, major: 'MN', tma: true }, // docs/layouts-and-stages.md §4: M=5 → strides (1, 8), 13 elems
  { expr: 'sf90g', storage: { bytes: 1296, offsetBytes: 0 }, major: 'MN', tma: true }, // (108, 1, 36)
  { expr: 'packed', storage: { bytes: 1056, offsetBytes: 0 }, major: 'MN', tma: true }, // (1, 132) int32
  { expr: 'rowsf', storage: { bytes: 40, offsetBytes: 0 }, major: 'K', tma: false }, // row stride 2 × 4 B = 8 B
  { expr: 'b', storage: { bytes: 3, offsetBytes: 0 }, major: 'both', tma: false },
  { expr: 'i8', storage: { bytes: 4, offsetBytes: 0 }, major: null, tma: null },
  { expr: 'u16', storage: { bytes: 6, offsetBytes: 0 }, major: null, tma: null },
  { expr: 'i64', storage: { bytes: 32, offsetBytes: 0 }, major: 'K', tma: true },
  { expr: 'u64', storage: { bytes: 16, offsetBytes: 0 }, major: null, tma: null },
  { expr: 'f16', storage: { bytes: 10, offsetBytes: 0 }, major: null, tma: null },
  { expr: 'scalar0', storage: { bytes: 8, offsetBytes: 0 }, major: null, tma: null },
  // numpy 2 reports strides (0, 0) for an empty array, numpy 1 (20, 4): layout facts depend on the version
  { expr: 'empty', storage: { bytes: 0, offsetBytes: 0 }, major: undefined, tma: undefined },
  { expr: 'large', storage: { bytes: 80000, offsetBytes: 0 }, major: 'K', tma: true },
  { expr: 'large64', storage: { bytes: 80000, offsetBytes: 0 }, major: 'K', tma: true },
  { expr: 'deep', storage: { bytes: 134400, offsetBytes: 0 }, major: 'K', tma: true },
  { expr: 'bigend', storage: { bytes: 24, offsetBytes: 0 }, major: 'K', tma: false },
  { expr: 'foreign', storage: null, major: null, tma: null },
  { expr: 'layer.w13_weight_scale_inv', storage: { bytes: 512, offsetBytes: 0 }, major: 'K', tma: true },
  { expr: 'layer.inner.x', storage: { bytes: 96, offsetBytes: 0 }, major: 'K', tma: true },
  { expr: "d['k']", storage: { bytes: 96, offsetBytes: 0 }, major: 'K', tma: true },
  { expr: 'd[3]', storage: { bytes: 120, offsetBytes: 0 }, major: 'MN', tma: false },
  { expr: 'lst[-1]', storage: { bytes: 120, offsetBytes: 0 }, major: 'MN', tma: false },
  { expr: 'a3[1]', storage: { bytes: 96, offsetBytes: 48 }, major: 'K', tma: true },
];

/** The sample window the probe promises: last two dims, ≤ 64 columns, ≤ 4096 values and ≤ 16 KiB. */
function expectedWindow(shape: number[], item: number): { lead: number[]; rows: number; cols: number } {
  const maxv = Math.min(4096, Math.floor(16384 / item));
  if (shape.length === 0) return { lead: [], rows: 1, cols: 1 };
  if (shape.length === 1) return { lead: [], rows: 1, cols: Math.min(shape[0]!, maxv) };
  const cols = Math.min(shape.at(-1)!, 64);
  const rows = cols > 0 ? Math.min(shape.at(-2)!, Math.floor(maxv / cols)) : 0;
  return { lead: shape.slice(0, -2).map(() => 0), rows, cols };
}

interface NumpyRef {
  shape: number[];
  strides: number[];
  itemsize: number;
  dtype: string;
  c: boolean;
  f: boolean;
}

const pythons = findPythons();

describe('hover probe against a real Python', () => {
  it('found an interpreter with NumPy', () => {
    assert.ok(pythons.length > 0, 'no python3 with numpy found (tried python3, /usr/bin/python3; set MOE_TEST_PYTHON)');
  });

  for (const python of pythons) {
    describe(`with ${python}`, () => {
      let py: PythonSession;
      before(async () => {
        py = new PythonSession(python);
        await py.exec(SETUP);
      });
      after(() => py.close());

      async function probe(expr: string): Promise<{ t: ProbedTensor | null; stdout: string; stderr: string }> {
        const r = await py.request('eval', debugProbeExpression(PROBE_SOURCE, expr));
        assert.equal(r.error, null, `probe raised for ${expr}: ${r.error}`);
        const text = parsePythonStrRepr(r.value ?? '');
        assert.ok(text !== undefined, `probe result is not a str repr: ${r.value?.slice(0, 80)}`);
        const wire = parseProbeJson(text);
        return { t: wire && toProbedTensor(wire, expr, 'debug'), stdout: r.stdout, stderr: r.stderr };
      }

      for (const c of CASES) {
        it(`${c.expr}: every field matches NumPy and the hand-worked layout`, async () => {
          const { t, stdout, stderr } = await probe(c.expr);
          assert.equal(stdout, '');
          assert.equal(stderr, '');
          assert.ok(t, `${c.expr} should be recognised as an array`);
          const ref = await py.ref<NumpyRef>(
            `(lambda x: {'shape': list(x.shape), 'strides': list(x.strides), 'itemsize': x.itemsize, 'dtype': x.dtype.name, 'c': bool(x.flags.c_contiguous), 'f': bool(x.flags.f_contiguous)})(${c.expr})`,
          );
          assert.equal(t.library, 'numpy');
          assert.equal(t.typeName, 'numpy.ndarray');
          assert.equal(t.dtype, ref.dtype);
          assert.equal(t.itemBytes, ref.itemsize);
          assert.deepEqual(t.shape, ref.shape);
          assert.deepEqual(t.stridesBytes, ref.strides);
          assert.deepEqual(t.strides, ref.strides.map((s) => s / ref.itemsize));
          assert.equal(t.cContiguous, ref.c, 'C-contiguity as numpy.flags says');
          assert.equal(t.fContiguous, ref.f, 'F-contiguity as numpy.flags says');
          assert.equal(t.device, 'cpu');
          assert.equal(t.requiresGrad, false);
          if (c.major !== undefined) assert.equal(t.major, c.major);
          if (c.tma !== undefined) assert.equal(t.tmaAligned, c.tma);
          if (c.storage) {
            assert.equal(t.storageBytes, c.storage.bytes);
            assert.equal(t.storageElems, c.storage.bytes / ref.itemsize);
            assert.equal(t.storageOffset, c.storage.offsetBytes / ref.itemsize);
          } else {
            assert.equal(t.storageBytes, null);
            assert.equal(t.storageElems, null);
          }

          const w = expectedWindow(ref.shape, ref.itemsize);
          assert.ok(t.sample, `sample missing: ${t.sampleNote}`);
          assert.deepEqual(t.sample.lead, w.lead);
          assert.equal(t.sample.rows, w.rows);
          assert.equal(t.sample.cols, w.cols);
          assert.ok(t.sample.values.length <= 4096);
          const idx = ref.shape.length === 0 ? '' : ref.shape.length === 1 ? `[:${w.cols}]` : `[${[...w.lead, `:${w.rows}`, `:${w.cols}`].join(', ')}]`;
          // JSON has no NaN or infinities: both sides spell them as strings
          const values = await py.ref<(number | string)[]>(
            `[str(v) if v != v or v in (float('inf'), float('-inf')) else v for v in np.asarray((${c.expr})${idx}).astype(np.float64).ravel().tolist()]`,
          );
          const spell = (v: number): number | string => (Number.isNaN(v) ? 'nan' : v === Infinity ? 'inf' : v === -Infinity ? '-inf' : v);
          assert.deepEqual(t.sample.values.map(spell), values);
        });
      }

      it('bounds the sample: 4096 float32 values, 2048 float64 values (16 KiB)', async () => {
        const f32 = (await probe('large')).t!;
        assert.equal(f32.sample!.values.length, 4096);
        const f64 = (await probe('large64')).t!;
        assert.equal(f64.sample!.values.length, 2048);
        assert.equal(f64.sample!.cols, 64);
        assert.equal(f64.sample!.rows, 32);
      });

      it('reports strides it cannot express in elements as bytes only (a structured field view)', async () => {
        const { t } = await probe('fieldb');
        assert.ok(t);
        assert.equal(t.strides, null);
        assert.deepEqual(t.stridesBytes, [12]);
        assert.equal(t.storageBytes, 36);
        assert.equal(t.storageOffset, null, 'offset 4 B is not a whole number of float64 elements');
        assert.deepEqual(t.sample?.values, [0, 0, 0]);
      });

      it('gives metadata but no values for object arrays', async () => {
        const { t } = await probe('objarr');
        assert.ok(t);
        assert.equal(t.dtype, 'object');
        assert.equal(t.sample, null);
        assert.match(t.sampleNote ?? '', /no numeric sample/);
      });

      it('answers null for non-arrays, missing names and errors, without output', async () => {
        for (const e of ['notatensor', 'np', 'no_such_name', 'd["missing"]', 'lst[7]', 'layer.nope', '1/0']) {
          const { t, stdout, stderr } = await probe(e);
          assert.equal(t, null, e);
          assert.equal(stdout + stderr, '', e);
        }
      });

      it('resolves names in the frame locals before globals (a paused function frame)', async () => {
        await py.exec('a3 = np.zeros((7, 9), np.float16)', 'locals');
        const { t } = await probe('a3');
        assert.deepEqual(t!.shape, [7, 9]);
        assert.equal(t!.dtype, 'float16');
      });
    });
  }
});

/** Activation and weight FP8 quantizers: bit-exact against the golden files and the spec's worked example. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SafetensorsFile } from '../../../kernels/io/safetensors';
import { quantizeActivations, quantizeRowGroups, quantizeWeightBlocks, type ActQuantOptions } from '../../../kernels/ops/quantize';
import { decodeE4M3 } from '../../../kernels/dtypes/fp8e4m3';
import { encodeBf16 } from '../../../kernels/dtypes/bf16';
import { MoeError } from '../../../kernels/errors';
import { Tensor } from '../../../kernels/tensor';
import { goldenFile } from '../../golden';

function firstDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'lengths');
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
}

const isMoeError = (code: string, re?: RegExp) => (e: unknown): boolean => {
  assert.ok(e instanceof MoeError, `expected MoeError, got ${String(e)}`);
  assert.equal(e.code, code);
  if (re) assert.match(e.message, re);
  return true;
};

test('per-token-group quantization (deepgemm convention) equals every ptq case of fp8_golden', () => {
  const f = SafetensorsFile.open(goldenFile('fp8_golden.safetensors'));
  const cases = f.names().filter((n) => n.startsWith('ptq_') && n.endsWith('_x_bf16')).map((n) => n.slice(0, -'_x_bf16'.length));
  assert.ok(cases.length >= 4, `found ${cases.length} cases`);
  for (const c of cases) {
    const x = f.read(`${c}_x_bf16`) as Tensor<'bf16'>;
    const fmt = c.endsWith('_ue8m0') ? 'ue8m0' : 'f32';
    const { q, scale } = quantizeActivations(x, { convention: 'deepgemm', scaleFormat: fmt });
    const gq = f.read(`${c}_q_u8`, 'f8e4m3fn');
    const gs = f.read(`${c}_sf_f32`);
    assert.deepEqual(q.shape, gq.shape, c);
    assert.deepEqual(scale.shape, gs.shape, c);
    assert.equal(firstDiff(q.storage, gq.storage as Uint8Array), -1, `${c}: q bytes`);
    assert.equal(firstDiff(scale.storage, gs.storage as Float32Array), -1, `${c}: scales`);
  }
  f.close();
});

for (const variant of ['f32', 'ue8m0'] as const) {
  test(`vllm-convention quantization reproduces a1q and a1_scale of e2e_small_${variant}`, () => {
    const f = SafetensorsFile.open(goldenFile(`e2e_small_${variant}.safetensors`));
    assert.equal(f.metadata.ue8m0, variant === 'ue8m0' ? 'True' : 'False');
    const x = f.read('x_bf16') as Tensor<'bf16'>;
    const { q, scale } = quantizeActivations(x, { convention: 'vllm', scaleFormat: variant });
    const gq = f.read('a1q_u8');
    const gs = f.read('a1_scale_f32');
    assert.deepEqual(q.shape, [37, 512]);
    assert.equal(firstDiff(q.storage, gq.storage as Uint8Array), -1, 'a1q bytes');
    assert.equal(firstDiff(scale.storage, gs.storage as Float32Array), -1, 'a1 scales');
    f.close();
  });
}

/** one group of 128: [3, 1, −0.05, 0, …] as in docs/layouts-and-stages.md §2.4 */
function exampleGroup(): Float32Array {
  const g = new Float32Array(128);
  g.set([3, 1, -0.05]);
  return g;
}

test('spec §2.4 worked example (float32 scales)', () => {
  const q = new Uint8Array(128);
  const s = new Float32Array(1);
  quantizeRowGroups(exampleGroup(), 0, 128, q, 0, s, 0, 1, { convention: 'vllm', scaleFormat: 'f32' });
  assert.equal(new Uint32Array(s.buffer)[0], 0x3bdb6db7);
  assert.deepEqual([...q.slice(0, 4)], [0x7e, 0x71, 0xcf, 0x00]);
  assert.equal(decodeE4M3(0x71), 144);
  assert.equal(decodeE4M3(0xcf), -7.5);
});

test('spec §2.4 worked example (UE8M0 scales)', () => {
  for (const convention of ['vllm', 'deepgemm'] as const) {
    const q = new Uint8Array(128);
    const s = new Float32Array(1);
    quantizeRowGroups(exampleGroup(), 0, 128, q, 0, s, 0, 1, { convention, scaleFormat: 'ue8m0' });
    assert.equal(s[0], 2 ** -7);
    assert.deepEqual([...q.slice(0, 3)], [0x7c, 0x70, 0xcd], convention);
  }
});

test('quantizeRowGroups writes MN-major scales through scaleStride', () => {
  const src = new Float32Array(2 * 256);
  for (let i = 0; i < src.length; i++) src[i] = Math.sin(i) * (1 + (i >> 7));
  const opts: ActQuantOptions = { convention: 'vllm', scaleFormat: 'f32' };
  const ref = quantizeActivations(new Tensor('f32', [2, 256], src), opts);
  const q = new Uint8Array(512);
  const sMn = new Float32Array(1 + 1 * 4 + 1); // (2 rows, 2 groups), strides (1, 4)
  for (let m = 0; m < 2; m++) quantizeRowGroups(src, m * 256, 256, q, m * 256, sMn, m, 4, opts);
  assert.deepEqual([...q], [...ref.q.storage]);
  assert.deepEqual([sMn[0], sMn[4], sMn[1], sMn[5]], [...ref.scale.storage]);
});

test('all-zero group: scale is the floor / 448, q is zero', () => {
  const x = new Tensor('f32', [1, 128], new Float32Array(128));
  const v = quantizeActivations(x, { convention: 'vllm', scaleFormat: 'f32' });
  assert.equal(v.scale.storage[0], Math.fround(Math.fround(1e-10) / 448));
  const d = quantizeActivations(x, { convention: 'deepgemm', scaleFormat: 'f32' });
  assert.equal(d.scale.storage[0], Math.fround(Math.fround(1e-4) / 448));
  assert.ok(d.q.storage.every((b) => b === 0));
});

test('bf16 and f32 inputs and a strided input give identical results', () => {
  const M = 3;
  const K = 256;
  const bf = new Uint16Array(M * K);
  for (let i = 0; i < bf.length; i++) bf[i] = encodeBf16(Math.cos(i * 0.37) * 10 ** ((i % 7) - 3));
  const xb = new Tensor('bf16', [M, K], bf);
  const xf = new Tensor('f32', [M, K], Float32Array.from(bf, (h) => new Float32Array(new Uint32Array([h << 16]).buffer)[0]!));
  const opts: ActQuantOptions = { convention: 'vllm', scaleFormat: 'ue8m0' };
  const a = quantizeActivations(xb, opts);
  const b = quantizeActivations(xf, opts);
  const c = quantizeActivations(xf.transpose().contiguous().transpose() as Tensor<'f32'>, opts); // column-major storage
  assert.deepEqual([...a.q.storage], [...b.q.storage]);
  assert.deepEqual([...a.scale.storage], [...b.scale.storage]);
  assert.deepEqual([...c.q.storage], [...b.q.storage]);
});

test('empty inputs: M = 0 gives empty (0, K) and (0, K/128) outputs', () => {
  const { q, scale } = quantizeActivations(new Tensor('f32', [0, 256], new Float32Array(0)), { convention: 'vllm', scaleFormat: 'f32' });
  assert.deepEqual(q.shape, [0, 256]);
  assert.deepEqual(scale.shape, [0, 2]);
  const w = quantizeWeightBlocks(new Tensor('f32', [0, 0, 256], new Float32Array(0)), { scaleFormat: 'f32' });
  assert.deepEqual(w.scaleInv.shape, [0, 0, 2]);
});

test('bad inputs: K not a multiple of 128, wrong dtype/rank, NaN and inf name row and column', () => {
  const opts: ActQuantOptions = { convention: 'vllm', scaleFormat: 'f32' };
  assert.throws(() => quantizeActivations(new Tensor('f32', [2, 100], new Float32Array(200), undefined, 0, 'hidden_states'), opts), isMoeError('E_SHAPE', /hidden_states.*K = 100.*multiple of.*128/));
  assert.throws(() => quantizeActivations(new Tensor('i32', [1, 128], new Int32Array(128), undefined, 0, 'hs') as unknown as Tensor<'f32'>, opts), isMoeError('E_DTYPE', /hs.*bf16 or f32.*i32/));
  assert.throws(() => quantizeActivations(new Tensor('f32', [128], new Float32Array(128), undefined, 0, 'hs'), opts), isMoeError('E_SHAPE', /hs.*2-D/));
  const nan = new Float32Array(2 * 256);
  nan[256 + 130] = NaN;
  assert.throws(() => quantizeActivations(new Tensor('f32', [2, 256], nan, undefined, 0, 'hidden_states'), opts), isMoeError('E_VALUE', /hidden_states\[1, 130\].*NaN.*row 1, column 130/));
  const inf = new Float32Array(256);
  inf[3] = -Infinity;
  assert.throws(() => quantizeActivations(new Tensor('f32', [1, 256], inf, undefined, 0, 'x'), { convention: 'deepgemm', scaleFormat: 'ue8m0' }), isMoeError('E_VALUE', /x\[0, 3\] = -Infinity/));
  assert.throws(() => quantizeActivations(new Tensor('f32', [1, 128], new Float32Array(128)), { convention: 'triton' as 'vllm', scaleFormat: 'f32' }), isMoeError('E_VALUE', /convention/));
  const wn = new Float32Array(2 * 130 * 200);
  wn[1 * 130 * 200 + 129 * 200 + 199] = Infinity;
  assert.throws(() => quantizeWeightBlocks(new Tensor('f32', [2, 130, 200], wn, undefined, 0, 'w13_weight'), { scaleFormat: 'f32' }), isMoeError('E_VALUE', /w13_weight\[1, 129, 199\]/));
});

test('weight blocks: a 1×K matrix equals per-token deepgemm quantization; ragged blocks; dequant error bound', () => {
  const K = 384;
  const row = Float32Array.from({ length: K }, (_, i) => Math.fround(Math.tan(i * 0.11) * 0.01));
  for (const scaleFormat of ['f32', 'ue8m0'] as const) {
    const w = quantizeWeightBlocks(new Tensor('f32', [1, K], row), { scaleFormat });
    const a = quantizeActivations(new Tensor('f32', [1, K], row), { convention: 'deepgemm', scaleFormat });
    assert.deepEqual([...w.q.storage], [...a.q.storage]);
    assert.deepEqual([...w.scaleInv.storage], [...a.scale.storage]);
  }
  // ragged: (E=2, N=130, K=200) → scales (2, 2, 2); each block's amax maps to ±448 and q·s is within half an fp8 step
  const E = 2, N = 130, Kr = 200;
  const x = Float32Array.from({ length: E * N * Kr }, (_, i) => Math.fround(Math.sin(i * 0.731) * (1 + (i % 13))));
  const { q, scaleInv } = quantizeWeightBlocks(new Tensor('f32', [E, N, Kr], x, undefined, 0, 'w'), { scaleFormat: 'f32' });
  assert.deepEqual(scaleInv.shape, [2, 2, 2]);
  assert.deepEqual(q.shape, [E, N, Kr]);
  for (let e = 0; e < E; e++)
    for (let bn = 0; bn < 2; bn++)
      for (let bk = 0; bk < 2; bk++) {
        let amax = 0;
        for (let n = bn * 128; n < Math.min(N, bn * 128 + 128); n++)
          for (let k = bk * 128; k < Math.min(Kr, bk * 128 + 128); k++) amax = Math.max(amax, Math.abs(x[(e * N + n) * Kr + k]!));
        const s = scaleInv.storage[(e * 2 + bn) * 2 + bk]!;
        assert.equal(s, Math.fround(amax / 448));
        for (let n = bn * 128; n < Math.min(N, bn * 128 + 128); n++)
          for (let k = bk * 128; k < Math.min(Kr, bk * 128 + 128); k++) {
            const i = (e * N + n) * Kr + k;
            const deq = decodeE4M3(q.storage[i]!) * s;
            assert.ok(Math.abs(deq - x[i]!) <= Math.max(Math.abs(x[i]!) * 2 ** -4, s * 2 ** -10) * 1.0001, `w[${e},${n},${k}]`);
          }
      }
});

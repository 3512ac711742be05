/**
 * torchao's FP8 quantizers (docs/layouts-and-stages.md §8, torchao row of §2.2) against a straightforward re-statement of the
 * Triton kernels (float32 via Float32Array, PyTorch's FP8 cast), bit for bit, over random data with outliers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../../../kernels/tensor';
import { MoeError } from '../../../../kernels/errors';
import { Rng } from '../../../../kernels/synthetic';
import { encodeBf16, decodeBf16 } from '../../../../kernels/dtypes/bf16';
import { encodeE4M3, decodeE4M3 } from '../../../../kernels/dtypes/fp8e4m3';
import { f32Bits } from '../../../../kernels/dtypes/float32';
import { planGroups } from '../../../../kernels/recipes/torchao-fp8-training/groups';
import { e4m3OfClamped, quantizeKGrouped, quantizeRows1x128, quantizeWeight128, torchaoScales, TORCHAO_EPS } from '../../../../kernels/recipes/torchao-fp8-training/quantize';
import { padTokenGroups } from '../../../../kernels/recipes/torchao-fp8-training/pad';

const f32 = (x: number): number => new Float32Array([x])[0]!;

/** the Triton kernel's arithmetic, spelled out: amax clamped in float32, 448/amax in float64 → float32, x·q, clamp, cast */
function refGroup(vals: number[]): { codes: number[]; scale: number } {
  let amax = 0;
  for (const v of vals) amax = Math.max(amax, Math.abs(v));
  const clamped = Math.max(amax, f32(1e-12));
  const quant = f32(448 / clamped);
  const codes = vals.map((v) => encodeE4M3(Math.min(448, Math.max(-448, f32(v * quant)))));
  return { codes, scale: f32(1 / quant) };
}

function bf16Matrix(rows: number, cols: number, rng: Rng, outlierCols = new Set<number>()): Tensor<'bf16'> {
  const a = new Uint16Array(rows * cols);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) {
      const u = rng.float();
      // normal values, exact zeros, tiny values near the subnormal range, outlier channels
      const v = u < 0.05 ? 0 : u < 0.1 ? rng.normal() * 1e-6 : rng.normal() * (outlierCols.has(c) ? 64 : 1);
      a[r * cols + c] = encodeBf16(v);
    }
  return new Tensor('bf16', [rows, cols], a, undefined, 0, 'x');
}

test('scales: amax 3 → quant fl(448/3), stored scale fl(1/quant); differs from fl(amax/448) by at most an ulp', () => {
  const { quant, scale } = torchaoScales(3);
  assert.equal(quant, f32(448 / 3));
  assert.equal(scale, f32(1 / f32(448 / 3)));
  // the vLLM / DeepGEMM scale of the same group is fl(3/448) (0x3BDB6DB7, docs/layouts-and-stages.md §2.4)
  assert.equal(f32Bits(f32(3 / 448)), 0x3bdb6db7);
  assert.ok(Math.abs(f32Bits(scale) - 0x3bdb6db7) <= 1);
  // over many amax values the two conventions are bit-different somewhere: torchao stores 1/fl(448/amax)
  let differ = 0;
  const rng = new Rng(5);
  for (let i = 0; i < 2000; i++) {
    const amax = f32(rng.float() * 100);
    if (torchaoScales(amax).scale !== f32(Math.max(amax, 1e-10) / 448)) differ++;
  }
  assert.ok(differ > 0, 'torchao and vLLM scales differ in the last bit for some groups');
});

test('an all-zero group: amax clamps to fl32(1e−12), scale fl(1/fl(448/1e−12)) ≈ 2.23e−15, every code 0', () => {
  const { quant, scale } = torchaoScales(0);
  assert.equal(quant, f32(448 / TORCHAO_EPS));
  assert.ok(Math.abs(scale - 1e-12 / 448) / (1e-12 / 448) < 1e-6);
  const z = new Tensor('bf16', [2, 128], new Uint16Array(256), undefined, 0, 'z');
  const { q, scale: s } = quantizeRows1x128(z, 'z');
  assert.ok(Array.from(q.storage).every((c) => c === 0));
  assert.equal(s.get(0, 0), scale);
});

test('1×128 LHS quantizer: bit-exact codes and scales, scales column-major (strides (1, R)), max element → ±448', (t) => {
  const seed = 41;
  t.diagnostic(`seed ${seed}`);
  const rng = new Rng(seed);
  const R = 37;
  const C = 384;
  const x = bf16Matrix(R, C, rng, new Set([5, 200]));
  const { q, scale } = quantizeRows1x128(x, 'x');
  assert.deepEqual(scale.shape, [R, 3]);
  assert.deepEqual(scale.strides, [1, R]);
  for (let r = 0; r < R; r++)
    for (let j = 0; j < 3; j++) {
      const vals = Array.from({ length: 128 }, (_, i) => x.get(r, j * 128 + i));
      const ref = refGroup(vals);
      assert.equal(scale.get(r, j), ref.scale, `scale (${r}, ${j})`);
      assert.deepEqual(Array.from({ length: 128 }, (_, i) => q.raw(r, j * 128 + i)), ref.codes, `codes row ${r} group ${j}`);
      const amaxAt = vals.reduce((b, v, i) => (Math.abs(v) > Math.abs(vals[b]!) ? i : b), 0);
      if (vals[amaxAt] !== 0) assert.equal(q.raw(r, j * 128 + amaxAt) & 0x7f, 0x7e, 'the largest element quantizes to ±448');
      // dequantization error of E4M3 (3 mantissa bits): relative 2^-4 for normals, 2^-10·scale absolute below
      for (let i = 0; i < 128; i++) {
        const deq = decodeE4M3(q.raw(r, j * 128 + i)) * scale.get(r, j);
        assert.ok(Math.abs(deq - vals[i]!) <= 2 ** -4 * Math.abs(vals[i]!) + 2 ** -10 * scale.get(r, j) * 1.0001, `dequant (${r}, ${j * 128 + i})`);
      }
    }
});

test('128×128 weight blocks: forward (E, N, K) and dgrad (E, K, N) hold the same codes transposed, scales transposed', (t) => {
  const seed = 77;
  t.diagnostic(`seed ${seed}`);
  const rng = new Rng(seed);
  const E = 2;
  const N = 256;
  const K = 384;
  const w2 = bf16Matrix(E * N, K, rng, new Set([3]));
  const w = new Tensor('bf16', [E, N, K], w2.storage, undefined, 0, 'weight');
  const fwd = quantizeWeight128(w, 'forward', 'weight');
  const dg = quantizeWeight128(w, 'dgrad', 'weight');
  assert.deepEqual(fwd.q.shape, [E, N, K]);
  assert.deepEqual(fwd.scale.shape, [E, 2, 3]);
  assert.deepEqual(dg.q.shape, [E, K, N]);
  assert.deepEqual(dg.scale.shape, [E, 3, 2]);
  for (let e = 0; e < E; e++)
    for (let bn = 0; bn < 2; bn++)
      for (let bk = 0; bk < 3; bk++) {
        const vals: number[] = [];
        for (let i = 0; i < 128; i++) for (let k = 0; k < 128; k++) vals.push(w.get(e, bn * 128 + i, bk * 128 + k));
        const ref = refGroup(vals);
        assert.equal(fwd.scale.get(e, bn, bk), ref.scale);
        assert.equal(dg.scale.get(e, bk, bn), ref.scale);
        for (let i = 0; i < 128; i++)
          for (let k = 0; k < 128; k++) {
            const code = ref.codes[i * 128 + k];
            assert.equal(fwd.q.raw(e, bn * 128 + i, bk * 128 + k), code);
            assert.equal(dg.q.raw(e, bk * 128 + k, bn * 128 + i), code);
          }
      }
});

test('K-grouped wgrad quantizer: expert e\'s (D, P_e) block at start_e·D, one scale per (feature, 128-token block)', (t) => {
  const seed = 1234;
  t.diagnostic(`seed ${seed}`);
  const rng = new Rng(seed);
  const sizes = [100, 0, 300, 128];
  const groups = planGroups(sizes);
  const D = 256;
  const x = bf16Matrix(groups.tokens, D, rng, new Set([17]));
  const padded = padTokenGroups(x, groups, 'x');
  const { q, scale } = quantizeKGrouped(padded, groups, 'x');
  assert.deepEqual(q.shape, [groups.paddedTokens * D]);
  assert.deepEqual(scale.shape, [D, groups.blocks]);
  for (let e = 0; e < sizes.length; e++) {
    const P = groups.padded[e]!;
    for (let jj = 0; jj < P / 128; jj++) {
      const J = groups.starts[e]! / 128 + jj;
      for (let d = 0; d < D; d++) {
        const vals = Array.from({ length: 128 }, (_, m) => padded.get(groups.starts[e]! + jj * 128 + m, d));
        const ref = refGroup(vals);
        assert.equal(scale.get(d, J), ref.scale, `scale (${d}, ${J})`);
        for (let m = 0; m < 128; m++) assert.equal(q.raw(groups.starts[e]! * D + d * P + jj * 128 + m), ref.codes[m]);
      }
    }
  }
  // padding tokens are zero rows: code 0, adding nothing to the wgrad sums
  assert.equal(q.raw(0 * D + 0 * 128 + 100), 0);
});

test('non-finite values are refused with the element named', () => {
  const a = new Uint16Array(2 * 128);
  a[128 + 7] = encodeBf16(Infinity);
  const x = new Tensor('bf16', [2, 128], a, undefined, 0, 'x');
  assert.throws(() => quantizeRows1x128(x, 'grad_output'), (e: unknown) => e instanceof MoeError && e.code === 'E_VALUE' && /grad_output\[1, 7\] = Infinity/.test(e.message));
  const w = new Tensor('bf16', [1, 128, 128], Uint16Array.from({ length: 128 * 128 }, (_, i) => (i === 129 ? encodeBf16(NaN) : 0)), undefined, 0, 'w');
  assert.throws(() => quantizeWeight128(w, 'forward', 'weight'), /weight\[0, 1, 1\] = NaN/);
  assert.equal(decodeBf16(encodeBf16(1.5)), 1.5);
});

test('shapes the quantizers refuse: C not a multiple of 128, 2-D weights, fewer rows than the groups need', () => {
  const x = new Tensor('bf16', [2, 200], new Uint16Array(400), undefined, 0, 'x');
  assert.throws(() => quantizeRows1x128(x, 'input'), /input: C = 200 .* multiple of 128/);
  assert.throws(() => quantizeWeight128(x, 'forward', 'weight'), /weight: expected a 3-D/);
  const y = new Tensor('bf16', [100, 128], new Uint16Array(12800), undefined, 0, 'y');
  assert.throws(() => quantizeKGrouped(y, planGroups([130]), 'input_padded'), /input_padded: has 100 rows but the padded expert groups need 256/);
});

test('the clamped-range FP8 encoder equals PyTorch\'s cast on every float32 pattern class in [−448, 448]', () => {
  const f = new Float32Array(1);
  const bits = new Int32Array(f.buffer);
  const lows = [0, 1, 0x7fff, 0x8000, 0x8001, 0xfffe, 0xffff, 0x1234, 0xabcd];
  let checked = 0;
  for (let hi = 0; hi < 65536; hi++)
    for (const lo of lows) {
      bits[0] = (hi << 16) | lo;
      const v = f[0]!;
      if (!(Math.abs(v) <= 448)) continue;
      assert.equal(e4m3OfClamped(bits[0]!), encodeE4M3(v), `0x${(bits[0]! >>> 0).toString(16)} = ${v}`);
      checked++;
    }
  assert.ok(checked > 300000, `${checked} values`);
});

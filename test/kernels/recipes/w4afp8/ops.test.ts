/**
 * The W4AFP8 CPU kernels: nibble order (element 2j in the low nibble, as SGLang packs), the int4 × FP8 grouped GEMM
 * (tiled = naive bit for bit, against a float64 sum, reading the interleaved scales), static per-tensor quantization.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../../../kernels/tensor';
import { MoeError } from '../../../../kernels/errors';
import { Rng } from '../../../../kernels/synthetic';
import { packInt4, unpackInt4 } from '../../../../kernels/dtypes/int4';
import { E4M3_DECODE, encodeE4M3, encodeE4M3Sat } from '../../../../kernels/dtypes/fp8e4m3';
import { decodeBf16, roundBf16 } from '../../../../kernels/dtypes/bf16';
import { int4Fp8GroupedGemm, int4Fp8GroupedGemmNaive, type Int4GemmArgs } from '../../../../kernels/recipes/w4afp8/gemm';
import { interleaveScales } from '../../../../kernels/recipes/w4afp8/interleave';
import { quantizeStaticRow } from '../../../../kernels/recipes/w4afp8/quantize';

const SEED = Number(process.env.MOE_PROPERTY_SEED ?? Math.floor(Math.random() * 2 ** 31));

test("nibble order: packInt4 is SGLang's pack_int4_values_to_int8 ((v[2j+1] << 4) | (v[2j] & 0xF)) for every pair", () => {
  for (let lo = -8; lo <= 7; lo++)
    for (let hi = -8; hi <= 7; hi++) {
      const sglang = ((hi << 4) | (lo & 0xf)) & 0xff;
      assert.equal(packInt4([lo, hi])[0], sglang, `(${lo}, ${hi})`);
      assert.deepEqual(Array.from(unpackInt4(Uint8Array.of(sglang))), [lo, hi]);
    }
  assert.equal(packInt4([1, -2])[0], 0xe1, 'element 0 = 1 in the low nibble, element 1 = −2 (0xE) in the high one');
});

/** a GEMM case from int4 values (E, N, K), FP8 codes (R, K), float32 group scales (E, N, K/128) */
function gemmCase(rng: Rng, E: number, N: number, K: number, counts: number[]): { args: Int4GemmArgs; w: Int8Array; s: Float32Array } {
  const R = counts.reduce((a, b) => a + b, 0);
  const a = new Uint8Array(R * K);
  for (let i = 0; i < a.length; i++) {
    let c = rng.u32() & 0xff;
    while ((c & 0x7f) === 0x7f) c = rng.u32() & 0xff;
    a[i] = c;
  }
  const w = new Int8Array(E * N * K);
  for (let i = 0; i < w.length; i++) w[i] = (rng.u32() % 16) - 8;
  const s = new Float32Array(E * N * (K / 128));
  for (let i = 0; i < s.length; i++) s[i] = Math.fround(1e-3 * (0.5 + rng.float()));
  const offsets = new Int32Array(E + 1);
  counts.forEach((c, e) => (offsets[e + 1] = offsets[e]! + c));
  return {
    args: {
      a: new Tensor('f8e4m3fn', [R, K], a),
      w: new Tensor('i4x2', [E, N, K / 2], packInt4(w)),
      scales: interleaveScales(new Tensor('f32', [E, N, K / 128], s), 's').tensor,
      alpha: Math.fround(0.05 * (0.5 + rng.float())),
      offsets,
    },
    w,
    s,
  };
}

test(`grouped GEMM: tiled = naive bit for bit, and within BF16 rounding of a float64 sum (random shapes, seed ${SEED})`, () => {
  const rng = new Rng(SEED);
  for (let c = 0; c < 6; c++) {
    const E = 1 + Math.floor(rng.float() * 3);
    const N = 1 + Math.floor(rng.float() * 40);
    const K = 128 * (1 + Math.floor(rng.float() * 5));
    const counts = Array.from({ length: E }, () => Math.floor(rng.float() * 11));
    const where = `seed ${SEED}, case ${c}: E=${E} N=${N} K=${K} counts=${counts}`;
    const { args, w, s } = gemmCase(rng, E, N, K, counts);
    const tiled = int4Fp8GroupedGemm(args);
    assert.deepEqual(Array.from(tiled.storage), Array.from(int4Fp8GroupedGemmNaive(args).storage), where);
    const R = args.a.shape[0]!;
    for (let e = 0, r0 = 0; e < E; r0 += counts[e]!, e++)
      for (let r = r0; r < r0 + counts[e]!; r++)
        for (let n = 0; n < N; n++) {
          let ref = 0;
          for (let k = 0; k < K; k++) ref += E4M3_DECODE[args.a.storage[r * K + k]!]! * w[(e * N + n) * K + k]! * roundBf16(s[(e * N + n) * (K / 128) + (k >> 7)]!);
          ref *= args.alpha;
          const got = decodeBf16(tiled.storage[r * N + n]!);
          // BF16 output (2^-9 relative) plus float32 accumulation over the groups
          assert.ok(Math.abs(got - ref) <= Math.abs(ref) * 2 ** -8 + 1e-30 + 2 ** -20 * Math.abs(args.alpha) * 448 * 8, `${where}: [${r}, ${n}] ${got} vs ${ref}`);
        }
    assert.equal(R, tiled.shape[0]);
  }
});

test('grouped GEMM reads the high nibble as element 2j+1 and the scales through the interleave', () => {
  // one expert, N = 2 rows, K = 512 (4 groups → α = 4); a = 1.0 everywhere except a[0, 1] = 2 and a[0, 300] = 4
  const K = 512;
  const a = new Uint8Array(K).fill(encodeE4M3(1));
  a[1] = encodeE4M3(2);
  a[300] = encodeE4M3(4);
  const w = new Int8Array(2 * K);
  w[1] = 3; // row 0, element 1: the high nibble of byte 0
  w[K + 300] = -5; // row 1, element 300: group 2
  const s = Float32Array.from([1, 1, 1, 1, 1, 1, 0.5, 1]); // row 1's group 2 scale is 0.5
  const out = int4Fp8GroupedGemm({
    a: new Tensor('f8e4m3fn', [1, K], a),
    w: new Tensor('i4x2', [1, 2, K / 2], packInt4(w)),
    scales: interleaveScales(new Tensor('f32', [1, 2, 4], s), 's').tensor,
    alpha: 0.25,
    offsets: Int32Array.of(0, 1),
  });
  assert.deepEqual([decodeBf16(out.storage[0]!), decodeBf16(out.storage[1]!)], [0.25 * 2 * 3, 0.25 * 4 * -5 * 0.5]);
});

test('grouped GEMM: operands that do not fit are one-line errors naming the tensor', () => {
  const rng = new Rng(7);
  const { args } = gemmCase(rng, 2, 8, 256, [3, 2]);
  const bad = (over: Partial<Int4GemmArgs>, re: RegExp): void =>
    assert.throws(() => int4Fp8GroupedGemm({ ...args, ...over, names: { a: 'a2q', w: 'w2_weight', scales: 'w2_weight_scale_interleaved' } }), (e: unknown) => e instanceof MoeError && re.test(e.message) && !e.message.includes('\n'));
  bad({ w: new Tensor('i4x2', [2, 8, 256], new Uint8Array(2 * 8 * 256)) }, /w2_weight: expected packed int4 \[E, N, 128\]/);
  bad({ scales: new Tensor('bf16', [2, 8, 2], new Uint16Array(32)) }, /w2_weight_scale_interleaved: expected interleaved BF16 group scales \[2, 2, 8\]/);
  bad({ offsets: Int32Array.of(0, 3, 4) }, /expected 3 entries from 0 to 5/);
  bad({ offsets: Int32Array.of(0, 6, 5) }, /offsets must not decrease/);
});

test('static per-tensor quantization: clamp(x / s) then the PyTorch cast; clamped and kernel-differing codes counted', () => {
  const s = 0.5;
  const x = Float32Array.from([1, -0.3, 300, -1e4, 0, 2 ** -12]);
  const q = new Uint8Array(x.length);
  const st = quantizeStaticRow(x, 0, x.length, q, 0, s, { clamped: 0, kernelDiffers: 0 });
  assert.deepEqual(Array.from(q), [0x40, encodeE4M3(-0.6), 0x7e, 0xfe, 0x00, encodeE4M3(2 ** -11)]);
  assert.equal(st.clamped, 2);
  assert.equal(st.kernelDiffers, 0, 's = 0.5: x/s and x·(1/s) are the same float');
  // x / s exactly on a tie between two FP8 values: 12.6875 / 7 = 1.8125 (between 1.75 and 1.875) goes to even 1.75,
  // but fl(1/7) is 4.5e-8 above 1/7, so the kernels' 12.6875 · fl(1/7) lands above the tie and rounds up to 1.875
  const tie = new Uint8Array(1);
  const stTie = quantizeStaticRow([12.6875], 0, 1, tie, 0, 7, { clamped: 0, kernelDiffers: 0 });
  assert.equal(tie[0], 0x3e, '1.75');
  assert.equal(encodeE4M3Sat(Math.fround(12.6875 * Math.fround(1 / 7))), 0x3f, '1.875');
  assert.equal(stTie.kernelDiffers, 1);
  // s = 3 (1/3 inexact): count codes where fl(x/s) and fl(x·fl(1/3)) land on different FP8 values
  const s3 = 3;
  const rng = new Rng(SEED);
  const xs = new Float32Array(20000);
  for (let i = 0; i < xs.length; i++) xs[i] = Math.fround((rng.float() - 0.5) * 2000);
  const q3 = new Uint8Array(xs.length);
  const st3 = quantizeStaticRow(xs, 0, xs.length, q3, 0, s3, { clamped: 0, kernelDiffers: 0 });
  const inv = Math.fround(1 / s3);
  let differ = 0;
  let clamped = 0;
  for (let i = 0; i < xs.length; i++) {
    const ref = Math.fround(xs[i]! / s3);
    if (Math.abs(ref) > 448) clamped++;
    assert.equal(q3[i], encodeE4M3(Math.max(-448, Math.min(448, ref))), `x = ${xs[i]}`);
    if (encodeE4M3Sat(Math.fround(xs[i]! * inv)) !== q3[i]) differ++;
  }
  assert.equal(st3.clamped, clamped);
  assert.equal(st3.kernelDiffers, differ, `seed ${SEED}`);
});

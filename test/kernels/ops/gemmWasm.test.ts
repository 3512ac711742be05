/**
 * The WebAssembly SIMD GEMM kernel (kernels/wasm/gemmUnit.ts through kernels/ops/gemmWasm.ts) against the naive
 * loop and the scalar TypeScript kernel, bit for bit: random shapes with ragged N and K tails, every FP8 code
 * (NaN, ±0, subnormals included), padding rows, the masked layout, 1 and 2 threads.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../../kernels/tensor';
import { Rng } from '../../../kernels/synthetic';
import { groupedGemmContiguous, groupedGemmMasked, groupedGemmNaive, shutdownGemmWorkers } from '../../../kernels/ops/gemm';
import { kernelWasm } from '../../../kernels/ops/gemmWasmModule';

after(() => shutdownGemmWorkers());

/** any code but NaN (0x7f, 0xff: one would make its whole output NaN; the all-codes test covers them), ±0 and subnormals included */
const anyFp8 = (rng: Rng, n: number): Uint8Array =>
  Uint8Array.from({ length: n }, () => {
    const v = rng.u32() & 0xff;
    return (v & 0x7f) === 0x7f ? v ^ 0x40 : v;
  });
/** scales spanning many binades, so the float32 rounding of the scaling and the accumulation is exercised */
const scales = (rng: Rng, n: number): Float32Array => Float32Array.from({ length: n }, () => 2 ** (Math.floor(rng.float() * 24) - 16) * (0.5 + rng.float()));

function problem(seed: number, M: number, K: number, N: number, E: number, padding = 0.2) {
  const rng = new Rng(seed);
  const Kb = Math.ceil(K / 128);
  const Nb = Math.ceil(N / 128);
  const mIdx = Int32Array.from({ length: M }, () => (rng.float() < padding ? -1 : Math.floor(rng.float() * E)));
  // expert runs of any length, padding rows (−1) among them
  mIdx.sort((x, y) => (x < 0 ? E : x) - (y < 0 ? E : y));
  for (let r = 0; r < M; r += 7) if (rng.float() < 0.5) mIdx[r] = -1;
  return {
    a: new Tensor('f8e4m3fn', [M, K], anyFp8(rng, M * K)),
    as: new Tensor('f32', [M, Kb], scales(rng, M * Kb)),
    b: new Tensor('f8e4m3fn', [E, N, K], anyFp8(rng, E * N * K)),
    bs: new Tensor('f32', [E, Nb, Kb], scales(rng, E * Nb * Kb)),
    mi: new Tensor('i32', [M], mIdx),
  };
}

test('the WebAssembly SIMD kernel compiles and instantiates here (else the GEMM would fall back to scalar)', () => {
  const k = kernelWasm();
  assert.ok('module' in k, 'reason' in k ? k.reason : '');
});

test('every FP8 code (NaN, ±0, subnormals) decodes to the naive loop\'s value, in A and in B', async () => {
  const codes = Uint8Array.from({ length: 256 }, (_, i) => i);
  const one = Uint8Array.of(0x38); // 1.0
  const ones = (n: number): Tensor<'f32'> => new Tensor('f32', [n, 1], new Float32Array(n).fill(1));
  // A = every code (256 rows, K = 1) against B = 1.0
  const a = new Tensor('f8e4m3fn', [256, 1], codes);
  const bOne = new Tensor('f8e4m3fn', [1, 1, 1], one);
  const mi = new Tensor('i32', [256], new Int32Array(256));
  const bs1 = new Tensor('f32', [1, 1, 1], Float32Array.of(1));
  const naiveA = Array.from(groupedGemmNaive(a, ones(256), bOne, bs1, mi).storage);
  assert.deepEqual(Array.from((await groupedGemmContiguous(a, ones(256), bOne, bs1, mi, { threads: 1 })).storage), naiveA);
  // B = every code (N = 256, K = 1) against A = 1.0
  const aOne = new Tensor('f8e4m3fn', [1, 1], one);
  const b = new Tensor('f8e4m3fn', [1, 256, 1], codes);
  const bs2 = new Tensor('f32', [1, 2, 1], Float32Array.of(1, 1));
  const mi1 = new Tensor('i32', [1], new Int32Array(1));
  const naiveB = Array.from(groupedGemmNaive(aOne, ones(1), b, bs2, mi1).storage);
  assert.deepEqual(Array.from((await groupedGemmContiguous(aOne, ones(1), b, bs2, mi1, { threads: 1 })).storage), naiveB);
  // NaN codes give NaN with the naive loop's sign bit (BF16 keeps it)
  assert.equal(naiveA[0x7f]! & 0x7fc0, 0x7fc0);
  assert.equal(naiveA[0xff], naiveA[0x7f]);
});

test('WASM GEMM equals the naive loop and the scalar kernel bit for bit (ragged N/K, padding rows, 1 and 2 threads)', async () => {
  // K: < 1 block, odd, ragged tail; N: < 4, odd, ragged 128-blocks; runs of 1…20 rows hit the 4-row tiles and the leftover rows
  const shapes: [number, number, number, number][] = [[1, 1, 1, 1], [5, 3, 7, 2], [23, 129, 131, 3], [41, 255, 257, 4], [64, 384, 128, 2], [30, 200, 130, 5], [17, 640, 33, 1]];
  for (const [i, [M, K, N, E]] of shapes.entries()) {
    const p = problem(1000 + i, M, K, N, E);
    const naive = Array.from(groupedGemmNaive(p.a, p.as, p.b, p.bs, p.mi).storage);
    const scalar = Array.from((await groupedGemmContiguous(p.a, p.as, p.b, p.bs, p.mi, { threads: 1, kernel: 'scalar' })).storage);
    assert.deepEqual(scalar, naive, `scalar kernel, shape ${[M, K, N, E]}`);
    for (const threads of [1, 2]) {
      const wasm = await groupedGemmContiguous(p.a, p.as, p.b, p.bs, p.mi, { threads });
      assert.deepEqual(Array.from(wasm.storage), naive, `WASM kernel, shape ${[M, K, N, E]}, ${threads} thread(s)`);
    }
    p.mi.storage.forEach((e, r) => e < 0 && assert.ok(naive.slice(r * N, (r + 1) * N).every((v) => v === 0), `padding row ${r} stays 0`));
  }
});

test('WASM GEMM on the masked layout equals the naive loop on the same rows', async () => {
  const rng = new Rng(77);
  const G = 3, maxM = 13, K = 300, N = 140;
  const a = new Tensor('f8e4m3fn', [G, maxM, K], anyFp8(rng, G * maxM * K));
  const as = new Tensor('f32', [G, maxM, 3], scales(rng, G * maxM * 3));
  const b = new Tensor('f8e4m3fn', [G, N, K], anyFp8(rng, G * N * K));
  const bs = new Tensor('f32', [G, 2, 3], scales(rng, G * 6));
  const maskedM = Int32Array.from([13, 0, 6]);
  // the same rows as a contiguous problem: group g's row r is row g·maxM + r, rows past masked_m are padding
  const mi = new Tensor('i32', [G * maxM], Int32Array.from({ length: G * maxM }, (_, i) => (i % maxM < maskedM[Math.floor(i / maxM)]! ? Math.floor(i / maxM) : -1)));
  const naive = Array.from(groupedGemmNaive(a.reshape([G * maxM, K]), as.reshape([G * maxM, 3]), b, bs, mi).storage);
  for (const threads of [1, 2]) {
    const out = await groupedGemmMasked(a, as, b, bs, maskedM, { threads });
    assert.deepEqual(out.shape, [G, maxM, N]);
    assert.deepEqual(Array.from(out.storage), naive, `${threads} thread(s)`);
  }
});

test('WASM GEMM reads strided operands (a sliced A, an MN-major scale view) like the naive loop', async () => {
  const p = problem(31, 20, 256, 136, 2, 0);
  // every other row of a 40-row buffer, and A scales stored column-major
  const wide = new Tensor('f8e4m3fn', [40, 256], anyFp8(new Rng(5), 40 * 256));
  for (let r = 0; r < 20; r++) wide.storage.set(p.a.storage.subarray(r * 256, (r + 1) * 256), 2 * r * 256);
  const aView = new Tensor('f8e4m3fn', [20, 256], wide.storage, [512, 1]);
  const st = new Float32Array(2 * 20);
  for (let r = 0; r < 20; r++) for (let j = 0; j < 2; j++) st[j * 20 + r] = p.as.get(r, j);
  const asView = new Tensor('f32', [20, 2], st, [1, 20]);
  const naive = Array.from(groupedGemmNaive(p.a, p.as, p.b, p.bs, p.mi).storage);
  const out = await groupedGemmContiguous(aView, asView, p.b, p.bs, p.mi, { threads: 2 });
  assert.deepEqual(Array.from(out.storage), naive);
});

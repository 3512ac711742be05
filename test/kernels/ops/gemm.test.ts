/** Grouped GEMMs: the threaded, blocked kernel against the naive triple loop and a float64 dot, layouts, bad inputs. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../../kernels/tensor';
import { MoeError } from '../../../kernels/errors';
import { Rng } from '../../../kernels/synthetic';
import { groupedGemmContiguous, groupedGemmMasked, groupedGemmNaive } from '../../../kernels/ops/gemm';
import { planPermutation, maskedLayout } from '../../../kernels/ops/permute';
import { decodeE4M3 } from '../../../kernels/dtypes/fp8e4m3';
import { decodeBf16 } from '../../../kernels/dtypes/bf16';

function fp8(rng: Rng, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = rng.u32() & 0xff;
    b[i] = (v & 0x7f) === 0x7f ? 0x38 : v;
  }
  return b;
}
const scales = (rng: Rng, n: number): Float32Array => Float32Array.from({ length: n }, () => 2 ** -8 * (0.5 + rng.float()));

interface Problem {
  a: Tensor<'f8e4m3fn'>;
  as: Tensor<'f32'>;
  b: Tensor<'f8e4m3fn'>;
  bs: Tensor<'f32'>;
  mi: Tensor<'i32'>;
}

function problem(seed: number, M: number, K: number, N: number, E: number): Problem {
  const rng = new Rng(seed);
  const Kb = Math.ceil(K / 128);
  const mIdx = Int32Array.from({ length: M }, () => (rng.float() < 0.2 ? -1 : Math.floor(rng.float() * E)));
  mIdx.sort((x, y) => (x < 0 ? 1e9 : x) - (y < 0 ? 1e9 : y));
  return {
    a: new Tensor('f8e4m3fn', [M, K], fp8(rng, M * K)),
    as: new Tensor('f32', [M, Kb], scales(rng, M * Kb)),
    b: new Tensor('f8e4m3fn', [E, N, K], fp8(rng, E * N * K)),
    bs: new Tensor('f32', [E, Math.ceil(N / 128), Kb], scales(rng, E * Math.ceil(N / 128) * Kb)),
    mi: new Tensor('i32', [M], mIdx),
  };
}

test('threaded blocked GEMM equals the naive loop bit for bit (random shapes, 2 workers and inline)', async () => {
  // runs of 1–3 rows take the thin-rows path, longer runs the 4×4 tiles; K = 200 and N = 130 leave ragged blocks
  const shapes: [number, number, number, number][] = [[37, 256, 384, 4], [9, 128, 128, 1], [40, 384, 256, 8], [13, 200, 130, 3], [3, 256, 128, 1], [7, 256, 256, 3]];
  for (const [i, [M, K, N, E]] of shapes.entries()) {
    const p = problem(100 + i, M, K, N, E);
    const naive = groupedGemmNaive(p.a, p.as, p.b, p.bs, p.mi);
    for (const threads of [1, 2]) {
      const fast = await groupedGemmContiguous(p.a, p.as, p.b, p.bs, p.mi, { threads });
      assert.deepEqual(fast.shape, [M, N]);
      assert.deepEqual(Array.from(fast.storage), Array.from(naive.storage), `shape ${[M, K, N, E]} threads ${threads}`);
    }
    // padding rows are skipped and left 0
    p.mi.storage.forEach((e, r) => e < 0 && assert.ok(naive.storage.subarray(r * N, (r + 1) * N).every((v) => v === 0)));
  }
});

test('GEMM agrees with a float64 dot product to BF16 precision', async () => {
  const p = problem(7, 12, 256, 128, 2);
  const out = await groupedGemmContiguous(p.a, p.as, p.b, p.bs, p.mi, { threads: 2 });
  for (let r = 0; r < 12; r++) {
    const e = p.mi.storage[r]!;
    if (e < 0) continue;
    for (let n = 0; n < 128; n += 17) {
      let ref = 0;
      for (let k = 0; k < 256; k++) ref += decodeE4M3(p.a.raw(r, k)) * p.as.get(r, k >> 7) * decodeE4M3(p.b.raw(e, n, k)) * p.bs.get(e, 0, k >> 7);
      const got = decodeBf16(out.raw(r, n));
      assert.ok(Math.abs(got - ref) <= Math.abs(ref) * 2 ** -8 + 1e-6, `(${r}, ${n}): ${got} vs ${ref}`);
    }
  }
});

test('A scales in MN-major TMA-aligned layout give the same result as row-major', async () => {
  const p = problem(11, 10, 384, 128, 2);
  const Ma = 12;
  const st = new Float32Array(Ma * 3);
  for (let r = 0; r < 10; r++) for (let j = 0; j < 3; j++) st[j * Ma + r] = p.as.get(r, j);
  const mn = new Tensor('f32', [10, 3], st, [1, Ma]);
  const a = await groupedGemmContiguous(p.a, p.as, p.b, p.bs, p.mi, { threads: 2 });
  const b = await groupedGemmContiguous(p.a, mn, p.b, p.bs, p.mi, { threads: 2 });
  assert.deepEqual(Array.from(b.storage), Array.from(a.storage));
});

test('masked GEMM on the DeepEP layout equals the contiguous GEMM row for row', async () => {
  const rng = new Rng(5);
  const M = 9, K = 256, N = 256, E = 3;
  const ids = new Tensor('i32', [M, 2], Int32Array.from({ length: M * 2 }, (_, i) => (i % 2 === 0 ? i % 3 : (i + 1) % 3)));
  const plan = planPermutation(ids, E, { blockM: 128 });
  const aq = new Tensor('f8e4m3fn', [M, K], fp8(rng, M * K));
  const sc = new Tensor('f32', [M, 2], scales(rng, M * 2));
  const b = new Tensor('f8e4m3fn', [E, N, K], fp8(rng, E * N * K));
  const bs = new Tensor('f32', [E, 2, 2], scales(rng, E * 4));
  const masked = maskedLayout(aq, sc, plan);
  const outM = await groupedGemmMasked(masked.a, masked.scale, b, bs, masked.maskedM, { threads: 2 });
  const { permuteRows } = await import('../../../kernels/ops/permute');
  const c = permuteRows(aq, sc, plan);
  const outC = await groupedGemmContiguous(c.a1, c.a1Scale, b, bs, plan.mIndices, { threads: 2 });
  for (let p = 0; p < M * 2; p++) {
    const rm = masked.invPerm.storage[p]!;
    const rc = plan.invPerm.storage[p]!;
    assert.deepEqual(Array.from(outM.storage.subarray(rm * N, (rm + 1) * N)), Array.from(outC.storage.subarray(rc * N, (rc + 1) * N)));
  }
  assert.ok(outM.storage.subarray((0 * 9 + masked.maskedM[0]!) * N, 9 * N).every((v) => v === 0), 'rows past masked_m stay 0');
});

test('bad GEMM inputs are refused with the tensor named', async () => {
  const p = problem(3, 8, 256, 128, 2);
  const code = (c: string) => (e: unknown) => e instanceof MoeError && e.code === c;
  await assert.rejects(groupedGemmContiguous(p.a, new Tensor('f32', [8, 3], new Float32Array(24)), p.b, p.bs, p.mi), code('E_SHAPE'));
  await assert.rejects(groupedGemmContiguous(p.a, p.as, p.b, new Tensor('f32', [2, 2, 2], new Float32Array(8)), p.mi), /\[2, 1, 2\]/);
  await assert.rejects(groupedGemmContiguous(p.a, p.as, p.b, p.bs, new Tensor('i32', [8], new Int32Array(8).fill(5))), code('E_RANGE'));
  await assert.rejects(groupedGemmContiguous(p.a, p.as, p.b, p.bs, new Tensor('i32', [7], new Int32Array(7))), /m_indices/);
  await assert.rejects(groupedGemmContiguous(p.as as unknown as Tensor<'f8e4m3fn'>, p.as, p.b, p.bs, p.mi), code('E_DTYPE'));
  await assert.rejects(groupedGemmMasked(p.a.reshape([2, 4, 256]), p.as.reshape([2, 4, 2]), p.b, p.bs, Int32Array.from([5, 0])), /masked_m/);
  // empty M: a [0, N] result, no work
  const empty = await groupedGemmContiguous(p.a.slice(0, 0, 0), p.as.slice(0, 0, 0), p.b, p.bs, new Tensor('i32', [0], new Int32Array(0)));
  assert.deepEqual(empty.shape, [0, 128]);
});

test('an aborted signal cancels the GEMM with E_CANCELLED', async () => {
  const p = problem(9, 40, 384, 384, 2);
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(groupedGemmContiguous(p.a, p.as, p.b, p.bs, p.mi, { signal: ac.signal, threads: 2 }), (e: unknown) => e instanceof MoeError && e.code === 'E_CANCELLED');
  // the pool is still usable afterwards
  const ok = await groupedGemmContiguous(p.a, p.as, p.b, p.bs, p.mi, { threads: 2 });
  assert.deepEqual(ok.shape, [40, 384]);
});

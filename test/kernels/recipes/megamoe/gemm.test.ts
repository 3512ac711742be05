import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { blockScaledGemm, toBf16 } from '../../../../kernels/recipes/megamoe/gemm';
import { interleaveW13 } from '../../../../kernels/recipes/megamoe/interleave';
import { groupedGemmContiguous, shutdownGemmWorkers } from '../../../../kernels/ops/gemm';
import { Tensor } from '../../../../kernels/tensor';
import { Rng } from '../../../../kernels/synthetic';
import { E4M3_DECODE } from '../../../../kernels/dtypes/fp8e4m3';
import { encodeE4M3 } from '../../../../kernels/dtypes/fp8e4m3';

after(() => shutdownGemmWorkers());
const SEED = Number(process.env.MOE_PROPERTY_SEED ?? Math.floor(Math.random() * 2 ** 31));

function codes(rng: Rng, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => encodeE4M3(Math.max(-448, Math.min(448, rng.normal() * 60))));
}
function scales(rng: Rng, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => Math.fround(0.001 * (0.5 + rng.float())));
}

interface Case {
  rows: number;
  K: number;
  N: number;
  E: number;
  a: Uint8Array;
  b: Uint8Array;
  bScale: Float32Array;
  rowExpert: Int32Array;
}

function randomCase(rng: Rng, N: number): Case {
  const E = 1 + Math.floor(rng.float() * 3);
  const K = 128 * (1 + Math.floor(rng.float() * 3));
  const rows = 1 + Math.floor(rng.float() * 13);
  const rowExpert = Int32Array.from({ length: rows }, (_, r) => (r % 5 === 4 ? -1 : Math.min(E - 1, Math.floor((r * E) / rows))));
  return { rows, K, N, E, a: codes(rng, rows * K), b: codes(rng, E * N * K), bScale: scales(rng, E * Math.ceil(N / 128) * (K / 128)), rowExpert };
}

test(`L1: 128-wide groups and natural scale rows are bit for bit groupedGemmContiguous (seed ${SEED})`, async () => {
  const rng = new Rng(SEED);
  for (let i = 0; i < 4; i++) {
    const c = randomCase(rng, 16 * (1 + Math.floor(rng.float() * 20)));
    const aScale = scales(rng, c.rows * (c.K / 128));
    const Nb = Math.ceil(c.N / 128);
    const mine = await blockScaledGemm({ ...c, aScale, aGroup: 128, Nb, bScaleRow: Int32Array.from({ length: c.N }, (_, n) => n >> 7) });
    const ref = await groupedGemmContiguous(
      new Tensor('f8e4m3fn', [c.rows, c.K], c.a),
      new Tensor('f32', [c.rows, c.K / 128], aScale),
      new Tensor('f8e4m3fn', [c.E, c.N, c.K], c.b),
      new Tensor('f32', [c.E, Nb, c.K / 128], c.bScale),
      new Tensor('i32', [c.rows], c.rowExpert),
      { threads: 1 },
    );
    const bf = toBf16(mine);
    for (let r = 0; r < c.rows; r++) {
      if (c.rowExpert[r]! < 0) continue;
      for (let n = 0; n < c.N; n++) assert.equal(bf[r * c.N + n], ref.storage[r * c.N + n], `seed ${SEED}, case ${i}, [${r}, ${n}]`);
    }
  }
});

test(`L1 over the interleaved w13 with source-row scales = the natural GEMM with its columns permuted, bit for bit (seed ${SEED})`, async () => {
  const rng = new Rng(SEED + 1);
  for (let i = 0; i < 3; i++) {
    const IH = 128 * (1 + Math.floor(rng.float() * 2));
    const c = randomCase(rng, 2 * IH);
    const aScale = scales(rng, c.rows * (c.K / 128));
    const Nb = (2 * IH) / 128;
    const natural = await blockScaledGemm({ ...c, aScale, aGroup: 128, Nb, bScaleRow: Int32Array.from({ length: c.N }, (_, n) => n >> 7) });
    const { tensor, map } = interleaveW13(new Tensor('f8e4m3fn', [c.E, c.N, c.K], c.b), 'w13');
    const inter = await blockScaledGemm({ ...c, b: tensor.storage, aScale, aGroup: 128, Nb, bScaleRow: Int32Array.from(map, (s) => s >> 7) });
    for (let r = 0; r < c.rows; r++) for (let n = 0; n < c.N; n++) assert.equal(inter[r * c.N + n], natural[r * c.N + map[n]!], `seed ${SEED}, case ${i}, [${r}, ${n}]`);
  }
});

test(`L2: 64-wide activation groups against 128×128 weight blocks, vs a plain loop with the same rounding (seed ${SEED})`, async () => {
  const rng = new Rng(SEED + 2);
  const c = randomCase(rng, 130);
  const G = c.K / 64;
  const aScale = scales(rng, c.rows * G);
  const Nb = Math.ceil(c.N / 128);
  const mine = await blockScaledGemm({ ...c, aScale, aGroup: 64, Nb, bScaleRow: Int32Array.from({ length: c.N }, (_, n) => n >> 7) });
  const Kb = c.K / 128;
  for (let r = 0; r < c.rows; r++) {
    const e = c.rowExpert[r]!;
    for (let n = 0; n < c.N; n++) {
      let acc = 0;
      if (e >= 0)
        for (let j = 0; j < G; j++) {
          let s = 0;
          for (let k = 64 * j; k < 64 * j + 64; k++) s += E4M3_DECODE[c.a[r * c.K + k]!]! * E4M3_DECODE[c.b[(e * c.N + n) * c.K + k]!]!;
          const f = Math.fround(aScale[r * G + j]! * c.bScale[(e * Nb + (n >> 7)) * Kb + (j >> 1)]!);
          acc = Math.fround(acc + Math.fround(f * s));
        }
      assert.equal(mine[r * c.N + n], acc, `seed ${SEED}: [${r}, ${n}]`);
    }
  }
});

test('bad GEMM arguments are refused with what is wrong', async () => {
  const rng = new Rng(3);
  const c = randomCase(rng, 16);
  const aScale = scales(rng, c.rows * (c.K / 128));
  const base = { ...c, aScale, aGroup: 128, Nb: 1, bScaleRow: new Int32Array(16) };
  await assert.rejects(blockScaledGemm({ ...base, aGroup: 32 }), /activation group must be 64 or 128/);
  await assert.rejects(blockScaledGemm({ ...base, bScaleRow: new Int32Array(16).fill(1) }), /column 0 reads weight-scale row 1, outside 0…0/);
  await assert.rejects(blockScaledGemm({ ...base, a: new Uint8Array(3) }), /a holds 3 elements, needs/);
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(blockScaledGemm(base, { signal: ac.signal }), /cancelled/);
});

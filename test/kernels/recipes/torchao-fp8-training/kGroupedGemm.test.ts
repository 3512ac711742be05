/**
 * The K-grouped wgrad GEMM (DeepGEMM k_grouped_fp8_gemm_nt_contiguous as torchao calls it): bit for bit against a
 * plain loop with the same rounding points, within the float32/BF16 budget of a float64 reference, and its contract.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../../../kernels/tensor';
import { MoeError } from '../../../../kernels/errors';
import { Rng } from '../../../../kernels/synthetic';
import { E4M3_DECODE } from '../../../../kernels/dtypes/fp8e4m3';
import { kGroupedGemmNt } from '../../../../kernels/recipes/torchao-fp8-training/kGroupedGemm';
import { kGroupedRef64 } from '../../../../kernels/recipes/torchao-fp8-training/reference64';
import { planGroups } from '../../../../kernels/recipes/torchao-fp8-training/groups';

const fr = Math.fround;

function randomOperand(S: number, D: number, rng: Rng, name: string, zeroTail?: { starts: number[]; sizes: number[]; padded: number[] }): { data: Tensor<'f8e4m3fn'>; scale: Tensor<'f32'>; name: string } {
  const codes = new Uint8Array(S * D);
  for (let i = 0; i < codes.length; i++) {
    let c = rng.u32() & 0xff;
    if ((c & 0x7f) === 0x7f) c = 0x3c; // no NaN codes
    codes[i] = c;
  }
  if (zeroTail) // the padding tokens of each group: zero rows of the padded BF16 tensor quantize to code 0
    zeroTail.starts.forEach((s, e) => {
      for (let d = 0; d < D; d++) for (let m = zeroTail.sizes[e]!; m < zeroTail.padded[e]!; m++) codes[s * D + d * zeroTail.padded[e]! + m] = 0;
    });
  const B = S / 128;
  const sc = new Float32Array(D * B);
  for (let i = 0; i < sc.length; i++) sc[i] = fr(2 ** (Math.floor(rng.float() * 12) - 14) * (1 + rng.float()));
  return { data: new Tensor('f8e4m3fn', [S * D], codes, undefined, 0, name), scale: new Tensor('f32', [D, B], sc, undefined, 0, `${name}_scale`), name };
}

/** the definition, no tiling, no skipping */
function naive(lhs: ReturnType<typeof randomOperand>, rhs: ReturnType<typeof randomOperand>, ks: number[]): Float32Array {
  const N = lhs.scale.shape[0]!;
  const K = rhs.scale.shape[0]!;
  const out = new Float32Array(ks.length * N * K);
  let T = 0;
  ks.forEach((P, e) => {
    for (let n = 0; n < N; n++)
      for (let k = 0; k < K; k++) {
        let acc = 0;
        for (let jj = 0; jj < P / 128; jj++) {
          let s = 0;
          for (let m = jj * 128; m < (jj + 1) * 128; m++) s += E4M3_DECODE[lhs.data.raw(T * N + n * P + m)]! * E4M3_DECODE[rhs.data.raw(T * K + k * P + m)]!;
          const f = fr(lhs.scale.get(n, T / 128 + jj) * rhs.scale.get(k, T / 128 + jj));
          acc = fr(acc + fr(f * s));
        }
        out[(e * N + n) * K + k] = acc;
      }
    T += P;
  });
  return out;
}

test('random ks (empty groups included), ragged N and K: bit-identical to the plain loop', (t) => {
  const seed = 2024;
  t.diagnostic(`seed ${seed}`);
  const rng = new Rng(seed);
  for (let trial = 0; trial < 6; trial++) {
    const E = 1 + Math.floor(rng.float() * 3);
    const ks = Array.from({ length: E }, () => 128 * Math.floor(rng.float() * 3));
    const S = ks.reduce((a, b) => a + b, 0);
    const N = 1 + Math.floor(rng.float() * 9);
    const K = 1 + Math.floor(rng.float() * 11);
    const lhs = randomOperand(S, N, rng, 'wgrad_lhs');
    const rhs = randomOperand(S, K, rng, 'wgrad_rhs');
    const d = kGroupedGemmNt(lhs, rhs, ks);
    assert.deepEqual(d.shape, [E, N, K]);
    assert.deepEqual(d.storage, naive(lhs, rhs, ks), `seed ${seed} trial ${trial}: ks ${ks} N ${N} K ${K}`);
  }
});

test('padding tokens (zero codes at each group\'s tail) are skipped without changing a bit; float64 budget holds', (t) => {
  const seed = 99;
  t.diagnostic(`seed ${seed}`);
  const rng = new Rng(seed);
  const groups = planGroups([100, 0, 260]);
  const tail = { starts: Array.from(groups.starts), sizes: Array.from(groups.sizes), padded: Array.from(groups.padded) };
  const N = 8;
  const K = 12;
  const lhs = randomOperand(groups.paddedTokens, N, rng, 'wgrad_lhs', tail);
  const rhs = randomOperand(groups.paddedTokens, K, rng, 'wgrad_rhs', tail);
  const d = kGroupedGemmNt(lhs, rhs, groups.padded);
  assert.deepEqual(d.storage, naive(lhs, rhs, Array.from(groups.padded)));
  for (let e = 0; e < 3; e++)
    for (let n = 0; n < N; n++)
      for (let k = 0; k < K; k++) {
        const ref = kGroupedRef64(lhs.data, lhs.scale, rhs.data, rhs.scale, groups, e, n, k);
        const blocks = groups.padded[e]! / 128;
        // each block: the scale product and the scaled sum round once each, the accumulation once: ≤ 3 half-ulps
        const budget = (blocks * 3 + 1) * 2 ** -24 * ref.magnitude;
        assert.ok(Math.abs(d.get(e, n, k) - ref.value) <= budget, `(${e}, ${n}, ${k}): ${d.get(e, n, k)} vs ${ref.value}`);
      }
  assert.ok(Array.from(d.storage.subarray(N * K, 2 * N * K)).every((v) => v === 0), 'an empty group has a zero gradient (D = C = 0)');
});

test("DeepGEMM's K-grouped contract, each a one-line error naming the operand", () => {
  const rng = new Rng(1);
  const lhs = randomOperand(256, 4, rng, 'wgrad_lhs');
  const rhs = randomOperand(256, 4, rng, 'wgrad_rhs');
  const err = (re: RegExp, tensor: string) => (e: unknown) => e instanceof MoeError && re.test(e.message) && e.tensor === tensor && !e.message.includes('\n');
  assert.throws(() => kGroupedGemmNt(lhs, rhs, [100, 156]), err(/ks\[0\] = 100: .* multiple of 128/, 'ks'));
  assert.throws(() => kGroupedGemmNt(lhs, rhs, [128, 256]), err(/wgrad_lhs_scale: expected shape \[D, 3\]/, 'wgrad_lhs_scale'));
  const short = { ...lhs, data: new Tensor('f8e4m3fn', [1000], new Uint8Array(1000), undefined, 0, 'wgrad_lhs') };
  assert.throws(() => kGroupedGemmNt(short, rhs, [128, 128]), err(/wgrad_lhs: holds 1000 codes but Σ k · D = 256 · 4 = 1024/, 'wgrad_lhs'));
  const f32data = { ...rhs, data: new Tensor('f32', [1024], new Float32Array(1024), undefined, 0, 'wgrad_rhs') as unknown as Tensor<'f8e4m3fn'> };
  assert.throws(() => kGroupedGemmNt(lhs, f32data, [128, 128]), err(/wgrad_rhs: expected dtype f8e4m3fn, got f32/, 'wgrad_rhs'));
});

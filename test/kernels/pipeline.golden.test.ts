/**
 * The whole layer against DeepGEMM on an H100 (golden e2e_small_{f32,ue8m0}: M=37, K=512, N=512, E=4, top-2).
 * Exact where the golden README says exact; rel-L2 for the GEMM outputs; a measured bound for "mostly exact".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { goldenFile } from '../golden';
import { SafetensorsFile } from '../../kernels/io/safetensors';
import { inputsFromTensors, specFromInputs } from '../../kernels/inputs';
import { runLayer } from '../../kernels/pipeline';
import type { Tensor } from '../../kernels/tensor';
import { decodeBf16 } from '../../kernels/dtypes/bf16';
import { siluAndMul } from '../../kernels/ops/activation';
import { quantizeRowGroups } from '../../kernels/ops/quantize';

function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

/** rows of a stage tensor (M_sum, C) picked by pair order t·k+s through inv_perm */
function rowsByPair(t: Tensor, invPerm: Int32Array): Float32Array {
  const C = t.shape[1]!;
  const out = new Float32Array(invPerm.length * C);
  const v = t.toFloat32();
  invPerm.forEach((row, p) => out.set(v.subarray(row * C, (row + 1) * C), p * C));
  return out;
}

function rawRowsByPair(t: Tensor, invPerm: Int32Array): number[] {
  const C = t.shape[1]!;
  const out: number[] = [];
  const c = t.contiguous();
  invPerm.forEach((row) => {
    for (let j = 0; j < C; j++) out.push(Number(c.storage[row * C + j]!));
  });
  return out;
}

const fracEqual = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let eq = 0;
  for (let i = 0; i < a.length; i++) if (Object.is(a[i], b[i]) || a[i] === b[i]) eq++;
  return eq / a.length;
};

for (const variant of ['f32', 'ue8m0'] as const) {
  test(`golden e2e_small_${variant}: pipeline matches DeepGEMM on H100`, async () => {
    const f = SafetensorsFile.open(goldenFile(`e2e_small_${variant}.safetensors`));
    const g = (n: string): Tensor => f.read(n);
    const inputs = inputsFromTensors({
      hidden_states: g('x_bf16'),
      topk_ids: g('topk_ids_i32'),
      topk_weights: g('topk_weights_f32'),
      w13_weight: f.read('w13_fp8_u8', 'f8e4m3fn'),
      w13_weight_scale_inv: g('w13_scale_inv_f32'),
      w2_weight: f.read('w2_fp8_u8', 'f8e4m3fn'),
      w2_weight_scale_inv: g('w2_scale_inv_f32'),
    });
    assert.equal(f.metadata.ue8m0, variant === 'ue8m0' ? 'True' : 'False');
    const spec = specFromInputs(inputs, { name: `golden-${variant}`, recipe: { id: 'contiguous', actGroup: 128, weightBlock: 128, scaleFormat: variant, quant: 'vllm' } });
    assert.deepEqual([spec.tokens, spec.hidden, spec.intermediate, spec.experts, spec.topk], [37, 512, 512, 4, 2]);
    const r = await runLayer(spec, { backend: 'cpu', inputs });
    const T = (n: string): Tensor => r.tensors.get(n)!;

    // exact: quantized activations, their scales, counts, m_indices
    assert.deepEqual(Array.from(T('a1q').contiguous().storage as Uint8Array), Array.from(g('a1q_u8').storage as Uint8Array));
    assert.deepEqual(Array.from(T('a1q_scale').toFloat32()), Array.from(g('a1_scale_f32').toFloat32()));
    assert.deepEqual(r.trace.permutation.counts, Array.from(g('expert_counts_i32').storage as Int32Array));
    assert.deepEqual(Array.from(T('m_indices').storage as Int32Array), Array.from(g('m_indices_i32').storage as Int32Array));

    const inv = T('inv_perm').contiguous().storage as Int32Array;
    assert.ok(inv.every((row) => row >= 0), 'every pair is local (no expert map)');
    const mm1 = relL2(rowsByPair(T('mm1_out'), inv), g('mm1_rows_bf16').toFloat32());
    const mm2 = relL2(rowsByPair(T('mm2_out'), inv), g('mm2_rows_bf16').toFloat32());
    const y = relL2(T('output').toFloat32(), g('y_bf16').toFloat32());
    assert.ok(mm1 < 1e-2, `mm1 rel-L2 ${mm1}`);
    assert.ok(mm2 < 1e-2, `mm2 rel-L2 ${mm2}`);
    assert.ok(y < 1e-2, `y rel-L2 ${y}`);

    // "mostly exact": our mm1 is rounded from a different accumulation order than DeepGEMM's, so a BF16 rounding of
    // act flips where mm1 sits near a rounding boundary and a flipped act can move an FP8 code. Measured (f32 / ue8m0):
    // act 89.6 % / 90.0 % bit-equal, 97.2 % / 97.4 % within 1 BF16 ulp; a2q 98.9 % / 99.0 %; a2 scales 99.7 % / 100 %.
    // (Our mm1 is within 7e-4 of DeepGEMM's; DeepGEMM itself is 1.7e-3 from float64.)
    const actMine = rawRowsByPair(T('act_out'), inv);
    const actGold = Array.from(g('act_rows_bf16').storage as Uint16Array);
    const act = fracEqual(actMine, actGold);
    const act1ulp = actMine.filter((v, i) => Math.abs(v - actGold[i]!) <= 1).length / actMine.length;
    const a2q = fracEqual(rawRowsByPair(T('a2q'), inv), Array.from(g('a2q_rows_u8').storage as Uint8Array));
    const a2s = fracEqual(Array.from(rowsByPair(T('a2q_scale'), inv)), Array.from(g('a2_scale_rows_f32').toFloat32()));
    const msg = `mm1 ${mm1.toExponential(2)} mm2 ${mm2.toExponential(2)} y ${y.toExponential(2)} act ${act.toFixed(4)} (≤1 ulp ${act1ulp.toFixed(4)}) a2q ${a2q.toFixed(4)} a2s ${a2s.toFixed(4)}`;
    assert.ok(act >= 0.85, msg);
    assert.ok(act1ulp >= 0.95, msg);
    assert.ok(a2q >= 0.98, msg);
    assert.ok(a2s >= 0.99, msg);
    assert.ok(relL2(rowsByPair(T('act_out'), inv), Array.from(actGold, decodeBf16)) < 1e-2, msg);
    console.log(`e2e_small_${variant}: ${msg}`);
    f.close();
  });
}

/** The activation and re-quantization alone, fed DeepGEMM's own mm1 rows: these are exact (no GEMM order involved). */
for (const variant of ['f32', 'ue8m0'] as const) {
  test(`golden e2e_small_${variant}: SiLU-and-mul and re-quantization of DeepGEMM's mm1 are exact`, () => {
    const f = SafetensorsFile.open(goldenFile(`e2e_small_${variant}.safetensors`));
    const mm1 = f.read('mm1_rows_bf16') as Tensor<'bf16'>;
    const gold = f.read('act_rows_bf16').storage as Uint16Array;
    const act = siluAndMul(mm1, { kind: 'silu' });
    const equal = fracEqual(act.storage, gold);
    const within1 = Array.from(act.storage).filter((v, i) => Math.abs(v - gold[i]!) <= 1).length / gold.length;
    // measured: 100 % (f32), 99.997 % (ue8m0: one element one ulp off, Math.exp vs expf)
    assert.ok(equal >= 0.9999, `act bit-equal ${equal}`);
    assert.equal(within1, 1);
    const [P, N] = act.shape as [number, number];
    const q = new Uint8Array(P * N);
    const s = new Float32Array(P * (N / 128));
    const row = new Float32Array(N);
    for (let r = 0; r < P; r++) {
      for (let n = 0; n < N; n++) row[n] = decodeBf16(gold[r * N + n]!);
      quantizeRowGroups(row, 0, N, q, r * N, s, (r * N) / 128, 1, { convention: 'vllm', scaleFormat: variant });
    }
    assert.deepEqual(Array.from(q), Array.from(f.read('a2q_rows_u8').storage as Uint8Array));
    assert.deepEqual(Array.from(s), Array.from(f.read('a2_scale_rows_f32').toFloat32()));
    f.close();
  });
}

/**
 * Property tests on fresh random small layers: the pipeline against the float64 reference (rel-L2), and the
 * threaded GEMM against the naive loop on the pipeline's own operands (bit-exact). A new seed each run, printed in
 * every failure message; set MOE_PROPERTY_SEED to replay one.
 */
import type { LayerInputs } from '../../kernels/backend/types';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runLayer } from '../../kernels/pipeline';
import { makeSpec } from '../../kernels/presets';
import { LayerReference64 } from '../../kernels/ops/reference64';
import { planPermutation } from '../../kernels/ops/permute';
import { groupedGemmNaive } from '../../kernels/ops/gemm';
import { Rng } from '../../kernels/synthetic';
import type { LayerSpec } from '../../kernels/spec';
import type { Tensor } from '../../kernels/tensor';

const SEED = Number(process.env.MOE_PROPERTY_SEED ?? Math.floor(Math.random() * 2 ** 31));

function randomSpec(rng: Rng, i: number, withMap: boolean): LayerSpec {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng.float() * xs.length)]!;
  const experts = 1 + Math.floor(rng.float() * 8);
  const topk = Math.min(experts, 1 + Math.floor(rng.float() * 3));
  const spec = makeSpec('qwen3-30b-a3b', {
    name: `property-${i}`,
    tokens: 1 + Math.floor(rng.float() * 40),
    hidden: pick([128, 256, 384]),
    intermediate: pick([128, 256, 384]),
    experts,
    topk,
    recipe: { id: 'contiguous', actGroup: 128, weightBlock: 128, scaleFormat: pick(['f32', 'ue8m0'] as const), quant: pick(['vllm', 'deepgemm'] as const) },
    activation: rng.float() < 0.3 ? { kind: 'swiglu', clampLimit: 1 } : { kind: 'silu' },
    routerWeight: rng.float() < 0.3 ? 'activation' : 'reduce',
    source: { kind: 'synthetic', seed: rng.u32(), skew: rng.float() * 1.5 },
  });
  if (withMap && experts >= 2) {
    const size = 2 + Math.floor(rng.float() * (Math.min(experts, 4) - 1));
    spec.expertParallel = { size, rank: Math.floor(rng.float() * size), strategy: pick(['linear', 'round_robin'] as const) };
  }
  return spec;
}

function relL2(num: number, den: number): number {
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

for (const withMap of [false, true]) {
  test(`pipeline vs float64 reference on random layers (${withMap ? 'with' : 'without'} expert map), seed ${SEED}`, async () => {
    const rng = new Rng(SEED + (withMap ? 1 : 0));
    for (let i = 0; i < 4; i++) {
      const spec = randomSpec(rng, i, withMap);
      const where = `seed ${SEED}, case ${i}: ${JSON.stringify({ M: spec.tokens, K: spec.hidden, N: spec.intermediate, E: spec.experts, k: spec.topk, ep: spec.expertParallel, act: spec.activation, rw: spec.routerWeight, recipe: spec.recipe })}`;
      const r = await runLayer(spec, { backend: 'cpu' });
      const inputs = r.inputs as LayerInputs;
      const T = (n: string): Tensor => r.tensors.get(n)!;
      const map = inputs.expert_map?.storage as Int32Array | undefined;
      const plan = planPermutation(inputs.topk_ids, spec.experts, { ...(map ? { expertMap: map } : {}), blockM: 128 });
      const ref = new LayerReference64(inputs, spec, plan);
      const N = spec.intermediate;
      const K = spec.hidden;
      const mm1 = T('mm1_out').toFloat32();
      const act = T('act_out').toFloat32();
      const mm2 = T('mm2_out').toFloat32();
      const acc = { mm1: [0, 0], act: [0, 0], mm2: [0, 0] };
      for (let row = 0; row < plan.mSum; row++) {
        const p = plan.rowPair[row]!;
        if (p < 0) continue;
        const pr = ref.pair(p)!;
        for (let c = 0; c < 2 * N; c++) {
          acc.mm1[0]! += (mm1[row * 2 * N + c]! - pr.mm1[c]!) ** 2;
          acc.mm1[1]! += pr.mm1[c]! ** 2;
        }
        for (let c = 0; c < N; c++) {
          acc.act[0]! += (act[row * N + c]! - pr.act[c]!) ** 2;
          acc.act[1]! += pr.act[c]! ** 2;
        }
        for (let c = 0; c < K; c++) {
          acc.mm2[0]! += (mm2[row * K + c]! - pr.mm2[c]!) ** 2;
          acc.mm2[1]! += pr.mm2[c]! ** 2;
        }
      }
      const y = T('output').toFloat32();
      let yn = 0;
      let yd = 0;
      for (let t = 0; t < spec.tokens; t++) {
        const ry = ref.token(t);
        for (let c = 0; c < K; c++) {
          yn += (y[t * K + c]! - ry[c]!) ** 2;
          yd += ry[c]! ** 2;
        }
      }
      const e = { mm1: relL2(acc.mm1[0]!, acc.mm1[1]!), act: relL2(acc.act[0]!, acc.act[1]!), mm2: relL2(acc.mm2[0]!, acc.mm2[1]!), y: relL2(yn, yd) };
      const msg = `${where} rel-L2 ${JSON.stringify(e)}`;
      // BF16 storage alone costs ~1e-3 rel-L2 (mm1, act). GEMM2's input is re-quantized from a BF16 act that is itself
      // ~1e-3 away from the reference's, so a few FP8 codes flip by one step (2^-4 relative): measured mm2/y up to
      // ~2e-2 on the smallest layers. Wrong experts, scales or rows give O(1) errors, far above these bounds.
      assert.ok(e.mm1 < 4e-3, msg);
      assert.ok(e.act < 8e-3, msg);
      assert.ok(e.mm2 < 5e-2, msg);
      assert.ok(e.y < 5e-2, msg);
      assert.ok(y.every(Number.isFinite), `${msg}: non-finite output`);

      // the threaded GEMM against the naive loop on the pipeline's own operands: bit-exact
      const naive1 = groupedGemmNaive(T('a1q_permuted') as Tensor<'f8e4m3fn'>, T('a1q_scale_permuted') as Tensor<'f32'>, inputs.w13_weight, inputs.w13_weight_scale_inv, plan.mIndices);
      assert.deepEqual(Array.from(naive1.storage), Array.from(T('mm1_out').storage as Uint16Array), `${where}: GEMM1 threaded ≠ naive`);
      const naive2 = groupedGemmNaive(T('a2q') as Tensor<'f8e4m3fn'>, T('a2q_scale') as Tensor<'f32'>, inputs.w2_weight, inputs.w2_weight_scale_inv, plan.mIndices);
      assert.deepEqual(Array.from(naive2.storage), Array.from(T('mm2_out').storage as Uint16Array), `${where}: GEMM2 threaded ≠ naive`);
    }
  });
}

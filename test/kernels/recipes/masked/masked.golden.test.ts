/**
 * The masked recipe (DeepEP low-latency → DeepGEMM m_grouped_fp8_gemm_nt_masked) against DeepGEMM on an H200
 * (golden masked_small_{f32,ue8m0}: E=4, max_m=64, K=256, N=256), with the recipe's own tolerances; stale rows past
 * masked_m change nothing; and the CPU path against its float64 reference on random layers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { goldenFile } from '../../../golden';
import { SafetensorsFile } from '../../../../kernels/io/safetensors';
import { runLayer, tile } from '../../../../kernels/pipeline';
import { recipeById } from '../../../../kernels/recipes/index';
import { maskedInputsFromTensors, maskedSpecFromInputs } from '../../../../kernels/recipes/masked/inputs';
import { Tensor } from '../../../../kernels/tensor';
import { encodeBf16 } from '../../../../kernels/dtypes/bf16';
import { DEFAULT_RECIPE, type LayerSpec } from '../../../../kernels/spec';
import { makeSpec } from '../../../../kernels/presets';

const masked = recipeById('masked');

function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

/** values of the valid rows of an (E, max_m, C) tensor, expert by expert */
function validRows(t: Tensor, counts: Int32Array, raw = false): number[] {
  const [, , C] = t.shape as [number, number, number];
  const out: number[] = [];
  for (let e = 0; e < counts.length; e++)
    for (let i = 0; i < counts[e]!; i++) for (let c = 0; c < C; c++) out.push(raw ? t.raw(e, i, c) : t.get(e, i, c));
  return out;
}

function goldenLayer(variant: 'f32' | 'ue8m0'): { f: SafetensorsFile; raw: Record<string, Tensor> } {
  const f = SafetensorsFile.open(goldenFile(`masked_small_${variant}.safetensors`));
  return {
    f,
    raw: {
      hidden_states: f.read('x_bf16'),
      masked_m: f.read('masked_m_i32'),
      w13_weight: f.read('w13_fp8_u8', 'f8e4m3fn'),
      w13_weight_scale_inv: f.read('w13_scale_inv_f32'),
      w2_weight: f.read('w2_fp8_u8', 'f8e4m3fn'),
      w2_weight_scale_inv: f.read('w2_scale_inv_f32'),
    },
  };
}

for (const variant of ['f32', 'ue8m0'] as const) {
  test(`golden masked_small_${variant}: the masked recipe matches DeepGEMM's masked GEMM on an H200`, async () => {
    const { f, raw } = goldenLayer(variant);
    try {
      const inputs = maskedInputsFromTensors(raw);
      const spec = maskedSpecFromInputs(inputs, { name: 'golden', recipe: { ...DEFAULT_RECIPE, id: 'masked', scaleFormat: variant } });
      assert.equal(spec.recipe.options?.maxM, 64);
      const r = await runLayer(spec, { backend: 'cpu', inputs: inputs as unknown as Record<string, Tensor> });
      assert.deepEqual(r.trace.stages.map((s) => s.id), masked.plan(spec, inputs as unknown as Record<string, Tensor>, { backend: 'cpu' }).stages.map((s) => s.id));
      const counts = inputs.masked_m.storage;
      const T = (n: string): Tensor => r.tensors.get(n)!;
      // exact on valid rows (tolerance 'exact' in the recipe)
      assert.equal(masked.tolerances.a1q?.kind, 'exact');
      assert.deepEqual(validRows(T('a1q'), counts, true), validRows(f.read('a1q_u8'), counts, true), 'a1q valid rows');
      assert.deepEqual(validRows(T('a1q_scale'), counts), validRows(f.read('a1_scale_f32'), counts), 'a1q_scale valid rows');
      // rows past masked_m stay zero here (DeepGEMM's are unspecified; not compared with the golden file)
      for (let e = 0; e < counts.length; e++) for (let c = 0; c < 256; c++) assert.equal(T('a1q').raw(e, 63, c) * (counts[e]! < 64 ? 1 : 0), 0);
      for (const [ours, golden] of [['mm1_out', 'mm1_bf16'], ['output', 'y_bf16']] as const) {
        const tol = masked.tolerances[ours]!;
        assert.equal(tol.kind, 'relL2');
        const err = relL2(validRows(T(ours), counts), validRows(f.read(golden), counts));
        assert.ok(err < (tol.kind === 'relL2' ? tol.max : 0), `${ours} rel L2 ${err}`);
      }
      // the trace: masked permutation stats with both paddings
      const p = r.trace.permutation;
      assert.equal(p.layout, 'masked');
      assert.deepEqual(p.counts, Array.from(counts));
      assert.equal(p.masked?.maxM, 64);
      assert.equal(p.masked?.rowBlock, 64);
    } finally {
      f.close();
    }
  });
}

test('masked: stale rows past masked_m (even NaN) influence nothing', async () => {
  const { f, raw } = goldenLayer('f32');
  try {
    const clean = maskedInputsFromTensors(raw);
    const counts = clean.masked_m.storage;
    const x = clean.hidden_states.contiguous();
    const poisoned = new Uint16Array(x.storage as Uint16Array);
    for (let e = 0; e < 4; e++) for (let i = counts[e]!; i < 64; i++) for (let c = 0; c < 256; c++) poisoned[(e * 64 + i) * 256 + c] = i % 2 ? 0x7fc0 : encodeBf16(1e30);
    const dirty = maskedInputsFromTensors({ ...raw, hidden_states: new Tensor('bf16', [4, 64, 256], poisoned, undefined, 0, 'hidden_states') });
    const spec = maskedSpecFromInputs(clean, { recipe: { ...DEFAULT_RECIPE, id: 'masked' } });
    const a = await runLayer(spec, { backend: 'cpu', inputs: clean as unknown as Record<string, Tensor> });
    const b = await runLayer(spec, { backend: 'cpu', inputs: dirty as unknown as Record<string, Tensor> });
    for (const n of ['a1q', 'a1q_scale', 'mm1_out', 'act_out', 'a2q', 'a2q_scale', 'output'])
      assert.deepEqual(Array.from(b.tensors.get(n)!.contiguous().storage as ArrayLike<number>), Array.from(a.tensors.get(n)!.contiguous().storage as ArrayLike<number>), n);
  } finally {
    f.close();
  }
});

test('masked: a synthetic preset run against its float64 reference (error tiles), SM90 and SM100', async () => {
  for (const arch of ['sm90', 'sm100']) {
    const spec: LayerSpec = makeSpec('qwen3-30b-a3b', { tokens: 40, hidden: 256, intermediate: 256, experts: 8, topk: 2, arch, recipe: { ...DEFAULT_RECIPE, id: 'masked', scaleFormat: arch === 'sm100' ? 'ue8m0' : 'f32' }, source: { kind: 'synthetic', seed: 7, skew: 1 } });
    const r = await runLayer(spec, { backend: 'cpu' });
    const maxM = r.tensors.get('hidden_states')!.shape[1]!;
    assert.equal(maxM % (arch === 'sm90' ? 64 : 128), 0, 'default max_m is a multiple of the row block');
    const counts = (r.tensors.get('masked_m')!.storage as Int32Array);
    assert.equal(counts.reduce((a, b) => a + b, 0), 80, 'every routed pair lands in a buffer');
    // the contiguous property test's bounds and reasons: BF16 storage costs ~1e-3 (mm1); GEMM2's input is
    // re-quantized from a BF16 activation ~1e-3 away from the reference's, so a few FP8 codes flip (output ≲ 2e-2)
    for (const [name, bound] of [['mm1_out', 4e-3], ['output', 5e-2]] as const) {
      const t = r.tensors.get(name)!;
      const rows = t.numel / t.shape[2]!;
      const errs = tile(r, name, [0, rows], [0, t.shape[2]!], 'error');
      const vals = tile(r, name, [0, rows], [0, t.shape[2]!], 'value');
      let num = 0;
      let den = 0;
      for (let i = 0; i < errs.values.length; i++) {
        if (Number.isNaN(errs.values[i]!)) continue;
        num += errs.values[i]! ** 2;
        den += vals.values[i]! ** 2;
      }
      assert.ok(den > 0 && Math.sqrt(num / den) < bound, `${arch} ${name}: rel L2 vs float64 ${Math.sqrt(num / den)}`);
    }
    const layout = r.tensors.get('a1q_scale_layout')!;
    assert.equal(layout.dtype, arch === 'sm90' ? 'f32' : 'i32');
  }
});

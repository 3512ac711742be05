/**
 * The W4AFP8 recipe end to end through runLayer on the CPU: stage order and tensors, the static scales, the
 * interleaved scales the GEMMs read, the GEMMs against their naive loop, the float64 reference on random shapes
 * (seed printed; MOE_PROPERTY_SEED replays one), TP and EP runs, refusals, detection and layer files (I8 on disk).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLayer, type RunResult } from '../../../../kernels/pipeline';
import { Tensor } from '../../../../kernels/tensor';
import { MoeError } from '../../../../kernels/errors';
import { Rng } from '../../../../kernels/synthetic';
import { writeSafetensors, SafetensorsFile } from '../../../../kernels/io/safetensors';
import { loadLayer } from '../../../../kernels/layerFile';
import { detectRecipe } from '../../../../kernels/recipes/index';
import { shutdownGemmWorkers } from '../../../../kernels/ops/gemm';
import { interleaveScales } from '../../../../kernels/recipes/w4afp8/interleave';
import { int4Fp8GroupedGemmNaive } from '../../../../kernels/recipes/w4afp8/gemm';
import { W4Reference64 } from '../../../../kernels/recipes/w4afp8/reference64';
import { w4RoutingPlan, W4_STAGES } from '../../../../kernels/recipes/w4afp8/stages';
import { staticScales } from '../../../../kernels/recipes/w4afp8/scales';
import type { W4Inputs } from '../../../../kernels/recipes/w4afp8/inputs';
import { hoverHints } from '../../../../kernels/recipes/w4afp8/index';
import type { LayerSpec } from '../../../../kernels/spec';
import { w4Raw, w4Spec } from './fixtures';

after(() => shutdownGemmWorkers());
const SEED = Number(process.env.MOE_PROPERTY_SEED ?? Math.floor(Math.random() * 2 ** 31));
const dir = mkdtempSync(join(tmpdir(), 'moe-w4-'));

const rel = (num: number, den: number): number => (den === 0 ? Math.sqrt(num) : Math.sqrt(num / den));

/** rel-L2 of every stage against the float64 reference, and the GEMMs against the naive loop (bit for bit) */
function verify(r: RunResult, where: string): Record<string, number> {
  const inputs = r.inputs as unknown as W4Inputs;
  const t = (n: string): Tensor => r.tensors.get(n)!;
  const plan = w4RoutingPlan(inputs);
  const { a1, a2 } = staticScales(inputs);
  const ref = new W4Reference64(inputs, plan, a1, a2);
  const H = inputs.hidden_states.shape[1]!;
  const Ip = inputs.w2_weight.shape[2]! * 2;
  const [mm1, act, mm2] = ['mm1_out', 'act_out', 'mm2_out'].map((n) => t(n).toFloat32());
  const acc = { mm1: [0, 0], act: [0, 0], mm2: [0, 0], y: [0, 0] };
  const add = (k: keyof typeof acc, got: number, want: number): void => {
    acc[k][0]! += (got - want) ** 2;
    acc[k][1]! += want ** 2;
  };
  for (let row = 0; row < plan.mSum; row++) {
    const p = ref.pair(plan.rowPair[row]!)!;
    for (let c = 0; c < 2 * Ip; c++) add('mm1', mm1![row * 2 * Ip + c]!, p.mm1[c]!);
    for (let c = 0; c < Ip; c++) add('act', act![row * Ip + c]!, p.act[c]!);
    for (let c = 0; c < H; c++) add('mm2', mm2![row * H + c]!, p.mm2[c]!);
  }
  const y = t('output').toFloat32();
  for (let tok = 0; tok < inputs.hidden_states.shape[0]!; tok++) {
    const ry = ref.token(tok);
    for (let c = 0; c < H; c++) add('y', y[tok * H + c]!, ry[c]!);
  }
  const e = Object.fromEntries(Object.entries(acc).map(([k, [n, d]]) => [k, rel(n!, d!)]));
  const msg = `${where}: rel-L2 ${JSON.stringify(e)}`;
  // BF16 storage costs ~1e-3 (mm1, act); GEMM2's input is re-quantized from a BF16 act ~1e-3 away from the
  // reference's, so a few FP8 codes flip by one step (as in the FP8 recipes' property tests). A wrong nibble, scale
  // or row gives O(1) errors.
  assert.ok(e.mm1! < 4e-3, msg);
  assert.ok(e.act! < 8e-3, msg);
  assert.ok(e.mm2! < 5e-2, msg);
  assert.ok(e.y! < 5e-2, msg);
  assert.ok(y.every(Number.isFinite), `${msg}: non-finite output`);
  const off = t('expert_offsets').storage as Int32Array;
  const n1 = int4Fp8GroupedGemmNaive({ a: t('a1q_permuted') as Tensor<'f8e4m3fn'>, w: inputs.w13_weight, scales: t('w13_weight_scale_interleaved') as Tensor<'bf16'>, alpha: a1, offsets: off });
  assert.deepEqual(Array.from(n1.storage), Array.from(t('mm1_out').storage as Uint16Array), `${where}: GEMM1 tiled ≠ naive`);
  const n2 = int4Fp8GroupedGemmNaive({ a: t('a2q') as Tensor<'f8e4m3fn'>, w: inputs.w2_weight, scales: t('w2_weight_scale_interleaved') as Tensor<'bf16'>, alpha: a2, offsets: off });
  assert.deepEqual(Array.from(n2.storage), Array.from(t('mm2_out').storage as Uint16Array), `${where}: GEMM2 tiled ≠ naive`);
  if (process.env.W4_DEBUG) console.log(where, JSON.stringify(e));
  return e;
}

test('a small layer: stages in SGLang order, shapes, static scales, interleaved scales, reference', async () => {
  const spec = w4Spec({ hidden: 512 });
  const r = await runLayer(spec, { backend: 'cpu' });
  assert.deepEqual(r.trace.stages.map((s) => s.id), W4_STAGES.map((s) => s.id));
  assert.deepEqual(r.trace.stages.map((s) => s.id), ['load_scales', 'pre_reorder', 'gemm1', 'activation', 'requantize', 'gemm2', 'unpermute']);
  assert.equal(r.trace.recipe.id, 'w4afp8');
  const inputs = r.inputs as unknown as W4Inputs;
  const sh = (n: string): number[] => [...r.tensors.get(n)!.shape];
  const R = 6 * 2;
  assert.deepEqual(sh('a1q_permuted'), [R, 512]);
  assert.deepEqual(sh('mm1_out'), [R, 512]);
  assert.deepEqual(sh('act_out'), [R, 256]);
  assert.deepEqual(sh('a2q'), [R, 256]);
  assert.deepEqual(sh('mm2_out'), [R, 512]);
  assert.deepEqual(sh('output'), [6, 512]);
  assert.deepEqual(sh('w13_weight_scale_interleaved'), [4, 1, 2048], 'H/128 = 4 groups → α = 4');
  assert.deepEqual(sh('w2_weight_scale_interleaved'), [4, 2, 512], 'I_p/128 = 2 groups → α = 1');
  assert.deepEqual(sh('w4afp8_parallel_plan'), [2, 9]);
  const m = (t: Tensor): number => Math.max(...t.toFloat32());
  assert.equal(r.tensors.get('a1_scale')!.get(0), m(inputs.w13_input_scale));
  assert.equal(r.tensors.get('a2_scale')!.get(0), m(inputs.w2_input_scale));
  assert.deepEqual(Array.from(r.tensors.get('w13_weight_scale_interleaved')!.storage as Uint16Array), Array.from(interleaveScales(inputs.w13_weight_scale_inv, 'x').tensor.storage));
  assert.equal(r.trace.permutation.mSum, R, 'exact expert offsets: no padding rows');
  assert.equal(r.trace.permutation.paddingWaste, 0);
  const offsets = Array.from(r.tensors.get('expert_offsets')!.storage as Int32Array);
  assert.equal(offsets.length, 5);
  assert.equal(offsets[4], R);
  verify(r, 'small layer');
  const pre = r.trace.stages.find((s) => s.id === 'pre_reorder')!;
  assert.ok(pre.notes!.some((n) => /a1q_permuted: static per-tensor scale .* clamped to ±448; \d+ codes? .* fl\(1\/s\)/.test(n)), pre.notes!.join(' | '));
  assert.ok(r.trace.stages.find((s) => s.id === 'requantize')!.notes!.some((n) => n.startsWith('a2q: static per-tensor scale')));
  assert.ok(r.trace.stages.find((s) => s.id === 'gemm1')!.notes!.some((n) => /unverified/.test(n)));
  assert.equal(r.trace.stages.find((s) => s.id === 'gemm1')!.flops, 2 * R * 512 * 512);
  const errOf = r.plan!.errorOf!('output', r.tensors)!;
  assert.ok(Math.abs(errOf(0, 0, r.tensors.get('output')!.get(0, 0))) < 0.05);
  assert.ok(r.trace.checks.some((c) => c.id === 'w4afp8.interleave' && /w13 4 K-groups → α = 4: \(4, 512, 4\) → \(4, 1, 2048\); w2 2 K-groups, not a multiple of 4 → α = 1/.test(c.message)));
});

function randomSpec(rng: Rng, i: number): LayerSpec {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng.float() * xs.length)]!;
  const experts = 1 + Math.floor(rng.float() * 6);
  const tp = pick([1, 1, 2]);
  const spec = w4Spec(
    {
      name: `w4-property-${i}`,
      tokens: 1 + Math.floor(rng.float() * 24),
      hidden: pick([128, 256, 384, 512]),
      intermediate: tp * pick([128, 256, 384]),
      experts,
      topk: Math.min(experts, 1 + Math.floor(rng.float() * 3)),
      source: { kind: 'synthetic', seed: rng.u32(), skew: rng.float() * 1.5 },
    },
    { tp },
  );
  if (tp === 1 && experts >= 2 && rng.float() < 0.5) {
    const size = 2 + Math.floor(rng.float() * (Math.min(experts, 4) - 1));
    spec.expertParallel = { size, rank: Math.floor(rng.float() * size), strategy: pick(['linear', 'round_robin'] as const) };
  }
  return spec;
}

test(`random layers (TP, EP, shapes) against the float64 reference, seed ${SEED}`, async () => {
  const rng = new Rng(SEED);
  for (let i = 0; i < 5; i++) {
    const spec = randomSpec(rng, i);
    const where = `seed ${SEED}, case ${i}: ${JSON.stringify({ M: spec.tokens, H: spec.hidden, I: spec.intermediate, E: spec.experts, k: spec.topk, ep: spec.expertParallel, tp: spec.recipe.options?.tp })}`;
    verify(await runLayer(spec, { backend: 'cpu' }), where);
  }
});

test('a progressive run (partial traces, weights written late) gives the same output as a plain one', async () => {
  const spec = w4Spec({ tokens: 9 });
  const partials: string[][] = [];
  const prog = await runLayer(spec, { backend: 'cpu', onStage: (p) => void partials.push(p.pending!.map((x) => x.id)) });
  assert.equal(partials.length, W4_STAGES.length);
  assert.deepEqual(partials[0], W4_STAGES.map((x) => x.id));
  assert.deepEqual(partials[2], ['gemm1', 'activation', 'requantize', 'gemm2', 'unpermute']);
  const plain = await runLayer(spec, { backend: 'cpu' });
  assert.deepEqual(Array.from(prog.tensors.get('output')!.storage as Uint16Array), Array.from(plain.tensors.get('output')!.storage as Uint16Array));
});

test('EP2 rank 1: only the local experts are computed; tokens with none get zeros', async () => {
  const spec = w4Spec({ tokens: 12, topk: 1, expertParallel: { size: 2, rank: 1, strategy: 'linear' } });
  const r = await runLayer(spec, { backend: 'cpu' });
  const inputs = r.inputs as unknown as W4Inputs;
  assert.deepEqual(inputs.w13_weight.shape, [2, 512, 128]);
  const ids = inputs.topk_ids.storage as Int32Array;
  const local = Array.from(ids).filter((g) => g >= 2).length;
  assert.equal(r.tensors.get('a1q_permuted')!.shape[0], local);
  const y = r.tensors.get('output')!.toFloat32();
  for (let t = 0; t < 12; t++) if (ids[t]! < 2) assert.ok(y.subarray(t * 256, (t + 1) * 256).every((v) => v === 0), `token ${t} routed to expert ${ids[t]} (not local)`);
  verify(r, 'EP2 rank 1');
  const plan = r.tensors.get('w4afp8_parallel_plan')!;
  assert.deepEqual(plan.shape, [4, 9]);
});

test('TP2: every expert with I/2; the stage notes say the output is a partial sum', async () => {
  const spec = w4Spec({ intermediate: 512 }, { tp: 2 });
  const r = await runLayer(spec, { backend: 'cpu' });
  const inputs = r.inputs as unknown as W4Inputs;
  assert.deepEqual(inputs.w13_weight.shape, [4, 512, 128], 'I_p = 256');
  assert.deepEqual(inputs.w2_weight.shape, [4, 256, 128]);
  assert.ok(r.trace.stages.at(-1)!.notes!.some((n) => /TP2: this is one GPU's partial sum/.test(n)));
  assert.ok(r.trace.checks.some((c) => c.id === 'w4afp8.tp' && c.level === 'pass'));
});

test('refused before any compute: TP with EP, I_p not a multiple of 128, I not divisible by tp', async () => {
  const refuses = async (spec: LayerSpec, re: RegExp): Promise<void> =>
    assert.rejects(runLayer(spec, { backend: 'cpu' }), (e: unknown) => e instanceof MoeError && e.code === 'E_SPEC' && re.test(e.message) && !e.message.includes('\n'));
  await refuses(w4Spec({ intermediate: 512, expertParallel: { size: 2, rank: 0, strategy: 'linear' } }, { tp: 2 }), /either tensor parallel .* or expert parallel/);
  await refuses(w4Spec({ intermediate: 768 }, { tp: 8 }), /I_p = 96 \(I = 768 \/ TP8\) is not a multiple of 128/);
  await refuses(w4Spec({ intermediate: 768 }, { tp: 5 }), /I = 768 does not split into 5/);
  await refuses(w4Spec({ hidden: 200 }), /H = 200 is not a multiple of 128/);
});

test('checks: EP size that does not divide E, an SM100 target, clamped activations', async () => {
  const { w4afp8 } = await import('../../../../kernels/recipes/w4afp8/index');
  const spec = w4Spec({ experts: 6, expertParallel: { size: 4, rank: 0, strategy: 'linear' } });
  assert.ok(w4afp8.checks(spec).some((c) => c.id === 'w4afp8.ep-divisible' && c.level === 'fail' && /6 experts do not divide among 4/.test(c.message)));
  assert.ok(w4afp8.checks(w4Spec({ arch: 'sm100' })).some((c) => c.id === 'w4afp8.arch' && c.level === 'warn'));
  const raw = w4Raw();
  const inputs = w4afp8.inputsFromTensors({ ...raw, w13_input_scale: new Tensor('bf16', [4, 2], new Uint16Array(8).fill(0x3c00)) }); // 2^-7: range ±3.5
  const clip = w4afp8.checks(w4Spec(), inputs).find((c) => c.id === 'w4afp8.a1-clip')!;
  assert.equal(clip.level, 'warn');
  assert.match(clip.message, /exceed 448 × a1_scale = 3\.500 .* clamped to ±448/);
});

test('detection: a W4AFP8 file is w4afp8 (not contiguous), FP8 files keep their recipe', () => {
  const shapes = (names: Record<string, number[]>): Map<string, number[]> => new Map(Object.entries(names));
  const fp8 = { hidden_states: [6, 256], topk_ids: [6, 2], topk_weights: [6, 2], w13_weight: [4, 512, 256], w13_weight_scale_inv: [4, 4, 2], w2_weight: [4, 256, 256], w2_weight_scale_inv: [4, 2, 2] };
  assert.equal(detectRecipe(shapes(fp8))?.id, 'contiguous');
  assert.equal(detectRecipe(shapes({ ...fp8, w13_weight: [4, 512, 128], w13_input_scale: [4, 2], w2_input_scale: [4] }))?.id, 'w4afp8');
  assert.equal(detectRecipe(shapes({ hidden_states: [4, 128, 256], masked_m: [4], w13_weight: [4, 512, 256] }))?.id, 'masked');
});

test('a layer file: packed int4 is written as I8, read back as signed bytes and taken as i4x2 by the recipe; the file run equals the in-memory run bit for bit', async () => {
  const spec = w4Spec();
  const raw = w4Raw(spec);
  const p = join(dir, 'w4.safetensors');
  writeSafetensors(p, raw);
  const f = SafetensorsFile.open(p);
  assert.equal(f.entry('w13_weight').dtype, 'I8');
  assert.equal(f.read('w13_weight').dtype, 'i8');
  f.close();
  const loaded = loadLayer(p);
  assert.equal(loaded.recipe.id, 'w4afp8');
  const fromFile = await runLayer(loaded.recipe.specFromInputs(loaded.inputs, { source: { kind: 'file', path: p } }), { backend: 'cpu', inputs: loaded.inputs });
  const inMemory = await runLayer(spec, { backend: 'cpu' });
  assert.deepEqual(Array.from(fromFile.tensors.get('output')!.storage as Uint16Array), Array.from(inMemory.tensors.get('output')!.storage as Uint16Array));
});

test('hover hints: int4 weights, group scales (not 128×128 blocks), interleaved scales, input scales', () => {
  const hit = (name: string, dtype: string, shape: number[]): string | undefined =>
    hoverHints.find((h) => h.name.test(name) && (!h.dtype || h.dtype === dtype) && (h.rank === undefined || h.rank === shape.length) && (!h.shape || h.shape(shape)))?.text;
  assert.match(hit('layer.mlp.experts.w13_weight', 'int8', [32, 4096, 3584])!, /int4 packed two per byte/);
  assert.match(hit('w2_weight_scale_inv', 'float32', [32, 7168, 16])!, /group scales as loaded/);
  assert.equal(hit('w2_weight_scale_inv', 'float32', [256, 56, 16]), undefined, 'FP8 128×128 block scales are not claimed');
  assert.match(hit('w13_weight_scale_inv', 'bfloat16', [32, 14, 16384])!, /kernel layout/);
  assert.match(hit('w13_input_scale', 'bfloat16', [32, 2])!, /max over all experts/);
  assert.equal(hit('w13_weight', 'float8_e4m3fn', [32, 4096, 7168]), undefined);
});

/**
 * The torchao FP8 training recipe end to end through the pipeline: the §8 worked example, the three passes against
 * float64 references over random shapes, the guards per architecture, bad layer files, hover hints.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLayer, type RunResult } from '../../../../kernels/pipeline';
import { recipeById, detectRecipe } from '../../../../kernels/recipes/index';
import { makeSpec } from '../../../../kernels/presets';
import { Tensor } from '../../../../kernels/tensor';
import { MoeError } from '../../../../kernels/errors';
import { Rng } from '../../../../kernels/synthetic';
import { encodeBf16, decodeBf16 } from '../../../../kernels/dtypes/bf16';
import { groupedGemmNaive, shutdownGemmWorkers } from '../../../../kernels/ops/gemm';
import { writeSafetensors } from '../../../../kernels/io/safetensors';
import { loadLayer } from '../../../../kernels/layerFile';
import { tile } from '../../../../kernels/tiles';
import { TT } from '../../../../kernels/recipes/torchao-fp8-training/tensors';
import { kGroupedGemmNt } from '../../../../kernels/recipes/torchao-fp8-training/kGroupedGemm';
import { hoverHints } from '../../../../kernels/recipes/torchao-fp8-training/index';
import { torchaoInputsFor, workedExampleInputs } from '../../../../kernels/recipes/torchao-fp8-training/synthetic';
import { TORCHAO_STAGES } from '../../../../kernels/recipes/torchao-fp8-training/stages';
import { planGroups } from '../../../../kernels/recipes/torchao-fp8-training/groups';
import { TrainingReference64, kGroupedRef64, mGroupedRef64, tokenExperts } from '../../../../kernels/recipes/torchao-fp8-training/reference64';
import type { TorchaoInputs } from '../../../../kernels/recipes/torchao-fp8-training/inputs';

after(() => shutdownGemmWorkers());

const recipe = recipeById('torchao-fp8-training');

async function run(inputs: TorchaoInputs, arch = 'sm90'): Promise<RunResult> {
  const raw = inputs as unknown as Record<string, Tensor>;
  const spec = recipe.specFromInputs(raw, { arch });
  return runLayer(spec, { backend: 'cpu', inputs: raw });
}

const t2 = (r: RunResult, n: string): Tensor => r.tensors.get(n)!;

/** DeepGEMM's accuracy metric (docs/layouts-and-stages.md §5.7): 1 − 2Σxy / Σ(x² + y²) */
function calcDiff(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let xy = 0;
  let xx = 0;
  for (let i = 0; i < x.length; i++) {
    xy += x[i]! * y[i]!;
    xx += x[i]! * x[i]! + y[i]! * y[i]!;
  }
  return xx === 0 ? 0 : 1 - (2 * xy) / xx;
}

/** |bf16(fp32 accumulation) − float64| ≤ BF16 half-ulp + float32 roundings (3 per block + 1) of Σ|terms| */
function withinBudget(v: number, ref: { value: number; magnitude: number }, blocks: number): boolean {
  return Math.abs(v - ref.value) <= 2 ** -8 * Math.abs(ref.value) + (3 * blocks + 2) * 2 ** -24 * ref.magnitude + 1e-30;
}

test('the recipe is in the registry with its seven stages; a layer file of its tensors is detected as it', () => {
  assert.equal(recipe.label, 'torchao FP8 training (DeepGEMM backend)');
  assert.deepEqual(
    TORCHAO_STAGES.map((s) => s.id),
    ['pad', 'fwd_quantize', 'fwd_gemm', 'dgrad_quantize', 'dgrad_gemm', 'wgrad_quantize', 'wgrad_gemm'],
  );
  const shapes = new Map<string, number[]>([
    ['input', [130, 256]],
    ['grad_output', [130, 256]],
    ['weight', [2, 256, 256]],
    ['group_sizes', [2]],
  ]);
  assert.equal(detectRecipe(shapes)?.id, 'torchao-fp8-training');
});

test('§8 worked example (groups of 100 and 30, K = N = 256) through the pipeline: grouped_layout, padding, buffers, results', async () => {
  const inputs = workedExampleInputs();
  const r = await run(inputs);
  const tr = r.trace;
  assert.deepEqual(tr.stages.map((s) => s.id), TORCHAO_STAGES.map((s) => s.id));
  const gl = t2(r, TT.grouped_layout);
  assert.deepEqual(gl.shape, [512]);
  const expected = new Int32Array(512).fill(-1);
  expected.fill(0, 0, 100);
  expected.fill(1, 128, 158);
  assert.deepEqual(gl.storage, expected);
  assert.deepEqual(tr.tensors[TT.grouped_layout]!.inline!.slice(95, 130), Array.from(expected.subarray(95, 130)));
  assert.deepEqual(Array.from(t2(r, TT.padded_group_sizes).storage as Int32Array), [128, 128]);
  assert.deepEqual(Array.from(t2(r, TT.padded_group_starts).storage as Int32Array), [0, 128]);
  // padded buffer: token 100 (expert 1's first) sits at row 128; rows 100–127 and 158–511 are zero
  const xp = t2(r, TT.input_padded);
  assert.deepEqual(xp.shape, [512, 256]);
  for (let c = 0; c < 256; c++) {
    assert.equal(xp.get(128, c), inputs.input.get(100, c));
    assert.equal(xp.get(100, c), 0);
    assert.equal(xp.get(300, c), 0);
  }
  // shapes of every operand DeepGEMM gets
  const shape = (n: string): number[] => [...t2(r, n).shape];
  assert.deepEqual(shape(TT.input_scale), [512, 2]);
  assert.deepEqual([...t2(r, TT.input_scale).strides], [1, 512]);
  assert.deepEqual(shape(TT.weight_fp8), [2, 256, 256]);
  assert.deepEqual(shape(TT.weight_scale), [2, 2, 2]);
  assert.deepEqual(shape(TT.weight_t_fp8), [2, 256, 256]);
  assert.deepEqual(shape(TT.wgrad_lhs), [256 * 256]);
  assert.deepEqual(shape(TT.wgrad_lhs_scale), [256, 2]);
  assert.deepEqual(shape(TT.wgrad_rhs_scale), [256, 2]);
  assert.deepEqual([...t2(r, TT.wgrad_lhs_scale_layout).strides], [1, 256], 'SM90 reads the wgrad scales MN-major');
  assert.deepEqual(shape(TT.output), [130, 256]);
  assert.deepEqual(shape(TT.grad_input), [130, 256]);
  assert.deepEqual(shape(TT.grad_weight), [2, 256, 256]);
  for (const n of [TT.output, TT.grad_input, TT.grad_weight]) assert.equal(t2(r, n).dtype, 'bf16');
  // wgrad flat buffer: grad_output token 100 (expert 1, first token, feature 3) sits at start_1·N + 3·P_1 + 0
  const lhs = t2(r, TT.wgrad_lhs);
  const goq = t2(r, TT.grad_output_fp8);
  const s = t2(r, TT.wgrad_lhs_scale).get(3, 1);
  const x = inputs.grad_output.get(100, 3);
  assert.ok(Math.abs(lhs.get(128 * 256 + 3 * 128) * s - x) <= 2 ** -4 * Math.abs(x) + 2 ** -10 * s);
  assert.equal(goq.raw(100, 0), 0, 'padding rows quantize to 0');
  assert.equal(tr.checks.filter((c) => c.level === 'fail').length, 0);
  assert.match(tr.checks.find((c) => c.id === 'torchao.group-padding')!.message, /2 of 2 groups padded, S = 256 rows for M = 130/);
  assert.match(tr.stages[0]!.notes!.join(' '), /align\(130 \+ 2·128, 128\) = 512 rows/);
  assert.deepEqual(tr.permutation.counts, [100, 30]);
  assert.equal(tr.permutation.mSum, 256);
});

test('the M-grouped passes equal the naive GEMM on the padded operands bit for bit', async () => {
  const r = await run(workedExampleInputs(3));
  const fwd = groupedGemmNaive(
    t2(r, TT.input_fp8) as Tensor<'f8e4m3fn'>,
    t2(r, TT.input_scale) as Tensor<'f32'>,
    t2(r, TT.weight_fp8) as Tensor<'f8e4m3fn'>,
    t2(r, TT.weight_scale) as Tensor<'f32'>,
    t2(r, TT.grouped_layout) as Tensor<'i32'>,
  );
  const out = t2(r, TT.output);
  for (let i = 0; i < 130; i++) {
    const row = i < 100 ? i : 128 + (i - 100);
    for (let n = 0; n < 256; n++) assert.equal(out.raw(i, n), fwd.raw(row, n), `output (${i}, ${n})`);
  }
  const dg = groupedGemmNaive(
    t2(r, TT.grad_output_fp8) as Tensor<'f8e4m3fn'>,
    t2(r, TT.grad_output_scale) as Tensor<'f32'>,
    t2(r, TT.weight_t_fp8) as Tensor<'f8e4m3fn'>,
    t2(r, TT.weight_t_scale) as Tensor<'f32'>,
    t2(r, TT.grouped_layout) as Tensor<'i32'>,
  );
  const gi = t2(r, TT.grad_input);
  for (let i = 0; i < 130; i += 7) {
    const row = i < 100 ? i : 128 + (i - 100);
    for (let k = 0; k < 256; k++) assert.equal(gi.raw(i, k), dg.raw(row, k));
  }
});

test('grad_weight is the K-grouped GEMM of the flat operands, cast to BF16 with round-to-nearest-even', async () => {
  const r = await run(workedExampleInputs(11));
  const d = kGroupedGemmNt(
    { data: t2(r, TT.wgrad_lhs) as Tensor<'f8e4m3fn'>, scale: t2(r, TT.wgrad_lhs_scale) as Tensor<'f32'>, name: 'wgrad_lhs' },
    { data: t2(r, TT.wgrad_rhs) as Tensor<'f8e4m3fn'>, scale: t2(r, TT.wgrad_rhs_scale) as Tensor<'f32'>, name: 'wgrad_rhs' },
    [128, 128],
  );
  const gw = t2(r, TT.grad_weight).storage as Uint16Array;
  const f = d.storage;
  for (let i = 0; i < f.length; i++) assert.equal(gw[i], encodeBf16(f[i]!), `element ${i}`);
});

test('random shapes: output, grad_input, grad_weight within the FP8 GEMM budget of float64 references, and close to the unquantized math', async (t) => {
  const seed = 0x7a0;
  t.diagnostic(`seed ${seed}`);
  const rng = new Rng(seed);
  for (let trial = 0; trial < 4; trial++) {
    const E = 1 + Math.floor(rng.float() * 3);
    const sizes = Array.from({ length: E }, () => (rng.float() < 0.25 ? 0 : 1 + Math.floor(rng.float() * 260)));
    const K = 128 * (1 + Math.floor(rng.float() * 2));
    const N = 128 * (1 + Math.floor(rng.float() * 2));
    const inputs = torchaoInputsFor(sizes, K, N, rng.u32());
    const r = await run(inputs);
    const groups = planGroups(sizes);
    const experts = tokenExperts(groups);
    const ref = new TrainingReference64(inputs, groups);
    const what = `seed ${seed} trial ${trial}: sizes [${sizes}] K ${K} N ${N}`;
    const out = t2(r, TT.output);
    const gi = t2(r, TT.grad_input);
    const gw = t2(r, TT.grad_weight);
    const rowOf = (tok: number): number => groups.starts[experts[tok]!]! + (tok - groups.srcStarts[experts[tok]!]!);
    const outV: number[] = [];
    const outR: number[] = [];
    for (let tok = 0; tok < groups.tokens; tok += 3) {
      const e = experts[tok]!;
      const row = rowOf(tok);
      const f64 = ref.outputRow(tok);
      for (let n = 0; n < N; n += 5) {
        const q = mGroupedRef64(t2(r, TT.input_fp8) as Tensor<'f8e4m3fn'>, t2(r, TT.input_scale) as Tensor<'f32'>, t2(r, TT.weight_fp8) as Tensor<'f8e4m3fn'>, t2(r, TT.weight_scale) as Tensor<'f32'>, row, e, n);
        assert.ok(withinBudget(out.get(tok, n), q, K / 128), `${what}: output (${tok}, ${n}) ${out.get(tok, n)} vs ${q.value}`);
        outV.push(out.get(tok, n));
        outR.push(f64[n]!);
      }
      const g64 = ref.gradInputRow(tok);
      for (let k = 0; k < K; k += 7) {
        const q = mGroupedRef64(t2(r, TT.grad_output_fp8) as Tensor<'f8e4m3fn'>, t2(r, TT.grad_output_scale) as Tensor<'f32'>, t2(r, TT.weight_t_fp8) as Tensor<'f8e4m3fn'>, t2(r, TT.weight_t_scale) as Tensor<'f32'>, row, e, k);
        assert.ok(withinBudget(gi.get(tok, k), q, N / 128), `${what}: grad_input (${tok}, ${k})`);
        assert.ok(Math.abs(gi.get(tok, k) - g64[k]!) <= 0.1 * Math.max(...Array.from(g64, Math.abs)) + 1e-12, `${what}: grad_input vs unquantized`);
      }
    }
    if (outV.length) assert.ok(calcDiff(outV, outR) < 1e-3, `${what}: output calc_diff ${calcDiff(outV, outR)}`);
    const gwV: number[] = [];
    const gwR: number[] = [];
    for (let e = 0; e < E; e++)
      for (let n = 0; n < N; n += 11) {
        const w64 = ref.gradWeightRow(e, n);
        for (let k = 0; k < K; k += 13) {
          const v = gw.get(e, n, k);
          if (sizes[e] === 0) {
            assert.equal(v, 0, `${what}: an expert without tokens has a zero gradient`);
            continue;
          }
          const q = kGroupedRef64(t2(r, TT.wgrad_lhs) as Tensor<'f8e4m3fn'>, t2(r, TT.wgrad_lhs_scale) as Tensor<'f32'>, t2(r, TT.wgrad_rhs) as Tensor<'f8e4m3fn'>, t2(r, TT.wgrad_rhs_scale) as Tensor<'f32'>, groups, e, n, k);
          assert.ok(withinBudget(v, q, groups.padded[e]! / 128), `${what}: grad_weight (${e}, ${n}, ${k}) ${v} vs ${q.value}`);
          gwV.push(v);
          gwR.push(w64[k]!);
        }
      }
    if (gwV.length) assert.ok(calcDiff(gwV, gwR) < 1e-3, `${what}: grad_weight calc_diff ${calcDiff(gwV, gwR)}`);
  }
});

test('error tiles: |value − float64| of output and grad_weight, NaN on padding rows of the quantized input', async () => {
  const r = await run(workedExampleInputs());
  const e = tile(r, TT.output, [0, 4], [0, 8], 'error');
  assert.ok(e.values.every((v) => Number.isFinite(v) && v < 0.05), String(e.values));
  const w = tile(r, TT.grad_weight, [254, 258], [0, 4], 'error');
  assert.ok(w.values.every((v) => Number.isFinite(v)));
  const q = tile(r, TT.input_fp8, [98, 102], [0, 2], 'error');
  assert.ok(Number.isFinite(q.values[0]!) && Number.isNaN(q.values[4]!), 'rows 100+ of expert 0 are padding');
});

test('SM100: the layer still computes, the guards say DeepGEMM 2.6.1 refuses both calls and what to use instead', async () => {
  const r = await run(workedExampleInputs(), 'sm100');
  const m = r.trace.checks.find((c) => c.id === 'torchao.m-grouped')!;
  const k = r.trace.checks.find((c) => c.id === 'torchao.k-grouped')!;
  assert.equal(m.level, 'fail');
  assert.match(m.message, /Unsupported architecture or scaling factor types.*EMULATED/);
  assert.equal(k.level, 'fail');
  assert.match(k.message, /SM90 only.*k_grouped_fp8_gemm_tn_contiguous/);
  assert.ok(!r.tensors.has(TT.wgrad_lhs_scale_layout), 'no SM90 re-layout of the wgrad scales on SM100');
  assert.match(r.trace.stages.find((s) => s.id === 'wgrad_gemm')!.notes!.join(' '), /refuses k_grouped_fp8_gemm_nt_contiguous/);
  const sm90 = await run(workedExampleInputs(), 'sm90');
  assert.deepEqual(r.tensors.get(TT.grad_weight)!.storage, sm90.tensors.get(TT.grad_weight)!.storage, 'same math on both');
});

test('synthetic inputs from a preset: seeded group sizes summing to tokens, same seed same tensors; guards from the spec alone', async () => {
  const spec = makeSpec('qwen3-30b-a3b', { tokens: 200, hidden: 256, intermediate: 128, experts: 6, recipe: { id: 'torchao-fp8-training', actGroup: 128, weightBlock: 128, scaleFormat: 'f32', quant: 'vllm' }, source: { kind: 'synthetic', seed: 5, skew: 1.2 } });
  const a = recipe.synthetic(spec, { defer: false, backend: 'cpu' }).inputs as unknown as TorchaoInputs;
  const b = recipe.synthetic(spec, { defer: false, backend: 'cpu' }).inputs as unknown as TorchaoInputs;
  const sizes = Array.from(a.group_sizes.storage as Int32Array);
  assert.equal(sizes.length, 6);
  assert.equal(sizes.reduce((x, y) => x + y, 0), 200);
  assert.deepEqual(a.group_sizes.storage, b.group_sizes.storage);
  assert.deepEqual(a.weight.storage, b.weight.storage);
  assert.ok(Math.max(...sizes) > 200 / 6, 'skew 1.2 makes one expert hot');
  const r = await runLayer(spec, { backend: 'cpu' });
  assert.deepEqual(r.trace.stages.map((s) => s.id), TORCHAO_STAGES.map((s) => s.id));
  assert.deepEqual(r.trace.permutation.counts, sizes);
  const bad = recipe.checks({ ...spec, hidden: 200 });
  assert.equal(bad.find((c) => c.id === 'shape.hidden-multiple-128')!.level, 'fail');
  await assert.rejects(runLayer({ ...spec, intermediate: 200 }, { backend: 'cpu' }), /N = 200 is not a multiple of 128/);
  const ue = recipe.checks({ ...spec, recipe: { ...spec.recipe, scaleFormat: 'ue8m0' } });
  assert.match(ue.find((c) => c.id === 'torchao.scales')!.message, /disable_ue8m0_cast=True/);
  const ep = recipe.synthetic({ ...spec, expertParallel: { size: 3, rank: 1, strategy: 'linear' } }, { defer: false, backend: 'cpu' }).inputs as unknown as TorchaoInputs;
  assert.deepEqual(ep.weight.shape, [2, 128, 256], 'EP3: two local experts');
});

test('F32 operands (torchao accepts them) holding the same values give the same bits as BF16', async () => {
  const bf = workedExampleInputs(4);
  const widen = (t: Tensor): Tensor<'f32'> => new Tensor('f32', [...t.shape], t.toFloat32(), undefined, 0, t.name);
  const f32in = { ...bf, input: widen(bf.input), weight: widen(bf.weight), grad_output: widen(bf.grad_output) } as TorchaoInputs;
  const a = await run(bf);
  const b = await run(f32in);
  for (const n of [TT.output, TT.grad_input, TT.grad_weight, TT.wgrad_lhs_scale]) assert.deepEqual(b.tensors.get(n)!.storage, a.tensors.get(n)!.storage, n);
  assert.equal(b.tensors.get(TT.input_padded)!.dtype, 'f32');
});

test('no tokens: every group empty, output and grad_input empty, grad_weight zero', async () => {
  const r = await run(torchaoInputsFor([0, 0], 128, 128, 1));
  assert.deepEqual(r.tensors.get(TT.output)!.shape, [0, 128]);
  assert.deepEqual(r.tensors.get(TT.grad_input)!.shape, [0, 128]);
  assert.ok(Array.from(r.tensors.get(TT.grad_weight)!.storage as Uint16Array).every((v) => v === 0));
  assert.ok(r.trace.checks.some((c) => c.id === 'tokens.empty'));
});

// ---- bad layer files: one line, naming the tensor, expected and actual
function layer(over: Partial<Record<string, Tensor | undefined>> = {}): Record<string, Tensor | undefined> {
  const base = workedExampleInputs() as unknown as Record<string, Tensor>;
  return { ...base, ...over };
}
const bf16 = (shape: number[], name: string, fill = 0.5): Tensor<'bf16'> => new Tensor('bf16', shape, new Uint16Array(shape.reduce((a, b) => a * b, 1)).fill(encodeBf16(fill)), undefined, 0, name);
const i32 = (v: number[], name = 'group_sizes'): Tensor<'i32'> => new Tensor('i32', [v.length], Int32Array.from(v), undefined, 0, name);

test('bad inputs, each a one-line MoeError naming the tensor', () => {
  const cases: [string, Record<string, Tensor | undefined>, string, RegExp][] = [
    ['sizes not summing to M', layer({ group_sizes: i32([100, 31]) }), 'group_sizes', /group_sizes: the counts sum to 131 but input has M = 130 rows/],
    ['negative size', layer({ group_sizes: i32([131, -1]) }), 'group_sizes', /group_sizes\[1\] = -1: a token count must be ≥ 0/],
    ['one size per expert', layer({ group_sizes: i32([100, 20, 10]) }), 'group_sizes', /group_sizes: expected shape \[2\] .* got \[3\]/],
    ['int64 offsets', layer({ group_sizes: new Tensor('i64', [2], BigInt64Array.from([100n, 30n]), undefined, 0, 'group_sizes') }), 'group_sizes', /group_sizes: expected dtype i32 .* got i64/],
    ['FP8 input', layer({ input: new Tensor('f8e4m3fn', [130, 256], new Uint8Array(130 * 256), undefined, 0, 'input') }), 'input', /input: expected dtype bf16 or f32, got f8e4m3fn/],
    ['K not a multiple of 128', layer({ input: bf16([130, 200], 'input'), weight: bf16([2, 256, 200], 'weight') }), 'input', /input: K = 200 .* not a multiple of 128/],
    ['N not a multiple of 128', layer({ weight: bf16([2, 192, 256], 'weight'), grad_output: bf16([130, 192], 'grad_output') }), 'weight', /weight: N = 192 .* not a multiple of 128/],
    ['weight K ≠ input K', layer({ weight: bf16([2, 256, 384], 'weight') }), 'weight', /weight: expected shape \[E, N, 256\]/],
    ['2-D weight', layer({ weight: bf16([256, 256], 'weight') }), 'weight', /weight: expected shape \[E, N, 256\] .* got \[256, 256\]/],
    ['grad_output rows', layer({ grad_output: bf16([129, 256], 'grad_output') }), 'grad_output', /grad_output: expected shape \[130, 256\]/],
    ['I32 grad_output', layer({ grad_output: new Tensor('i32', [130, 256], new Int32Array(130 * 256), undefined, 0, 'grad_output') }), 'grad_output', /grad_output: expected dtype bf16 or f32, got i32/],
    ['NaN in grad_output', layer({ grad_output: (() => { const g = bf16([130, 256], 'grad_output'); (g.storage as Uint16Array)[3 * 256 + 9] = encodeBf16(NaN); return g; })() }), 'grad_output', /grad_output\[3, 9\] = NaN: expected a finite value/],
    ['inf in weight', layer({ weight: (() => { const w = bf16([2, 256, 256], 'weight'); (w.storage as Uint16Array)[256 * 256 + 5] = encodeBf16(-Infinity); return w; })() }), 'weight', /weight\[1, 0, 5\] = -Infinity/],
    ['missing grad_output', layer({ grad_output: undefined }), 'grad_output', /missing tensor 'grad_output'/],
  ];
  for (const [what, raw, tensor, re] of cases)
    assert.throws(
      () => recipe.inputsFromTensors(raw),
      (e: unknown) => {
        assert.ok(e instanceof MoeError, `${what}: ${String(e)}`);
        assert.match(e.message, re, what);
        assert.equal(e.tensor, tensor, what);
        assert.ok(!e.message.includes('\n'), `${what}: one line`);
        return true;
      },
      what,
    );
  assert.equal(decodeBf16(encodeBf16(0.5)), 0.5);
});

test('a layer file round-trips: loadLayer detects the recipe and validates its tensors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'torchao-layer-'));
  const p = join(dir, 'L.safetensors');
  writeSafetensors(p, workedExampleInputs() as unknown as Record<string, Tensor>);
  const loaded = loadLayer(p);
  assert.equal(loaded.recipe.id, 'torchao-fp8-training');
  const spec = loaded.recipe.specFromInputs(loaded.inputs, { arch: 'sm90' });
  assert.deepEqual([spec.tokens, spec.hidden, spec.intermediate, spec.experts], [130, 256, 256, 2]);
});

test('hover hints classify every tensor of a run with a name of its own (name, dtype, rank)', async () => {
  const r = await run(workedExampleInputs());
  // input, weight and output are names every recipe uses: the shared classifier speaks for them
  const generic = new Set(['input', 'weight', 'output']);
  for (const [name, ref] of Object.entries(r.trace.tensors)) {
    if (generic.has(name)) continue;
    const hit = hoverHints.find((h) => h.name.test(name) && (h.dtype === undefined || h.dtype === ref.dtype) && (h.rank === undefined || h.rank === ref.shape.length));
    assert.ok(hit, `no hover hint for ${name} (${ref.dtype}, rank ${ref.shape.length})`);
  }
});

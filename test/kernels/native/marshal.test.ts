/** Tensors to and from the addon (kernels/native/layerArgs.ts, marshal.ts) and across the worker boundary; no GPU needed. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nativeArgs } from '../../../kernels/native/layerArgs';
import { stageTensorsFromNative, toWire, fromWire } from '../../../kernels/native/marshal';
import type { NativeLayerResult, NativeTensor } from '../../../kernels/native/addon';
import { syntheticInputs } from '../../../kernels/synthetic';
import { recipeById } from '../../../kernels/recipes/index';
import { selectBackend } from '../../../kernels/backend/index';
import { cudaRefusal } from '../../../kernels/backend/cudaSupport';
import { Tensor } from '../../../kernels/tensor';
import { MoeError } from '../../../kernels/errors';
import { DEFAULT_RECIPE, type LayerSpec } from '../../../kernels/spec';
import type { StageId } from '../../../kernels/trace';

const spec: LayerSpec = {
  name: 'custom', tokens: 5, hidden: 256, intermediate: 128, experts: 4, topk: 2, arch: 'sm90', recipe: { ...DEFAULT_RECIPE },
  activation: { kind: 'silu' }, routerWeight: 'reduce', blockM: 128, source: { kind: 'synthetic', seed: 1, skew: 0 },
};
const CONTIGUOUS: StageId[] = recipeById('contiguous').cudaStages!.slice();
const MASKED: StageId[] = recipeById('masked').cudaStages!.slice();

test('nativeArgs flattens valid inputs, sends the plan, and names the tensor of every bad one', () => {
  const inputs = syntheticInputs(spec);
  const { cfg, tensors, notes } = nativeArgs(inputs, spec, CONTIGUOUS, 3);
  assert.equal(cfg.recipe, 'contiguous');
  if (cfg.recipe !== 'contiguous') return;
  assert.deepEqual([cfg.M, cfg.K, cfg.N, cfg.E, cfg.topk, cfg.arch, cfg.repeats], [5, 256, 128, 4, 2, 90, 3]);
  assert.deepEqual(cfg.stages, CONTIGUOUS);
  assert.equal(tensors.w13_weight!.length, 4 * 256 * 256);
  assert.equal(notes.length, 0);
  const bad = (over: Partial<typeof inputs>, code: string, re: RegExp): void =>
    assert.throws(() => nativeArgs({ ...inputs, ...over }, spec, CONTIGUOUS, 1), (e: unknown) => e instanceof MoeError && e.code === code && re.test(e.message));
  bad({ w13_weight: Tensor.zeros('f8e4m3fn', [4, 200, 256]) }, 'E_SHAPE', /w13_weight: the CUDA kernels need K and N multiples of 128.*N = 100/);
  bad({ w2_weight: Tensor.zeros('f8e4m3fn', [4, 256, 64]) }, 'E_SHAPE', /w2_weight: expected shape \[4, 256, 128\], got \[4, 256, 64\]/);
  bad({ w13_weight_scale_inv: Tensor.zeros('f32', [4, 2, 1]) }, 'E_SHAPE', /w13_weight_scale_inv: expected shape \[4, 2, 2\], got \[4, 2, 1\]/);
  bad({ topk_ids: Tensor.zeros('f32', [5, 2]) as unknown as Tensor<'i32'> }, 'E_DTYPE', /topk_ids: expected dtype i32 or i64, got f32/);
  bad({ hidden_states: Tensor.zeros('bf16', [0, 256]) }, 'E_SHAPE', /hidden_states: expected at least one token/);
  assert.throws(() => nativeArgs(inputs, { ...spec, recipe: { ...spec.recipe, id: 'toy' } }, CONTIGUOUS, 1), (e: unknown) => e instanceof MoeError && e.code === 'E_BACKEND' && /toy recipe/.test(e.message));
});

test('the architecture decides the scale layouts: SM100 gets compute capability 100, and float32 scales are refused, not run as SM90', async () => {
  const u = { ...spec, arch: 'sm100' as const, recipe: { ...DEFAULT_RECIPE, scaleFormat: 'ue8m0' as const } };
  assert.equal(nativeArgs(syntheticInputs(u), u, CONTIGUOUS, 1).cfg.arch, 100);
  const s = { ...spec, arch: 'sm100' as const };
  assert.throws(() => nativeArgs(syntheticInputs(s), s, CONTIGUOUS, 1), (e: unknown) => e instanceof MoeError && e.code === 'E_SPEC' && e.tensor === 'a1q_scale' && /SM100.*ue8m0.*f32/.test(e.message));
  assert.match(cudaRefusal(recipeById('contiguous'), s) ?? '', /SM100 \(Blackwell\) scale layouts from ue8m0 scales only, and the recipe has f32/);
  assert.equal(cudaRefusal(recipeById('contiguous'), u), undefined);
  // auto falls back to the CPU saying why; cuda fails with the reason (before any probe)
  const auto = await selectBackend('auto', recipeById('contiguous'), s);
  assert.equal(auto.backend.name, 'cpu');
  assert.match(auto.reason, /ue8m0 scales only.*using the CPU reference/);
  await assert.rejects(selectBackend('cuda', recipeById('contiguous'), s), (e: unknown) => e instanceof MoeError && e.code === 'E_BACKEND' && /ue8m0 scales only/.test(e.message));
});

test('nativeArgs for the masked recipe: (E, max_m, K) buffers and masked_m, with one-line errors naming the tensor', () => {
  const m: LayerSpec = { ...spec, tokens: 40, recipe: { ...DEFAULT_RECIPE, id: 'masked', options: { maxM: 64 } } };
  const inputs = recipeById('masked').synthetic(m, { defer: false, backend: 'cuda' }).inputs;
  const { cfg, tensors } = nativeArgs(inputs, m, MASKED, 2);
  assert.equal(cfg.recipe, 'masked');
  if (cfg.recipe !== 'masked') return;
  assert.deepEqual([cfg.E, cfg.maxM, cfg.K, cfg.N, cfg.arch], [4, 64, 256, 128, 90]);
  assert.deepEqual(cfg.stages, MASKED);
  assert.equal(tensors.hidden_states!.length, 4 * 64 * 256);
  assert.deepEqual([...(tensors.masked_m as Int32Array)], [...(inputs.masked_m!.storage as Int32Array)]);
  const bad = (over: Record<string, Tensor>, s: LayerSpec, code: string, tensor: string, re: RegExp): void =>
    assert.throws(() => nativeArgs({ ...inputs, ...over }, s, MASKED, 1), (e: unknown) => e instanceof MoeError && e.code === code && e.tensor === tensor && re.test(e.message));
  bad({ masked_m: new Tensor('i32', [4], Int32Array.from([1, 65, 0, 0])) }, m, 'E_RANGE', 'masked_m', /masked_m\[1\] = 65: expected 0…max_m = 64/);
  bad({ masked_m: new Tensor('i32', [4], Int32Array.from([1, -1, 0, 0])) }, m, 'E_RANGE', 'masked_m', /masked_m\[1\] = -1/);
  bad({ masked_m: new Tensor('i32', [3], Int32Array.from([1, 1, 0])) }, m, 'E_SHAPE', 'masked_m', /masked_m: expected shape \[4\], got \[3\]/);
  bad({ hidden_states: Tensor.zeros('bf16', [40, 256]) }, m, 'E_SHAPE', 'hidden_states', /hidden_states: a masked layer needs shape \[E_local, max_m, K\], got \[40, 256\]/);
  bad({ hidden_states: Tensor.zeros('bf16', [3, 64, 256]) }, m, 'E_SHAPE', 'hidden_states', /expected shape \[4, 64, 256\], got \[3, 64, 256\]/);
  const x96 = Tensor.zeros('bf16', [4, 96, 256]);
  bad({ hidden_states: x96 }, m, 'E_SHAPE', 'hidden_states', /max_m = 96 is not a multiple of the SM90 \(Hopper\) masked GEMM's 64-row block.*max_m = 128/);
  // SM100's masked kernel (and the addon's mma.sync fallback) works in 128-row tiles
  const m100: LayerSpec = { ...m, arch: 'sm100', recipe: { ...m.recipe, scaleFormat: 'ue8m0' } };
  bad({}, m100, 'E_SHAPE', 'hidden_states', /max_m = 64 is not a multiple of the SM100 \(Blackwell\) masked GEMM's 128-row block/);
});

const nt = (dtype: NativeTensor['dtype'], shape: number[], data: NativeTensor['data'], strides?: number[], kernelLayout = false): NativeTensor => {
  const rm = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  return { dtype, shape, strides: strides ?? rm, kernelLayout, data };
};

test('stage tensors: kernel layouts keep their strided storage, other tensors come back row-major, empty ones are empty', () => {
  const S = 8;
  const seq = (n: number): Float32Array => Float32Array.from({ length: n }, (_, i) => i + 1);
  const r: NativeLayerResult = {
    rows: S,
    gemmKernel: 'wgmma',
    timesMs: { quantize: 1 },
    tensors: {
      a1q_scale_layout: nt('f32', [5, 2], seq(13), [1, 8], true),
      a2q_scale: nt('f32', [S, 2], seq(2 * S), [1, S]),
      a2q_scale_layout: nt('i32', [S, 1], new Int32Array(S), [1, S], true),
      mm1_out: nt('bf16', [S, 4], new Uint16Array(4 * S)),
      a1q_scale_permuted: nt('f32', [0, 2], new Float32Array(0), [1, 0]),
      output: nt('bf16', [2, 8, 4], new Uint16Array(64)),
    },
  };
  const t = stageTensorsFromNative(r);
  assert.deepEqual([t.a1q_scale_layout!.shape, t.a1q_scale_layout!.strides, t.a1q_scale_layout!.storage.length], [[5, 2], [1, 8], 13]);
  assert.deepEqual([t.a2q_scale_layout!.dtype, t.a2q_scale_layout!.shape, t.a2q_scale_layout!.strides], ['i32', [S, 1], [1, S]]);
  // MN-major storage [s(0,0), s(1,0), …, s(7,0), s(0,1), …] read back row-major
  assert.deepEqual([t.a2q_scale!.get(0, 0), t.a2q_scale!.get(0, 1), t.a2q_scale!.get(1, 0)], [1, 9, 2]);
  assert.ok(t.a2q_scale!.isContiguous());
  assert.deepEqual([t.mm1_out!.dtype, t.mm1_out!.shape, t.mm1_out!.name], ['bf16', [S, 4], 'mm1_out']);
  assert.deepEqual([t.a1q_scale_permuted!.shape, t.a1q_scale_permuted!.numel], [[0, 2], 0]);
  assert.deepEqual(t.output!.shape, [2, 8, 4]);
});

test('tensors cross the worker boundary with their strides and offset', () => {
  const t = new Tensor('f32', [3, 2], Float32Array.from([1, 2, 3, 4, 5, 6, 7]), [1, 3], 1, 'x');
  const back = fromWire(toWire(t));
  assert.deepEqual([back.shape, back.strides, back.offset, back.name, back.get(2, 1)], [[3, 2], [1, 3], 1, 'x', 7]);
});

test('tensors on SharedArrayBuffers cross the worker boundary as plain copies', () => {
  const sab = new Uint8Array(new SharedArrayBuffer(8));
  sab.set([1, 2, 3, 4, 5, 6, 7, 8]);
  const w = toWire(new Tensor('u8', [2, 4], sab, undefined, 0, 'w'));
  assert.ok(!(w.storage.buffer instanceof SharedArrayBuffer));
  const back = fromWire(structuredClone(w));
  assert.deepEqual([back.name, back.shape, [...(back.storage as Uint8Array)]], ['w', [2, 4], [1, 2, 3, 4, 5, 6, 7, 8]]);
});

/** Tensors to and from the addon and across the worker boundary (kernels/native/marshal.ts); no GPU needed. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nativeArgs, stageTensorsFromNative, toWire, fromWire } from '../../../kernels/native/marshal';
import type { NativeLayerConfig, NativeLayerResult } from '../../../kernels/native/addon';
import { syntheticInputs } from '../../../kernels/synthetic';
import { Tensor } from '../../../kernels/tensor';
import { MoeError } from '../../../kernels/errors';
import { DEFAULT_RECIPE, type LayerSpec } from '../../../kernels/spec';

const spec: LayerSpec = {
  name: 'custom', tokens: 5, hidden: 256, intermediate: 128, experts: 4, topk: 2, arch: 'sm90', recipe: { ...DEFAULT_RECIPE },
  activation: { kind: 'silu' }, routerWeight: 'reduce', blockM: 128, source: { kind: 'synthetic', seed: 1, skew: 0 },
};

test('nativeArgs flattens valid inputs and names the tensor of every bad one', () => {
  const inputs = syntheticInputs(spec);
  const { cfg, tensors, notes } = nativeArgs(inputs, spec, 3);
  assert.deepEqual([cfg.M, cfg.K, cfg.N, cfg.E, cfg.topk, cfg.arch, cfg.repeats], [5, 256, 128, 4, 2, 90, 3]);
  assert.equal(tensors.w13_weight.length, 4 * 256 * 256);
  assert.equal(notes.length, 0);
  const bad = (over: Partial<typeof inputs>, code: string, re: RegExp): void =>
    assert.throws(() => nativeArgs({ ...inputs, ...over }, spec, 1), (e: unknown) => e instanceof MoeError && e.code === code && re.test(e.message));
  bad({ w13_weight: Tensor.zeros('f8e4m3fn', [4, 200, 256]) }, 'E_SHAPE', /w13_weight: the CUDA kernels need K and N multiples of 128.*N = 100/);
  bad({ w2_weight: Tensor.zeros('f8e4m3fn', [4, 256, 64]) }, 'E_SHAPE', /w2_weight: expected shape \[4, 256, 128\], got \[4, 256, 64\]/);
  bad({ w13_weight_scale_inv: Tensor.zeros('f32', [4, 2, 1]) }, 'E_SHAPE', /w13_weight_scale_inv: expected shape \[4, 2, 2\], got \[4, 2, 1\]/);
  bad({ topk_ids: Tensor.zeros('f32', [5, 2]) as unknown as Tensor<'i32'> }, 'E_DTYPE', /topk_ids: expected dtype i32 or i64, got f32/);
  bad({ hidden_states: Tensor.zeros('bf16', [0, 256]) }, 'E_SHAPE', /hidden_states: expected at least one token/);
});

test('SM100 with float32 scales computes with SM90 layouts and says so', () => {
  const s = { ...spec, arch: 'sm100' as const };
  const { cfg, notes } = nativeArgs(syntheticInputs(s), s, 1);
  assert.equal(cfg.arch, 90);
  assert.match(notes[0]!, /SM100 needs UE8M0 scales/);
  const u = { ...spec, arch: 'sm100' as const, recipe: { ...DEFAULT_RECIPE, scaleFormat: 'ue8m0' as const } };
  assert.equal(nativeArgs(syntheticInputs(u), u, 1).cfg.arch, 100);
});

function fakeResult(cfg: NativeLayerConfig, S: number): NativeLayerResult {
  const { M, K, N, E, topk } = cfg;
  const G = K / 128, GN = N / 128, Ma = Math.ceil(M / 4) * 4;
  const seq = (n: number) => Float32Array.from({ length: n }, (_, i) => i + 1);
  return {
    mSum: S,
    timesMs: { quantize: 1, transform_scales: 1, permute: 1, gemm1: 1, activation: 1, requantize: 1, gemm2: 1, unpermute: 1 },
    tensors: {
      a1q: new Uint8Array(M * K), a1q_scale: seq(M * G),
      a1q_scale_layout: cfg.arch === 100 ? new Int32Array(Ma * Math.ceil(G / 4)) : seq((G - 1) * Ma + M),
      expert_counts: new Int32Array(E), m_indices: new Int32Array(S), inv_perm: new Int32Array(M * topk),
      a1q_permuted: new Uint8Array(S * K), a1q_scale_permuted_mn: seq(S * G), mm1_out: new Uint16Array(S * 2 * N),
      act_out: new Uint16Array(S * N), a2q: new Uint8Array(S * N), a2q_scale_mn: seq(S * GN),
      ...(cfg.arch === 100 ? { a2q_scale_packed: new Int32Array(S * Math.ceil(GN / 4)) } : {}),
      mm2_out: new Uint16Array(S * K), output: new Uint16Array(M * K),
    },
  };
}

test('stage tensors keep the kernel layouts as strided storage and the logical scales row-major', () => {
  const cfg: NativeLayerConfig = { M: 5, K: 256, N: 256, E: 2, topk: 2, arch: 90, quant: 'vllm', scaleFormat: 'f32', activation: 'silu', routerWeight: 'reduce' };
  const t = stageTensorsFromNative(fakeResult(cfg, 128), cfg);
  assert.deepEqual([t.a1q_scale_layout!.shape, t.a1q_scale_layout!.strides, t.a1q_scale_layout!.storage.length], [[5, 2], [1, 8], 13]);
  assert.deepEqual([t.a2q_scale_layout!.shape, t.a2q_scale_layout!.strides], [[128, 2], [1, 128]]);
  // MN-major storage [s(0,0), s(1,0), …, s(127,0), s(0,1), …] read back row-major
  assert.deepEqual([t.a2q_scale!.get(0, 0), t.a2q_scale!.get(0, 1), t.a2q_scale!.get(1, 0)], [1, 129, 2]);
  assert.ok(t.a2q_scale!.isContiguous());
  const c100 = { ...cfg, arch: 100 as const, scaleFormat: 'ue8m0' as const };
  const u = stageTensorsFromNative(fakeResult(c100, 128), c100);
  assert.deepEqual([u.a1q_scale_layout!.dtype, u.a1q_scale_layout!.shape, u.a1q_scale_layout!.strides, u.a1q_scale_layout!.storage.length], ['i32', [5, 1], [1, 8], 8]);
  assert.deepEqual([u.a2q_scale_layout!.dtype, u.a2q_scale_layout!.shape, u.a2q_scale_layout!.strides], ['i32', [128, 1], [1, 128]]);
});

test('tensors on SharedArrayBuffers cross the worker boundary as plain copies', () => {
  const sab = new Uint8Array(new SharedArrayBuffer(8));
  sab.set([1, 2, 3, 4, 5, 6, 7, 8]);
  const w = toWire(new Tensor('u8', [2, 4], sab, undefined, 0, 'w'));
  assert.ok(!(w.storage.buffer instanceof SharedArrayBuffer));
  const back = fromWire(structuredClone(w));
  assert.deepEqual([back.name, back.shape, [...(back.storage as Uint8Array)]], ['w', [2, 4], [1, 2, 3, 4, 5, 6, 7, 8]]);
});

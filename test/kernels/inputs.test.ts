/** Layer files with vLLM names: round trip through safetensors, accepted variants, and every bad input refused. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSafetensors } from '../../kernels/io/safetensors';
import { checkFinite, firstNanCode, loadLayerFile, specFromInputs } from '../../kernels/inputs';
import { syntheticInputs } from '../../kernels/synthetic';
import { makeSpec } from '../../kernels/presets';
import { runLayer } from '../../kernels/pipeline';
import { Tensor } from '../../kernels/tensor';
import { MoeError } from '../../kernels/errors';
import { encodeBf16 } from '../../kernels/dtypes/bf16';
import { exponentByte } from '../../kernels/dtypes/ue8m0';
import type { LayerInputs } from '../../kernels/backend/types';

const dir = mkdtempSync(join(tmpdir(), 'moe-inputs-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const spec = makeSpec('qwen3-30b-a3b', { tokens: 6, hidden: 256, intermediate: 128, experts: 4, topk: 2, recipe: { id: 'contiguous', actGroup: 128, weightBlock: 128, scaleFormat: 'ue8m0', quant: 'vllm' }, source: { kind: 'synthetic', seed: 3, skew: 0 } });
const base = syntheticInputs(spec);
const asRecord = (i: LayerInputs): Record<string, Tensor> => ({ ...i }) as unknown as Record<string, Tensor>;
let n = 0;
function write(tensors: Record<string, Tensor>): string {
  const p = join(dir, `layer${n++}.safetensors`);
  writeSafetensors(p, tensors);
  return p;
}
const code = (c: string, re?: RegExp) => (e: unknown) => e instanceof MoeError && e.code === c && (!re || re.test(e.message));

test('a layer file round-trips and runs to the same output as the in-memory inputs', async () => {
  const p = write(asRecord(base));
  const loaded = loadLayerFile(p);
  const s = specFromInputs(loaded, { recipe: spec.recipe });
  assert.deepEqual([s.tokens, s.hidden, s.intermediate, s.experts, s.topk], [6, 256, 128, 4, 2]);
  const a = await runLayer(s, { backend: 'cpu', inputs: loaded });
  const b = await runLayer(spec, { backend: 'cpu', inputs: base });
  assert.deepEqual(Array.from(a.tensors.get('output')!.storage as Uint16Array), Array.from(b.tensors.get('output')!.storage as Uint16Array));
});

test('accepted variants: U8 weights as raw FP8, F8_E8M0 scales, I64 ids, F32 activations, an expert map', () => {
  const e8 = (t: Tensor<'f32'>): Tensor<'ue8m0'> => new Tensor('ue8m0', t.shape, Uint8Array.from(t.storage, exponentByte));
  const x = base.hidden_states.toFloat32();
  const p = write({
    ...asRecord(base),
    hidden_states: new Tensor('f32', base.hidden_states.shape, x),
    topk_ids: new Tensor('i64', base.topk_ids.shape, BigInt64Array.from(base.topk_ids.storage as Int32Array, (v) => BigInt(v))),
    w13_weight: new Tensor('u8', base.w13_weight.shape, base.w13_weight.storage),
    w13_weight_scale_inv: e8(base.w13_weight_scale_inv),
    w2_weight_scale_inv: e8(base.w2_weight_scale_inv),
  });
  const loaded = loadLayerFile(p);
  assert.equal(loaded.w13_weight.dtype, 'f8e4m3fn');
  assert.deepEqual(Array.from(loaded.w13_weight_scale_inv.storage), Array.from(base.w13_weight_scale_inv.storage));
  const withMap = write({
    ...asRecord(base),
    topk_ids: new Tensor('i32', [6, 2], Int32Array.from(base.topk_ids.storage as Int32Array, (v) => v * 2)),
    expert_map: new Tensor('i32', [8], Int32Array.from([0, -1, 1, -1, 2, -1, 3, -1])),
  });
  const lm = loadLayerFile(withMap);
  assert.equal(specFromInputs(lm).experts, 8);
});

test('bad layer files: wrong dtypes, wrong shapes, missing tensors, inconsistent expert map, NaN values', () => {
  const bad = (over: Record<string, Tensor | undefined>, check: (e: unknown) => boolean): void => {
    const t = { ...asRecord(base), ...over };
    for (const k of Object.keys(t)) if (t[k] === undefined) delete t[k];
    assert.throws(() => loadLayerFile(write(t as Record<string, Tensor>)), check);
  };
  bad({ topk_weights: new Tensor('bf16', [6, 2], new Uint16Array(12)) }, code('E_DTYPE', /topk_weights: expected dtype f32, got bf16/));
  bad({ hidden_states: new Tensor('i32', [6, 256], new Int32Array(6 * 256)) }, code('E_DTYPE', /hidden_states/));
  bad({ w2_weight: new Tensor('f8e4m3fn', [4, 256, 256], new Uint8Array(4 * 256 * 256)) }, code('E_SHAPE', /w2_weight: expected shape \[4, 256, 128\].*got \[4, 256, 256\]/));
  bad({ w13_weight_scale_inv: new Tensor('f32', [4, 2, 1], new Float32Array(8).fill(1)) }, code('E_SHAPE', /w13_weight_scale_inv/));
  bad({ topk_ids: new Tensor('i32', [5, 2], new Int32Array(10)) }, code('E_SHAPE', /topk_ids/));
  bad({ w2_weight: undefined }, code('E_FORMAT', /missing w2_weight/));
  bad({ expert_map: new Tensor('i32', [4], Int32Array.from([0, 1, -1, -1])) }, code('E_SHAPE', /2 local experts but w13_weight holds 4/));
  const nanX = new Uint16Array(base.hidden_states.storage as Uint16Array);
  nanX[2 * 256 + 7] = encodeBf16(NaN);
  bad({ hidden_states: new Tensor('bf16', [6, 256], nanX) }, code('E_VALUE', /hidden_states\[2, 7\] = NaN/));
  const nanW = new Uint8Array(base.w2_weight.storage);
  nanW[5] = 0x7f;
  bad({ w2_weight: new Tensor('f8e4m3fn', base.w2_weight.shape, nanW) }, code('E_VALUE', /w2_weight.*NaN code 0x7f/));
  const zeroS = new Float32Array(base.w2_weight_scale_inv.storage);
  zeroS[0] = 0;
  bad({ w2_weight_scale_inv: new Tensor('f32', base.w2_weight_scale_inv.shape, zeroS) }, code('E_VALUE', /positive finite scale/));
  assert.throws(() => loadLayerFile(join(dir, 'does-not-exist.safetensors')), code('E_IO'));
});

test('firstNanCode finds the first 0x7F or 0xFF at any offset of any view', () => {
  const buf = new Uint8Array(64).fill(0x7e);
  assert.equal(firstNanCode(buf), -1);
  buf[40] = 0xff;
  assert.equal(firstNanCode(buf), 40);
  buf[50] = 0x7f;
  assert.equal(firstNanCode(buf), 40, 'an 0xFF before an 0x7F');
  buf[9] = 0x7f;
  assert.equal(firstNanCode(buf), 9, 'an 0x7F before an 0xFF');
  // a view that starts past the first NaN code: positions are the view's own
  assert.equal(firstNanCode(buf.subarray(13, 45)), 27);
  assert.equal(firstNanCode(buf.subarray(41, 50)), -1);
  // shared memory (the GEMM's worker threads) is scanned the same way
  const shared = new Uint8Array(new SharedArrayBuffer(8));
  shared[7] = 0x7f;
  assert.equal(firstNanCode(shared.subarray(3)), 4);
});

test('checkFinite judges BF16 by its bits and F32 by value, naming the first bad element', () => {
  const bf = (bits: number[]): Tensor<'bf16'> => new Tensor('bf16', [2, 3], Uint16Array.from(bits));
  const ok = [0x3f80, 0xbf80, 0x0001, 0x7f7f, 0x0000, 0x8000]; // 1, −1, the smallest subnormal, the largest finite, ±0
  assert.doesNotThrow(() => checkFinite(bf(ok), 'x', false));
  assert.throws(() => checkFinite(bf([0x3f80, 0x3f80, 0x3f80, 0x3f80, 0x7f80, 0x7fc0]), 'x', false), code('E_VALUE', /x\[1, 1\] = Infinity: expected a finite value/));
  assert.throws(() => checkFinite(bf([0x3f80, 0xff80, 0, 0, 0, 0]), 'x', false), code('E_VALUE', /x\[0, 1\] = -Infinity/));
  assert.throws(() => checkFinite(bf([0x3f80, 0x0001, 0x8000, 0x3f80, 0x3f80, 0x3f80]), 's', true), code('E_VALUE', /s\[0, 2\] = 0: expected a positive finite scale/));
  assert.throws(() => checkFinite(bf([0x3f80, 0x0000, 0x3f80, 0x3f80, 0x3f80, 0x3f80]), 's', true), code('E_VALUE', /s\[0, 1\] = 0/));
  assert.doesNotThrow(() => checkFinite(bf([0x3f80, 0x0001, 0x7f7f, 0x3f80, 0x3f80, 0x3f80]), 's', true));
  const f = new Tensor('f32', [3], Float32Array.from([1, -Infinity, NaN]));
  assert.throws(() => checkFinite(f, 'y', false), code('E_VALUE', /y\[1\] = -Infinity/));
  assert.throws(() => checkFinite(new Tensor('f32', [2], Float32Array.from([2, -1])), 's', true), code('E_VALUE', /s\[1\] = -1: expected a positive/));
  // a strided view is judged in logical order
  const t = new Tensor('f32', [2, 2], Float32Array.from([1, NaN, 2, 3]), [1, 2]);
  assert.throws(() => checkFinite(t, 'z', false), code('E_VALUE', /z\[1, 0\] = NaN/));
});

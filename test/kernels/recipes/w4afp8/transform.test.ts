/** `transform --recipe w4afp8` as a function: SGLang's process_weights_after_loading, under the input's names. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../../../kernels/tensor';
import { MoeError } from '../../../../kernels/errors';
import { encodeBf16 } from '../../../../kernels/dtypes/bf16';
import { w4TransformLayer } from '../../../../kernels/recipes/w4afp8/transform';
import { recipeById } from '../../../../kernels/recipes/index';
import { w4Raw, w4Spec } from './fixtures';

test('scales → BF16 interleaved (α per weight), input scales → their max, weights and everything else unchanged', () => {
  // H = 1024 → 8 K-groups (α = 4, the §9 example's Kg); I_p = 384 → 3 groups (α = 1)
  const raw = w4Raw(w4Spec({ hidden: 1024, intermediate: 384 }));
  const res = recipeById('w4afp8').transformLayer!(raw, { arch: 'sm90' });
  const out = res.tensors;
  assert.deepEqual(Object.keys(out).sort(), Object.keys(raw).sort(), 'named like the inputs');
  for (const n of ['w13_weight', 'w2_weight', 'hidden_states', 'topk_ids', 'topk_weights']) assert.equal(out[n], raw[n], `${n} unchanged`);
  const s13 = raw.w13_weight_scale_inv!;
  const t13 = out.w13_weight_scale_inv!;
  assert.equal(t13.dtype, 'bf16');
  assert.deepEqual(t13.shape, [4, 2, 768 * 4]);
  for (let e = 0; e < 4; e++)
    for (let j = 0; j < 2; j++)
      for (let r = 0; r < 768; r++) for (let i = 0; i < 4; i++) assert.equal(t13.raw(e, j, 4 * r + i), encodeBf16(s13.get(e, r, 4 * j + i)));
  const s2 = raw.w2_weight_scale_inv!;
  const t2 = out.w2_weight_scale_inv!;
  assert.deepEqual(t2.shape, [4, 3, 1024], 'α = 1: (E, Kg, R)');
  for (let e = 0; e < 4; e++) for (let j = 0; j < 3; j++) for (let r = 0; r < 1024; r++) assert.equal(t2.raw(e, j, r), encodeBf16(s2.get(e, r, j)));
  const max = (t: Tensor): number => Math.max(...t.toFloat32());
  assert.deepEqual(out.w13_input_scale!.shape, [1]);
  assert.equal(out.w13_input_scale!.dtype, 'f32');
  assert.equal(out.w13_input_scale!.get(0), max(raw.w13_input_scale!));
  assert.equal(out.w2_input_scale!.get(0), max(raw.w2_input_scale!));
  assert.deepEqual(res.metadata, { layout: 'SGLang W4AFP8 after process_weights_after_loading (docs/layouts-and-stages.md §9)', w13_scale_alpha: '4', w2_scale_alpha: '1' });
  assert.match(res.notes[0]!, /w13_weight_scale_inv: \[4, 768, 8\] float32 → \[4, 2, 3072\] bf16 \(α = 4/);
  assert.match(res.notes[1]!, /w2_weight_scale_inv: \[4, 1024, 3\] float32 → \[4, 3, 1024\] bf16 \(α = 1: 3 K-groups \(not a multiple of 4\), a plain transpose\)/);
  assert.ok(res.notes.some((n) => /unverified/.test(n)));
});

test('only the weights and their scales are needed; an SM100 target is noted', () => {
  const raw = w4Raw();
  const res = w4TransformLayer({ w13_weight: raw.w13_weight!, w13_weight_scale_inv: raw.w13_weight_scale_inv!, w2_weight: raw.w2_weight!, w2_weight_scale_inv: raw.w2_weight_scale_inv! }, { arch: 'sm100' });
  assert.deepEqual(Object.keys(res.tensors).sort(), ['w13_weight', 'w13_weight_scale_inv', 'w2_weight', 'w2_weight_scale_inv']);
  assert.ok(res.notes.some((n) => /SM100.*SM90 CUTLASS W4A8 kernel/.test(n)));
});

test('refusals: missing tensors, an already transformed file, FP8 weights, unpacked widths, bad input scales', () => {
  const raw = w4Raw();
  const refuses = (r: Record<string, Tensor>, tensor: string, re: RegExp): void =>
    assert.throws(() => w4TransformLayer(r, { arch: 'sm90' }), (e: unknown) => e instanceof MoeError && e.tensor === tensor && re.test(e.message) && !e.message.includes('\n'));
  const { w2_weight_scale_inv: _drop, ...noScale } = raw;
  refuses(noScale, 'w2_weight_scale_inv', /missing w2_weight_scale_inv/);
  const once = w4TransformLayer(raw, { arch: 'sm90' }).tensors;
  refuses(once, 'w13_weight_scale_inv', /interleaved kernel layout .* already transformed/);
  refuses({ ...raw, w13_weight: new Tensor('f8e4m3fn', [4, 512, 128], new Uint8Array(4 * 512 * 128)) }, 'w13_weight', /stored as FP8 E4M3/);
  refuses({ ...raw, w2_weight: new Tensor('i4x2', [4, 256, 256], new Uint8Array(4 * 256 * 256)) }, 'w2_weight', /one value per byte/);
  refuses({ ...raw, w2_input_scale: new Tensor('f32', [4], Float32Array.of(1, 0, 1, 1)) }, 'w2_input_scale', /0 is not a positive finite scale/);
  refuses({ ...raw, w13_input_scale: new Tensor('f32', [2, 4], new Float32Array(8).fill(1)) }, 'w13_input_scale', /expected shape \[4, 2\]/);
});

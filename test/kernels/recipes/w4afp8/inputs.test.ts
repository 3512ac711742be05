/** A W4AFP8 layer's tensors validated under SGLang's names: every bad input a one-line MoeError naming the tensor. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../../../kernels/tensor';
import { MoeError } from '../../../../kernels/errors';
import { w4InputsFromTensors, w4SpecFromInputs } from '../../../../kernels/recipes/w4afp8/inputs';
import { interleaveScales } from '../../../../kernels/recipes/w4afp8/interleave';
import { expertMapFor } from '../../../../kernels/ops/permute';
import { w4Raw, w4Spec } from './fixtures';

/** raw tensors of a valid layer (M=6, H=256, I_p=256, E=4, top-2) with some replaced */
const withOver = (over: Record<string, Tensor | undefined>): Record<string, Tensor | undefined> => ({ ...w4Raw(), ...over });

function refuses(over: Record<string, Tensor | undefined>, tensor: string, code: string, re: RegExp): void {
  assert.throws(
    () => w4InputsFromTensors(withOver(over)),
    (e: unknown) => {
      assert.ok(e instanceof MoeError, String(e));
      assert.equal(e.tensor, tensor, e.message);
      assert.equal(e.code, code, e.message);
      assert.match(e.message, re);
      assert.ok(!e.message.includes('\n'), 'one line');
      return true;
    },
  );
}

const bytes = (shape: number[], dtype: 'i4x2' | 'u8' | 'f8e4m3fn' = 'i4x2'): Tensor => new Tensor(dtype, shape, new Uint8Array(shape.reduce((a, b) => a * b, 1)));
const f32 = (shape: number[], v = 0.01): Tensor => new Tensor('f32', shape, new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(v));

test('a valid layer is accepted; U8 weights read as packed int4 too; F32 input scales are rounded to BF16 as SGLang loads them', () => {
  const raw = w4Raw();
  const inp = w4InputsFromTensors(raw);
  assert.equal(inp.w13_weight.dtype, 'i4x2');
  assert.deepEqual(inp.w13_weight.shape, [4, 512, 128]);
  const u8 = w4InputsFromTensors({ ...raw, w13_weight: new Tensor('u8', raw.w13_weight!.shape, raw.w13_weight!.storage as Uint8Array) });
  assert.equal(u8.w13_weight.dtype, 'i4x2');
  const inF32 = w4InputsFromTensors({ ...raw, w2_input_scale: Tensor.fromF32([4], [0.1, 0.2, 0.3, 1 / 3]) });
  assert.equal(inF32.w2_input_scale.dtype, 'bf16');
  assert.equal(inF32.w2_input_scale.get(3), 0.333984375, '1/3 → BF16 0x3EAB');
  const spec = w4SpecFromInputs(inp, {});
  assert.deepEqual([spec.tokens, spec.hidden, spec.intermediate, spec.experts, spec.topk, spec.recipe.id], [6, 256, 256, 4, 2, 'w4afp8']);
  assert.equal(w4SpecFromInputs(inp, { recipe: { id: 'w4afp8', actGroup: 128, weightBlock: 128, scaleFormat: 'f32', quant: 'vllm', options: { tp: 8 } } }).intermediate, 2048, 'I = I_p · tp');
});

test('an expert_map that is a linear EP split becomes spec.expertParallel', () => {
  const raw = w4Raw(w4Spec({ expertParallel: { size: 2, rank: 1, strategy: 'linear' } }));
  assert.deepEqual(raw.w13_weight!.shape, [2, 512, 128]);
  const spec = w4SpecFromInputs(w4InputsFromTensors(raw), {});
  assert.deepEqual(spec.expertParallel, { size: 2, rank: 1, strategy: 'linear' });
  assert.equal(spec.experts, 4);
  const rr = w4InputsFromTensors({ ...raw, expert_map: new Tensor('i32', [4], expertMapFor(4, { size: 2, rank: 1, strategy: 'round_robin' })) });
  assert.equal(w4SpecFromInputs(rr, {}).expertParallel, undefined, 'round robin is not inferred');
});

test('missing tensors are named', () => {
  refuses({ w13_input_scale: undefined, w2_input_scale: undefined }, 'w13_input_scale', 'E_FORMAT', /missing w13_input_scale, w2_input_scale/);
});

test('int4 weights given as FP8 are refused as an FP8 checkpoint', () => {
  refuses({ w13_weight: bytes([4, 512, 128], 'f8e4m3fn') }, 'w13_weight', 'E_DTYPE', /stored as FP8 E4M3 .* int4 packed two per byte .* contiguous or masked recipe/);
  refuses({ w2_weight: new Tensor('bf16', [4, 256, 128], new Uint16Array(4 * 256 * 128)) }, 'w2_weight', 'E_DTYPE', /expected dtype i4x2 or i8 or u8, got bf16/);
});

test('wrong nibble-packed widths: unpacked (one value per byte), odd K, int32-packed, wrong rows', () => {
  refuses({ w13_weight: bytes([4, 512, 256]) }, 'w13_weight', 'E_SHAPE', /expected shape \[4, 512, 128\] .* got \[4, 512, 256\]; the last dim 256 = H holds one value per byte/);
  refuses({ w2_weight: bytes([4, 256, 256]) }, 'w2_weight', 'E_SHAPE', /expected shape \[4, 256, 128\] .* the last dim 256 = I_p holds one value per byte/);
  refuses({ w2_weight: bytes([4, 256, 64]) }, 'w2_weight', 'E_SHAPE', /looks like int4 packed 8 per int32/);
  refuses({ w13_weight: bytes([4, 511, 128]) }, 'w13_weight', 'E_SHAPE', /2·I_p/);
  refuses({ w2_weight: bytes([3, 256, 128]) }, 'w2_weight', 'E_SHAPE', /expected shape \[4, 256, 128\]/);
  // H odd: hidden_states (6, 255)
  refuses({ hidden_states: new Tensor('bf16', [6, 255], new Uint16Array(6 * 255)) }, 'w13_weight', 'E_SHAPE', /H = 255 is odd/);
});

test('group scales: the interleaved layout, FP8 block scales, H not a multiple of 128, non-positive values', () => {
  const raw = w4Raw();
  const inter = interleaveScales(raw.w13_weight_scale_inv!, 'w13_weight_scale_inv').tensor;
  refuses({ w13_weight_scale_inv: inter }, 'w13_weight_scale_inv', 'E_LAYOUT', /\[4, 2, 512\] bf16 is the interleaved kernel layout .* \[4, 512, 2\] float32/);
  refuses({ w13_weight_scale_inv: f32([4, 4, 2]) }, 'w13_weight_scale_inv', 'E_SHAPE', /one scale per 128×128 block \(an FP8 checkpoint\)/);
  refuses({ w2_weight_scale_inv: f32([4, 256, 3]) }, 'w2_weight_scale_inv', 'E_SHAPE', /expected shape \[4, 256, 2\]/);
  refuses({ w2_weight_scale_inv: new Tensor('i32', [4, 256, 2], new Int32Array(2048)) }, 'w2_weight_scale_inv', 'E_DTYPE', /f32 or bf16/);
  refuses({ w2_weight_scale_inv: f32([4, 256, 2], 0) }, 'w2_weight_scale_inv', 'E_VALUE', /\[0, 0, 0\] = 0: expected a positive finite scale/);
  refuses(
    { hidden_states: new Tensor('bf16', [6, 192], new Uint16Array(6 * 192)), w13_weight: bytes([4, 512, 96]), w2_weight: bytes([4, 192, 128]) },
    'w13_weight_scale_inv',
    'E_SHAPE',
    /H = 192 is not a multiple of 128/,
  );
});

test('input scales: shapes and values', () => {
  refuses({ w13_input_scale: new Tensor('bf16', [4], new Uint16Array(4).fill(0x3c00)) }, 'w13_input_scale', 'E_SHAPE', /expected shape \[4, 2\]/);
  refuses({ w2_input_scale: new Tensor('bf16', [4], Uint16Array.of(0x3c00, 0x3c00, 0xbc00, 0x3c00)) }, 'w2_input_scale', 'E_VALUE', /w2_input_scale\[2\] = -0\.0078125: expected a positive finite scale/);
  refuses({ w2_input_scale: new Tensor('i32', [4], new Int32Array(4)) }, 'w2_input_scale', 'E_DTYPE', /bf16 or f32/);
});

test('activations, routing and expert_map', () => {
  const nan = new Uint16Array(6 * 256);
  nan[300] = 0x7fc0;
  refuses({ hidden_states: new Tensor('bf16', [6, 256], nan) }, 'hidden_states', 'E_VALUE', /hidden_states\[1, 44\] = NaN/);
  refuses({ hidden_states: new Tensor('bf16', [6, 2, 128], new Uint16Array(6 * 256)) }, 'hidden_states', 'E_SHAPE', /\[M, H\]/);
  refuses({ topk_ids: new Tensor('i32', [5, 2], new Int32Array(10)) }, 'topk_ids', 'E_SHAPE', /\[6, \*\]/);
  refuses({ topk_weights: new Tensor('f32', [6, 3], new Float32Array(18)) }, 'topk_weights', 'E_SHAPE', /\[6, 2\]/);
  refuses({ expert_map: new Tensor('i32', [8], Int32Array.of(0, 1, 2, -1, -1, -1, -1, -1)) }, 'expert_map', 'E_SHAPE', /3 local experts but w13_weight holds 4/);
});

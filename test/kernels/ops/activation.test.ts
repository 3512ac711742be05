/** SiLU-and-mul, clamped SwiGLU, row masks and weights; unpermute-reduce. Numbers from docs/layouts-and-stages.md §10.2. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../../kernels/tensor';
import { MoeError } from '../../../kernels/errors';
import { encodeBf16, decodeBf16 } from '../../../kernels/dtypes/bf16';
import { siluAndMul } from '../../../kernels/ops/activation';
import { unpermuteReduce } from '../../../kernels/ops/unpermute';

const bf = (shape: number[], v: number[]): Tensor<'bf16'> => new Tensor('bf16', shape, Uint16Array.from(v.map(encodeBf16)));
const vals = (t: Tensor): number[] => Array.from(t.toFloat32());

test('silu(gate)·up in float32 with one BF16 rounding (gate = 1, up = 2 → bf16(1.4621172))', () => {
  const out = siluAndMul(bf([1, 2], [1, 2]), { kind: 'silu' });
  assert.deepEqual(out.shape, [1, 1]);
  // one rounding: bf16(0.7310586 · 2 = 1.4621172) = 1.4609375; vLLM's two roundings happen to agree here
  assert.equal(out.get(0, 0), decodeBf16(encodeBf16(Math.fround(0.7310585975646973 * 2))));
});

test('clamped SwiGLU clamps before SiLU: gate 12, up −15, c = 10 → silu(10)·(−10) = −99.99546', () => {
  const out = siluAndMul(bf([1, 2], [12, -15]), { kind: 'swiglu', clampLimit: 10 });
  assert.equal(out.get(0, 0), decodeBf16(encodeBf16(-99.99546)));
  // without a clamp limit SwiGLU is SiLU-and-mul
  assert.deepEqual(vals(siluAndMul(bf([1, 2], [12, -15]), { kind: 'swiglu' })), vals(siluAndMul(bf([1, 2], [12, -15]), { kind: 'silu' })));
});

test('row mask skips padding rows; row scale multiplies the routing weight in', () => {
  const x = bf([3, 4], [1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4]);
  const plain = vals(siluAndMul(x, { kind: 'silu' }));
  const masked = vals(siluAndMul(x, { kind: 'silu', rowMask: Int32Array.from([0, -1, 2]) }));
  assert.deepEqual(masked.slice(2, 4), [0, 0]);
  assert.deepEqual(masked.slice(0, 2), plain.slice(0, 2));
  const weighted = vals(siluAndMul(x, { kind: 'silu', rowScale: Float32Array.from([1, 0.5, 0.25]) }));
  assert.ok(Math.abs(weighted[2]! - plain[2]! * 0.5) <= Math.abs(plain[2]!) * 2 ** -8);
  assert.throws(() => siluAndMul(bf([1, 3], [1, 2, 3]), { kind: 'silu' }), (e: unknown) => e instanceof MoeError && e.code === 'E_SHAPE');
  assert.throws(() => siluAndMul(x, { kind: 'silu', rowMask: new Int32Array(2) }), /row mask/);
});

test('unpermute: weighted float32 sum in slot order, non-local slots skipped, tokens with none → 0', () => {
  const d2 = bf([3, 2], [1, 2, 10, 20, 100, 200]);
  const inv = new Tensor('i32', [3, 2], Int32Array.from([0, 1, 2, -1, -1, -1]));
  const w = Tensor.fromF32([2, 2], [0.25, 0.75, 0.5, 0.5]);
  const y = unpermuteReduce(d2, inv, new Tensor('f32', [3, 2], Float32Array.from([0.25, 0.75, 0.5, 0.5, 1, 1])));
  assert.deepEqual(vals(y), [0.25 + 7.5, 0.5 + 15, 50, 100, 0, 0]);
  assert.deepEqual(vals(unpermuteReduce(d2, inv, new Tensor('f32', [3, 2], new Float32Array(6)), { unitWeights: true })), [11, 22, 100, 200, 0, 0]);
  assert.throws(() => unpermuteReduce(d2, new Tensor('i32', [1, 2], Int32Array.from([0, 7])), Tensor.fromF32([1, 2], [1, 1])), /row 7/);
  assert.throws(() => unpermuteReduce(d2, inv, w), (e: unknown) => e instanceof MoeError && e.code === 'E_SHAPE');
});

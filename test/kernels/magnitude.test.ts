/** checkMagnitudes: worst-case stage bounds refuse finite but absurd inputs by name; real magnitudes pass. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { absMax, BF16_MAX, checkMagnitudes } from '../../kernels/magnitude';
import { makeSpec } from '../../kernels/presets';
import { syntheticInputs } from '../../kernels/synthetic';
import { encodeBf16, roundBf16 } from '../../kernels/dtypes/bf16';
import { MoeError } from '../../kernels/errors';
import { Tensor } from '../../kernels/tensor';

const small = () => syntheticInputs(makeSpec('qwen3-30b-a3b', { tokens: 6, hidden: 256, intermediate: 256, experts: 4, topk: 2, source: { kind: 'synthetic', seed: 9, skew: 0 } }));
const refused = (name: string, re: RegExp) => (e: unknown): boolean => e instanceof MoeError && e.code === 'E_VALUE' && e.tensor === name && re.test(e.message);

test('BF16_MAX is the largest finite BF16 and absMax finds it in BF16 storage (NaN/inf skipped)', () => {
  assert.equal(roundBf16(BF16_MAX), BF16_MAX);
  const t = new Tensor('bf16', [2, 3], Uint16Array.from([1, -7, 0x7fc0 /* NaN */, 0xff80 /* −inf */, 2.5, -0.5].map((v, i) => (i === 2 || i === 3 ? v : encodeBf16(v)))));
  assert.deepEqual(absMax(t), { value: 7, signed: -7, at: [0, 1] });
});

test('synthetic layers pass; 1e4 activations (massive-activation outliers) pass', () => {
  checkMagnitudes(small());
  const inp = small();
  (inp.hidden_states.storage as Uint16Array)[5] = encodeBf16(1e4);
  checkMagnitudes(inp);
});

test('absurd activations, weight scales and routing weights are refused by name and element', () => {
  const a = small();
  (a.hidden_states.storage as Uint16Array)[256 + 3] = encodeBf16(-3e38);
  assert.throws(() => checkMagnitudes(a), refused('hidden_states', /^hidden_states\[1, 3\] = -3\.00e\+38 is too large: .*Grouped GEMM 1 \(K = 256\)/));
  // 1e18 is harmless in GEMM1 (~1e20 here) but squared by SiLU-and-mul
  const b = small();
  (b.hidden_states.storage as Uint16Array)[0] = encodeBf16(1e18);
  assert.throws(() => checkMagnitudes(b), refused('hidden_states', /SiLU-and-mul its square/));
  const c = small();
  c.w13_weight_scale_inv.storage[2] = 1e36;
  assert.throws(() => checkMagnitudes(c), refused('w13_weight_scale_inv', /^w13_weight_scale_inv\[0, 1, 0\] = 1\.00e\+36/));
  const d = small();
  d.topk_weights.storage[3] = 3e38;
  assert.throws(() => checkMagnitudes(d), refused('topk_weights', /^topk_weights\[1, 1\] = 3\.00e\+38 is too large: the weighted reduce/));
});

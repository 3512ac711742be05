/** What a hovered tensor most likely is, from name, dtype, shape and strides (docs/layouts-and-stages.md §4 layouts). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { classifyTensor, tmaAlignedMN, type ClassifyInput } from '../../../extension/hover/classify';

const rowMajor = (shape: number[]): number[] => {
  const s = shape.map(() => 1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1]! * shape[i + 1]!;
  return s;
};

function input(name: string, dtype: string, shape: number[], strides = rowMajor(shape)): ClassifyInput {
  const itemBytes = { float32: 4, int32: 4, int64: 8, bfloat16: 2, float8_e4m3fn: 1, float8_e8m0fnu: 1 }[dtype] ?? 4;
  const n = shape.length;
  const c = rowMajor(shape).every((s, i) => shape[i]! <= 1 || s === strides[i]);
  const k = n >= 2 && (strides[n - 1] === 1 || shape[n - 1] === 1);
  const mn = n >= 2 && (strides[n - 2] === 1 || shape[n - 2] === 1);
  const major = n < 2 ? null : k && mn ? 'both' : k ? 'K' : mn ? 'MN' : null;
  return { name, dtype, shape, strides, itemBytes, cContiguous: c, major };
}

const text = (i: ClassifyInput): string | undefined => {
  const c = classifyTensor(i);
  return c && `${c.what}: ${c.consequence}`;
};

describe('classifyTensor', () => {
  it('TMA alignment pads MN to 16 bytes', () => {
    assert.equal(tmaAlignedMN(5, 4), 8);
    assert.equal(tmaAlignedMN(33, 4), 36);
    assert.equal(tmaAlignedMN(130, 4), 132);
    assert.equal(tmaAlignedMN(5, 1), 16);
    assert.ok(Number.isNaN(tmaAlignedMN(5, 32)), 'complex256: undefined, not an exception');
  });

  it('SM90-ready activation scales (docs/layouts-and-stages.md §4 examples)', () => {
    assert.equal(text(input('a1q_scale', 'float32', [5, 2], [1, 8])), 'activation scales, FP32, MN-major, TMA-aligned: ready for DeepGEMM on SM90');
    assert.equal(classifyTensor(input('x_scale', 'float32', [3, 33, 3], [108, 1, 36]))?.verdict, 'ok');
    assert.equal(classifyTensor(input('sfa', 'float32', [7, 1], [1, 8]))?.verdict, 'ok');
  });

  it('row-major or misaligned activation scales are flagged', () => {
    assert.equal(text(input('a1q_scale', 'float32', [5, 2])), 'activation scales row-major: DeepGEMM will transpose these on every call');
    const mis = classifyTensor(input('a1q_scale', 'float32', [5, 2], [1, 5]))!;
    assert.equal(mis.verdict, 'warn');
    assert.match(mis.what, /M stride is 5 \(TMA wants align\(5, 4\) = 8\)/);
    assert.equal(classifyTensor(input('a1q_scale', 'float32', [3, 33, 3], [99, 1, 33]))?.verdict, 'warn', 'group stride not aligned');
  });

  it('packed UE8M0 int32 scales, MN-major: SM100 layout (docs/layouts-and-stages.md §4: M=130, K=1024)', () => {
    assert.equal(text(input('a1q_scale', 'int32', [130, 2], [1, 132])), 'packed UE8M0 int32, MN-major: SM100 layout (4 K-blocks per word, M padded to a multiple of 4)');
    assert.match(text(input('sf', 'int32', [130, 2], [1, 132]))!, /packed UE8M0 int32, MN-major/);
    assert.match(text(input('packed', 'int32', [130, 2], [1, 132]))!, /SM100 scale layout/, 'by layout alone');
    assert.equal(classifyTensor(input('a2q_scale', 'int32', [130, 2]))?.verdict, 'warn');
  });

  it('weight scales, 128×128 blocks', () => {
    assert.equal(
      text(input('w13_weight_scale_inv', 'float32', [8, 32, 56])),
      'weight scales 128×128 blocks (8×32×56, one per 128×128 block), FP32, row-major: DeepGEMM uses these as they are on SM90 but will broadcast and pack them on SM100',
    );
    assert.equal(classifyTensor(input('w2_weight_scale_inv', 'float32', [8, 56, 32], [1792, 1, 56]))?.verdict, 'warn');
    assert.match(text(input('w13_weight_scale_inv', 'float8_e8m0fnu', [8, 32, 56]))!, /UE8M0 bytes.*SM90 needs them as float32/);
    assert.match(text(input('w2_weight_scale', 'int32', [8, 7168, 8], [57344, 1, 7168]))!, /SM100 layout/);
  });

  it('FP8 weights and activations', () => {
    assert.match(text(input('w13_weight', 'float8_e4m3fn', [8, 1024, 7168]))!, /FP8 E4M3 expert weights w13: \(E=8, 2N=1024, K=7168\), K-major/);
    assert.match(text(input('w2_weight', 'float8_e4m3fn', [8, 7168, 512]))!, /w2: \(E=8, K=7168, N=512\)/);
    assert.equal(classifyTensor(input('w13_weight', 'float8_e4m3fn', [8, 1024, 7168], [7340032, 1, 1024]))?.verdict, 'warn');
    assert.equal(classifyTensor(input('w13_weight', 'float8_e4m3fn', [8, 1000, 7168]))?.verdict, 'warn', 'not a multiple of 128');
    assert.match(text(input('a1q', 'float8_e4m3fn', [37, 512]))!, /FP8 E4M3 activations \(M=37, K=512\)/);
  });

  it('routing tensors', () => {
    assert.match(text(input('topk_ids', 'int32', [37, 2]))!, /router top-k expert ids \(M=37 tokens, top-2/);
    assert.match(text(input('topk_weights', 'float32', [37, 2]))!, /router weights/);
    assert.match(text(input('m_indices', 'int32', [512]))!, /−1 marks padding rows/);
    assert.match(text(input('expert_map', 'int32', [64]))!, /expert map/);
    assert.match(text(input('hidden_states', 'bfloat16', [37, 512]))!, /hidden states/);
  });

  it('makes no guess when name, dtype and shape do not fit', () => {
    assert.equal(classifyTensor(input('x', 'float32', [5, 2])), undefined);
    assert.equal(classifyTensor(input('topk_ids', 'float32', [37])), undefined);
    assert.equal(classifyTensor(input('w13_weight', 'float32', [8, 1024, 7168])), undefined);
    assert.equal(classifyTensor(input('a1q_scale', 'float32', [5])), undefined);
  });
});

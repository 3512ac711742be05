/** Presets: the model configs of docs/layouts-and-stages.md §11 and makeSpec. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PRESETS, makeSpec, presetById } from '../../kernels/presets';
import { MoeError } from '../../kernels/errors';

test('presets carry the configs of docs/layouts-and-stages.md §11 with sources', () => {
  const q = presetById('qwen3-30b-a3b');
  assert.deepEqual([q.hidden, q.intermediate, q.experts, q.topk], [2048, 768, 128, 8]);
  const v3 = presetById('DeepSeek-V3');
  assert.deepEqual([v3.hidden, v3.intermediate, v3.experts, v3.topk], [7168, 2048, 256, 8]);
  assert.deepEqual([presetById('deepseek-r1').hidden, presetById('deepseek-v3.1').scaleFormat], [7168, 'ue8m0']);
  assert.deepEqual([presetById('mixtral-8x7b').intermediate, presetById('mixtral-8x7b').topk], [14336, 2]);
  const v4 = presetById('deepseek-v4-flash');
  assert.deepEqual([v4.hidden, v4.experts, v4.topk, v4.activation.kind, v4.activation.clampLimit], [4096, 256, 6, 'swiglu', 10]);
  for (const p of PRESETS) assert.ok(p.source.length > 10, p.id);
  const s = makeSpec('deepseek-v3', { tokens: 64, expertParallel: { size: 8, rank: 0, strategy: 'linear' } });
  assert.deepEqual([s.tokens, s.hidden, s.intermediate, s.experts, s.arch, s.blockM], [64, 7168, 2048, 256, 'sm90', 128]);
  assert.equal(makeSpec('deepseek-v3', { arch: 'sm100' }).recipe.scaleFormat, 'ue8m0');
  assert.throws(() => presetById('gpt-5'), (e: unknown) => e instanceof MoeError && /known: qwen3-30b-a3b/.test(e.message));
});

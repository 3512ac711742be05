import { test } from 'node:test';
import assert from 'node:assert/strict';
import { panelRunSize } from '../../extension/runSize';
import { MoeError } from '../../kernels/errors';
import { makeSpec } from '../../kernels/presets';

const machine = (gib: number) => ({ totalBytes: gib * 2 ** 30, cores: 2 });

test('the panel run path: a small run shows nothing extra', () => {
  assert.deepEqual(panelRunSize(makeSpec('qwen3-30b-a3b', { tokens: 16 }), machine(64)), {});
});

test('the panel run path: a large run that fits gets its estimate for the progress notification', () => {
  const r = panelRunSize(makeSpec('qwen3-30b-a3b', { tokens: 16384 }), machine(64));
  assert.match(r.notice!, /^estimate: ~\d+\.\d GiB at its peak \(largest: mm2_out .*\), roughly \d+ min on the CPU backend \(2 cores\)$/);
  assert.match(r.short!, /^~\d+\.\d GiB, roughly \d+ min on the CPU$/);
});

test('the panel run path: past the machine it is refused with the numbers, in the quick picks\' words', () => {
  assert.throws(
    () => panelRunSize(makeSpec('qwen3-30b-a3b', { tokens: 16384 }), machine(3)),
    (e: unknown) =>
      e instanceof MoeError && e.code === 'E_SPEC' &&
      /^Inspect MoE Layer: Qwen3-30B-A3B with 16384 tokens needs ~\d+\.\d GiB at its peak .* more than the 2\.0 GiB this machine allows \(3\.0 GiB \/ 1\.5\); use fewer tokens \(up to ~\d+ fit here\) or an expert-parallel shard/.test(e.message) &&
      !/--ep/.test(e.message),
  );
  // a million tokens on DeepSeek-V3: refused at once, never started
  assert.throws(() => panelRunSize(makeSpec('deepseek-v3', { tokens: 1_000_000 }), machine(16)), /Inspect MoE Layer: DeepSeek-V3 with 1000000 tokens/);
});

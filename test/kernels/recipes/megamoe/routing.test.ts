/** The synthetic DeepSeek-V4 routing of megamoe-sm90 layers (the router itself is kernels/routing, tested there). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { routeFromLogits, scoreExperts } from '../../../../kernels/routing/index';
import { deepseekV4Router, syntheticRouterLogits, syntheticMegamoe } from '../../../../kernels/recipes/megamoe/synthetic';
import { megaSpec } from './helpers';

test('synthetic router logits are seeded: same spec, same logits; skew tilts popularity', () => {
  const a = syntheticRouterLogits(megaSpec());
  const b = syntheticRouterLogits(megaSpec());
  assert.deepEqual(a.logits, b.logits);
  assert.deepEqual(a.bias, b.bias);
  const spec = megaSpec({ tokens: 400, experts: 16, source: { kind: 'synthetic', seed: 1, skew: 2 } });
  const { logits, bias } = syntheticRouterLogits(spec);
  const r = routeFromLogits(logits, 400, 16, deepseekV4Router(2), bias);
  const counts = new Array(16).fill(0);
  for (const e of r.topkIds) counts[e]++;
  assert.ok(Math.max(...counts) > 4 * (800 / 16), `skewed router: busiest expert ${Math.max(...counts)} of 800 pairs`);
});

test('a synthetic layer carries the sqrtsoftplus routing of its logits: the chosen experts maximise score + bias, weights sum to 1.5', () => {
  const spec = megaSpec({ tokens: 30, experts: 16, topk: 4, expertParallel: { size: 4, rank: 2, strategy: 'linear' } });
  const { inputs } = syntheticMegamoe(spec, { defer: false });
  const { logits, bias } = syntheticRouterLogits(spec);
  const scores = scoreExperts(logits, 30, 16, 'sqrtsoftplus');
  const ids = inputs.topk_ids!.toFloat32();
  const w = inputs.topk_weights!.toFloat32();
  for (let t = 0; t < 30; t++) {
    const chosen = [...ids.subarray(t * 4, t * 4 + 4)];
    const key = (e: number): number => Math.fround(scores[t * 16 + e]! + bias[e]!);
    const worst = Math.min(...chosen.map(key));
    for (let e = 0; e < 16; e++) if (!chosen.includes(e)) assert.ok(key(e) <= worst, `token ${t}: expert ${e} should have been chosen`);
    let sum = 0;
    for (let s = 0; s < 4; s++) sum += w[t * 4 + s]!;
    assert.ok(Math.abs(sum - 1.5) < 1e-5, `token ${t}: weights sum to ${sum}`);
    for (let s = 0; s < 4; s++) assert.ok(Math.abs(w[t * 4 + s]! / 1.5 - scores[t * 16 + chosen[s]!]! / chosen.reduce((a, e) => a + scores[t * 16 + e]!, 0)) < 1e-6, 'unbiased scores, normalised');
  }
});

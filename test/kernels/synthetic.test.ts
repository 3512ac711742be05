/** The seeded synthetic generator: determinism, routing properties, UE8M0 scales, expert parallelism. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeSpec } from '../../kernels/presets';
import { syntheticInputs, syntheticRouting, Rng } from '../../kernels/synthetic';
import { MoeError } from '../../kernels/errors';
import { expertPagesOf } from '../../kernels/expertPages';

test('synthetic inputs are deterministic, routed to distinct experts with weights summing to 1', () => {
  const spec = makeSpec('qwen3-30b-a3b', { tokens: 16, hidden: 256, intermediate: 128, experts: 16, topk: 4, source: { kind: 'synthetic', seed: 42, skew: 1.2 } });
  const a = syntheticInputs(spec);
  const b = syntheticInputs(spec);
  assert.deepEqual(Array.from(a.hidden_states.storage as Uint16Array), Array.from(b.hidden_states.storage as Uint16Array));
  assert.deepEqual(Array.from(a.w13_weight.storage.subarray(0, 4096)), Array.from(b.w13_weight.storage.subarray(0, 4096)));
  for (let t = 0; t < 16; t++) {
    const ids = Array.from((a.topk_ids.storage as Int32Array).subarray(t * 4, t * 4 + 4));
    assert.equal(new Set(ids).size, 4, `token ${t} experts distinct`);
    const w = Array.from(a.topk_weights.storage.subarray(t * 4, t * 4 + 4));
    assert.ok(Math.abs(w.reduce((x, y) => x + y, 0) - 1) < 1e-6);
    assert.ok(w.every((x, i) => i === 0 || x <= w[i - 1]!), 'largest weight first');
  }
  // no FP8 NaN codes; experts without tokens keep all-zero weights
  assert.ok(a.w13_weight.storage.every((v) => (v & 0x7f) !== 0x7f));
  const ue = syntheticInputs({ ...spec, recipe: { ...spec.recipe, scaleFormat: 'ue8m0' } });
  assert.ok(ue.w13_weight_scale_inv.storage.every((s) => Math.log2(s) === Math.round(Math.log2(s))));
  // Zipf skew concentrates the routing
  const hot = (skew: number): number => {
    const r = syntheticRouting(2000, 64, 2, skew, new Rng(1));
    const c = new Array<number>(64).fill(0);
    r.topkIds.forEach((e) => c[e]!++);
    return Math.max(...c) / 4000;
  };
  assert.ok(hot(1.5) > 3 * hot(0), `${hot(1.5)} vs ${hot(0)}`);
  // EP: only the local experts' weights exist
  const ep = syntheticInputs({ ...spec, expertParallel: { size: 4, rank: 1, strategy: 'linear' } });
  assert.deepEqual(ep.w13_weight.shape, [4, 256, 256]);
  assert.deepEqual(Array.from(ep.expert_map!.storage).slice(0, 8), [-1, -1, -1, -1, 0, 1, 2, 3]);
  assert.throws(() => syntheticInputs({ ...spec, topk: 17 }), (e: unknown) => e instanceof MoeError && e.code === 'E_SPEC');
});

test('a layer past one array (DeepSeek-V3 on one rank: w13 [256, 4096, 7168] = 7 GiB) gets weights made per expert, not a RangeError', () => {
  const inputs = syntheticInputs(makeSpec('deepseek-v3', { tokens: 8 }));
  assert.ok(expertPagesOf(inputs.w13_weight) && expertPagesOf(inputs.w2_weight));
  assert.deepEqual(inputs.w13_weight.shape, [256, 4096, 7168]);
  assert.throws(
    () => inputs.w13_weight.contiguous().storage,
    (e: unknown) => e instanceof MoeError && e.code === 'E_SPEC' && /w13_weight: \[256, 4096, 7168\].*7\.0 GiB.*--ep 8/.test(e.message),
  );
});

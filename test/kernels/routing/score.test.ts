/** Router scoring: hand-computed cases per model family and a float64 re-implementation on random logits. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { routeFromLogits, scoreExperts, type RouterConfig } from '../../../kernels/routing';
import { MoeError } from '../../../kernels/errors';
import { Rng } from '../../../kernels/synthetic';

const f = Math.fround;
const softmaxTopk = (topk: number, norm: boolean): RouterConfig => ({
  scoring: 'softmax',
  topk,
  normTopkProb: norm,
  nGroup: 1,
  topkGroup: 1,
  routedScalingFactor: 1,
  usesCorrectionBias: false,
});
const deepseek = (over: Partial<RouterConfig> = {}): RouterConfig => ({
  scoring: 'sigmoid',
  topk: 2,
  normTopkProb: true,
  nGroup: 4,
  topkGroup: 2,
  routedScalingFactor: 2.5,
  usesCorrectionBias: true,
  ...over,
});

const err = (code: string, re: RegExp) => (e: unknown): boolean => {
  assert.ok(e instanceof MoeError, String(e));
  assert.equal(e.code, code, e.message);
  assert.match(e.message, re);
  return true;
};

test('softmax top-2 (Qwen3/Mixtral): hand-computed; renormalised weights are σ(±1) for logits 3 and 2', () => {
  const logits = Float32Array.from([1, 2, 3, 0]);
  const raw = routeFromLogits(logits, 1, 4, softmaxTopk(2, false));
  assert.deepEqual([...raw.topkIds], [2, 1]);
  // e^0 / (e^-2 + e^-1 + 1 + e^-3) = 0.643914…, e^-1 / … = 0.236883…
  assert.ok(Math.abs(raw.topkWeights[0]! - 0.6439142598879722) < 1e-7);
  assert.ok(Math.abs(raw.topkWeights[1]! - 0.23688281808991013) < 1e-7);
  const norm = routeFromLogits(logits, 1, 4, softmaxTopk(2, true));
  assert.ok(Math.abs(norm.topkWeights[0]! - 1 / (1 + Math.exp(-1))) < 1e-7);
  assert.ok(Math.abs(norm.topkWeights[1]! - 1 / (1 + Math.exp(1))) < 1e-7);
  // ties go to the lower expert index, slots ordered by decreasing score
  const tie = routeFromLogits(Float32Array.from([0, 5, 5, 5]), 1, 4, softmaxTopk(2, true));
  assert.deepEqual([...tie.topkIds], [1, 2]);
  assert.deepEqual([...tie.topkWeights], [0.5, 0.5]);
});

test('DeepSeek-V3 grouped top-k: bias only chooses, groups by top-2 sum, unbiased weights normalised × routed_scaling_factor', () => {
  // 8 experts in 4 groups of 2; σ(ln 3) = 0.75 for expert 3, σ(0) = 0.5 elsewhere
  const logits = Float32Array.from([0, 0, 0, Math.log(3), 0, 0, 0, 0]);
  const bias = Float32Array.from([0.25, -0.3, 0, 0.3, 0.2, 0.2, 0, 0]);
  // choice = [0.75, 0.2 | 0.5, 1.05 | 0.7, 0.7 | 0.5, 0.5]; group scores 0.95, 1.55, 1.4, 1.0 → groups 1 and 2
  // expert 0 (0.75) beats experts 4 and 5 (0.7) but its group is not kept
  const r = routeFromLogits(logits, 1, 8, deepseek(), bias);
  assert.deepEqual([...r.topkIds], [3, 4]);
  // weights: σ = 0.75 and 0.5 → /1.25 → 0.6, 0.4 → × 2.5 → 1.5, 1.0
  assert.deepEqual([...r.topkWeights], [f(f(f(0.75) / f(1.25)) * 2.5), f(f(0.5 / 1.25) * 2.5)]);
  assert.deepEqual([...r.topkWeights], [1.5, 1]);
  // without the group limit expert 0 is chosen second
  const flat = routeFromLogits(logits, 1, 8, deepseek({ nGroup: 1, topkGroup: 1 }), bias);
  assert.deepEqual([...flat.topkIds], [3, 0]);
  // no bias: group score = the group's max (DeepSeek-V2 group_limited_greedy), weights = the scores themselves
  const v2 = routeFromLogits(logits, 1, 8, deepseek({ scoring: 'softmax', usesCorrectionBias: false, normTopkProb: false, routedScalingFactor: 1 }));
  assert.equal(v2.topkIds[0], 3);
  assert.ok(Math.abs(v2.topkWeights[0]! - 3 / 10) < 1e-7, 'softmax: e^ln3 / (7 + 3)');
});

test('DeepSeek-V4 sqrtsoftplus: √softplus with torch\'s threshold 20, bias for choosing, normalised × 1.5', () => {
  const logits = Float32Array.from([0, 20.5, -1, 1]);
  const s = scoreExperts(logits, 1, 4, 'sqrtsoftplus');
  assert.deepEqual([...s], [f(Math.sqrt(f(Math.log(2)))), f(Math.sqrt(20.5)), f(Math.sqrt(f(Math.log1p(Math.exp(-1))))), f(Math.sqrt(f(Math.log1p(Math.E))))]);
  assert.ok(Math.abs(s[0]! - 0.8325546) < 1e-6);
  const cfg: RouterConfig = { scoring: 'sqrtsoftplus', topk: 2, normTopkProb: true, nGroup: 1, topkGroup: 1, routedScalingFactor: 1.5, usesCorrectionBias: true };
  // a bias of +5 on expert 2 makes it chosen, but its weight is its unbiased score
  const r = routeFromLogits(logits, 1, 4, cfg, Float32Array.from([0, 0, 5, 0]));
  assert.deepEqual([...r.topkIds], [2, 1]);
  const sum = f(s[2]! + s[1]!);
  assert.deepEqual([...r.topkWeights], [f(f(s[2]! / sum) * 1.5), f(f(s[1]! / sum) * 1.5)]);
});

/** float64 re-implementation, written independently of score.ts (sorting instead of selection) */
function reference(logits: Float32Array, M: number, E: number, cfg: RouterConfig, bias?: Float32Array): { ids: number[][]; w: number[][] } {
  const ids: number[][] = [];
  const w: number[][] = [];
  const per = E / cfg.nGroup;
  for (let t = 0; t < M; t++) {
    const x = Array.from(logits.subarray(t * E, (t + 1) * E));
    let s: number[];
    if (cfg.scoring === 'softmax') {
      const m = Math.max(...x);
      const ex = x.map((v) => Math.exp(v - m));
      const z = ex.reduce((a, b) => a + b, 0);
      s = ex.map((v) => v / z);
    } else if (cfg.scoring === 'sigmoid') s = x.map((v) => 1 / (1 + Math.exp(-v)));
    else s = x.map((v) => Math.sqrt(v > 20 ? v : Math.log(1 + Math.exp(v))));
    const c = s.map((v, e) => v + (bias ? bias[e]! : 0));
    let allowed = new Set(Array.from({ length: E }, (_, e) => e));
    if (cfg.nGroup > 1 && cfg.topkGroup < cfg.nGroup) {
      const gs = Array.from({ length: cfg.nGroup }, (_, g) => {
        const vals = c.slice(g * per, (g + 1) * per).sort((a, b) => b - a);
        return { g, v: bias ? vals[0]! + (vals[1] ?? 0) : vals[0]! };
      }).sort((a, b) => b.v - a.v || a.g - b.g);
      const keep = new Set(gs.slice(0, cfg.topkGroup).map((x) => x.g));
      allowed = new Set([...allowed].filter((e) => keep.has(Math.floor(e / per))));
    }
    const order = [...allowed].sort((a, b) => c[b]! - c[a]! || a - b).slice(0, cfg.topk);
    let ws = order.map((e) => s[e]!);
    if (cfg.normTopkProb) {
      const z = ws.reduce((a, b) => a + b, 0);
      ws = ws.map((v) => v / z);
    }
    ids.push(order);
    w.push(ws.map((v) => v * cfg.routedScalingFactor));
  }
  return { ids, w };
}

test('float64 re-implementation on random logits: same experts, weights within float32 rounding', () => {
  const rng = new Rng(11);
  const cases: Array<[string, number, RouterConfig, boolean]> = [
    ['qwen3 softmax top-8 of 128', 128, softmaxTopk(8, true), false],
    ['mixtral softmax top-2 of 8', 8, softmaxTopk(2, true), false],
    ['deepseek-v3 sigmoid 8 groups / 4, top-8 of 256', 256, deepseek({ topk: 8, nGroup: 8, topkGroup: 4 }), true],
    ['deepseek-v4 sqrtsoftplus top-6 of 256', 256, { scoring: 'sqrtsoftplus', topk: 6, normTopkProb: true, nGroup: 1, topkGroup: 1, routedScalingFactor: 1.5, usesCorrectionBias: true }, true],
  ];
  for (const [what, E, cfg, withBias] of cases) {
    const M = 48;
    const logits = Float32Array.from({ length: M * E }, () => rng.normal() * 2);
    const bias = withBias ? Float32Array.from({ length: E }, () => rng.normal() * 0.05) : undefined;
    const got = routeFromLogits(logits, M, E, cfg, bias);
    const ref = reference(logits, M, E, cfg, bias);
    for (let t = 0; t < M; t++) {
      assert.deepEqual([...got.topkIds.subarray(t * cfg.topk, (t + 1) * cfg.topk)], ref.ids[t], `${what}: token ${t} ids`);
      for (let j = 0; j < cfg.topk; j++) {
        const g = got.topkWeights[t * cfg.topk + j]!;
        const r = ref.w[t]![j]!;
        assert.ok(Math.abs(g - r) <= 4e-7 * Math.max(1, Math.abs(r)), `${what}: token ${t} slot ${j}: ${g} vs ${r}`);
      }
    }
  }
});

test('bad inputs: non-finite logits, top-k above E, groups that do not divide E, a missing or short bias, wrong length', () => {
  const l = new Float32Array(8);
  assert.throws(() => routeFromLogits(Float32Array.from([0, NaN, 0, 0]), 1, 4, softmaxTopk(2, true)), err('E_VALUE', /router_logits\[0, 1\] = NaN/));
  assert.throws(() => routeFromLogits(l, 2, 4, softmaxTopk(5, true)), err('E_SPEC', /top-k must be an integer in 1…4/));
  assert.throws(() => routeFromLogits(l, 1, 8, deepseek({ nGroup: 3 }), new Float32Array(8)), err('E_SPEC', /n_group 3 must divide the 8 experts/));
  assert.throws(() => routeFromLogits(l, 1, 8, deepseek({ topk: 5 }), new Float32Array(8)), err('E_SPEC', /top-5 cannot be chosen from 2 groups of 2/));
  assert.throws(() => routeFromLogits(l, 1, 8, deepseek()), err('E_VALUE', /no bias was given/));
  assert.throws(() => routeFromLogits(l, 1, 8, deepseek(), new Float32Array(7)), err('E_SHAPE', /expected 8 values/));
  assert.throws(() => routeFromLogits(l, 3, 4, softmaxTopk(2, true)), err('E_SHAPE', /expected 3×4 = 12 values, got 8/));
  // σ underflow: all-zero chosen scores stay zero rather than 0/0
  const under = routeFromLogits(Float32Array.from([-200, -200, -200, -200]), 1, 4, { ...deepseek({ nGroup: 1, topkGroup: 1, usesCorrectionBias: false }) });
  assert.deepEqual([...under.topkWeights], [0, 0]);
  assert.equal(routeFromLogits(new Float32Array(0), 0, 4, softmaxTopk(2, true)).topkIds.length, 0, 'M = 0');
});

/** The megamoe-sm90 schedule end to end on the CPU: every stage's tensors, and the float64 reference on random layers. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { runLayer, type RunResult } from '../../../../kernels/pipeline';
import { shutdownGemmWorkers } from '../../../../kernels/ops/gemm';
import { interleaveMap } from '../../../../kernels/recipes/megamoe/interleave';
import { siluMulF32 } from '../../../../kernels/ops/activation';
import { decodeBf16, encodeBf16 } from '../../../../kernels/dtypes/bf16';
import { Rng } from '../../../../kernels/synthetic';
import type { Tensor } from '../../../../kernels/tensor';
import type { LayerSpec } from '../../../../kernels/spec';
import { megaSpec } from './helpers';

after(() => shutdownGemmWorkers());
const SEED = Number(process.env.MOE_PROPERTY_SEED ?? Math.floor(Math.random() * 2 ** 31));

const tensor = (r: RunResult, n: string): Tensor => {
  const t = r.tensors.get(n);
  assert.ok(t, `missing ${n}`);
  return t;
};

test('stages in order; the symmetric buffer, the pools (MN-major, group 64 at L2), the interleave, the combine', async () => {
  const spec = megaSpec({ activation: { kind: 'swiglu', clampLimit: 0.05 } });
  const r = await runLayer(spec, { backend: 'cpu' });
  const { trace } = r;
  assert.deepEqual(trace.stages.map((s) => s.id), ['stage_inputs', 'dispatch', 'interleave_w13', 'gemm1', 'activation', 'quantize_l2', 'gemm2', 'combine']);
  assert.deepEqual(trace.checks.filter((c) => c.level === 'fail'), []);
  const T = 12, H = 256, IH = 128, k = 2, tMax = 128;
  const ids = tensor(r, 'topk_ids');
  const idsFlat = ids.toFloat32();
  const w = tensor(r, 'topk_weights');

  // staging: FP8 + K-major float32 scales, int64 ids, rows past T untouched
  const x = tensor(r, 'sym_x');
  const xsf = tensor(r, 'sym_x_sf');
  assert.deepEqual([x.dtype, ...x.shape], ['f8e4m3fn', tMax, H]);
  assert.deepEqual([xsf.dtype, ...xsf.shape, ...xsf.strides], ['f32', tMax, 2, 2, 1]);
  assert.equal(trace.tensors.sym_x_sf!.layout.order, 'row-major');
  const tid = tensor(r, 'sym_topk_idx');
  assert.equal(tid.dtype, 'i64');
  for (let t = 0; t < T; t++) for (let s = 0; s < k; s++) assert.equal(tid.get(t, s), ids.get(t, s));
  assert.equal(xsf.get(T, 0), 0);
  for (let t = 0; t < T; t++) {
    let sum = 0;
    for (let s = 0; s < k; s++) sum += w.get(t, s);
    assert.ok(Math.abs(sum - 1.5) < 1e-5, 'sqrtsoftplus weights sum to routed_scaling_factor 1.5');
  }

  // dispatch: one pool row per local pair (rank 1 of 2 owns experts 4–7), grouped by expert
  const src = tensor(r, 'pool_src');
  const ex = tensor(r, 'pool_expert');
  const R = src.shape[0]!;
  let local = 0;
  for (let p = 0; p < T * k; p++) if (idsFlat[p]! >= 4) local++;
  assert.equal(R, local);
  for (let i = 1; i < R; i++) assert.ok(ex.get(i) > ex.get(i - 1) || (ex.get(i) === ex.get(i - 1) && src.get(i) > src.get(i - 1)));
  const l1 = tensor(r, 'l1_acts');
  const l1sf = tensor(r, 'l1_acts_sf');
  const Ra = Math.ceil(R / 4) * 4;
  assert.deepEqual([...l1sf.shape, ...l1sf.strides], [R, 2, 1, Ra]);
  assert.equal(trace.tensors.l1_acts_sf!.layout.order, 'mn-major');
  for (let i = 0; i < R; i++) {
    const t = Math.floor(src.get(i) / k);
    assert.equal(ex.get(i), idsFlat[src.get(i)]! - 4);
    for (const c of [0, 100, 255]) assert.equal(l1.raw(i, c), x.raw(t, c));
    assert.equal(l1sf.get(i, 1), xsf.get(t, 1));
    assert.equal(tensor(r, 'l1_topk_weights').get(i), w.storage[src.get(i)]);
  }

  // the interleave map is in the trace inline, the §7.5 map
  assert.deepEqual(trace.tensors.w13_interleave_map!.inline, [...interleaveMap(IH)]);

  // activation: clamp BEFORE SiLU, routing weight inside, gate/up found through the map (8 columns apart)
  const o1 = tensor(r, 'l1_out');
  const act = tensor(r, 'swiglu_out');
  assert.deepEqual([o1.dtype, ...o1.shape, act.dtype, ...act.shape], ['f32', R, 2 * IH, 'f32', R, IH]);
  let clamped = 0;
  for (let i = 0; i < R; i++)
    for (let n = 0; n < IH; n++) {
      const col = 16 * Math.floor(n / 8) + (n % 8);
      const g = o1.get(i, col);
      const u = o1.get(i, col + 8);
      if (g > 0.05) clamped++;
      const want = siluMulF32(Math.min(g, 0.05), Math.max(-0.05, Math.min(0.05, u)), tensor(r, 'l1_topk_weights').get(i));
      assert.equal(act.get(i, n), want, `row ${i}, n ${n}`);
    }
  assert.ok(clamped > 0, 'some gate values were above the clamp');

  // L2: one float32 scale per 64 columns, MN-major
  const l2sf = tensor(r, 'l2_acts_sf');
  assert.deepEqual([...l2sf.shape, ...l2sf.strides], [R, IH / 64, 1, Ra]);
  assert.equal(trace.tensors.l2_acts_sf!.layout.order, 'mn-major');

  // combine: (k, T_max, H) buffer, unweighted float32 sum per token
  const cb = tensor(r, 'combine_buffer');
  const l2 = tensor(r, 'l2_out');
  const y = tensor(r, 'output');
  assert.deepEqual(cb.shape, [k, tMax, H]);
  for (let i = 0; i < R; i++) {
    const p = src.get(i);
    assert.equal(cb.raw(p % k, Math.floor(p / k), 7), l2.raw(i, 7));
  }
  for (let t = 0; t < T; t++)
    for (const h of [0, 129]) {
      let acc = 0;
      for (let s = 0; s < k; s++) acc = Math.fround(acc + decodeBf16(cb.raw(s, t, h)));
      assert.equal(y.raw(t, h), encodeBf16(acc), `token ${t}, column ${h}`);
    }
});

function randomSpec(rng: Rng, i: number): LayerSpec {
  const pick = <X>(xs: readonly X[]): X => xs[Math.floor(rng.float() * xs.length)]!;
  const ranks = pick([2, 4]);
  const experts = ranks * (1 + Math.floor(rng.float() * 3));
  return megaSpec({
    name: `megamoe-property-${i}`,
    tokens: 1 + Math.floor(rng.float() * 24),
    hidden: pick([128, 256, 384]),
    intermediate: pick([128, 256]),
    experts,
    topk: Math.min(experts, 1 + Math.floor(rng.float() * 4)),
    expertParallel: { size: ranks, rank: Math.floor(rng.float() * ranks), strategy: 'linear' },
    activation: rng.float() < 0.5 ? { kind: 'swiglu', clampLimit: pick([0.1, 1, 10]) } : { kind: 'swiglu' },
    source: { kind: 'synthetic', seed: rng.u32(), skew: rng.float() * 1.5 },
  });
}

test(`every stage against the float64 reference on random layers (seed ${SEED})`, async () => {
  const rng = new Rng(SEED);
  for (let i = 0; i < 4; i++) {
    const spec = randomSpec(rng, i);
    const where = `seed ${SEED}, case ${i}: ${JSON.stringify({ T: spec.tokens, H: spec.hidden, IH: spec.intermediate, E: spec.experts, k: spec.topk, ep: spec.expertParallel, act: spec.activation })}`;
    const r = await runLayer(spec, { backend: 'cpu' });
    for (const name of ['sym_x', 'l1_out', 'swiglu_out', 'l2_out', 'output']) {
      const t = r.tensors.get(name)!;
      const f = r.plan!.errorOf!(name, r.tensors)!;
      const cols = t.shape[t.rank - 1]!;
      const rows = t.numel / cols;
      let num = 0, den = 0;
      for (let row = 0; row < rows; row++)
        for (let c = 0; c < cols; c++) {
          const v = t.rank === 2 ? t.get(row, c) : NaN;
          const e = f(row, c, v);
          if (Number.isNaN(e)) continue;
          num += e * e;
          // sym_x's error is dequantized − hidden_states (its reference is the input, not v − e)
          den += (name === 'sym_x' ? (r.inputs.hidden_states as Tensor).get(row, c) : v - e) ** 2;
        }
      const rel = den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
      const max = name === 'sym_x' ? 0.05 : 1e-2;
      assert.ok(rel < max, `${where}: ${name} rel-L2 ${rel.toExponential(3)} ≥ ${max}`);
    }
  }
});

test('progressive run (UI host): partial traces before each stage, deferred synthetic weights written before the first heavy stage', async () => {
  const spec = megaSpec({ tokens: 9 });
  const partials: { done: string[]; pending: string[]; hasW13: boolean }[] = [];
  const r = await runLayer(spec, {
    backend: 'cpu',
    onStage: (p) => {
      partials.push({ done: p.stages.map((s) => s.id), pending: (p.pending ?? []).map((s) => s.id), hasW13: 'w13_weight' in p.tensors });
    },
  });
  assert.deepEqual(partials[0]!.done, []);
  assert.equal(partials[0]!.pending.length, 8);
  assert.equal(partials[0]!.hasW13, false, 'weights not written yet are left out of the first picture');
  assert.deepEqual(partials.at(-1)!.done.length, 7);
  const plain = await runLayer(spec, { backend: 'cpu' });
  assert.deepEqual(r.tensors.get('output')!.storage, plain.tensors.get('output')!.storage, 'deferring the weights changes no value');
});

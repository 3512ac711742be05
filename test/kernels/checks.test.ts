/** Kernel guards: each check fires where the spec says, with an actionable message. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runChecks } from '../../kernels/checks';
import { makeSpec } from '../../kernels/presets';
import { syntheticInputs } from '../../kernels/synthetic';
import { Tensor } from '../../kernels/tensor';

const level = (checks: ReturnType<typeof runChecks>, id: string): string | undefined => checks.find((c) => c.id === id)?.level;

test('spec-level guards: multiples of 128, token count, intermediate ≤ 512, top-k, SM100 scales', () => {
  const qwen = makeSpec('qwen3-30b-a3b');
  const c = runChecks(qwen);
  assert.equal(level(c, 'shape.hidden-multiple-128'), 'pass');
  assert.equal(level(c, 'tokens.deepgemm-min'), 'pass');
  assert.equal(level(c, 'intermediate.deepgemm-min'), 'pass');
  assert.equal(level(c, 'scales.act-relayout'), 'info');
  // Qwen3-30B-A3B at TP2: 384 per partition → vLLM falls back to Triton
  const tp2 = runChecks(makeSpec('qwen3-30b-a3b', { intermediate: 384, tokens: 64 }));
  assert.equal(level(tp2, 'intermediate.deepgemm-min'), 'info');
  assert.equal(level(tp2, 'tokens.deepgemm-min'), 'warn');
  assert.match(tp2.find((x) => x.id === 'tokens.deepgemm-min')!.message, /Triton/);
  const bad = runChecks(makeSpec('qwen3-30b-a3b', { hidden: 2000, intermediate: 700, topk: 200 }));
  assert.equal(level(bad, 'shape.hidden-multiple-128'), 'fail');
  assert.match(bad.find((x) => x.id === 'shape.hidden-multiple-128')!.message, /pad K to 2048/);
  assert.equal(level(bad, 'shape.intermediate-multiple-128'), 'fail');
  assert.equal(level(bad, 'routing.topk'), 'fail');
  const sm100f32 = runChecks(makeSpec('deepseek-v3', { arch: 'sm100', recipe: { id: 'contiguous', actGroup: 128, weightBlock: 128, scaleFormat: 'f32', quant: 'vllm' } }));
  assert.equal(level(sm100f32, 'sm100.ue8m0'), 'fail');
  assert.match(sm100f32.find((x) => x.id === 'sm100.ue8m0')!.message, /ue8m0/);
  assert.equal(level(runChecks(makeSpec('deepseek-v3', { arch: 'sm100' })), 'sm100.ue8m0'), 'pass');
});

test('input-level guards: shapes, FP8, contiguity, SM100 weight scales, expert map', () => {
  const spec = makeSpec('qwen3-30b-a3b', { tokens: 4, hidden: 256, intermediate: 128, experts: 4, topk: 2, source: { kind: 'synthetic', seed: 2, skew: 0 } });
  const inputs = syntheticInputs(spec);
  const ok = runChecks(spec, inputs);
  assert.deepEqual(ok.filter((c) => c.level === 'fail'), []);
  assert.equal(level(ok, 'inputs.shapes'), 'pass');
  assert.equal(level(ok, 'inputs.contiguous'), 'pass');
  // f32 scales on SM100: not powers of two → fail with the vLLM remedy
  const sm100 = runChecks({ ...spec, arch: 'sm100' }, inputs);
  assert.equal(level(sm100, 'sm100.w13_weight_scale_inv'), 'fail');
  assert.match(sm100.find((c) => c.id === 'sm100.w13_weight_scale_inv')!.message, /requant_weight_ue8m0_inplace/);
  const transposed = runChecks(spec, { ...inputs, hidden_states: inputs.hidden_states.reshape([8, 128]) as typeof inputs.hidden_states });
  assert.equal(level(transposed, 'inputs.shapes'), 'fail');
  const nonContig = new Tensor('bf16', [4, 256], new Uint16Array(4 * 512), [512, 1]);
  assert.equal(level(runChecks(spec, { ...inputs, hidden_states: nonContig }), 'inputs.contiguous'), 'warn');
  const wrongScale = runChecks(spec, { ...inputs, w2_weight_scale_inv: new Tensor('f32', [4, 1, 1], new Float32Array(4)) });
  assert.match(wrongScale.find((c) => c.id === 'inputs.shapes')!.message, /w2_weight_scale_inv \[4, 1, 1\] ≠ \[4, 2, 1\]/);
  const mapBad = runChecks({ ...spec, experts: 8 }, inputs);
  assert.equal(level(mapBad, 'inputs.expert-map'), 'fail');
  assert.match(mapBad.find((c) => c.id === 'inputs.expert-map')!.message, /add expert_map \[8\]/);
});

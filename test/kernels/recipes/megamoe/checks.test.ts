/** The §7.4 guards: each one's level, message and whether the pipeline refuses the layer. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { runChecks } from '../../../../kernels/checks';
import { runLayer } from '../../../../kernels/pipeline';
import { shutdownGemmWorkers } from '../../../../kernels/ops/gemm';
import { recipeById } from '../../../../kernels/recipes/index';
import type { MoeError } from '../../../../kernels/errors';
import { Tensor } from '../../../../kernels/tensor';
import type { CheckResult } from '../../../../kernels/trace';
import type { LayerSpec } from '../../../../kernels/spec';
import { megaSpec, naturalLayer } from './helpers';

after(() => shutdownGemmWorkers());

const find = (checks: CheckResult[], id: string): CheckResult => {
  const c = checks.find((x) => x.id === id);
  assert.ok(c, `no check '${id}' in ${checks.map((x) => x.id).join(', ')}`);
  return c;
};
const withMaxTokens = (spec: LayerSpec, n: number): LayerSpec => ({ ...spec, recipe: { ...spec.recipe, options: { maxTokens: n } } });
const blocking = recipeById('megamoe-sm90').blocking;

test('a good DeepSeek-V4-Flash-shaped spec passes every guard', () => {
  const checks = runChecks(megaSpec({ hidden: 4096, intermediate: 2048, experts: 256, topk: 6, tokens: 128, expertParallel: { size: 8, rank: 0, strategy: 'linear' } }));
  assert.deepEqual(checks.filter((c) => c.level === 'fail' || c.level === 'warn'), []);
  for (const id of ['megamoe.arch', 'megamoe.ep', 'megamoe.experts-per-rank', 'megamoe.recipe', 'megamoe.hidden-256', 'megamoe.intermediate-max', 'megamoe.tokens', 'megamoe.max-tokens-align', 'megamoe.activation'])
    assert.equal(find(checks, id).level, 'pass', id);
  assert.match(find(checks, 'megamoe.tokens').message, /T_max = 128/);
});

test('compute capability: SM100 fails with what to do instead', () => {
  const c = find(runChecks(megaSpec({ arch: 'sm100' })), 'megamoe.arch');
  assert.equal(c.level, 'fail');
  assert.match(c.message, /compute capability 9\.x only .*SM100 \(Blackwell\) is 10\.0.*transform --recipe megamoe-sm100.*--arch sm90/);
  assert.ok(!blocking.has(c.id), 'the CPU model still computes the Hopper schedule');
});

test('expert parallelism is required; experts must split evenly over the ranks (blocking)', async () => {
  const noEp = find(runChecks(megaSpec({ expertParallel: undefined })), 'megamoe.ep');
  assert.equal(noEp.level, 'fail');
  assert.match(noEp.message, /needs expert parallelism.*--ep N --rank R/);
  const spec = megaSpec({ experts: 10, topk: 2, expertParallel: { size: 4, rank: 0, strategy: 'linear' } });
  const uneven = find(runChecks(spec), 'megamoe.experts-per-rank');
  assert.equal(uneven.level, 'fail');
  assert.match(uneven.message, /10 experts do not split evenly over 4 ranks: DeepGEMM asserts num_experts % num_ranks == 0.*e\.g\. 2, 5/);
  await assert.rejects(runLayer(spec, { backend: 'cpu' }), (e: MoeError) => e.code === 'E_SPEC' && /do not split evenly/.test(e.message));
  const rr = find(runChecks(megaSpec({ expertParallel: { size: 2, rank: 0, strategy: 'round_robin' } })), 'megamoe.placement');
  assert.equal(rr.level, 'fail');
  assert.match(rr.message, /linearly.*not round-robin/);
});

test('H % 256 (newer API) warns, IH > 4096 fails, H % 128 refuses the run', async () => {
  assert.equal(find(runChecks(megaSpec({ hidden: 384 })), 'megamoe.hidden-256').level, 'warn');
  assert.match(find(runChecks(megaSpec({ hidden: 384 })), 'megamoe.hidden-256').message, /H = 384 is not a multiple of 256.*older API .*accept H % 128/);
  const big = find(runChecks(megaSpec({ intermediate: 4224 })), 'megamoe.intermediate-max');
  assert.equal(big.level, 'fail');
  assert.match(big.message, /IH = 4224 exceeds 4096.*IH \/ 64 ≤ 64.*vLLM raises NotImplementedError/);
  await assert.rejects(runLayer(megaSpec({ hidden: 200 }), { backend: 'cpu' }), /hidden K = 200 is not a multiple of 128/);
});

test('tokens ≤ T_max refuses the run; T_max % 128 fails with the value to use', async () => {
  const over = withMaxTokens(megaSpec({ tokens: 200 }), 128);
  const c = find(runChecks(over), 'megamoe.tokens');
  assert.equal(c.level, 'fail');
  assert.ok(blocking.has(c.id));
  assert.match(c.message, /200 tokens exceed T_max = 128.*num_tokens ≤ num_max_tokens_per_rank; raise --max-tokens to 256/);
  await assert.rejects(runLayer(over, { backend: 'cpu' }), /200 tokens exceed T_max = 128/);
  const odd = find(runChecks(withMaxTokens(megaSpec(), 100)), 'megamoe.max-tokens-align');
  assert.equal(odd.level, 'fail');
  assert.match(odd.message, /T_max = 100 is not a multiple of 128.*use --max-tokens 128/);
  assert.equal(find(runChecks(megaSpec({ tokens: 300 })), 'megamoe.tokens').level, 'pass', 'the default T_max aligns the tokens up');
});

test('recipe (128, 128, 128), clamp ≥ 0 (blocking), and what the spec settings MegaMoE ignores are', () => {
  const s = megaSpec();
  assert.equal(find(runChecks({ ...s, recipe: { ...s.recipe, actGroup: 64 } }), 'megamoe.recipe').level, 'fail');
  const neg = find(runChecks(megaSpec({ activation: { kind: 'swiglu', clampLimit: -1 } })), 'megamoe.clamp');
  assert.equal(neg.level, 'fail');
  assert.ok(blocking.has('megamoe.clamp'));
  assert.match(find(runChecks(megaSpec({ activation: { kind: 'silu' } })), 'megamoe.activation').message, /without a clamp .*plain SiLU-and-mul/);
  assert.match(find(runChecks(megaSpec({ routerWeight: 'reduce' })), 'megamoe.router-weight').message, /at the activation.*'reduce' placement .*not used/);
  assert.match(find(runChecks({ ...s, recipe: { ...s.recipe, quant: 'vllm', scaleFormat: 'ue8m0' } }), 'megamoe.quant').message, /vllm\/ue8m0 activation settings are not used/);
  assert.match(find(runChecks(s), 'megamoe.l2-group').message, /per 64 columns \(IH \/ 64 = 2 scales per row\)/);
});

test('layer files: EP from expert_map, a map that is not the block placement warns, a file without one fails', () => {
  const recipe = recipeById('megamoe-sm90');
  const raw = naturalLayer();
  const inputs = recipe.inputsFromTensors(raw);
  const spec = recipe.specFromInputs(inputs, { arch: 'sm90' });
  assert.deepEqual(spec.expertParallel, { size: 2, rank: 1, strategy: 'linear' });
  assert.deepEqual(spec.activation, { kind: 'swiglu', clampLimit: 10 });
  assert.equal(spec.routerWeight, 'activation');
  const checks = runChecks(spec, inputs);
  assert.equal(find(checks, 'megamoe.ep').level, 'pass');
  assert.equal(find(checks, 'inputs.shapes').level, 'pass');
  const swapped = Int32Array.from([-1, -1, -1, -1, 1, 0, 2, 3]);
  const odd = recipe.inputsFromTensors({ ...raw, expert_map: new Tensor('i32', [8], swapped, undefined, 0, 'expert_map') });
  assert.equal(find(runChecks(recipe.specFromInputs(odd, {}), odd), 'megamoe.placement').level, 'warn');
  const { expert_map: _drop, ...noMap } = naturalLayer({ expertParallel: undefined });
  const single = recipe.inputsFromTensors(noMap);
  const c = find(runChecks(recipe.specFromInputs(single, {}), single), 'megamoe.ep');
  assert.equal(c.level, 'fail');
  assert.match(c.message, /give the layer file an expert_map/);
  const mism = runChecks(megaSpec({ tokens: 5 }), inputs);
  assert.equal(find(mism, 'inputs.shapes').level, 'fail');
});

test('megamoe-sm100 refuses a run in one line, pointing at transform and megamoe-sm90', async () => {
  const spec = megaSpec({ recipe: { id: 'megamoe-sm100', actGroup: 128, weightBlock: 128, scaleFormat: 'ue8m0', quant: 'vllm' } });
  await assert.rejects(runLayer(spec, { backend: 'cpu' }), (e: MoeError) => e.code === 'E_SPEC' && /lays weights out only .*--recipe megamoe-sm90/.test(e.message) && !e.message.includes('\n'));
});

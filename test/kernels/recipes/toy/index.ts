/**
 * A toy recipe, test-only: two stages over one input tensor and one integer option. It exists to show that a
 * recipe is an addition of files plus one registry line (`registerRecipe(toy)` in the test): the pipeline, partial
 * traces, the CLI's --recipe choices and option flags, the quick-pick checks and the settings enums pick it up
 * without an edit anywhere else.
 */
import type { RecipeSpec, RecipeOption } from '../../../../kernels/recipes/types';
import { optionValue } from '../../../../kernels/recipes/types';
import { DEFAULT_RECIPE } from '../../../../kernels/spec';
import { Tensor } from '../../../../kernels/tensor';
import { MoeError, shapeStr } from '../../../../kernels/errors';
import { permutationStats } from '../../../../kernels/recipes/common';

const factor: RecipeOption = { id: 'factor', flag: 'toy-factor', label: 'toy factor', description: 'multiplier of the first stage', min: 1, defaultFor: () => 2 };

export const toy: RecipeSpec = {
  id: 'toy',
  label: 'Toy (test only)',
  description: 'scale then row sums',
  doc: 'test/kernels/recipes/toy/index.ts',
  options: [factor],
  inputNames: ['hidden_states'],
  detect: (shapes) => shapes.has('toy_marker'),
  inputsFromTensors(raw) {
    const x = raw.hidden_states;
    if (!x || x.dtype !== 'f32' || x.rank !== 2) throw new MoeError('E_SHAPE', `hidden_states: the toy recipe takes [M, K] f32, got ${x ? `${x.dtype} ${shapeStr(x.shape)}` : 'nothing'}`, 'hidden_states');
    return { hidden_states: x };
  },
  specFromInputs: (inputs, base) => ({
    name: 'toy', arch: 'sm90', recipe: { ...DEFAULT_RECIPE, id: 'toy' }, activation: { kind: 'silu' }, routerWeight: 'reduce', blockM: 128,
    source: { kind: 'synthetic', seed: 0, skew: 0 }, ...base, tokens: inputs.hidden_states!.shape[0]!, hidden: inputs.hidden_states!.shape[1]!, intermediate: 128, experts: 1, topk: 1,
  }),
  synthetic: (spec) => ({ inputs: { hidden_states: Tensor.fromF32([spec.tokens, spec.hidden], Array.from({ length: spec.tokens * spec.hidden }, (_, i) => (i % 7) - 3), 'hidden_states') } }),
  checks: (spec) => [{ id: 'toy.tokens', level: spec.tokens > 0 ? 'pass' : 'fail', message: `toy: ${spec.tokens} tokens` }],
  blocking: new Set(['toy.tokens']),
  plan(spec, inputs) {
    const x = inputs.hidden_states!;
    const [M, K] = x.shape as [number, number];
    const f = optionValue(spec, factor);
    return {
      stages: [
        {
          id: 'scale', title: 'Scale by the factor', reads: ['hidden_states'], writes: ['scaled'], cost: { bytes: 8 * M * K, flops: M * K, usefulFlops: M * K },
          runCpu: (ctx) => void ctx.tensors.set('scaled', Tensor.fromF32([M, K], x.toFloat32().map((v) => v * f), 'scaled')),
        },
        {
          id: 'rowsum', title: 'Row sums', reads: ['scaled'], writes: ['output'], cost: { bytes: 4 * M * K + 4 * M, flops: M * K, usefulFlops: M * K },
          runCpu: (ctx) => {
            const s = ctx.tensors.get('scaled')!.toFloat32();
            ctx.tensors.set('output', Tensor.fromF32([M], Array.from({ length: M }, (_, r) => s.subarray(r * K, (r + 1) * K).reduce((a, b) => a + b, 0)), 'output'));
          },
        },
      ],
      permutation: permutationStats([M], M, 'contiguous'),
    };
  },
  tolerances: { output: { kind: 'exact' } },
};

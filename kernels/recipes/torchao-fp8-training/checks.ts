/**
 * Guards of torchao's FP8 blockwise MoE training path with the DeepGEMM backend (docs/layouts-and-stages.md §8, §4.2, §7.1):
 * what torchao asserts before it quantizes (K and N multiples of 128, BF16 output, block 128, int32 offsets), how the
 * expert groups reach DeepGEMM's 128-token alignment (padding), and on which architecture DeepGEMM 2.6.1 runs the
 * calls torchao makes. 'fail' = torchao or DeepGEMM would refuse; blocking ones make the layer impossible to compute.
 */
import type { LayerSpec } from '../../spec';
import type { CheckResult } from '../../trace';
import { archById } from '../../arch/index';
import { pass } from '../../checks';
import { shapeStr } from '../../errors';
import { deepgemmTrainingSupport } from './archFacts';
import { groupsOf, type TorchaoInputs } from './inputs';
import { localExperts } from './synthetic';
import { TT } from './tensors';

export const TORCHAO_BLOCKING: ReadonlySet<string> = new Set(['spec.sizes', 'shape.hidden-multiple-128', 'shape.intermediate-multiple-128', 'inputs.shapes']);

export function torchaoChecks(spec: LayerSpec, inputs?: TorchaoInputs): CheckResult[] {
  const out: CheckResult[] = [];
  const { tokens: M, hidden: K, intermediate: N } = spec;
  const E = inputs ? inputs.weight.shape[0]! : localExperts(spec);
  const sizesOk = M >= 0 && K > 0 && N > 0 && E > 0 && [M, K, N, E].every(Number.isInteger);
  out.push(
    sizesOk
      ? pass('spec.sizes', `sizes: M=${M} tokens, K=${K}, N=${N}, E=${E} experts`)
      : { id: 'spec.sizes', level: 'fail', message: `sizes must be integers (tokens ≥ 0, the rest ≥ 1): got M=${M}, K=${K}, N=${N}, E=${E}` },
  );
  out.push(
    K % 128 === 0
      ? pass('shape.hidden-multiple-128', `K = ${K} is a multiple of 128 (1×128 forward groups, 128×128 weight blocks)`)
      : { id: 'shape.hidden-multiple-128', level: 'fail', tensor: TT.input, message: `K = ${K} is not a multiple of 128: torchao asserts "K and N must be divisible by block_size=128"; pad K to ${Math.ceil(K / 128) * 128}` },
  );
  out.push(
    N % 128 === 0
      ? pass('shape.intermediate-multiple-128', `N = ${N} is a multiple of 128 (1×128 dgrad groups along N, 128×128 weight blocks)`)
      : { id: 'shape.intermediate-multiple-128', level: 'fail', tensor: TT.weight, message: `N = ${N} is not a multiple of 128: torchao asserts "K and N must be divisible by block_size=128"; pad N to ${Math.ceil(N / 128) * 128}` },
  );
  out.push(pass('torchao.out-dtype', 'BF16 output: DeepGEMM\'s M-grouped kernels write BF16 only (torchao asserts out_dtype == bfloat16); wgrad runs with a float32 D and is cast to BF16 afterwards'));
  if (spec.recipe.scaleFormat !== 'f32')
    out.push({
      id: 'torchao.scales',
      level: 'info',
      message: `torchao passes disable_ue8m0_cast=True and keeps float32 scales 1/fl(448/amax) (not powers of two); the '${spec.recipe.scaleFormat}' scale format of this run does not apply to this recipe`,
    });
  if (spec.expertParallel && spec.expertParallel.size > 1)
    out.push({ id: 'torchao.ep', level: 'info', message: `expert parallelism: the grouped GEMM sees this rank's ${E} experts and their tokens (the all-to-all around it is outside this op)` });
  if (M === 0) out.push({ id: 'tokens.empty', level: 'info', message: 'no tokens: output and grad_input are empty, grad_weight is zero (every group has k = 0)' });

  out.push(...archChecks(spec));

  if (!inputs) return out;
  // ---- checks on the actual tensors
  const problems: string[] = [];
  const x = inputs.input;
  if (x.shape[0] !== M || x.shape[1] !== K) problems.push(`input ${shapeStr(x.shape)} ≠ [${M}, ${K}] of the spec`);
  if (inputs.weight.shape[1] !== N || inputs.weight.shape[2] !== K) problems.push(`weight ${shapeStr(inputs.weight.shape)} ≠ [E, ${N}, ${K}]`);
  if (inputs.grad_output.shape[0] !== M || inputs.grad_output.shape[1] !== N) problems.push(`grad_output ${shapeStr(inputs.grad_output.shape)} ≠ [${M}, ${N}]`);
  out.push(
    problems.length
      ? { id: 'inputs.shapes', level: 'fail', message: `input shapes disagree with the spec: ${problems.join('; ')}` }
      : pass('inputs.shapes', 'input, grad_output and weight shapes are consistent'),
  );
  if (problems.length) return out;
  const groups = groupsOf(inputs);
  const ragged = Array.from(groups.sizes).filter((c) => c % 128 !== 0).length;
  const waste = groups.paddedTokens > 0 ? (groups.paddedTokens - M) / groups.paddedTokens : 0;
  out.push(
    pass(
      'torchao.group-padding',
      `every group padded to 128 tokens: ${ragged} of ${E} groups padded, S = ${groups.paddedTokens} rows for M = ${M} tokens (${(100 * waste).toFixed(1)}% padding in the GEMMs); DeepGEMM's K-grouped wgrad requires each k % 128 == 0`,
    ),
  );
  return out;
}

/** where DeepGEMM 2.6.1 runs the calls torchao makes (kernels/recipes/torchao-fp8-training/archFacts.ts) */
function archChecks(spec: LayerSpec): CheckResult[] {
  const arch = archById(spec.arch);
  const s = deepgemmTrainingSupport(arch);
  const out: CheckResult[] = [];
  out.push(
    s.mGroupedFloatScales
      ? pass('torchao.m-grouped', `${arch.label}: forward and dgrad run DeepGEMM m_grouped_fp8_gemm_nt_contiguous with float32 1×128 / 128×128 scales (disable_ue8m0_cast=True)`)
      : {
          id: 'torchao.m-grouped',
          level: 'fail',
          tensor: TT.input_scale,
          message: `${arch.label}: torchao calls m_grouped_fp8_gemm_nt_contiguous with float32 scales and disable_ue8m0_cast=True; DeepGEMM 2.6.1 dispatches float32 scales only to its SM90 kernel ("Unsupported architecture or scaling factor types" here). torchao only checks for SM90+, so KernelPreference.AUTO/DEEPGEMM fail inside DeepGEMM: train with KernelPreference.EMULATED. The values shown are the SM90 kernel's`,
        },
  );
  out.push(
    s.kGroupedNt
      ? pass('torchao.k-grouped', `${arch.label}: wgrad runs DeepGEMM k_grouped_fp8_gemm_nt_contiguous (recipe (1,1,128), K-major flat operands); its (feature, token-block) scales are re-laid out MN-major on every call`)
      : {
          id: 'torchao.k-grouped',
          level: 'fail',
          tensor: TT.wgrad_lhs,
          message: `${arch.label}: DeepGEMM 2.6.1 runs k_grouped_fp8_gemm_nt_contiguous (torchao's wgrad) on SM90 only ("Unsupported architecture" here); its other K-grouped FP8 kernel, k_grouped_fp8_gemm_tn_contiguous (SM100, MN-major operands), is not the one torchao calls. Use KernelPreference.EMULATED`,
        },
  );
  return out;
}

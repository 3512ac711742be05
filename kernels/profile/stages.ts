/**
 * Kernel name → pipeline stage, as data: one ordered table of {pattern, stage, note}; the first matching rule wins
 * (docs/profiles.md). Two stages are positional — the same kernel runs twice per layer:
 *   'gemm1|gemm2'            a grouped GEMM: GEMM2 when the stage before it was the activation or the
 *                            requantization, GEMM1 after quantize/permute/dispatch; otherwise they alternate.
 *   'quantize|requantize'    a per-token-group quantizer: requantize right after GEMM1 or the activation.
 * Rules with `on: 'op'` match the PyTorch op that launched the kernel (Kineto traces), not the kernel name.
 */
import type { StageId } from '../trace';

/** the recipe's stages, plus DeepEP's communication, the router, and kernels that are known but not a layer stage */
export type ProfileStage = StageId | 'dispatch' | 'combine' | 'router' | 'other';

export const PROFILE_STAGE_ORDER: readonly ProfileStage[] = [
  'router',
  'dispatch',
  'quantize',
  'transform_scales',
  'permute',
  'gemm1',
  'activation',
  'requantize',
  'gemm2',
  'unpermute',
  'combine',
  'other',
];

export type RuleStage = ProfileStage | 'gemm1|gemm2' | 'quantize|requantize';

export interface StageRule {
  pattern: RegExp;
  stage: RuleStage;
  note: string;
  /** what the pattern is tested on: the kernel name (default) or the launching PyTorch op */
  on?: 'kernel' | 'op';
  /**
   * a helper launched just before the stage's main kernel (torch's grouped-GEMM argument setup): it takes the stage
   * the next kernel will get and does not count as a GEMM for the GEMM1/GEMM2 alternation
   */
  setup?: true;
}

/** stages a user can mark in their own code with torch.profiler.record_function("moe::<stage>") */
const ANNOTATED: readonly ProfileStage[] = ['router', 'dispatch', 'quantize', 'transform_scales', 'permute', 'gemm1', 'activation', 'requantize', 'gemm2', 'unpermute', 'combine'];

export const KERNEL_STAGE_RULES: readonly StageRule[] = [
  // ---- this project's CUDA layer (kernels/native/*.cu; a test checks every __global__ there is covered)
  { pattern: /\bquantizeActivationsKernel\b/, stage: 'quantize|requantize', note: 'moe-inspect CUDA: per-token-group FP8 quantization' },
  { pattern: /\bquantizeWeightBlocksKernel\b/, stage: 'other', note: 'moe-inspect CUDA: 128×128 weight quantization (at load, not a layer stage)' },
  { pattern: /\b(toMnMajorKernel|packUe8m0Kernel)\b/, stage: 'transform_scales', note: 'moe-inspect CUDA: scale layout (MN-major float / packed UE8M0)' },
  { pattern: /\b(localExpertHistKernel|scanChunksKernel|segmentOffsetsKernel|permuteRowsKernel|gatherRowsKernel|maskedGatherKernel)\b/, stage: 'permute', note: 'moe-inspect CUDA: expert counts, segment offsets, row gather' },
  { pattern: /\bgroupedGemm(Wgmma)?Kernel\b/, stage: 'gemm1|gemm2', note: 'moe-inspect CUDA: grouped FP8 GEMM' },
  { pattern: /\bactivationKernel\b/, stage: 'activation', note: 'moe-inspect CUDA: SiLU/SwiGLU-and-mul' },
  { pattern: /\bunpermuteKernel\b/, stage: 'unpermute', note: 'moe-inspect CUDA: weighted un-permute and reduce' },
  { pattern: /\b(fillKernel|trapKernel)\b/, stage: 'other', note: 'moe-inspect CUDA: benchmark helpers' },
  // the W4AFP8 and torchao recipes' kernels (their own stages — load_scales, fwd_quantize, wgrad_gemm… — map onto
  // the nearest layer stage, or 'other' where a kernel runs at load)
  { pattern: /\bzeroRowsPastMaskedKernel\b/, stage: 'other', note: "moe-inspect CUDA: zeroes the masked layout's rows past masked_m after the TMA GEMM" },
  { pattern: /\bw4Fp8GemmKernel\b/, stage: 'gemm1|gemm2', note: 'moe-inspect CUDA: W4AFP8 int4 × FP8 grouped GEMM' },
  { pattern: /\bstaticQuantKernel\b/, stage: 'quantize|requantize', note: 'moe-inspect CUDA: W4AFP8 static per-tensor FP8 quantization' },
  { pattern: /\b(interleaveKernel|maxBf16Kernel)\b/, stage: 'other', note: "moe-inspect CUDA: W4AFP8 scale interleave and input-scale max (the recipe's load_scales, at load)" },
  { pattern: /\brows1x128Kernel\b/, stage: 'quantize|requantize', note: 'moe-inspect CUDA: torchao 1×128 row quantization' },
  { pattern: /\b(weight128Kernel|kGroupedKernel)\b/, stage: 'other', note: 'moe-inspect CUDA: torchao 128×128 weight and K-grouped (wgrad) quantization' },

  // ---- DeepGEMM (kernel templates in deep_gemm/include/deep_gemm/impls/)
  { pattern: /deep_gemm.*(GemmType::Normal|\(deep_gemm::GemmType\)0[,>\s])/, stage: 'other', note: 'DeepGEMM dense GEMM (GemmType::Normal): not the MoE experts' },
  { pattern: /mega_moe_impl/, stage: 'other', note: 'DeepGEMM MegaMoE: dispatch, both GEMMs, activation and combine in one kernel' },
  { pattern: /\bsm(90|100)_(fp8|fp8_fp4|bf16)_gemm_1d[12]d_impl\b|\bsm(90|100)_bf16_gemm_impl\b|deep_gemm::fp8_gemm_kernel\b/, stage: 'gemm1|gemm2', note: 'DeepGEMM grouped GEMM (m_grouped_fp8_gemm_nt_contiguous / _masked)' },
  { pattern: /\b(transpose_fp32|transpose_and_pack_fp32_into_ue8m0|pack_fp32_into_ue8m0)\b/, stage: 'transform_scales', note: 'DeepGEMM scale layout transform (MN-major TMA-aligned / packed UE8M0)' },

  // ---- vLLM / SGLang fused-MoE building blocks (order matters: fused and "un-" names first)
  { pattern: /silu_mul_fp8_quant|silu_and_mul_quant|act_and_mul_quant|silu_mul_.*quant|swiglu.*quant/i, stage: 'activation', note: 'fused activation + FP8 requantization (counted as activation)' },
  { pattern: /per_token_group_quant|per_token_quant|scaled_fp8_quant|per_block_quant/i, stage: 'quantize|requantize', note: 'vLLM/SGLang per-token-group FP8 quantization' },
  { pattern: /\bact_and_mul_kernel\b|silu_and_mul|swiglu|gelu_and_mul/i, stage: 'activation', note: 'vLLM SiLU-and-mul (silu_kernel)' },
  { pattern: /_fwd_kernel_ep_gather|finalizeMoeRouting|moe_unpermute|unpermute|moe_sum/i, stage: 'unpermute', note: 'vLLM/SGLang un-permute and weighted reduce (ep_gather, moe_sum)' },
  { pattern: /moe_align_block_size|count_and_sort_expert_tokens|_fwd_kernel_ep_scatter|expandInputRows|moe_permute|shuffle_rows|compute_expert_offsets|compute_problem_sizes|get_cutlass_moe_mm_data|compute_arg_sorts/i, stage: 'permute', note: 'vLLM/SGLang permutation (moe_align_block_size, ep_scatter)' },
  { pattern: /topkGatingSoftmax|topk_softmax|grouped_topk|moe_fused_gate|noaux_tc|fused_topk/i, stage: 'router', note: 'router top-k (not part of the layer inputs here)' },

  // ---- DeepEP
  { pattern: /deep_ep.*combine|notify_combine/i, stage: 'combine', note: 'DeepEP combine' },
  { pattern: /deep_ep.*dispatch|notify_dispatch/i, stage: 'dispatch', note: 'DeepEP dispatch' },

  // ---- Triton fused MoE and PyTorch's grouped GEMMs
  { pattern: /\bfused_moe_kernel/, stage: 'gemm1|gemm2', note: 'Triton fused_moe_kernel (one launch per GEMM)' },
  // seen in torch 2.11's _scaled_grouped_mm on an H200: a small kernel fills the per-group arguments, then the GEMM runs
  { pattern: /prepare_grouped_gemm_data/, stage: 'gemm1|gemm2', note: 'torch grouped-GEMM argument setup (counted with its GEMM)', setup: true },
  { pattern: /GroupProblemShape|grouped_gemm|GroupedGemm|group_gemm|grouped_mm/i, stage: 'gemm1|gemm2', note: 'CUTLASS grouped GEMM (torch._scaled_grouped_mm / torch._grouped_mm)' },
  { pattern: /^aten::_(scaled_)?grouped_mm$/, stage: 'gemm1|gemm2', note: 'launched by torch._scaled_grouped_mm / torch._grouped_mm', on: 'op' },

  // ---- copies
  { pattern: /^mem(cpy|set)\b/i, stage: 'other', note: 'memory copy / set' },

  // ---- the user's own marks: kernels launched inside record_function("moe::quantize") etc. (Kineto traces)
  ...ANNOTATED.map((s): StageRule => ({ pattern: new RegExp(`^moe::${s}$`), stage: s, note: `launched inside record_function("moe::${s}")`, on: 'op' })),
];

export interface RuleMatch {
  rule: StageRule;
  index: number;
}

/** the first rule whose pattern matches the kernel name (or one of the launching ops, innermost first) */
export function matchRule(name: string, ops: readonly string[] = []): RuleMatch | undefined {
  for (let i = 0; i < KERNEL_STAGE_RULES.length; i++) {
    const rule = KERNEL_STAGE_RULES[i]!;
    if (rule.on === 'op' ? ops.some((o) => rule.pattern.test(o)) : rule.pattern.test(name)) return { rule, index: i };
  }
  return undefined;
}

/**
 * Resolves the positional stages in launch order (one call per device): `last` is the previous MoE stage seen.
 * Returns the concrete stage.
 */
export function resolveStage(stage: RuleStage, last: ProfileStage | undefined): ProfileStage {
  if (stage === 'gemm1|gemm2') {
    if (last === 'activation' || last === 'requantize') return 'gemm2';
    if (last === 'gemm1') return 'gemm2';
    return 'gemm1';
  }
  if (stage === 'quantize|requantize') return last === 'gemm1' || last === 'activation' ? 'requantize' : 'quantize';
  return stage;
}

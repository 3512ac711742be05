/** How a model turns router logits into top-k experts and weights (docs/layouts-and-stages.md §10.3; docs/checkpoints.md). */

/**
 * softmax      Qwen3-MoE, Mixtral, DeepSeek-V2: p = softmax(logits) over all experts
 * sigmoid      DeepSeek-V3/R1/V3.1: p = σ(logit)
 * sqrtsoftplus DeepSeek-V4: p = √softplus(logit) (docs/layouts-and-stages.md §10.3)
 */
export type ScoringFunc = 'softmax' | 'sigmoid' | 'sqrtsoftplus';

export interface RouterConfig {
  scoring: ScoringFunc;
  /** experts per token */
  topk: number;
  /** divide the chosen weights by their sum (norm_topk_prob; Mixtral always does) */
  normTopkProb: boolean;
  /** expert groups (DeepSeek n_group); 1 = no group limit */
  nGroup: number;
  /** groups a token may choose from (DeepSeek topk_group); = nGroup when there is no limit */
  topkGroup: number;
  /** multiplies the final weights (DeepSeek routed_scaling_factor; 1 elsewhere) */
  routedScalingFactor: number;
  /** the model has a per-expert selection bias (DeepSeek e_score_correction_bias, topk_method "noaux_tc") */
  usesCorrectionBias: boolean;
}

export interface Routing {
  /** (M, topk) row-major */
  topkIds: Int32Array;
  /** (M, topk) row-major float32 */
  topkWeights: Float32Array;
}

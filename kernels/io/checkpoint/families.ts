/**
 * The MoE model families a checkpoint folder may hold: how to recognise them in config.json, which config fields
 * describe the MoE layers, and the tensor names of one expert (docs/checkpoints.md, docs/layouts-and-stages.md §10–§11).
 * Name templates use {L} for the layer index and {E} for the expert index, without the '.weight' suffix; a family may
 * list several spellings, and the first one present in the checkpoint is used.
 */
import { MoeError } from '../../errors';
import type { ActivationKind, RouterWeightPlacement } from '../../spec';
import type { RouterConfig, ScoringFunc } from '../../routing/types';

export type FamilyId = 'deepseek' | 'qwen-moe' | 'mixtral' | 'deepseek-v4';

export interface ExpertNames {
  /** gate projection (first half of vLLM's w13) */
  gate: string;
  /** up projection (second half of w13) */
  up: string;
  /** down projection (w2) */
  down: string;
}

/** What a family's config says about its MoE layers. */
export interface FamilyConfig {
  hidden: number;
  /** moe_intermediate_size per expert (GEMM1 N = 2·intermediate) */
  intermediate: number;
  /** routed experts */
  experts: number;
  numLayers: number;
  /** indices of the MoE layers of the main model */
  moeLayers: number[];
  /** multi-token-prediction layers with the same MoE (DeepSeek-V3's model.layers.61), if the config declares them */
  mtpLayers: number[];
  router: RouterConfig;
  activation: { kind: ActivationKind; clampLimit?: number };
  routerWeight: RouterWeightPlacement;
  /** the first MoE layers route by token id (DeepSeek-V4 hash layers): their ids must come from a dump */
  hashLayers: number;
  sharedExperts: number;
  /** facts a user should see next to the numbers, including what is unverified */
  notes: string[];
}

export interface FamilyDef {
  id: FamilyId;
  label: string;
  modelTypes: readonly string[];
  architectures: readonly string[];
  expertNames: readonly ExpertNames[];
  /** suffixes of the FP8 block scales, appended to an expert name template */
  scaleSuffixes: readonly string[];
  /** DeepSeek's e_score_correction_bias, name templates */
  routerBias: readonly string[];
  /** config fields that must be there (named in the error when one is missing) */
  required: readonly string[];
  parse(cfg: ConfigJson, where: string): FamilyConfig;
}

export type ConfigJson = Readonly<Record<string, unknown>>;

// ---- config field readers: a wrong or missing field names the file, the field and what it should be -----------------

function missing(where: string, cfg: ConfigJson, field: string, required: readonly string[]): MoeError {
  return new MoeError(
    'E_FORMAT',
    `${where}: model_type '${String(cfg.model_type)}' needs '${field}' but the config has none (MoE fields needed: ${required.join(', ')})`,
  );
}

function int(cfg: ConfigJson, where: string, field: string, required: readonly string[], fallback?: number, min = 0): number {
  const v = cfg[field];
  if (v === undefined || v === null) {
    if (fallback === undefined) throw missing(where, cfg, field, required);
    return fallback;
  }
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new MoeError('E_FORMAT', `${where}: '${field}' must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
  return v;
}

function real(cfg: ConfigJson, where: string, field: string, fallback: number): number {
  const v = cfg[field];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new MoeError('E_FORMAT', `${where}: '${field}' must be a number, got ${JSON.stringify(v)}`);
  return v;
}

function bool(cfg: ConfigJson, where: string, field: string, fallback: boolean): boolean {
  const v = cfg[field];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean') throw new MoeError('E_FORMAT', `${where}: '${field}' must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

function scoring(cfg: ConfigJson, where: string, fallback: ScoringFunc): ScoringFunc {
  const v = cfg.scoring_func ?? fallback;
  if (v !== 'softmax' && v !== 'sigmoid' && v !== 'sqrtsoftplus')
    throw new MoeError('E_FORMAT', `${where}: scoring_func ${JSON.stringify(v)} is not one of softmax, sigmoid, sqrtsoftplus`);
  return v;
}

const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);

// ---- the families -------------------------------------------------------------------------------------------------

const DEEPSEEK_REQUIRED = ['hidden_size', 'moe_intermediate_size', 'n_routed_experts', 'num_experts_per_tok', 'num_hidden_layers'] as const;

/** DeepSeek-V2/V3/R1/V3.1 (HF modeling_deepseek: MoE where layer ≥ first_k_dense_replace and layer % moe_layer_freq == 0) */
const deepseek: FamilyDef = {
  id: 'deepseek',
  label: 'DeepSeek-V3/R1',
  modelTypes: ['deepseek_v3', 'deepseek_v2', 'kimi_k2'],
  architectures: ['DeepseekV3ForCausalLM', 'DeepseekV2ForCausalLM'],
  expertNames: [{ gate: 'model.layers.{L}.mlp.experts.{E}.gate_proj', up: 'model.layers.{L}.mlp.experts.{E}.up_proj', down: 'model.layers.{L}.mlp.experts.{E}.down_proj' }],
  scaleSuffixes: ['.weight_scale_inv'],
  routerBias: ['model.layers.{L}.mlp.gate.e_score_correction_bias'],
  required: DEEPSEEK_REQUIRED,
  parse(cfg, where) {
    const r = DEEPSEEK_REQUIRED;
    const hidden = int(cfg, where, 'hidden_size', r, undefined, 1);
    const intermediate = int(cfg, where, 'moe_intermediate_size', r, undefined, 1);
    const experts = int(cfg, where, 'n_routed_experts', r, undefined, 1);
    const topk = int(cfg, where, 'num_experts_per_tok', r, undefined, 1);
    const numLayers = int(cfg, where, 'num_hidden_layers', r, undefined, 1);
    const firstDense = int(cfg, where, 'first_k_dense_replace', r, 0);
    const freq = int(cfg, where, 'moe_layer_freq', r, 1, 1);
    const mtp = int(cfg, where, 'num_nextn_predict_layers', r, 0);
    const method = typeof cfg.topk_method === 'string' ? cfg.topk_method : undefined;
    // DeepSeek-V2's "greedy" ignores the groups; "group_limited_greedy" and V3's "noaux_tc" use them
    const nGroup = method === 'greedy' ? 1 : int(cfg, where, 'n_group', r, 1, 1);
    const topkGroup = method === 'greedy' ? 1 : int(cfg, where, 'topk_group', r, nGroup, 1);
    const v3 = cfg.model_type === 'deepseek_v3' || cfg.model_type === 'kimi_k2';
    const notes: string[] = [];
    return {
      hidden,
      intermediate,
      experts,
      numLayers,
      moeLayers: range(0, numLayers).filter((l) => l >= firstDense && l % freq === 0),
      mtpLayers: range(numLayers, numLayers + mtp),
      router: {
        scoring: scoring(cfg, where, v3 ? 'sigmoid' : 'softmax'),
        topk,
        normTopkProb: bool(cfg, where, 'norm_topk_prob', false),
        nGroup,
        topkGroup,
        routedScalingFactor: real(cfg, where, 'routed_scaling_factor', 1),
        // DeepSeek-V3's own config says topk_method "noaux_tc"; transformers' DeepseekV3Config has no such field (it
        // always adds e_score_correction_bias), so a V3 config saved by transformers omits it
        usesCorrectionBias: method === 'noaux_tc' || (method === undefined && v3),
      },
      activation: { kind: 'silu' },
      routerWeight: 'reduce',
      hashLayers: 0,
      sharedExperts: int(cfg, where, 'n_shared_experts', r, 0),
      notes,
    };
  },
};

const QWEN_REQUIRED = ['hidden_size', 'moe_intermediate_size', 'num_experts (num_local_experts since transformers 5)', 'num_experts_per_tok', 'num_hidden_layers'] as const;

/** Qwen3-MoE / Qwen2-MoE (HF: sparse where layer ∉ mlp_only_layers and (layer + 1) % decoder_sparse_step == 0) */
const qwen: FamilyDef = {
  id: 'qwen-moe',
  label: 'Qwen3-MoE',
  modelTypes: ['qwen3_moe', 'qwen2_moe'],
  architectures: ['Qwen3MoeForCausalLM', 'Qwen2MoeForCausalLM'],
  expertNames: [{ gate: 'model.layers.{L}.mlp.experts.{E}.gate_proj', up: 'model.layers.{L}.mlp.experts.{E}.up_proj', down: 'model.layers.{L}.mlp.experts.{E}.down_proj' }],
  scaleSuffixes: ['.weight_scale_inv'],
  routerBias: [],
  required: QWEN_REQUIRED,
  parse(cfg, where) {
    const r = QWEN_REQUIRED;
    const numLayers = int(cfg, where, 'num_hidden_layers', r, undefined, 1);
    const step = int(cfg, where, 'decoder_sparse_step', r, 1, 1);
    const only = cfg.mlp_only_layers ?? [];
    if (!Array.isArray(only) || !only.every((v) => Number.isInteger(v))) throw new MoeError('E_FORMAT', `${where}: 'mlp_only_layers' must be a list of layer indices, got ${JSON.stringify(only)}`);
    // transformers 5 saves Qwen3-MoE's expert count as num_local_experts (seen in configs it writes)
    const experts = int(cfg, where, cfg.num_experts === undefined && cfg.num_local_experts !== undefined ? 'num_local_experts' : 'num_experts', r, undefined, 1);
    return {
      hidden: int(cfg, where, 'hidden_size', r, undefined, 1),
      intermediate: int(cfg, where, 'moe_intermediate_size', r, undefined, 1),
      experts,
      numLayers,
      moeLayers: range(0, numLayers).filter((l) => !(only as number[]).includes(l) && (l + 1) % step === 0),
      mtpLayers: [],
      router: {
        scoring: 'softmax',
        topk: int(cfg, where, 'num_experts_per_tok', r, undefined, 1),
        normTopkProb: bool(cfg, where, 'norm_topk_prob', false),
        nGroup: 1,
        topkGroup: 1,
        routedScalingFactor: 1,
        usesCorrectionBias: false,
      },
      activation: { kind: 'silu' },
      routerWeight: 'reduce',
      hashLayers: 0,
      sharedExperts: cfg.shared_expert_intermediate_size ? 1 : 0,
      notes: [],
    };
  },
};

const MIXTRAL_REQUIRED = ['hidden_size', 'intermediate_size', 'num_local_experts', 'num_experts_per_tok', 'num_hidden_layers'] as const;

/** Mixtral: every layer is MoE; softmax over all experts, top-k renormalised (HF MixtralSparseMoeBlock) */
const mixtral: FamilyDef = {
  id: 'mixtral',
  label: 'Mixtral',
  modelTypes: ['mixtral'],
  architectures: ['MixtralForCausalLM'],
  expertNames: [
    {
      gate: 'model.layers.{L}.block_sparse_moe.experts.{E}.w1',
      up: 'model.layers.{L}.block_sparse_moe.experts.{E}.w3',
      down: 'model.layers.{L}.block_sparse_moe.experts.{E}.w2',
    },
  ],
  scaleSuffixes: ['.weight_scale_inv'],
  routerBias: [],
  required: MIXTRAL_REQUIRED,
  parse(cfg, where) {
    const r = MIXTRAL_REQUIRED;
    const numLayers = int(cfg, where, 'num_hidden_layers', r, undefined, 1);
    return {
      hidden: int(cfg, where, 'hidden_size', r, undefined, 1),
      intermediate: int(cfg, where, 'intermediate_size', r, undefined, 1),
      experts: int(cfg, where, 'num_local_experts', r, undefined, 1),
      numLayers,
      moeLayers: range(0, numLayers),
      mtpLayers: [],
      router: {
        scoring: 'softmax',
        topk: int(cfg, where, 'num_experts_per_tok', r, undefined, 1),
        normTopkProb: true,
        nGroup: 1,
        topkGroup: 1,
        routedScalingFactor: 1,
        usesCorrectionBias: false,
      },
      activation: { kind: 'silu' },
      routerWeight: 'reduce',
      hashLayers: 0,
      sharedExperts: 0,
      notes: ['Mixtral ships BF16 weights: they are quantized here with the 128×128 block recipe'],
    };
  },
};

const V4_REQUIRED = ['hidden_size', 'moe_intermediate_size', 'n_routed_experts', 'num_experts_per_tok', 'num_hidden_layers'] as const;

/**
 * DeepSeek-V4 — ✖ unverified: its official inference code was not read (docs/layouts-and-stages.md §14). Config fields from
 * transformers' DeepseekV4Config (spec S24) and third-party copies of the released config; tensor names from
 * third-party loaders of the released weights (layers.{L}.ffn.experts.{E}.w1/w2/w3 with '.scale', original DeepSeek
 * naming) plus the HF naming in case a converted copy is used. Routed experts of the released V4 weights are FP4
 * (expert_dtype "fp4"); an FP8 or BF16 copy loads like the others.
 */
const deepseekV4: FamilyDef = {
  id: 'deepseek-v4',
  label: 'DeepSeek-V4 (unverified)',
  modelTypes: ['deepseek_v4'],
  architectures: ['DeepseekV4ForCausalLM'],
  expertNames: [
    { gate: 'layers.{L}.ffn.experts.{E}.w1', up: 'layers.{L}.ffn.experts.{E}.w3', down: 'layers.{L}.ffn.experts.{E}.w2' },
    { gate: 'model.layers.{L}.ffn.experts.{E}.w1', up: 'model.layers.{L}.ffn.experts.{E}.w3', down: 'model.layers.{L}.ffn.experts.{E}.w2' },
    { gate: 'model.layers.{L}.mlp.experts.{E}.gate_proj', up: 'model.layers.{L}.mlp.experts.{E}.up_proj', down: 'model.layers.{L}.mlp.experts.{E}.down_proj' },
  ],
  scaleSuffixes: ['.scale', '.weight_scale_inv'],
  routerBias: ['layers.{L}.ffn.gate.bias', 'model.layers.{L}.ffn.gate.bias', 'model.layers.{L}.mlp.gate.e_score_correction_bias'],
  required: V4_REQUIRED,
  parse(cfg, where) {
    const r = V4_REQUIRED;
    const numLayers = int(cfg, where, 'num_hidden_layers', r, undefined, 1);
    const hashLayers = int(cfg, where, 'num_hash_layers', r, 0);
    const clamp = cfg.swiglu_limit;
    const nGroup = int(cfg, where, 'n_group', r, 1, 1);
    const notes = ['DeepSeek-V4 support is unverified: names and routing follow transformers\' config and third-party loaders (docs/layouts-and-stages.md §10.3, §14)'];
    if (hashLayers) notes.push(`layers 0…${hashLayers - 1} are hash-routed (token id → experts): their topk_ids must come from a dump`);
    return {
      hidden: int(cfg, where, 'hidden_size', r, undefined, 1),
      intermediate: int(cfg, where, 'moe_intermediate_size', r, undefined, 1),
      experts: int(cfg, where, 'n_routed_experts', r, undefined, 1),
      numLayers,
      moeLayers: range(int(cfg, where, 'first_k_dense_replace', r, 0), numLayers),
      mtpLayers: [],
      router: {
        scoring: scoring(cfg, where, 'sqrtsoftplus'),
        topk: int(cfg, where, 'num_experts_per_tok', r, undefined, 1),
        normTopkProb: bool(cfg, where, 'norm_topk_prob', true),
        nGroup,
        topkGroup: int(cfg, where, 'topk_group', r, nGroup, 1),
        routedScalingFactor: real(cfg, where, 'routed_scaling_factor', 1),
        usesCorrectionBias: cfg.topk_method === 'noaux_tc',
      },
      activation: typeof clamp === 'number' ? { kind: 'swiglu', clampLimit: clamp } : { kind: 'swiglu' },
      routerWeight: 'activation',
      hashLayers,
      sharedExperts: int(cfg, where, 'n_shared_experts', r, 0),
      notes,
    };
  },
};

export const FAMILIES: readonly FamilyDef[] = [deepseek, qwen, mixtral, deepseekV4];

/** model_type first (it is what transformers dispatches on), architectures second */
export function detectFamily(cfg: ConfigJson): FamilyDef | undefined {
  const mt = typeof cfg.model_type === 'string' ? cfg.model_type : undefined;
  if (mt) {
    const byType = FAMILIES.find((f) => f.modelTypes.includes(mt));
    if (byType) return byType;
  }
  const archs = Array.isArray(cfg.architectures) ? cfg.architectures.filter((a): a is string => typeof a === 'string') : [];
  return FAMILIES.find((f) => f.architectures.some((a) => archs.includes(a)));
}

export const expand = (template: string, layer: number, expert = 0): string => template.replace('{L}', String(layer)).replace('{E}', String(expert));

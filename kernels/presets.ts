/**
 * Model presets (docs/layouts-and-stages.md §11): the MoE layer shapes of public FP8 MoE models, each with the config it was
 * read from. `makeSpec` turns one into a LayerSpec with sensible defaults (128 tokens, SM90, vLLM quantization,
 * seeded synthetic data) that the caller can override field by field.
 */
import { DEFAULT_RECIPE, type ActivationKind, type LayerSpec, type RouterWeightPlacement, type ScaleFormat } from './spec';
import { MoeError } from './errors';
import { archById } from './arch/index';

export interface ModelPreset {
  id: string;
  label: string;
  hidden: number;
  /** moe_intermediate_size per expert (GEMM1 N = 2·intermediate) */
  intermediate: number;
  experts: number;
  topk: number;
  scaleFormat: ScaleFormat;
  activation: { kind: ActivationKind; clampLimit?: number };
  routerWeight: RouterWeightPlacement;
  /** where the numbers come from (docs/layouts-and-stages.md §0 tags) */
  source: string;
  notes?: string;
  /** the recipes (kernels/recipes ids) this model is run with, the usual one first; default contiguous and masked */
  recipes?: readonly string[];
}

export const PRESETS: readonly ModelPreset[] = [
  {
    id: 'qwen3-30b-a3b',
    label: 'Qwen3-30B-A3B',
    hidden: 2048,
    intermediate: 768,
    experts: 128,
    topk: 8,
    scaleFormat: 'f32',
    activation: { kind: 'silu' },
    routerWeight: 'reduce',
    source: 'transformers Qwen3MoeConfig defaults, checkpoint Qwen/Qwen3-30B-A3B-Base (docs/layouts-and-stages.md §11, S24)',
    notes: 'intermediate 768 per expert: at TP2 (384 ≤ 512) vLLM falls back from DeepGEMM to Triton',
    recipes: ['contiguous', 'masked', 'torchao-fp8-training'],
  },
  {
    id: 'deepseek-v3',
    label: 'DeepSeek-V3',
    hidden: 7168,
    intermediate: 2048,
    experts: 256,
    topk: 8,
    scaleFormat: 'f32',
    activation: { kind: 'silu' },
    routerWeight: 'reduce',
    source: 'deepseek-ai/DeepSeek-V3 inference/configs/config_671B.json, README_WEIGHTS.md (docs/layouts-and-stages.md §11, S23)',
    notes: '1 shared expert (not modelled); sigmoid scoring, 8 groups / 4 selected, route scale 2.5',
  },
  {
    id: 'deepseek-r1',
    label: 'DeepSeek-R1',
    hidden: 7168,
    intermediate: 2048,
    experts: 256,
    topk: 8,
    scaleFormat: 'f32',
    activation: { kind: 'silu' },
    routerWeight: 'reduce',
    source: 'same architecture as DeepSeek-V3: config_671B.json (docs/layouts-and-stages.md §11, S23)',
    notes: 'SGLang serves DeepSeek-R1-W4AFP8 (int4 experts × FP8 activations) with the w4afp8 recipe',
    recipes: ['contiguous', 'masked', 'w4afp8'],
  },
  {
    id: 'deepseek-v3.1',
    label: 'DeepSeek-V3.1',
    hidden: 7168,
    intermediate: 2048,
    experts: 256,
    topk: 8,
    scaleFormat: 'ue8m0',
    activation: { kind: 'silu' },
    routerWeight: 'reduce',
    source: 'deepseek-ai/DeepSeek-V3 inference/configs/config_v3.1.json: scale_fmt "ue8m0" (docs/layouts-and-stages.md §11, S23)',
  },
  {
    id: 'mixtral-8x7b',
    label: 'Mixtral-8x7B',
    hidden: 4096,
    intermediate: 14336,
    experts: 8,
    topk: 2,
    scaleFormat: 'f32',
    activation: { kind: 'silu' },
    routerWeight: 'reduce',
    source: 'transformers MixtralConfig defaults, checkpoint mistralai/Mixtral-8x7B-v0.1 (docs/layouts-and-stages.md §11, S24)',
    notes: 'no official FP8 block-quantized checkpoint: weights here are synthetic',
  },
  {
    id: 'deepseek-v4-flash',
    label: 'DeepSeek-V4-Flash',
    hidden: 4096,
    intermediate: 2048,
    experts: 256,
    topk: 6,
    scaleFormat: 'ue8m0',
    activation: { kind: 'swiglu', clampLimit: 10 },
    routerWeight: 'activation',
    source: 'transformers DeepseekV4Config defaults (swiglu_limit 10.0), checkpoint deepseek-ai/DeepSeek-V4-Flash-Base; DeepGEMM PR #316 (docs/layouts-and-stages.md §11, S24)',
    notes: 'Hopper MegaMoE (megamoe-sm90, with --ep) applies the routing weight at the activation and routes with sqrtsoftplus; the contiguous and masked recipes use the synthetic router',
    recipes: ['megamoe-sm90', 'contiguous', 'masked'],
  },
  {
    id: 'deepseek-v4-pro',
    label: 'DeepSeek-V4-Pro',
    hidden: 7168,
    intermediate: 3072,
    experts: 384,
    topk: 6,
    scaleFormat: 'ue8m0',
    activation: { kind: 'swiglu', clampLimit: 10 },
    routerWeight: 'activation',
    source: 'DeepGEMM PR #316 benchmark text; no config file read (unverified, docs/layouts-and-stages.md §11)',
    recipes: ['megamoe-sm90', 'contiguous', 'masked'],
  },
];

export function presetById(id: string): ModelPreset {
  const key = id.toLowerCase();
  const p = PRESETS.find((x) => x.id === key || x.label.toLowerCase() === key);
  if (!p) throw new MoeError('E_SPEC', `unknown preset '${id}'; known: ${PRESETS.map((x) => x.id).join(', ')}`);
  return p;
}

export function makeSpec(preset: ModelPreset | string, overrides: Partial<LayerSpec> = {}): LayerSpec {
  const p = typeof preset === 'string' ? presetById(preset) : preset;
  const base: LayerSpec = {
    name: p.label,
    tokens: 128,
    hidden: p.hidden,
    intermediate: p.intermediate,
    experts: p.experts,
    topk: p.topk,
    arch: 'sm90',
    recipe: { ...DEFAULT_RECIPE, scaleFormat: p.scaleFormat },
    activation: { ...p.activation },
    routerWeight: p.routerWeight,
    blockM: 128,
    source: { kind: 'synthetic', seed: 0, skew: 0 },
  };
  const spec: LayerSpec = { ...base, ...overrides };
  // an architecture whose kernels do not take the preset's scale format (SM100: packed UE8M0 only) gets its own
  // default format, unless the caller chose one explicitly (the checks then say why it cannot run)
  const formats = archById(spec.arch).scaleFormats;
  if (!overrides.recipe && !formats.includes(spec.recipe.scaleFormat)) spec.recipe = { ...spec.recipe, scaleFormat: formats[0]! };
  return spec;
}

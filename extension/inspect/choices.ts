/**
 * The choices gathered by the Inspect MoE Layer quick picks, and how they become a LayerSpec. No 'vscode' here:
 * the quick-pick flow (picks.ts) only collects an InspectChoices; building and checking the spec is plain code
 * that the unit tests exercise, including every bad input the input boxes could let through.
 */
import { MoeError } from '../../kernels/errors';
import { ARCHS, archById } from '../../kernels/arch/index';
import { RECIPES, recipeById, type RecipeSpec } from '../../kernels/recipes/index';
import {
  DEFAULT_RECIPE,
  type Arch,
  type BackendChoice,
  type LayerSpec,
  type QuantConvention,
  type ScaleFormat,
} from '../../kernels/spec';

export interface CustomShape {
  hidden: number;
  intermediate: number;
  experts: number;
}

export interface InspectChoices {
  /** a preset name, or 'custom' with `custom` shapes */
  preset: string;
  custom?: CustomShape;
  tokens: number;
  topk: number;
  ep: { size: number; rank: number };
  /** a recipe id of kernels/recipes (how tokens reach the experts and which kernels run) */
  recipe: string;
  /** the recipe's own options by id; absent ones take the recipe's default */
  recipeOptions: Record<string, number>;
  arch: Arch;
  scaleFormat: ScaleFormat;
  quant: QuantConvention;
  skew: number;
  backend: BackendChoice;
  seed: number;
}

/** makeSpec(preset, overrides) from kernels/presets.ts, injected so tests can pass a stand-in. */
export type MakeSpec = (preset: string, overrides: Partial<LayerSpec>) => LayerSpec;

export const DEFAULT_CHOICES: InspectChoices = {
  preset: 'Qwen3-30B-A3B',
  tokens: 128,
  topk: 8,
  ep: { size: 1, rank: 0 },
  recipe: DEFAULT_RECIPE.id,
  recipeOptions: {},
  arch: ARCHS[0]!.id,
  scaleFormat: 'f32',
  quant: 'vllm',
  skew: 0,
  backend: 'auto',
  seed: 0,
};

/**
 * The recipe step's list, in order: the preset's own recipes in the preset's order (the usual one first, e.g.
 * DeepSeek-V4: MegaMoE), the other runnable ones,
 * then the transform-only ones (`runnable: false`). Those are listed so that a user looking for one learns where it
 * is, rather than finding it missing: picking one ends the flow with transformOnlyMessage.
 */
export function recipeChoices(presetOwn: readonly string[]): { recipe: RecipeSpec; ownModel: boolean; transformOnly: boolean }[] {
  const runnable = RECIPES.filter((r) => r.runnable !== false);
  return [
    ...presetOwn.flatMap((id) => runnable.filter((r) => r.id === id)),
    ...runnable.filter((r) => !presetOwn.includes(r.id)),
    ...RECIPES.filter((r) => r.runnable === false),
  ].map((recipe) => ({ recipe, ownModel: presetOwn.includes(recipe.id), transformOnly: recipe.runnable === false }));
}

/** What picking a transform-only recipe in Inspect MoE Layer says: there is no run, and the CLI command that uses it. */
export function transformOnlyMessage(r: RecipeSpec): string {
  return `${r.label} (${r.id}) is transform-only: it lays a layer's weights out for its kernels and has no run to inspect. Use the CLI: moe-inspect transform --recipe ${r.id} --layer IN.safetensors --out OUT.safetensors`;
}

function overridesOf(c: InspectChoices): Partial<LayerSpec> {
  return {
    tokens: c.tokens,
    topk: c.topk,
    arch: c.arch,
    recipe: { ...DEFAULT_RECIPE, id: c.recipe, scaleFormat: c.scaleFormat, quant: c.quant, ...(Object.keys(c.recipeOptions).length ? { options: { ...c.recipeOptions } } : {}) },
    source: { kind: 'synthetic', seed: c.seed, skew: c.skew },
    ...(c.ep.size > 1 ? { expertParallel: { size: c.ep.size, rank: c.ep.rank, strategy: 'linear' as const } } : {}),
  };
}

/** Turns the picks into a checked LayerSpec; throws MoeError('E_SPEC') naming the field that is wrong. */
export function buildSpec(c: InspectChoices, makeSpec: MakeSpec): LayerSpec {
  let spec: LayerSpec;
  if (c.preset === 'custom') {
    if (!c.custom) throw new MoeError('E_SPEC', 'custom layer: hidden, intermediate and experts were not given');
    spec = {
      name: 'custom',
      hidden: c.custom.hidden,
      intermediate: c.custom.intermediate,
      experts: c.custom.experts,
      activation: { kind: 'silu' },
      routerWeight: 'reduce',
      blockM: 128,
      ...(overridesOf(c) as Omit<LayerSpec, 'name' | 'hidden' | 'intermediate' | 'experts' | 'activation' | 'routerWeight' | 'blockM'>),
    };
  } else {
    spec = makeSpec(c.preset, overridesOf(c));
    // makeSpec may keep the preset's EP; the user's choice wins, including "no EP".
    if (c.ep.size <= 1) delete spec.expertParallel;
  }
  // an architecture's kernels take only its scale formats (SM100: packed UE8M0, docs/layouts-and-stages.md §7): the picks offer nothing
  // else there, and a remembered choice from another architecture moves to its default rather than producing a
  // layout no kernel takes
  const formats = archById(spec.arch).scaleFormats;
  if (!formats.includes(spec.recipe.scaleFormat)) spec.recipe = { ...spec.recipe, scaleFormat: formats[0]! };
  checkSpec(spec);
  return spec;
}

const isPosInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;

/** The engine's preconditions, checked before anything runs so the user sees one clear message. */
export function checkSpec(spec: LayerSpec): void {
  const bad = (msg: string): never => {
    throw new MoeError('E_SPEC', `LayerSpec "${spec.name}": ${msg}`);
  };
  for (const k of ['tokens', 'hidden', 'intermediate', 'experts', 'topk'] as const)
    if (!isPosInt(spec[k])) bad(`${k} must be a positive integer, got ${String(spec[k])}`);
  if (spec.hidden % 128) bad(`hidden K must be a multiple of 128, got ${spec.hidden}`);
  if (spec.intermediate % 128) bad(`intermediate N must be a multiple of 128, got ${spec.intermediate}`);
  if (spec.topk > spec.experts) bad(`top-k must be at most experts (${spec.experts}), got ${spec.topk}`);
  if (!ARCHS.some((a) => a.id === spec.arch)) bad(`arch must be one of ${ARCHS.map((a) => a.id).join(', ')}, got ${String(spec.arch)}`);
  const recipe = RECIPES.find((r) => r.id === spec.recipe?.id);
  if (!recipe) bad(`recipe must be one of ${RECIPES.map((r) => r.id).join(', ')}, got ${String(spec.recipe?.id)}`);
  for (const [k, v] of Object.entries(spec.recipe.options ?? {})) {
    const o = recipe!.options.find((x) => x.id === k);
    if (!o) bad(`the ${recipe!.id} recipe has no option '${k}' (it has: ${recipe!.options.map((x) => x.id).join(', ') || 'none'})`);
    if (!Number.isSafeInteger(v) || v < o!.min) bad(`${o!.label} must be an integer ≥ ${o!.min}, got ${String(v)}`);
  }
  const ep = spec.expertParallel;
  if (ep) {
    if (!isPosInt(ep.size) || spec.experts % ep.size)
      bad(`expert-parallel size must divide experts (${spec.experts}), got ${ep.size}`);
    if (!Number.isInteger(ep.rank) || ep.rank < 0 || ep.rank >= ep.size)
      bad(`expert-parallel rank must be in 0…${ep.size - 1}, got ${ep.rank}`);
  }
  if (spec.source.kind === 'synthetic' && !(spec.source.skew >= 0 && Number.isFinite(spec.source.skew)))
    bad(`router skew must be a finite number ≥ 0, got ${spec.source.skew}`);
}

/** Restores remembered choices from globalState, dropping anything malformed (an old version's state). */
export function reviveChoices(saved: unknown): InspectChoices {
  if (typeof saved !== 'object' || saved === null) return { ...DEFAULT_CHOICES };
  const s = saved as Partial<InspectChoices>;
  const out: InspectChoices = { ...DEFAULT_CHOICES, ep: { ...DEFAULT_CHOICES.ep }, recipeOptions: {} };
  if (typeof s.preset === 'string') out.preset = s.preset;
  if (s.custom && isPosInt(s.custom.hidden) && isPosInt(s.custom.intermediate) && isPosInt(s.custom.experts))
    out.custom = { ...s.custom };
  if (isPosInt(s.tokens)) out.tokens = s.tokens;
  if (isPosInt(s.topk)) out.topk = s.topk;
  if (s.ep && isPosInt(s.ep.size) && Number.isInteger(s.ep.rank) && s.ep.rank >= 0 && s.ep.rank < s.ep.size) out.ep = { ...s.ep };
  if (typeof s.arch === 'string' && ARCHS.some((a) => a.id === s.arch)) out.arch = s.arch;
  if (typeof s.recipe === 'string' && RECIPES.some((r) => r.id === s.recipe)) out.recipe = s.recipe;
  if (s.recipeOptions && typeof s.recipeOptions === 'object') {
    const r = recipeById(out.recipe);
    for (const o of r.options) {
      const v = (s.recipeOptions as Record<string, unknown>)[o.id];
      if (typeof v === 'number' && Number.isSafeInteger(v) && v >= o.min) out.recipeOptions[o.id] = v;
    }
  }
  if (s.scaleFormat === 'f32' || s.scaleFormat === 'ue8m0') out.scaleFormat = s.scaleFormat;
  if (s.quant === 'vllm' || s.quant === 'deepgemm') out.quant = s.quant;
  if (typeof s.skew === 'number' && Number.isFinite(s.skew) && s.skew >= 0) out.skew = s.skew;
  if (s.backend === 'auto' || s.backend === 'cpu' || s.backend === 'cuda') out.backend = s.backend;
  if (Number.isSafeInteger(s.seed)) out.seed = s.seed!;
  return out;
}

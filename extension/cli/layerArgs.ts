/**
 * The flags shared by `run`, `export` and `check`: where the layer comes from, which recipe and architecture compute
 * it, and each recipe's own options. Every choice list comes from the registries (kernels/arch, kernels/recipes),
 * so a new architecture or recipe appears here without an edit.
 */
import { MoeError } from '../../kernels/errors';
import type { BackendChoice, GpuModel, LayerSpec, Recipe, ScaleFormat } from '../../kernels/spec';
import type { LayerTensors, RecipeSpec } from '../../kernels/recipes/types';
import { PRESETS, makeSpec, presetById } from '../../kernels/presets';
import { ARCHS, ARCH_IDS, archById, GPU_MODELS } from '../../kernels/arch/index';
import { RECIPES, recipeById, recipeIds } from '../../kernels/recipes/index';
import { loadLayer } from '../../kernels/layerFile';
import { type Flags, type FlagSpec, int, num, oneOf, str } from './args';
import { refuseContradictoryLayerFlags } from './layerFlagRules';

/** the recipes a `--dispatch` names: how tokens reach the experts */
const DISPATCH = { contiguous: 'contiguous', masked: 'masked' } as const;

const SCALE_FORMATS = [...new Set(ARCHS.flatMap((a) => a.scaleFormats))];
/** every recipe's options (read when flags are parsed, so a recipe registered at run time has its flags too) */
const optionFlags = (): { recipe: RecipeSpec; option: RecipeSpec['options'][number] }[] => RECIPES.flatMap((r) => r.options.map((o) => ({ recipe: r, option: o })));

/** what the architecture, recipe and quantization flags choose (shared with `check`) */
export const recipeFlags = (): FlagSpec => ({
  arch: { type: 'string' },
  'act-scale': { type: 'string' },
  quant: { type: 'string' },
  recipe: { type: 'string' },
  dispatch: { type: 'string' },
  ...Object.fromEntries(optionFlags().map(({ option }) => [option.flag, { type: 'string' as const }])),
});

export const layerFlags = (): FlagSpec => ({
  ...recipeFlags(),
  layer: { type: 'string' },
  preset: { type: 'string' },
  tokens: { type: 'string' },
  seed: { type: 'string' },
  skew: { type: 'string' },
  ep: { type: 'string' },
  rank: { type: 'string' },
  backend: { type: 'string' },
  gpu: { type: 'string' },
});

export interface LayerChoice {
  spec: LayerSpec;
  inputs?: LayerTensors;
  backend: BackendChoice;
  gpuModel: GpuModel;
}

/** --recipe or --dispatch (not both), else undefined (a layer file's tensors decide, a preset runs contiguous) */
function recipeFlag(flags: Flags): RecipeSpec | undefined {
  const r = str(flags, 'recipe');
  const d = str(flags, 'dispatch');
  if (r !== undefined && d !== undefined) throw new MoeError('E_SPEC', `give --recipe or --dispatch, not both (--dispatch ${d} is --recipe ${d})`);
  if (d !== undefined) return recipeById(oneOf(flags, 'dispatch', Object.keys(DISPATCH), 'contiguous'));
  if (r !== undefined) return recipeById(oneOf(flags, 'recipe', recipeIds(), 'contiguous'));
  return undefined;
}

/** the quantization recipe from the flags for an architecture and a pipeline recipe */
export function recipeFromFlags(flags: Flags, pipeline: RecipeSpec, preferredScale?: ScaleFormat): Recipe {
  const arch = archById(oneOf(flags, 'arch', ARCH_IDS, ARCH_IDS[0]!));
  // without --act-scale: the preset's own format when the architecture takes it, else the architecture's default
  const fallback = preferredScale && arch.scaleFormats.includes(preferredScale) ? preferredScale : arch.scaleFormats[0]!;
  const scaleFormat = oneOf(flags, 'act-scale', SCALE_FORMATS, fallback);
  const quant = oneOf(flags, 'quant', ['vllm', 'deepgemm'] as const, 'vllm');
  const options: Record<string, number> = {};
  for (const { recipe, option } of optionFlags()) {
    const v = int(flags, option.flag, undefined, option.min);
    if (v === undefined) continue;
    if (recipe.id !== pipeline.id)
      throw new MoeError('E_SPEC', `--${option.flag} is an option of the ${recipe.id} recipe, but this run uses ${pipeline.id}${recipe.id === 'masked' ? ' (add --dispatch masked)' : ''}`);
    options[option.id] = v;
  }
  return { id: pipeline.id, actGroup: 128, weightBlock: 128, scaleFormat, quant, ...(Object.keys(options).length ? { options } : {}) };
}

export function layerFromFlags(flags: Flags, command: string): LayerChoice {
  const layer = str(flags, 'layer');
  const preset = str(flags, 'preset');
  if (!layer === !preset) throw new MoeError('E_SPEC', `${command}: give exactly one of --layer FILE.safetensors or --preset NAME (presets: ${PRESETS.map((p) => p.id).join(', ')})`);
  refuseContradictoryLayerFlags(flags, command);
  const arch = oneOf(flags, 'arch', ARCH_IDS, ARCH_IDS[0]!);
  const backend = oneOf(flags, 'backend', ['auto', 'cpu', 'cuda'] as const, 'auto');
  const gpuModel = oneOf(flags, 'gpu', ['auto', ...GPU_MODELS.map((g) => g.id)], 'auto');
  const forced = recipeFlag(flags);

  if (layer) {
    const loaded = loadLayer(layer, forced ? { recipe: forced.id } : {});
    const recipe = recipeFromFlags(flags, loaded.recipe);
    const spec = loaded.recipe.specFromInputs(loaded.inputs, { name: layer, arch, recipe, source: { kind: 'file', path: layer } });
    // options the file decides (masked: max_m is the buffer's) override the recipe's defaults, and a flag that
    // disagrees with the file is an error rather than silently ignored
    for (const o of loaded.recipe.options) {
      const given = recipe.options?.[o.id];
      const fromFile = spec.recipe.options?.[o.id];
      if (given !== undefined && fromFile !== undefined && given !== fromFile)
        throw new MoeError('E_SPEC', `--${o.flag} ${given} disagrees with ${layer}, whose tensors give ${o.id} = ${fromFile}`);
    }
    return { spec, inputs: loaded.inputs, backend, gpuModel };
  }
  const tokens = int(flags, 'tokens', undefined, 1);
  if (tokens === undefined) throw new MoeError('E_SPEC', `${command}: --preset needs --tokens M`);
  const epSize = int(flags, 'ep', undefined, 1);
  const expertParallel = epSize && epSize > 1 ? { size: epSize, rank: int(flags, 'rank', 0, 0)!, strategy: 'linear' as const } : undefined;
  if (expertParallel && expertParallel.rank >= expertParallel.size)
    throw new MoeError('E_SPEC', `--rank ${expertParallel.rank} must be below --ep ${expertParallel.size}`);
  const spec = makeSpec(preset!, {
    tokens,
    arch,
    recipe: recipeFromFlags(flags, forced ?? recipeById(recipeIds()[0]!), presetById(preset!).scaleFormat),
    ...(expertParallel ? { expertParallel } : {}),
    source: { kind: 'synthetic', seed: int(flags, 'seed', 0, 0)!, skew: num(flags, 'skew', 0) },
  });
  return { spec, backend, gpuModel };
}

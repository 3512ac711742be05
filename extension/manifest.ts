/**
 * The settings enums of package.json (contributes.configuration), generated from the registries: a new
 * architecture, GPU model or recipe appears in the Settings UI without a hand edit. `npm run sync-manifest`
 * writes them; test/extension/manifest.test.ts fails when package.json and the registries disagree.
 */
import { ARCHS, GPU_MODELS } from '../kernels/arch/index';
import { RECIPES } from '../kernels/recipes/index';

export interface EnumSetting {
  enum: string[];
  enumDescriptions: string[];
}

/** 'auto' = the roofline of the GPU the CUDA backend ran on, else the architecture's first model */
export const AUTO_GPU = 'auto';

export function settingsEnums(): Record<string, EnumSetting> {
  return {
    'moeInspector.architecture': { enum: ARCHS.map((a) => a.id), enumDescriptions: ARCHS.map((a) => a.description) },
    'moeInspector.recipe': { enum: RECIPES.map((r) => r.id), enumDescriptions: RECIPES.map((r) => `${r.label}: ${r.description}`) },
    'moeInspector.gpuModel': {
      enum: [AUTO_GPU, ...GPU_MODELS.map((g) => g.id)],
      enumDescriptions: ['The GPU the CUDA backend ran on (by its device name); on the CPU path, the architecture’s first model', ...GPU_MODELS.map((g) => g.source)],
    },
  };
}

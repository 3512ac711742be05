/**
 * What package.json derives from the code: the settings enums (contributes.configuration), generated from the
 * registries — a new architecture, GPU model or recipe appears in the Settings UI without a hand edit —, and the
 * palette `when` clauses of the commands that act on an open panel. `npm run sync-manifest` writes them;
 * test/extension/manifest.test.ts fails when package.json and this module disagree. No 'vscode' here.
 */
import { ARCHS, GPU_MODELS } from '../kernels/arch/index';
import { RECIPES } from '../kernels/recipes/index';
import type { PanelCommand } from '../kernels/protocol';

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

/** the palette commands behind the panel's own buttons (package.json contributes.commands) */
export const PANEL_COMMAND_IDS: Record<PanelCommand, string> = { importProfile: 'moeInspector.importProfile', compare: 'moeInspector.compare' };

/**
 * A context key that is true while at least one inspector panel is open (panel.ts sets it). The commands that act on
 * the open panel are offered in the palette only then; the panel's own buttons run them regardless.
 */
export const PANEL_OPEN_CONTEXT = 'moeInspector.panelOpen';

export interface PaletteEntry {
  command: string;
  when: string;
}

/** contributes.menus.commandPalette entries for the commands that need an open panel */
export function panelCommandPalette(): PaletteEntry[] {
  return Object.values(PANEL_COMMAND_IDS).map((command) => ({ command, when: PANEL_OPEN_CONTEXT }));
}

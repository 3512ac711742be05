/**
 * The extension's settings (package.json contributes.configuration, section "moeInspector"), normalised here
 * without 'vscode' so a hand-edited settings.json with a wrong value falls back to the default instead of
 * reaching the engine.
 */
import type { Arch, BackendChoice, GpuModel } from '../kernels/spec';

export interface InspectorSettings {
  backend: BackendChoice;
  arch: Arch;
  gpuModel: GpuModel;
  /** tensors with at most this many elements travel inline with the Trace; larger ones are served as tiles */
  inlineLimit: number;
  preset: string;
  tokens: number;
}

export const DEFAULT_SETTINGS: InspectorSettings = {
  backend: 'auto',
  arch: 'sm90',
  gpuModel: 'H100',
  inlineLimit: 65536,
  preset: 'Qwen3-30B-A3B',
  tokens: 128,
};

const oneOf = <T extends string>(v: unknown, allowed: readonly T[], fallback: T): T =>
  typeof v === 'string' && (allowed as readonly string[]).includes(v) ? (v as T) : fallback;

const posInt = (v: unknown, fallback: number): number =>
  typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : fallback;

/** `get` reads one key of the "moeInspector" section (vscode's WorkspaceConfiguration.get, or a test stand-in). */
export function readSettings(get: (key: string) => unknown): InspectorSettings {
  const d = DEFAULT_SETTINGS;
  return {
    backend: oneOf(get('backend'), ['auto', 'cpu', 'cuda'] as const, d.backend),
    arch: oneOf(get('architecture'), ['sm90', 'sm100'] as const, d.arch),
    gpuModel: oneOf(get('gpuModel'), ['H100', 'H200', 'B200', 'H100-measured', 'H200-measured'] as const, d.gpuModel),
    inlineLimit: posInt(get('maxInlineElements'), d.inlineLimit),
    preset: typeof get('defaultPreset') === 'string' && get('defaultPreset') !== '' ? (get('defaultPreset') as string) : d.preset,
    tokens: posInt(get('defaultTokens'), d.tokens),
  };
}

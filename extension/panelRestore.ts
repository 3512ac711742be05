/**
 * A panel restored after a window reload re-runs the spec its webview saved, and draws again the profiler trace that
 * was imported into it. That state comes back from the webview's storage, so it is checked before anything runs — against the same rules as the quick picks
 * (inspect/choices.ts checkSpec, inspect/validate.ts bounds) and the registries: every field of the LayerSpec by type
 * and range, the recipe and architecture ids and their options, a file source that is an existing regular file, a
 * checkpoint source whose folder (and router dump) still exist.
 * No 'vscode' here: unit tested with every bad state.
 */
import { statSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { MoeError } from '../kernels/errors';
import type { DataSource, LayerSpec, Recipe } from '../kernels/spec';
import { ARCH_IDS, archById } from '../kernels/arch/index';
import { recipeById, recipeIds } from '../kernels/recipes/index';
import { checkSpec } from './inspect/choices';
import { checkImportedTimings } from '../kernels/protocol';
import type { ImportedStage, ImportedTimings } from '../kernels/profile/onStages';
import { MAX_EXTENT } from './inspect/validate';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const bad = (msg: string): never => {
  throw new MoeError('E_SPEC', `the restored panel's saved layer spec is not valid: ${msg}; run "Inspect MoE Layer" again`);
};
const show = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v.slice(0, 80)) : isObj(v) ? 'an object' : String(v));
const int = (v: unknown, what: string, min: number, max: number): number =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max ? v : bad(`${what} must be an integer in ${min}…${max}, got ${show(v)}`);
const oneOf = <T extends string>(v: unknown, allowed: readonly T[], what: string): T =>
  (allowed as readonly unknown[]).includes(v) ? (v as T) : bad(`${what} must be one of ${allowed.join(' | ')}, got ${show(v)}`);
const str = (v: unknown, what: string, max = 256): string => (typeof v === 'string' && v.length > 0 && v.length <= max ? v : bad(`${what} must be a non-empty string of at most ${max} characters, got ${show(v)}`));

function recipeOf(v: unknown, arch: string): Recipe {
  const r = isObj(v) ? v : bad('recipe must be an object');
  const id = oneOf(r.id, recipeIds(), 'recipe.id');
  const scaleFormat = oneOf(r.scaleFormat, archById(arch).scaleFormats, `recipe.scaleFormat on ${arch}`);
  const options: Record<string, number> = {};
  if (r.options !== undefined) {
    const o = isObj(r.options) ? r.options : bad('recipe.options must be an object');
    const known = recipeById(id).options;
    for (const [k, val] of Object.entries(o)) {
      const opt = known.find((x) => x.id === k) ?? bad(`recipe.options.${k} is not an option of the ${id} recipe (options: ${known.map((x) => x.id).join(', ') || 'none'})`);
      options[k] = int(val, `recipe.options.${k}`, opt.min, MAX_EXTENT);
    }
  }
  return {
    id,
    actGroup: int(r.actGroup, 'recipe.actGroup', 1, MAX_EXTENT),
    weightBlock: int(r.weightBlock, 'recipe.weightBlock', 1, MAX_EXTENT),
    scaleFormat,
    quant: oneOf(r.quant, ['vllm', 'deepgemm'] as const, 'recipe.quant'),
    ...(Object.keys(options).length ? { options } : {}),
  };
}

function sourceOf(v: unknown): DataSource {
  const s = isObj(v) ? v : bad('source must be an object');
  if (s.kind === 'synthetic') {
    const skew = s.skew;
    if (typeof skew !== 'number' || !Number.isFinite(skew) || skew < 0 || skew > 4) bad(`source.skew must be a number in 0…4, got ${show(skew)}`);
    return { kind: 'synthetic', seed: int(s.seed, 'source.seed', 0, Number.MAX_SAFE_INTEGER), skew: skew as number };
  }
  if (s.kind === 'checkpoint') return checkpointSourceOf(s);
  if (s.kind !== 'file') bad(`source.kind must be synthetic, file or checkpoint, got ${show(s.kind)}`);
  return { kind: 'file', path: existing(s.path, 'source.path', 'file') };
}

/** an absolute path that still names a regular file (a FIFO or a device would hang or flood the reader) or a folder */
function existing(v: unknown, what: string, kind: 'file' | 'folder'): string {
  const path = str(v, what, 4096);
  if (!isAbsolute(path)) bad(`${what} must be an absolute path, got ${show(path)}`);
  let ok = false;
  try {
    const st = statSync(path);
    ok = kind === 'file' ? st.isFile() : st.isDirectory();
  } catch {
    bad(`the ${kind === 'file' ? 'layer file' : 'checkpoint folder'} ${path} no longer exists`);
  }
  if (!ok) bad(`${path} is not a ${kind === 'file' ? 'regular file' : 'folder'}`);
  return path;
}

/** a checkpoint layer (kernels/checkpointLayer.ts): the folder, the layer, and a router dump or synthetic routing */
function checkpointSourceOf(s: Obj): DataSource {
  const path = existing(s.path, 'source.path', 'folder');
  const layer = int(s.layer, 'source.layer', 0, 1 << 20);
  if (s.inputs !== undefined) return { kind: 'checkpoint', path, layer, inputs: existing(s.inputs, 'source.inputs', 'file') };
  const skew = s.skew ?? 0;
  if (typeof skew !== 'number' || !Number.isFinite(skew) || skew < 0 || skew > 4) bad(`source.skew must be a number in 0…4, got ${show(skew)}`);
  return { kind: 'checkpoint', path, layer, seed: int(s.seed ?? 0, 'source.seed', 0, Number.MAX_SAFE_INTEGER), skew: skew as number };
}

/** The saved spec of a restored panel, rebuilt field by field (nothing unchecked passes), or a MoeError saying why not. */
export function restoredSpec(state: unknown): LayerSpec {
  const saved = isObj(state) ? state.spec : undefined;
  if (saved === undefined) bad('this panel was saved without one');
  const s = isObj(saved) ? saved : bad('spec must be an object');
  const arch = oneOf(s.arch, ARCH_IDS, 'arch');
  const act = isObj(s.activation) ? s.activation : bad('activation must be an object');
  const ep = s.expertParallel;
  const spec: LayerSpec = {
    name: str(s.name, 'name', 4096),
    tokens: int(s.tokens, 'tokens', 1, MAX_EXTENT),
    hidden: int(s.hidden, 'hidden', 1, MAX_EXTENT),
    intermediate: int(s.intermediate, 'intermediate', 1, MAX_EXTENT),
    experts: int(s.experts, 'experts', 1, MAX_EXTENT),
    topk: int(s.topk, 'topk', 1, MAX_EXTENT),
    arch,
    recipe: recipeOf(s.recipe, arch),
    activation: {
      kind: oneOf(act.kind, ['silu', 'swiglu'] as const, 'activation.kind'),
      ...(act.clampLimit === undefined ? {} : { clampLimit: typeof act.clampLimit === 'number' && act.clampLimit > 0 && Number.isFinite(act.clampLimit) ? act.clampLimit : bad(`activation.clampLimit must be a positive number, got ${show(act.clampLimit)}`) }),
    },
    routerWeight: oneOf(s.routerWeight, ['reduce', 'input', 'activation'] as const, 'routerWeight'),
    blockM: int(s.blockM, 'blockM', 1, MAX_EXTENT),
    source: sourceOf(s.source),
  };
  if (ep !== undefined) {
    const e = isObj(ep) ? ep : bad('expertParallel must be an object');
    spec.expertParallel = {
      size: int(e.size, 'expertParallel.size', 1, MAX_EXTENT),
      rank: int(e.rank, 'expertParallel.rank', 0, MAX_EXTENT),
      strategy: oneOf(e.strategy, ['linear', 'round_robin'] as const, 'expertParallel.strategy'),
    };
  }
  // the quick picks' own rules (multiples of 128, top-k ≤ experts, EP divides experts, …)
  try {
    checkSpec(spec);
  } catch (e) {
    if (e instanceof MoeError) bad(e.message);
    throw e;
  }
  return spec;
}

/**
 * The imported profiler trace a restored panel showed, checked field by field as the webview checks the host's
 * 'profile' message (kernels/protocol.ts checkImportedTimings). None saved: `{}`. A malformed one is not drawn and
 * does not stop the restore: `problem` says why it was dropped.
 */
export function restoredProfile(state: unknown): { profile?: ImportedTimings; problem?: string } {
  const saved = isObj(state) ? state.profile : undefined;
  if (saved === undefined) return {};
  try {
    return { profile: checkImportedTimings(saved, 'the restored panel\'s imported profile') };
  } catch (e) {
    return { problem: `${e instanceof Error ? e.message : String(e)}; import the profiler trace again` };
  }
}

/**
 * Imported timings placed on the stages of a run: stages the run has, in its order; the rest with the stages its
 * recipe does not have. (After a reload the original profile file is not read again: the saved mapping is re-placed.)
 */
export function profileOnStages(t: ImportedTimings, stageIds: readonly string[]): ImportedTimings {
  const all = [...t.stages, ...t.outside];
  const onRun = stageIds.map((id) => all.find((s) => s.stage === id)).filter((s): s is ImportedStage => s !== undefined);
  return { ...t, stages: onRun, outside: all.filter((s) => !stageIds.includes(s.stage)) };
}

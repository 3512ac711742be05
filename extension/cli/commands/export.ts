/**
 * moe-inspect export: renders a view headless (the same D3 code as the panel) to SVG, PNG or TikZ. The views and
 * the formats each offers come from the view registry (webview/views/registry.ts). Only the stages the view's
 * tensors take run (webview/views/viewNeeds.ts, kernels/neededStages.ts): the scale layout of a whole DeepSeek-V3
 * layer quantizes its activations and never makes its 7.5 GB of weights.
 */
import { writeFileAtomic } from '../../../kernels/io/atomicWrite';
import { runLayer, tile, type RunResult, type RunLayerOptions } from '../../../kernels/pipeline';
import { MoeError } from '../../../kernels/errors';
import { EXPORT_FORMATS, MAX_TILE_ELEMS } from '../../../kernels/protocol';
import { VIEW_IDS, viewById, viewsFor } from '../../../webview/views/registry';
import { as2d, heatmapTensorsOf } from '../../../webview/model/traceData';
import type { ExportFormat, Tile } from '../../../kernels/protocol';
import { oneOf, parseFlags, required, str } from '../args';
import { layerFlags, layerFromFlags } from '../layerArgs';
import { checkFileFlags } from '../paths';
import { guardRunSize, heldExperts } from '../sizeGuard';
import { recipeById } from '../../../kernels/recipes/index';
import { stagesFor, tensorsTouched } from '../../../kernels/neededStages';
import { viewNeeds, type NeedsQuery, type ViewNeeds } from '../../../webview/views/viewNeeds';
import type { LayerSpec } from '../../../kernels/spec';

/** A tensor's values in logical order, read from the run through tiles (what the panel would fetch). */
function valuesFromRun(result: RunResult, name: string): Float32Array | undefined {
  const ref = result.trace.tensors[name];
  if (!ref || !result.tensors.has(name)) return undefined;
  const [R, C] = as2d(ref.shape);
  if (C > MAX_TILE_ELEMS) return undefined;
  const out = new Float32Array(R * C);
  const step = Math.max(1, Math.floor(MAX_TILE_ELEMS / Math.max(1, C)));
  for (let r = 0; r < R; r += step) out.set(tile(result, name, [r, Math.min(R, r + step)], [0, C], 'value').values, r * C);
  return out;
}

/** The heatmap's values as one tile from the top: the whole tensor when it fits a tile (the rest is drawn "not loaded"). */
function heatmapTiles(result: RunResult, name: string): Tile[] {
  const ref = result.trace.tensors[name];
  if (!ref || !result.tensors.has(name)) return [];
  const [R, C] = as2d(ref.shape);
  if (R * C === 0 || C > MAX_TILE_ELEMS) return [];
  const rows = Math.min(R, Math.floor(MAX_TILE_ELEMS / C));
  return [tile(result, name, [0, rows], [0, C], 'value')];
}

const needsQuery = (tensors: readonly string[], tensor: string | undefined): NeedsQuery => ({ tensors, ...(tensor !== undefined ? { tensor } : {}) });

/** The tensors a run for `view` makes, from the recipe's stage descriptors (before any input exists); undefined = all. */
function touchedBy(spec: LayerSpec, view: string, tensor: string | undefined): ReadonlySet<string> | undefined {
  const recipe = recipeById(spec.recipe.id);
  if (!recipe.stages) return undefined;
  const ids = [...new Set([...recipe.inputNames, ...(recipe.optionalInputNames ?? []), ...recipe.stages.flatMap((s) => s.writes)])];
  const needs = viewNeeds(view, needsQuery(ids, tensor));
  if (needs === 'all') return undefined;
  return tensorsTouched(stagesFor(recipe.stages, needs.tensors), needs.tensors);
}

/**
 * The run a picture of `view` is drawn from: only the stages its tensors take (viewNeeds.ts), or — where those alone
 * would not draw what a full run draws (`sufficient`) — the whole layer. `guardFull` runs before a full run.
 */
export async function runForView(spec: LayerSpec, opts: RunLayerOptions, view: string, tensor: string | undefined, guardFull: () => void = () => undefined): Promise<RunResult> {
  const entry = viewById(view);
  if (!entry) throw new MoeError('E_SPEC', `unknown view '${view}' (views: ${VIEW_IDS.join(', ')})`);
  const asked: { needs?: ViewNeeds } = {};
  const result = await runLayer(spec, {
    ...opts,
    needs: (ids) => {
      // asked for a tensor no stage makes: say so before anything runs
      if (tensor !== undefined && !ids.includes(tensor))
        throw new MoeError('E_SPEC', `--tensor ${tensor}: no such tensor in this run (has ${ids.join(', ')})`, tensor);
      const n = viewNeeds(view, needsQuery(ids, tensor));
      if (n !== 'all') asked.needs = n;
      return n === 'all' ? 'all' : n.tensors;
    },
  });
  if (!asked.needs || (entry.applies(result.trace) && asked.needs.sufficient(result.trace))) return result;
  guardFull();
  return runLayer(spec, opts);
}

/** The exported file's bytes: `view` of this run as `format` (`tensor`: the one it shows, else the view's default). */
export async function renderExport(result: RunResult, view: string, format: ExportFormat, tensor?: string): Promise<Buffer> {
  const entry = viewById(view);
  if (!entry?.applies(result.trace))
    throw new MoeError('E_SPEC', `--view ${view} does not apply to this run (${result.trace.recipe.label}); views for it: ${viewsFor(result.trace).map((v) => v.id).join(', ')}`);
  if (tensor !== undefined && !result.trace.tensors[tensor])
    throw new MoeError('E_SPEC', `--tensor ${tensor}: no such tensor in this run (has ${Object.keys(result.trace.tensors).join(', ')})`, tensor);
  const heat = view === 'heatmap' ? (tensor ?? heatmapTensorsOf(result.trace)[0]?.name) : undefined;
  const input = {
    ...(tensor ?? heat ? { tensor: (tensor ?? heat)! } : {}),
    // tensors too large to travel inline are read from the run, so every size the panel draws exports
    valuesOf: (name: string) => valuesFromRun(result, name),
    ...(heat ? { tiles: heatmapTiles(result, heat) } : {}),
  };
  // loaded on demand: headless rendering pulls in jsdom and resvg, which `run`/`check` must not need — nor does
  // TikZ (text from the trace alone: the same bytes exportView gives, without seconds of loading jsdom)
  if (format === 'tikz') return Buffer.from((await import('../../../webview/export/standalone')).toTikz(view, { trace: result.trace, ...input }), 'utf8');
  return (await import('../../../webview/export/index')).exportView(view, format, result.trace, input);
}

export async function exportCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const flags = parseFlags(argv, { ...layerFlags(), view: { type: 'string' }, format: { type: 'string' }, out: { type: 'string' }, tensor: { type: 'string' } }, 'export');
  checkFileFlags(flags, { inputs: ['layer'], outputs: ['out'] });
  const view = oneOf(flags, 'view', VIEW_IDS, VIEW_IDS[0]!);
  const format = oneOf(flags, 'format', EXPORT_FORMATS, 'svg');
  const entry = viewById(view)!;
  if (!entry.exportFormats.includes(format))
    throw new MoeError('E_SPEC', `--format ${format}: the ${view} view exports as ${entry.exportFormats.join(' | ')}`);
  const tensor = str(flags, 'tensor');
  const outPath = required(flags, 'out', 'export');
  const choice = layerFromFlags(flags, 'export');
  // refuse what cannot fit before any input is generated, counting what the view's stages make; show the estimate of a long run
  const touched = touchedBy(choice.spec, view, tensor);
  guardRunSize(choice.spec, out, 'export', {}, { ...(touched ? { tensors: touched } : {}), ...heldExperts(choice.inputs), backend: choice.backend });
  const opts: RunLayerOptions = { backend: choice.backend, gpuModel: choice.gpuModel, cudaInProcess: true, ...(choice.inputs ? { inputs: choice.inputs } : {}) };
  const result = await runForView(choice.spec, opts, view, tensor, () => guardRunSize(choice.spec, out, 'export', {}, { ...heldExperts(choice.inputs), backend: choice.backend }));
  const data = await renderExport(result, view, format, tensor);
  writeFileAtomic(outPath, data, { what: '--out' });
  out.write(`wrote ${view} view as ${format.toUpperCase()} (${data.length} bytes) to ${outPath}\n`);
  return 0;
}

/**
 * "From a checkpoint folder…" of Inspect MoE Layer, and the explorer's "Inspect MoE Checkpoint…": the folder (a
 * workspace folder holding config.json, or one picked), then one of its MoE layers (index, expert count, dtype,
 * FP8 used as stored or BF16 quantized), then the routing (synthetic for the checkpoint's shapes, or a router dump
 * file). The layer itself is built by kernels/checkpointLayer.ts (docs/checkpoints.md), as `run --checkpoint` does.
 *
 * The window API comes in as a parameter (a slice of vscode.window) and only types are imported from 'vscode', so
 * the flow is unit tested with a scripted stand-in (test/extension/inspect/checkpoint.test.ts).
 */
import type * as vscode from 'vscode';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { MoeError } from '../../kernels/errors';

/** the slice of vscode.window the flow uses */
export interface CheckpointUi {
  showQuickPick<T extends vscode.QuickPickItem>(items: readonly T[], options: vscode.QuickPickOptions): Thenable<T | undefined>;
  showOpenDialog(options: vscode.OpenDialogOptions): Thenable<vscode.Uri[] | undefined>;
}

/** one MoE layer as the quick pick shows it (kernels/io/checkpoint MoeLayerInfo, reduced) */
export interface CheckpointLayerRow {
  layer: number;
  mtp: boolean;
  hashRouted: boolean;
  experts: number;
  format?: 'fp8' | 'bf16' | 'f16' | 'f32' | 'fp4';
  weightDtype?: string;
  /** why the layer cannot be loaded, in one line */
  problem?: string;
}

export interface CheckpointOverview {
  dir: string;
  /** e.g. "DeepSeek-V3/R1/V3.1" */
  family: string;
  modelType: string;
  experts: number;
  topk: number;
  hidden: number;
  intermediate: number;
  layers: CheckpointLayerRow[];
}

export interface CheckpointPick {
  dir: string;
  layer: number;
  /** a router dump file; absent: synthetic routing */
  dump?: string;
}

const TITLE = 'Inspect MoE Layer: checkpoint';
const CONFIG = 'config.json';

const hasConfig = (dir: string): boolean => existsSync(join(dir, CONFIG));

/**
 * A folder that does not hold config.json, refused before anything is opened, with what it does hold — the user
 * most likely picked the parent or a subfolder of the checkpoint.
 */
export function requireCheckpointFolder(dir: string): void {
  let entries: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new MoeError('E_IO', `${dir}: not a folder; a checkpoint is a folder holding ${CONFIG} and model.safetensors(.index.json)`);
    entries = readdirSync(dir, { withFileTypes: true }).map((d) => (d.isDirectory() ? `${d.name}/` : d.name)).sort();
  } catch (e) {
    if (e instanceof MoeError) throw e;
    throw new MoeError('E_IO', `${dir}: cannot open the folder (${(e as Error).message})`);
  }
  if (entries.includes(CONFIG)) return;
  const found = entries.length ? `${entries.slice(0, 8).join(', ')}${entries.length > 8 ? `, … (${entries.length} in all)` : ''}` : 'nothing';
  throw new MoeError(
    'E_FORMAT',
    `${dir}: no ${CONFIG}, so not a Hugging Face checkpoint folder (${CONFIG} + model.safetensors.index.json and its shards, or model.safetensors); it holds: ${found}`,
  );
}

interface Item<T> extends vscode.QuickPickItem {
  value: T;
}

/**
 * The checkpoint folder: the workspace folders holding config.json are offered first (the last one used on top),
 * else — or on "Choose a folder…" — the folder dialog. Undefined when the user backs out.
 */
export async function pickCheckpointFolder(ui: CheckpointUi, workspaceFolders: readonly string[], last?: string): Promise<string | undefined> {
  const candidates = workspaceFolders.filter(hasConfig);
  if (last && hasConfig(last) && !candidates.includes(last)) candidates.unshift(last);
  const ordered = last && candidates.includes(last) ? [last, ...candidates.filter((d) => d !== last)] : candidates;
  if (ordered.length) {
    const items: Item<string | undefined>[] = [
      ...ordered.map((d) => ({ label: `$(folder) ${basename(d)}`, description: d, detail: `holds ${CONFIG}`, value: d })),
      { label: '$(folder-opened) Choose a folder…', description: 'a folder holding config.json and its .safetensors shards', value: undefined },
    ];
    const chosen = await ui.showQuickPick(items, { title: `${TITLE} folder`, placeHolder: 'Pick the checkpoint folder', ignoreFocusOut: true, matchOnDescription: true });
    if (!chosen) return undefined;
    if (chosen.value) return chosen.value;
  }
  const picked = await ui.showOpenDialog({
    title: 'Inspect MoE checkpoint: the folder holding config.json',
    canSelectFiles: false,
    canSelectFolders: true,
    canSelectMany: false,
    openLabel: 'Inspect checkpoint',
  });
  return picked?.[0]?.fsPath;
}

const FORMAT_TEXT: Record<NonNullable<CheckpointLayerRow['format']>, string> = {
  fp8: 'FP8, used as stored',
  bf16: 'BF16, quantized to FP8 128×128 blocks',
  f16: 'F16, quantized to FP8 128×128 blocks',
  f32: 'F32, quantized to FP8 128×128 blocks',
  fp4: 'FP4, unpacked and quantized to FP8 (✖ unverified packing)',
};

/** the quick-pick row of one layer: "Layer 3" · "64 experts · F8_E4M3 · FP8, used as stored" */
export function layerItem(l: CheckpointLayerRow): Item<number> {
  const kind = `${l.mtp ? ' (MTP)' : ''}${l.hashRouted ? ' (hash-routed)' : ''}`;
  return {
    label: `${l.problem ? '$(error)' : '$(layers)'} Layer ${l.layer}${kind}`,
    description: l.problem ? 'cannot be loaded' : `${l.experts} experts · ${l.weightDtype ?? '?'} · ${l.format ? FORMAT_TEXT[l.format] : '?'}`,
    ...(l.problem ? { detail: l.problem } : {}),
    value: l.layer,
  };
}

/** The MoE layer, from the overview's list; a layer that cannot be loaded is refused with its reason. */
export async function pickCheckpointLayer(ui: CheckpointUi, ov: CheckpointOverview, last?: number): Promise<number | undefined> {
  if (!ov.layers.length)
    throw new MoeError('E_FORMAT', `${join(ov.dir, CONFIG)}: the ${ov.family} config (model_type ${ov.modelType}) declares no MoE layer`);
  const items = ov.layers.map(layerItem);
  const first = items.find((i) => i.value === last);
  const ordered = first ? [first, ...items.filter((i) => i !== first)] : items;
  const chosen = await ui.showQuickPick(ordered, {
    title: `${TITLE} layer — ${basename(ov.dir)}: ${ov.family}, ${ov.experts} experts top-${ov.topk}, hidden ${ov.hidden}, moe_intermediate ${ov.intermediate}`,
    placeHolder: `Pick one of ${ov.layers.length} MoE layers`,
    ignoreFocusOut: true,
    matchOnDescription: true,
    matchOnDetail: true,
  });
  if (!chosen) return undefined;
  const row = ov.layers.find((l) => l.layer === chosen.value)!;
  if (row.problem) throw new MoeError('E_FORMAT', `${ov.dir}: ${row.problem}`);
  return row.layer;
}

/**
 * The routing: synthetic (`tokens` tokens, seed 0) or a router dump (.safetensors or .npy: hidden_states and
 * topk_ids + topk_weights, or router_logits; docs/dump-layer-inputs.md). `{}` = synthetic; undefined = backed out.
 */
export async function pickRouterDump(ui: CheckpointUi, tokens: number, hashRouted: boolean): Promise<{ dump?: string } | undefined> {
  const items: Item<'synthetic' | 'dump'>[] = [
    {
      label: '$(symbol-event) Synthetic routing',
      description: `${tokens} tokens, seed 0, for the checkpoint's shapes`,
      ...(hashRouted ? { detail: 'this layer is hash-routed (token id → experts): synthetic routing stands in for the hash; a dump needs topk_ids' } : {}),
      value: 'synthetic',
    },
    { label: '$(file) From a router dump file…', description: 'hidden_states + topk_ids/topk_weights or router_logits (.safetensors, .npy)', value: 'dump' },
  ];
  const chosen = await ui.showQuickPick(items, { title: `${TITLE} routing (optional)`, placeHolder: 'Routing of the layer', ignoreFocusOut: true });
  if (!chosen) return undefined;
  if (chosen.value === 'synthetic') return {};
  const picked = await ui.showOpenDialog({
    title: 'Router dump of this layer',
    canSelectFiles: true,
    canSelectFolders: false,
    canSelectMany: false,
    // all files too: a pickle (.pt, .bin) is refused with the command that converts it
    filters: { 'Router dump': ['safetensors', 'npy'], 'All files': ['*'] },
    openLabel: 'Use this dump',
  });
  const path = picked?.[0]?.fsPath;
  return path ? { dump: path } : undefined;
}

/**
 * The whole flow. `folder`: given by the explorer's context menu (checked for config.json), else asked.
 * `overview` opens the checkpoint (engine.ts binds kernels/io/checkpoint); its MoeErrors name the file.
 */
export async function pickCheckpoint(
  ui: CheckpointUi,
  opts: { folder?: string; workspaceFolders: readonly string[]; last?: Partial<CheckpointPick>; tokens: number; overview: (dir: string) => CheckpointOverview },
): Promise<CheckpointPick | undefined> {
  const dir = opts.folder ?? (await pickCheckpointFolder(ui, opts.workspaceFolders, opts.last?.dir));
  if (!dir) return undefined;
  requireCheckpointFolder(dir);
  const ov = opts.overview(dir);
  const layer = await pickCheckpointLayer(ui, ov, opts.last?.dir === dir ? opts.last.layer : undefined);
  if (layer === undefined) return undefined;
  const routing = await pickRouterDump(ui, opts.tokens, ov.layers.find((l) => l.layer === layer)?.hashRouted ?? false);
  if (!routing) return undefined;
  return { dir, layer, ...routing };
}

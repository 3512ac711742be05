/**
 * "From a checkpoint folder…": the folder, layer and routing steps driven by a scripted stand-in for vscode.window
 * (each quick pick and dialog answered in turn, every offer recorded), on small checkpoints in the real format.
 * Then the engine binding: the overview lists the MoE layers, and the picked layer is read once into a run.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as vscode from 'vscode';
import { MoeError } from '../../../kernels/errors';
import { shutdownGemmWorkers } from '../../../kernels/ops/gemm';
import { writeSafetensors } from '../../../kernels/io/safetensors';
import { Tensor } from '../../../kernels/tensor';
import { pickCheckpoint, layerItem, requireCheckpointFolder, type CheckpointUi, type CheckpointOverview } from '../../../extension/inspect/checkpoint';
import { checkpointOverview, loadCheckpointRun } from '../../../extension/engine';
import { writeCheckpoint } from '../../kernels/io/checkpoint/fixtures';

after(() => shutdownGemmWorkers());
const dir = mkdtempSync(join(tmpdir(), 'moe-ext-ckpt-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// DeepSeek-V3-shaped FP8 (layers 1 and 2 are MoE), a BF16 Mixtral, and folders that are not checkpoints
const ds = join(dir, 'ds');
writeCheckpoint(ds, { family: 'deepseek', experts: 8, topk: 2, layers: 3, shards: 2 });
const mixtral = join(dir, 'mixtral');
writeCheckpoint(mixtral, { family: 'mixtral', experts: 4, topk: 2, layers: 2, shards: 1 });
const plain = join(dir, 'plain');
mkdirSync(join(plain, 'sub'), { recursive: true });
writeFileSync(join(plain, 'README.md'), 'not a checkpoint');

type Answer = { pick: string | RegExp } | { escape: true } | { open: string };

/** a vscode.window stand-in answering each prompt from the script, in order; `seen` records what was offered */
function scripted(...answers: Answer[]): CheckpointUi & { seen: { title: string; labels: string[]; descriptions: string[] }[]; left: () => number } {
  const queue = [...answers];
  const seen: { title: string; labels: string[]; descriptions: string[] }[] = [];
  const next = (kind: string): Answer => {
    const a = queue.shift();
    if (!a) throw new Error(`unexpected ${kind}: the script has no answer left`);
    return a;
  };
  return {
    seen,
    left: () => queue.length,
    showQuickPick<T extends vscode.QuickPickItem>(items: readonly T[], options: vscode.QuickPickOptions): Thenable<T | undefined> {
      seen.push({ title: options.title ?? '', labels: items.map((i) => i.label), descriptions: items.map((i) => i.description ?? '') });
      const a = next(`quick pick "${options.title}"`);
      if ('escape' in a) return Promise.resolve(undefined);
      if (!('pick' in a)) throw new Error(`quick pick "${options.title}" answered with a dialog answer`);
      const hit = items.find((i) => (typeof a.pick === 'string' ? i.label.includes(a.pick) : a.pick.test(i.label)));
      if (!hit) throw new Error(`no item ${String(a.pick)} in ${items.map((i) => i.label).join(' | ')}`);
      return Promise.resolve(hit);
    },
    showOpenDialog(options: vscode.OpenDialogOptions): Thenable<vscode.Uri[] | undefined> {
      seen.push({ title: options.title ?? '', labels: [`dialog folders=${String(options.canSelectFolders)} files=${String(options.canSelectFiles)}`], descriptions: [] });
      const a = next(`dialog "${options.title}"`);
      if ('escape' in a) return Promise.resolve(undefined);
      if (!('open' in a)) throw new Error(`dialog "${options.title}" answered with a quick-pick answer`);
      return Promise.resolve([{ fsPath: a.open } as vscode.Uri]);
    },
  };
}

const flow = (ui: CheckpointUi, over: Partial<Parameters<typeof pickCheckpoint>[1]> = {}) =>
  pickCheckpoint(ui, { workspaceFolders: [], tokens: 16, overview: checkpointOverview, ...over });

test('a workspace folder holding config.json is offered first; then the MoE layers with experts and dtype; then synthetic routing', async () => {
  const ui = scripted({ pick: 'ds' }, { pick: 'Layer 2' }, { pick: 'Synthetic routing' });
  const got = await flow(ui, { workspaceFolders: [plain, ds] });
  assert.deepEqual(got, { dir: ds, layer: 2 });
  assert.equal(ui.left(), 0);
  // only the folder with config.json, and a way out to the dialog
  assert.deepEqual(ui.seen[0]!.labels, ['$(folder) ds', '$(folder-opened) Choose a folder…']);
  // layers 1 and 2 (first_k_dense_replace 1), each with its expert count and on-disk dtype
  assert.deepEqual(ui.seen[1]!.labels, ['$(layers) Layer 1', '$(layers) Layer 2']);
  assert.deepEqual(ui.seen[1]!.descriptions, ['8 experts · F8_E4M3 · FP8, used as stored', '8 experts · F8_E4M3 · FP8, used as stored']);
  assert.match(ui.seen[1]!.title, /ds: DeepSeek.*8 experts top-2, hidden 256, moe_intermediate 256/);
  assert.match(ui.seen[2]!.descriptions[0]!, /16 tokens, seed 0/);
});

test('no workspace checkpoint: the folder dialog; a BF16 checkpoint says it is quantized; a router dump file can be chosen', async () => {
  const dump = join(dir, 'dump.safetensors');
  const ui = scripted({ open: mixtral }, { pick: 'Layer 1' }, { pick: 'router dump' }, { open: dump });
  const got = await flow(ui, { workspaceFolders: [plain] });
  assert.deepEqual(got, { dir: mixtral, layer: 1, dump });
  assert.equal(ui.seen[0]!.labels[0], 'dialog folders=true files=false');
  assert.deepEqual(ui.seen[1]!.descriptions, ['4 experts · BF16 · BF16, quantized to FP8 128×128 blocks', '4 experts · BF16 · BF16, quantized to FP8 128×128 blocks']);
  assert.equal(ui.seen[3]!.labels[0], 'dialog folders=false files=true');
});

test('"Choose a folder…" leads to the dialog; the last checkpoint and layer come first', async () => {
  const ui = scripted({ pick: 'Choose a folder' }, { open: ds }, { pick: 'Layer 1' }, { pick: 'Synthetic' });
  assert.deepEqual(await flow(ui, { workspaceFolders: [mixtral] }), { dir: ds, layer: 1 });
  const again = scripted({ pick: 'ds' }, { pick: 'Layer 2' }, { pick: 'Synthetic' });
  await flow(again, { workspaceFolders: [mixtral], last: { dir: ds, layer: 2 } });
  assert.deepEqual(again.seen[0]!.labels, ['$(folder) ds', '$(folder) mixtral', '$(folder-opened) Choose a folder…']);
  assert.equal(again.seen[1]!.labels[0], '$(layers) Layer 2');
});

test('the explorer\'s folder skips the folder step', async () => {
  const ui = scripted({ pick: 'Layer 1' }, { pick: 'Synthetic' });
  assert.deepEqual(await flow(ui, { folder: ds, workspaceFolders: [mixtral] }), { dir: ds, layer: 1 });
  assert.match(ui.seen[0]!.title, /layer/);
});

test('Escape at any step ends the flow quietly', async () => {
  const scripts: Answer[][] = [
    [{ escape: true }],
    [{ pick: 'Choose a folder' }, { escape: true }],
    [{ pick: 'ds' }, { escape: true }],
    [{ pick: 'ds' }, { pick: 'Layer 1' }, { escape: true }],
    [{ pick: 'ds' }, { pick: 'Layer 1' }, { pick: 'router dump' }, { escape: true }],
  ];
  for (const s of scripts) {
    const ui = scripted(...s);
    assert.equal(await flow(ui, { workspaceFolders: [ds] }), undefined, JSON.stringify(s));
    assert.equal(ui.left(), 0);
  }
});

test('a folder without config.json is refused naming what it holds; an unknown family names what was found', async () => {
  const refused = (re: RegExp) => (e: unknown) => e instanceof MoeError && re.test(e.message) && !e.message.includes('\n');
  await assert.rejects(flow(scripted(), { folder: plain }), refused(/plain: no config\.json, so not a Hugging Face checkpoint folder .*it holds: README\.md, sub\//));
  await assert.rejects(flow(scripted({ open: join(dir, 'nowhere') })), refused(/nowhere: cannot open the folder/));
  assert.throws(() => requireCheckpointFolder(join(ds, 'config.json')), refused(/config\.json: not a folder/));
  // a config of a family the reader does not know: the model_type and the MoE-looking tensors it found
  const llama = join(dir, 'llama');
  mkdirSync(llama, { recursive: true });
  writeFileSync(join(llama, 'config.json'), JSON.stringify({ model_type: 'llama', architectures: ['LlamaForCausalLM'] }));
  writeSafetensors(join(llama, 'model.safetensors'), {
    'model.layers.0.mlp.experts.0.gate_proj.weight': new Tensor('bf16', [2, 2], new Uint16Array(4), undefined, 0, 'w'),
  });
  await assert.rejects(flow(scripted(), { folder: llama }), refused(/config\.json: model_type 'llama' \(LlamaForCausalLM\) is not a MoE family read here \(.*deepseek_v3.*\); MoE-looking tensors: model\.layers\.0\.mlp\.experts\.0\.gate_proj\.weight/));
  // a checkpoint folder without its index or shards
  const bare = join(dir, 'bare');
  mkdirSync(bare, { recursive: true });
  writeFileSync(join(bare, 'config.json'), '{"model_type": "qwen3_moe"}');
  await assert.rejects(flow(scripted(), { folder: bare }), refused(/bare: no model\.safetensors\.index\.json, no model\.safetensors and no \*\.safetensors file/));
});

test('a layer that cannot be loaded is shown with its reason and refused when picked', async () => {
  const ov: CheckpointOverview = {
    dir: '/ck',
    family: 'Qwen3-MoE',
    modelType: 'qwen3_moe',
    experts: 4,
    topk: 2,
    hidden: 256,
    intermediate: 256,
    layers: [
      { layer: 0, mtp: false, hashRouted: false, experts: 4, format: 'fp8', weightDtype: 'F8_E4M3' },
      { layer: 1, mtp: false, hashRouted: false, experts: 3, problem: 'layer 1: 1 of 4 experts have no model.layers.1.mlp.experts.3.gate_proj.weight (or up/down) — missing experts 3' },
    ],
  };
  assert.equal(layerItem({ layer: 61, mtp: true, hashRouted: false, experts: 4, format: 'fp8', weightDtype: 'F8_E4M3' }).label, '$(layers) Layer 61 (MTP)');
  assert.equal(layerItem({ layer: 0, mtp: false, hashRouted: true, experts: 4, format: 'fp4', weightDtype: 'I8' }).label, '$(layers) Layer 0 (hash-routed)');
  assert.match(layerItem({ layer: 0, mtp: false, hashRouted: true, experts: 4, format: 'fp4', weightDtype: 'I8' }).description ?? '', /4 experts · I8 · FP4, unpacked and quantized/);
  const item = layerItem(ov.layers[1]!);
  assert.equal(item.label, '$(error) Layer 1');
  assert.match(item.detail ?? '', /missing experts 3/);
  await assert.rejects(
    pickCheckpoint(scripted({ pick: 'Layer 1' }), { folder: ds, workspaceFolders: [], tokens: 8, overview: () => ov }),
    (e: unknown) => e instanceof MoeError && /^\/ck: layer 1: 1 of 4 experts have no/.test(e.message),
  );
  await assert.rejects(
    pickCheckpoint(scripted(), { folder: ds, workspaceFolders: [], tokens: 8, overview: () => ({ ...ov, layers: [] }) }),
    (e: unknown) => e instanceof MoeError && /config\.json: the Qwen3-MoE config \(model_type qwen3_moe\) declares no MoE layer/.test(e.message),
  );
});

test('the picked layer is read into a run: the checkpoint spec, the used experts only, progress per expert', async () => {
  const progress: string[] = [];
  const run = await loadCheckpointRun({ dir: ds, layer: 2 }, { arch: 'sm90', tokens: 12, onExpert: (d, t) => progress.push(`${d}/${t}`) });
  assert.equal(run.spec.name, 'ds layer 2');
  assert.deepEqual([run.spec.tokens, run.spec.hidden, run.spec.intermediate, run.spec.experts, run.spec.topk], [12, 256, 256, 8, 2]);
  assert.deepEqual(run.spec.source, { kind: 'checkpoint', path: ds, layer: 2, seed: 0, skew: 0 });
  assert.deepEqual(run.inputs.w13_weight!.shape, [8, 512, 256]);
  assert.ok(run.notes.some((n) => /read \d of 8 experts of layer 2/.test(n)), run.notes.join('\n'));
  assert.ok(progress.length > 0 && progress.at(-1)!.split('/')[0] === progress.at(-1)!.split('/')[1], progress.join(' '));
  const mx = await loadCheckpointRun({ dir: mixtral, layer: 0 }, { arch: 'sm100', tokens: 4 });
  assert.equal(mx.spec.recipe.scaleFormat, 'ue8m0', 'SM100 takes UE8M0 activation scales');
});

test('Cancel stops the read between experts with E_CANCELLED (the host says "cancelled", not an error)', async () => {
  const abort = new AbortController();
  await assert.rejects(
    loadCheckpointRun({ dir: ds, layer: 1 }, { arch: 'sm90', tokens: 64, signal: abort.signal, onExpert: (done) => done === 1 && abort.abort() }),
    (e: unknown) => e instanceof MoeError && e.code === 'E_CANCELLED' && /reading layer 1 of .*ds cancelled/.test(e.message),
  );
});

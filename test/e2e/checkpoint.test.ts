/**
 * End to end in a real VS Code (code-server + headless chromium): a Hugging Face checkpoint folder opened as the
 * workspace (a small DeepSeek-V3-shaped FP8 checkpoint, sharded with model.safetensors.index.json, written by the
 * test) → Inspect MoE Layer → "From a checkpoint folder…" → the workspace folder → a MoE layer → synthetic routing →
 * the panel. Then the explorer's "Inspect MoE Checkpoint…" on a subfolder holding a BF16 Mixtral checkpoint, and on
 * a folder without config.json (an error naming what the folder holds). Skips like test/e2e/inspector.test.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VsCode, e2eSkip } from './harness';
import { writeCheckpoint } from '../kernels/io/checkpoint/fixtures';

const skip = e2eSkip();

let vs: VsCode | undefined;
let workspace = '';

const step = <T>(name: string, fn: (v: VsCode) => Promise<T>): Promise<T> => {
  assert.ok(vs, 'VS Code did not start');
  return vs.step(name, fn);
};

before(async () => {
  if (skip) return;
  // the workspace is itself a checkpoint folder (layers 1 and 2 are MoE, 8 experts top-2, hidden 256)
  workspace = mkdtempSync(join(tmpdir(), 'moe-e2e-ckpt-'));
  writeCheckpoint(workspace, { family: 'deepseek', experts: 8, topk: 2, layers: 3, shards: 2 });
  writeCheckpoint(join(workspace, 'mixtral-bf16'), { family: 'mixtral', experts: 4, topk: 2, layers: 2, shards: 1 });
  mkdirSync(join(workspace, 'notes'), { recursive: true });
  writeFileSync(join(workspace, 'notes', 'README.md'), 'not a checkpoint\n');
  vs = await VsCode.start(workspace);
}, { timeout: 120_000 });

after(async () => {
  await vs?.stop();
  if (workspace) rmSync(workspace, { recursive: true, force: true });
});

const errorToasts = (v: VsCode): Promise<string[]> => v.page.locator('.notifications-toasts .notification-toast:has(.codicon-error)').allInnerTexts();

/** right-clicks a folder of the explorer and runs a command of its context menu */
async function explorerMenu(v: VsCode, folder: string, command: string): Promise<void> {
  await v.runCommand('View: Close All Editors');
  await v.page.keyboard.press('Control+Shift+E');
  const row = v.page.locator('.explorer-folders-view .monaco-list-row', { hasText: folder }).first();
  await row.waitFor({ timeout: 20_000 });
  await row.click({ button: 'right', timeout: 10_000 });
  // monaco's context menu acts on keyboard / mouse-up of a focused item: focus it by hovering, then Enter
  await v.page.locator('.monaco-menu .action-item', { hasText: command }).hover({ timeout: 10_000 });
  await v.page.keyboard.press('Enter');
}

test('Inspect MoE Layer → From a checkpoint folder… → the workspace checkpoint → layer 2 → the panel', { skip, timeout: 180_000 }, async () => {
  await step('checkpoint-palette', async (v) => {
    await v.runCommand('Inspect MoE Layer');
    await v.answer('(1/9)', 'From a checkpoint folder');
    // the workspace folder holds config.json: offered first
    const folderTitle = v.quickInput.locator('.quick-input-title', { hasText: 'checkpoint folder' });
    await folderTitle.waitFor({ timeout: 20_000 });
    assert.match(await v.quickInput.locator('.quick-input-list .monaco-list-row').first().innerText(), /holds config\.json/);
    await v.page.keyboard.press('Enter');
    // the MoE layers with expert count and dtype
    await v.quickInput.locator('.quick-input-title', { hasText: 'checkpoint layer' }).waitFor({ timeout: 20_000 });
    const rows = await v.quickInput.locator('.quick-input-list .monaco-list-row').allInnerTexts();
    assert.equal(rows.length, 2, rows.join(' | '));
    assert.match(rows[0]!, /Layer 1[\s\S]*8 experts · F8_E4M3 · FP8, used as stored/);
    await v.screenshot('checkpoint-layers');
    await v.answer('checkpoint layer', 'Layer 2');
    await v.answer('checkpoint routing', 'Synthetic');
    await v.firstPictureOrError(120_000);
    const web = v.webview();
    await web.locator('.app-header').getByText(/layer 2/).waitFor({ timeout: 30_000 });
    assert.match(await web.locator('.app-header').innerText(), /K 256 · N 256 · E 8 · top-2/);
    await web.locator('.badges .badge', { hasText: /^total/ }).waitFor({ timeout: 120_000 });
    assert.deepEqual(await errorToasts(v), []);
    await v.screenshot('checkpoint-panel');
  });
});

test('explorer: Inspect MoE Checkpoint… on a BF16 Mixtral folder → the panel; on a folder without config.json → the reason', { skip, timeout: 180_000 }, async () => {
  await step('checkpoint-explorer', async (v) => {
    await explorerMenu(v, 'mixtral-bf16', 'Inspect MoE Checkpoint');
    await v.quickInput.locator('.quick-input-title', { hasText: 'checkpoint layer' }).waitFor({ timeout: 20_000 });
    assert.match(await v.quickInput.locator('.quick-input-list .monaco-list-row').first().innerText(), /4 experts · BF16 · BF16, quantized to FP8/);
    await v.answer('checkpoint layer', 'Layer 1');
    await v.answer('checkpoint routing', 'Synthetic');
    await v.firstPictureOrError(120_000);
    const web = v.webview();
    await web.locator('.app-header').getByText(/mixtral-bf16 layer 1/).waitFor({ timeout: 30_000 });
    assert.match(await web.locator('.app-header').innerText(), /E 4 · top-2/);
    assert.deepEqual(await errorToasts(v), []);
  });
  await step('checkpoint-explorer-not-a-checkpoint', async (v) => {
    await explorerMenu(v, 'notes', 'Inspect MoE Checkpoint');
    const toast = v.page.locator('.notifications-toasts .notification-toast:has(.codicon-error)').first();
    await toast.waitFor({ timeout: 20_000 });
    assert.match(await toast.innerText(), /notes: no config\.json, so not a Hugging Face checkpoint folder[\s\S]*README\.md/);
  });
});

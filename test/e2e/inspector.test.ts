/**
 * End to end in a real VS Code (code-server) driven by headless chromium: Inspect MoE Layer from the command
 * palette (Qwen3-30B-A3B, 16 tokens, CPU), the panel, every pipeline stage, a scale-cell tooltip, each view,
 * SVG export through the panel button and the save dialog, PNG export through the Export Layout Diagram command,
 * an imported profiler trace, Compare With… SM100 (both runs' scale layouts side by side, exported), a reload that
 * restores the run and the imported trace, and hovers in a notebook and a Python file doing no harm. Screenshots go
 * to test-artifacts/e2e/ (and to media/screenshots/ with MOE_UPDATE_SCREENSHOTS=1). Skips with the reason when code-server or chromium is
 * missing, unless MOE_REQUIRE_E2E=1 (CI), where that is a failure.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CONTIGUOUS_STAGES } from '../../kernels/recipes/contiguous/stages';

const STAGE_ORDER = CONTIGUOUS_STAGES.map((s) => s.id);
import { makeSpec } from '../../kernels/presets';
import { syntheticInputs } from '../../kernels/synthetic';
import { syntheticMasked } from '../../kernels/recipes/masked/synthetic';
import { DEFAULT_RECIPE } from '../../kernels/spec';
import { writeSafetensors } from '../../kernels/io/safetensors';
import type { Tensor } from '../../kernels/tensor';
import { ARTIFACTS, VsCode, e2eSkip, inspectViaPalette, makeWorkspace } from './harness';

const skip = e2eSkip();
const PROFILE_FIXTURE = join(__dirname, '..', 'kernels', 'profile', 'fixtures', 'h200-torch-scaled-grouped-mm.trace.json.gz');

let vs: VsCode | undefined;
let workspace = '';

const step = <T>(name: string, fn: (v: VsCode) => Promise<T>): Promise<T> => {
  assert.ok(vs, 'VS Code did not start');
  return vs.step(name, fn);
};

before(async () => {
  if (skip) return;
  workspace = makeWorkspace();
  vs = await VsCode.start(workspace);
}, { timeout: 120_000 });

after(async () => {
  await vs?.stop();
  if (workspace) rmSync(workspace, { recursive: true, force: true });
});

test('Inspect MoE Layer: palette → panel → stages → tooltip → views → exports', { skip, timeout: 200_000 }, async () => {
  await step('inspect', async (v) => {
    const t = await inspectViaPalette(v, { preset: 'Qwen3-30B-A3B', tokens: 16, topk: 8, arch: 'SM90', recipe: 'float32 scales · vLLM', backend: 'CPU' });
    mkdirSync(ARTIFACTS, { recursive: true });
    writeFileSync(join(ARTIFACTS, 'first-picture.json'), JSON.stringify({ preset: 'Qwen3-30B-A3B', tokens: 16, backend: 'cpu', ...t }, null, 2));
    const tab = v.page.locator('.tab', { hasText: 'MoE: Qwen3-30B-A3B' });
    await tab.waitFor({ timeout: 10_000 });
    assert.match(await tab.innerText(), /SM90 · M=16/);
    assert.deepEqual(await errorToasts(v), []);
    // the panel gets the whole editor area for the screenshots
    await v.page.keyboard.press('Control+B');
    const web = v.webview();
    await web.locator('.app-header').getByText('Qwen3-30B-A3B').waitFor();
    assert.match(await web.locator('.app-header').innerText(), /M 16 · K 2048 · N 768 · E 128 · top-8/);
    assert.match(await web.locator('.badge.backend-cpu').innerText(), /^CPU/);
  });

  await step('stages', async (v) => {
    const web = v.webview();
    const items = web.locator('.stage-list .stage-item');
    assert.equal(await items.count(), STAGE_ORDER.length);
    assert.deepEqual(await items.evaluateAll((els) => els.map((e) => e.getAttribute('data-stage'))), [...STAGE_ORDER]);
    const next = web.getByRole('button', { name: 'Next stage (→)' });
    for (let i = 0; i < STAGE_ORDER.length; i++) {
      if (i > 0) await next.click();
      const current = web.locator('.stage-list .stage-item.current');
      await web.locator(`.stage-list .stage-item.current[data-stage="${STAGE_ORDER[i]}"]`).waitFor({ timeout: 5_000 });
      assert.equal(await current.count(), 1, 'exactly one stage highlighted');
      assert.equal(await current.getAttribute('aria-selected'), 'true');
      assert.match(await web.locator('.stepper-controls .counter').innerText(), new RegExp(`^${i + 1}\\s*/\\s*${STAGE_ORDER.length}$`));
      // the detail pane names what the stage reads and writes
      assert.ok((await web.locator('.stage-detail .chip').count()) > 0, `stage ${STAGE_ORDER[i]} lists its tensors`);
    }
    await v.screenshot('stepper-last-stage');
    await web.locator('.stage-list .stage-item[data-stage="quantize"]').click();
    await web.locator('.stage-list .stage-item.current[data-stage="quantize"]').waitFor();
  });

  await step('scale-tooltip', async (v) => {
    const web = v.webview();
    await web.getByRole('tab', { name: /Scale layout/ }).click();
    // the activation scales in the layout the run produced for SM90: a1q_scale (16 tokens, 2048/128 = 16 K-blocks)
    // transformed MN-major with M aligned to 4 (16 → 16): element (row 3, K-block 5) lives at offset 5·16 + 3 = 83,
    // byte address 83·4 = 0x014C — read from the tensor's layout descriptor
    await web.getByLabel('Scale tensor').selectOption('a1q_scale_layout');
    const cell = web.locator('rect.logical-cell[data-r="3"][data-j="5"]').first();
    await cell.hover();
    const tip = web.locator('.scales-view .tooltip.visible');
    await tip.waitFor({ timeout: 5_000 });
    const text = await tip.innerText();
    assert.match(text, /a1q_scale_layout\[3, 5\]/);
    assert.match(text, /value \S+/);
    assert.doesNotMatch(text, /NaN/);
    assert.match(text, /offset 83, byte address 0x014C/);
    await v.screenshot('scales-tooltip', true);
  });

  await step('views', async (v) => {
    const web = v.webview();
    for (const [name, file] of [['Permutation', 'permutation'], ['Timing', 'timing'], ['Tensor heatmap', 'heatmap'], ['Scale layout', 'scales']] as const) {
      await web.getByRole('tab', { name: new RegExp(name) }).click();
      await web.locator(`.tab.active`, { hasText: name }).waitFor();
      await web.locator('#view-host svg, #view-host canvas').first().waitFor({ timeout: 30_000 });
      if (file === 'heatmap') {
        // a stage output too large to travel inline (11136 × 1536 bf16): drawn from tiles the host serves
        await web.getByLabel('Tensor to show').selectOption('mm1_out');
        await web.locator('#view-host .view').getByText(/^mm1_out bf16/).filter({ visible: true }).first().waitFor({ timeout: 10_000 });
        await v.page.waitForTimeout(1500);
      }
      await web.locator('.view-error').waitFor({ state: 'detached', timeout: 1_000 }).catch(() => undefined);
      assert.equal(await web.locator('.view-error').count(), 0, `${name} view rendered without error`);
      assert.deepEqual(v.cspViolations, [], 'the panel runs within its CSP');
      await v.page.mouse.move(5, 500);
      await v.screenshot(`view-${file}`, true);
    }
  });

  await step('export-svg-button', async (v) => {
    const web = v.webview();
    const target = join(v.workspace, 'scales-export.svg');
    await web.getByRole('button', { name: /Export SVG/ }).click();
    await v.saveAs(target);
    await waitForFile(target);
    const svg = readFileSync(target, 'utf8');
    assert.match(svg.trimStart(), /^(<\?xml[^>]*>\s*)?<svg[\s>]/);
    assert.match(svg, /xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(svg, /a1q_scale_layout/);
    await web.locator('.toast', { hasText: 'scales-export.svg' }).waitFor({ timeout: 10_000 });
  });

  await step('export-png-command', async (v) => {
    const target = join(v.workspace, 'scales-export.png');
    await v.runCommand('Export Layout Diagram');
    await v.answer('Export Layout Diagram', 'PNG');
    await v.saveAs(target);
    await waitForFile(target);
    const png = readFileSync(target);
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  });

  await step('import-profile', async (v) => {
    // offered in the palette now that a panel is open (its `when` clause); the open dialog takes a typed path
    const file = join(v.workspace, 'h200.trace.json.gz');
    copyFileSync(PROFILE_FIXTURE, file);
    await v.runCommand('Import Profiler Trace');
    await v.saveAs(file);
    const web = v.webview();
    await web.getByRole('tab', { name: /Timing/ }).click();
    await web.locator('.timing-view g.bar.imported').first().waitFor({ timeout: 20_000 });
  });

  await step('compare-sm100', async (v) => {
    // MoE: Compare With… → this layer on SM100: the Compare tab draws both runs' scale layouts side by side
    // the category too: VS Code's own 'Compare … With …' commands match the bare words
    await v.runCommand('MoE: Compare With');
    await v.answer('Compare With', 'SM100');
    const web = v.webview();
    await web.getByRole('tab', { name: /Compare/ }).click({ timeout: 120_000 });
    const pair = web.locator('.compare-view g.layout-pair');
    await pair.waitFor({ timeout: 30_000 });
    assert.equal(await pair.getAttribute('data-tensor'), 'a1q_scale_layout');
    assert.equal(await web.locator('.compare-view g.panel.storage').count(), 2);
    // 16 tokens × 16 K-blocks: 256 f32 slots on SM90, 16 × 4 words = 256 bytes on SM100, one cell each
    assert.equal(await web.locator('.compare-view g.panel.side-a rect.storage-cell').count(), 256);
    assert.equal(await web.locator('.compare-view g.panel.side-b rect.storage-cell').count(), 256);
    // SVG elements have no innerText: their text is read as textContent
    assert.match((await web.locator('.compare-view g.caption.side-a').textContent()) ?? '', /SM90: f32, MN-major/);
    assert.match((await web.locator('.compare-view g.caption.side-b').textContent()) ?? '', /SM100: UE8M0 packed 4 per int32, MN-major/);
    assert.match((await web.locator('.compare-view text.layout-diff').textContent()) ?? '', /bytes 1\.0 KB → 256 B \(0\.25×\)/);
    assert.equal(await web.locator('.view-error').count(), 0);
    await v.page.mouse.move(5, 500);
    await v.screenshot('view-compare');
    // the picker draws another tensor both runs have (the real SM100 run has no a2q_scale_layout: its GEMM2 scales are made in place)
    await web.getByLabel('Scale tensor to compare').selectOption('w13_weight_scale_inv');
    await web.locator('.compare-view g.layout-pair[data-tensor="w13_weight_scale_inv"]').waitFor({ timeout: 10_000 });
    const target = join(v.workspace, 'compare-export.svg');
    await web.getByRole('button', { name: /Export SVG/ }).click();
    await v.saveAs(target);
    await waitForFile(target);
    const svg = readFileSync(target, 'utf8');
    assert.match(svg, /xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(svg, /class="layout-pair" data-tensor="w13_weight_scale_inv"/, 'the export shows the tensor picked');
    assert.deepEqual(await errorToasts(v), []);
  });

  await step('restore-after-reload', async (v) => {
    // the WebviewPanelSerializer re-runs the spec the webview saved with setState
    await v.page.reload();
    await v.page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
    await v.firstPictureOrError(120_000);
    const web = v.webview();
    await web.locator('.app-header').getByText('Qwen3-30B-A3B').waitFor({ timeout: 30_000 });
    assert.match(await web.locator('.app-header').innerText(), /M 16 · K 2048/);
    // the imported profiler trace came back with the restore state and is drawn on the re-run
    await web.getByRole('tab', { name: /Timing/ }).click();
    await web.locator('.timing-view g.bar.imported').first().waitFor({ timeout: 30_000 });
    assert.deepEqual(await errorToasts(v), []);
  });
});

test('bad input in the quick picks is refused with the reason, and Escape cancels without a run', { skip, timeout: 60_000 }, async () => {
  await step('validation', async (v) => {
    await v.runCommand('Inspect MoE Layer');
    await v.answer('(1/9)', 'Qwen3-30B-A3B');
    await v.answer('(2/9)', 'Contiguous');
    await v.quickInput.locator('.quick-input-title', { hasText: '(3/9)' }).waitFor();
    const input = v.quickInput.locator('input.input');
    await input.fill('12x');
    const message = v.quickInput.locator('.quick-input-message');
    await message.getByText('tokens must be a positive integer, got "12x"').waitFor({ timeout: 5_000 });
    await v.page.keyboard.press('Enter');
    // Enter is refused while the input is invalid: still on the tokens step
    await v.quickInput.locator('.quick-input-title', { hasText: '(3/9)' }).waitFor();
    await input.fill('16');
    await v.page.keyboard.press('Enter');
    await v.quickInput.locator('.quick-input-title', { hasText: '(4/9)' }).waitFor();
    await input.fill('200');
    await message.getByText('top-k must be at most the number of experts (128), got 200').waitFor({ timeout: 5_000 });
    await v.screenshot('validation-topk');
    await v.page.keyboard.press('Escape');
    await v.quickInput.waitFor({ state: 'hidden' });
    assert.deepEqual(await errorToasts(v), []);
  });
});

test('a .safetensors layer file opens from the explorer context menu', { skip, timeout: 90_000 }, async () => {
  await step('inspect-file', async (v) => {
    // a small layer under vLLM FusedMoE names, written with the engine's own writer
    const spec = { ...makeSpec('Qwen3-30B-A3B', {}), tokens: 5, hidden: 256, intermediate: 128, experts: 4, topk: 2 };
    const tensors: Record<string, Tensor> = {};
    for (const [k, t] of Object.entries(syntheticInputs(spec))) if (t) tensors[k] = t as Tensor;
    writeSafetensors(join(v.workspace, 'small_layer.safetensors'), tensors);
    await v.runCommand('View: Close All Editors');
    await v.page.keyboard.press('Control+Shift+E');
    const row = v.page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'small_layer.safetensors' });
    await row.waitFor({ timeout: 20_000 });
    await row.click({ button: 'right', timeout: 10_000 });
    // monaco's context menu acts on keyboard / mouse-up of a focused item: focus it by hovering, then Enter
    await v.page.locator('.monaco-menu .action-item', { hasText: 'Inspect MoE Layer File' }).hover({ timeout: 10_000 });
    await v.page.keyboard.press('Enter');
    await v.firstPictureOrError(60_000);
    const web = v.webview();
    await web.locator('.app-header').getByText('small_layer.safetensors').waitFor({ timeout: 20_000 });
    assert.match(await web.locator('.app-header').innerText(), /M 5 · K 256 · N 128 · E 4 · top-2/);
    await v.screenshot('inspect-file');
  });
});

test('a masked (DeepEP low-latency) layer file: the masked-buffer view, the six stages stepped, exported', { skip, timeout: 120_000 }, async () => {
  await step('inspect-masked', async (v) => {
    const spec = makeSpec('Qwen3-30B-A3B', {
      tokens: 16, hidden: 256, intermediate: 128, experts: 8, topk: 2,
      recipe: { ...DEFAULT_RECIPE, id: 'masked', options: { maxM: 64 } }, source: { kind: 'synthetic', seed: 5, skew: 0.5 },
    });
    writeSafetensors(join(v.workspace, 'masked_layer.safetensors'), syntheticMasked(spec, 64) as unknown as Record<string, Tensor>);
    await v.runCommand('View: Close All Editors');
    await v.page.keyboard.press('Control+Shift+E');
    const row = v.page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'masked_layer.safetensors' });
    await row.waitFor({ timeout: 20_000 });
    await row.click({ button: 'right', timeout: 10_000 });
    await v.page.locator('.monaco-menu .action-item', { hasText: 'Inspect MoE Layer File' }).hover({ timeout: 10_000 });
    await v.page.keyboard.press('Enter');
    await v.firstPictureOrError(60_000);
    const web = v.webview();
    await web.locator('.app-header').getByText('masked_layer.safetensors').waitFor({ timeout: 30_000 });
    await web.locator('.badges .badge', { hasText: /^total/ }).waitFor({ timeout: 60_000 });
    // the masked recipe's views: no permutation tab, the masked buffers second (key 2)
    assert.deepEqual(await web.locator('.tab').evaluateAll((els) => els.map((e) => e.id)), ['tab-scales', 'tab-maskedBuffers', 'tab-timing', 'tab-heatmap']);
    await web.locator('.stage-list').focus();
    await v.page.keyboard.press('2');
    await web.locator('.masked-view .panel.masked g.expert').first().waitFor({ timeout: 10_000 });
    assert.equal(await web.locator('.masked-view .panel.masked g.expert').count(), 8);
    assert.match((await web.locator('.masked-view g.waste').textContent()) ?? '', /stale rows \(past masked_m\)/);
    // the recipe's six stages, stepped
    const items = web.locator('.stage-list .stage-item');
    assert.equal(await items.count(), 6);
    const next = web.getByRole('button', { name: 'Next stage (→)' });
    for (let i = 1; i < 6; i++) await next.click();
    await web.locator('.stage-list .stage-item.current[data-stage="gemm2"]').waitFor({ timeout: 5_000 });
    await v.screenshot('view-masked-buffers', true);
    const target = join(v.workspace, 'masked-export.svg');
    await web.getByRole('button', { name: /Export SVG/ }).click();
    await v.saveAs(target);
    await waitForFile(target);
    assert.match(readFileSync(target, 'utf8'), /Masked buffers/);
    await web.locator('.toast', { hasText: 'masked-export.svg' }).waitFor({ timeout: 10_000 });
    assert.deepEqual(await errorToasts(v), []);
    assert.deepEqual(v.cspViolations, [], 'the panel runs within its CSP');
  });
});

test('palette → a preset with the masked recipe → the masked-buffer view, stepped and exported', { skip, timeout: 180_000 }, async () => {
  await step('palette-masked', async (v) => {
    await v.runCommand('View: Close All Editors');
    // Qwen3-30B-A3B on EP16 rank 0 (8 local experts), the Masked recipe, max_m 64
    await inspectViaPalette(v, { preset: 'Qwen3-30B-A3B', dispatch: 'Masked', options: ['64'], tokens: 16, topk: 8, ep: '16/0', arch: 'SM90', recipe: 'float32 scales · vLLM', backend: 'CPU' });
    const web = v.webview();
    await web.locator('.badges .badge', { hasText: /^total/ }).waitFor({ timeout: 120_000 });
    assert.ok((await web.locator('.tab').evaluateAll((els) => els.map((e) => e.id))).includes('tab-maskedBuffers'));
    await web.locator('.stage-list').focus();
    await v.page.keyboard.press('2');
    await web.locator('.masked-view .panel.masked g.expert').first().waitFor({ timeout: 10_000 });
    assert.equal(await web.locator('.masked-view .panel.masked g.expert').count(), 8);
    const next = web.getByRole('button', { name: 'Next stage (→)' });
    for (let i = 1; i < 6; i++) await next.click();
    await web.locator('.stage-list .stage-item.current[data-stage="gemm2"]').waitFor({ timeout: 5_000 });
    const target = join(v.workspace, 'masked-palette.svg');
    await web.getByRole('button', { name: /Export SVG/ }).click();
    await v.saveAs(target);
    await waitForFile(target);
    assert.match(readFileSync(target, 'utf8'), /Masked buffers/);
    assert.deepEqual(await errorToasts(v), []);
  });
});

/** error toasts currently shown (VS Code marks their severity with a codicon) */
async function errorToasts(v: VsCode): Promise<string[]> {
  return v.page.locator('.notifications-toasts .notification-toast:has(.codicon-error)').allInnerTexts();
}

async function waitForFile(path: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (Date.now() > end) throw new Error(`${path} was not written within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 200));
}

/** Hovers the first occurrence of `word` in the visible editor lines and waits out the hover delay. */
async function hoverWord(v: VsCode, scope: string, word: string): Promise<void> {
  // innermost token spans (class mtkN), visible ones only: hidden editors keep their DOM
  const token = v.page.locator(`${scope} .view-line span[class^="mtk"]`, { hasText: word }).filter({ visible: true }).first();
  await token.waitFor({ timeout: 30_000 });
  // hover() retries while the editor re-renders the line (tokenisation replaces the spans once)
  await token.hover({ timeout: 15_000 });
  await v.page.waitForTimeout(1500);
}

test('hovering variables in a .py file and an .ipynb with no kernel or debugger does no harm', { skip, timeout: 90_000 }, async () => {
  await step('hover-py', async (v) => {
    await v.runCommand('View: Close All Editors');
    await v.openFile('layer.py');
    await hoverWord(v, '.editor-instance', 'hidden_states');
    await v.screenshot('hover-python');
    assert.deepEqual(await errorToasts(v), [], 'no error notification after hovering in layer.py');
  });
  await step('hover-ipynb', async (v) => {
    await v.openFile('probe.ipynb');
    await hoverWord(v, '.notebook-editor', 'w13_weight_scale_inv');
    await v.screenshot('hover-notebook');
    assert.deepEqual(await errorToasts(v), [], 'no error notification after hovering in probe.ipynb');
  });
});

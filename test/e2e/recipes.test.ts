/**
 * End to end, recipe by recipe, in a real VS Code (one code-server + headless chromium for the whole file): command
 * palette → Inspect MoE Layer → the recipe and its own options → the recipe's stages in the stepper (ids and titles
 * from the recipe's own plan for the spec the picks make) → each of the recipe's own views (its tabs), checked for
 * what it must draw → each exported through the panel's button (SVG) and the Export Layout Diagram command (PNG),
 * the files read back. A transform-only recipe must say so in the palette flow and name `moe-inspect transform`.
 *
 * The recipes and their views come from the registries (kernels/recipes/index.ts, webview/views/registry.ts);
 * RECIPE_E2E says, per recipe id, what to pick and what each of its views must show. A registered recipe without an
 * entry, a run missing one of its recipe's options, or a recipe view without checks fails the first test, which
 * needs no browser. Screenshots go to test-artifacts/e2e/. Skips like inspector.test.ts when code-server or chromium
 * is missing (a failure under MOE_REQUIRE_E2E=1).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { RECIPES, recipeById, type RecipeSpec } from '../../kernels/recipes/index';
import { archById } from '../../kernels/arch/index';
import { PRESETS } from '../../kernels/presets';
import type { Arch } from '../../kernels/spec';
import type { Trace } from '../../kernels/trace';
import { VIEWS, viewById } from '../../webview/views/registry';
import { makeSpec } from '../../extension/engine';
import { buildSpec, DEFAULT_CHOICES, transformOnlyMessage, type InspectChoices } from '../../extension/inspect/choices';
import { REPO_ROOT } from '../golden';
import { VsCode, e2eSkip, makeWorkspace } from './harness';

const skip = e2eSkip();

/** What one of a recipe's own views must have drawn, live in the panel and in its exported SVG. */
interface ViewCheck {
  /** the class the view puts on its container */
  root: string;
  /** selector inside the view → exactly this many, or at least [n] */
  count: Record<string, number | [number]>;
  /** the view's text (live, and in the exported SVG) matches each */
  text: RegExp[];
}

/** One palette run of a recipe: the answers to Inspect MoE Layer's steps, and its views' checks by view id. */
interface PaletteRun {
  /** names the test and the exported files */
  name: string;
  /** a preset label (step 1) */
  preset: string;
  tokens: number;
  topk: number;
  /** expert-parallel shard size/rank (step 5); absent = 1/0 */
  ep?: { size: number; rank: number };
  arch: Arch;
  /** the answer to each of the recipe's options (step 6), by option id: every option of the recipe, no other */
  options: Record<string, number>;
  views: Record<string, ViewCheck>;
}

type RecipeE2e =
  | { kind: 'palette'; runs: PaletteRun[] }
  /** a recipe with no views of its own, driven end to end by another e2e file */
  | { kind: 'coveredBy'; file: string }
  /** runnable: false — the palette offers it, then says it is transform-only (from step 1's preset) */
  | { kind: 'transformOnly'; preset: string };

const W4_TP_EP_SHAPES = [/w13_weight {2}\(256, 512, 3584\) int4×2/, /w13_weight {2}\(32, 4096, 3584\) int4×2/, /α = 4 \(56 groups\)/];

const RECIPE_E2E: Record<string, RecipeE2e> = {
  contiguous: { kind: 'coveredBy', file: 'test/e2e/inspector.test.ts' },
  masked: { kind: 'coveredBy', file: 'test/e2e/inspector.test.ts' },
  w4afp8: {
    kind: 'palette',
    runs: [
      {
        name: 'TP8',
        preset: 'DeepSeek-R1',
        tokens: 16,
        topk: 8,
        arch: 'sm90',
        options: { tp: 8 },
        views: {
          w4afp8Parallel: {
            root: 'w4afp8-parallel-view',
            // both panels cut the 256 experts × I = 2048 weights among 8 GPUs: TP in I bands, EP in expert blocks
            count: { 'g.panel-tp rect.share': 8, 'g.panel-ep rect.share': 8, 'text.share-label': 16, 'rect.share.mine': 0, '.problem': 0 },
            text: [/TP vs EP on 8 GPUs: E = 256 experts, H = 7168, I = 2048/, /this run: TP8 —/, /TP8: all 256 experts, I\/8 = 256 each {2}\(this run\)/, ...W4_TP_EP_SHAPES],
          },
        },
      },
      {
        name: 'EP8-rank1',
        preset: 'DeepSeek-R1',
        tokens: 16,
        topk: 8,
        ep: { size: 8, rank: 1 },
        arch: 'sm90',
        options: { tp: 1 },
        views: {
          w4afp8Parallel: {
            root: 'w4afp8-parallel-view',
            // the run's own rank framed in the EP panel
            count: { 'g.panel-tp rect.share': 8, 'g.panel-ep rect.share': 8, 'g.panel-ep rect.share.mine[data-gpu="1"]': 1, 'rect.share.mine': 1, '.problem': 0 },
            text: [/TP vs EP on 8 GPUs: E = 256 experts, H = 7168, I = 2048/, /this run: EP8, rank 1 —/, /EP8: 32 experts each, full I = 2048 {2}\(this run\)/, ...W4_TP_EP_SHAPES],
          },
        },
      },
    ],
  },
  'megamoe-sm90': {
    kind: 'palette',
    runs: [
      {
        // EP32 rank 0: this rank's 8 of the 256 experts, so the CPU run stays small
        name: 'EP32-rank0',
        preset: 'DeepSeek-V4-Flash',
        tokens: 16,
        topk: 6,
        ep: { size: 32, rank: 0 },
        arch: 'sm90',
        options: { maxTokens: 128 },
        views: {
          megamoeInterleave: {
            root: 'megamoe-interleave-view',
            // three 16-row periods: out rows 0–7 from gate rows 0–7, 8–15 from up rows 0–7 (docs/layouts-and-stages.md §7.5)
            count: { 'g.out-row': 48, 'g.out-row.gate': 24, 'g.out-row.up': 24, 'path.link': 48, 'g.out-row[data-row="8"][data-src="2048"]': 1, 'g.out-row[data-row="16"][data-src="8"]': 1 },
            text: [/w13 gate\/up interleave \(granularity 8\)/, /IH = 2048: output row r/, /out 8 ← u0/, /out 16 ← g8/],
          },
          megamoeStaging: {
            root: 'megamoe-staging-view',
            // x (FP8), x_sf, topk_idx, topk_weights; x_sf K-major: 16 tokens × 4096/128 scales; topk_idx 16 × 6
            count: { 'g.region': 4, 'rect.sf-cell': 16 * 32, 'g.id-cell': 16 * 6, 'g.id-cell.local': [1], 'rect.rows-filled': 1 },
            text: [/MegaMoE symmetric buffer: staging area/, /T_max = 128 rows per rank \(num_max_tokens_per_rank\), 16 filled by this call/],
          },
          megamoePools: {
            root: 'megamoe-pools-view',
            count: { 'g.pool': 2, 'g.pool-l1': 1, 'g.pool-l2': 1, 'g.sf-slot': [1], 'g.storage-strip': 2 },
            text: [/L1: 32 scales per row \(group 128\) · L2: 32 scales per row \(group 64/, /L1 pool: l1_acts \(\d+, 4096\) fp8/, /L2 pool: l2_acts \(\d+, 2048\) fp8/, /MN-major/],
          },
        },
      },
    ],
  },
  'megamoe-sm100': { kind: 'transformOnly', preset: 'DeepSeek-V4-Flash' },
  'torchao-fp8-training': {
    kind: 'palette',
    runs: [
      {
        // EP16 rank 0: the grouped GEMM sees 8 of Qwen3's 128 experts (the whole layer takes minutes on the CPU)
        name: 'EP16-rank0',
        preset: 'Qwen3-30B-A3B',
        tokens: 64,
        topk: 8,
        ep: { size: 16, rank: 0 },
        arch: 'sm90',
        options: {},
        views: {
          torchaoPasses: {
            root: 'passes-view',
            count: { 'g.pass': 3, 'g.pass[data-pass]': 3, 'g.stage.done': 7, 'g.stage.pending': 0, 'g.operand.missing': 0, 'g.operand.present': [6] },
            text: [/M=64 K=2048 N=768 E=8, groups padded to 128/],
          },
          torchaoLayout: {
            root: 'grouped-layout-view',
            // 8 experts, each group padded to 128 rows: 8 runs of the expert, 8 of −1 padding, then the slack
            count: { 'rect.run': 8, 'rect.pad-run': 8, 'text.expert-label': 8, 'rect.subtile': [1], '.warning': 0 },
            text: [/grouped_layout \(1152,\) int32 — row → expert/, /align\(64 \+ 8·128, 128\)/],
          },
          torchaoKGrouped: {
            root: 'kgrouped-view',
            // grad_output and input as flat K-grouped buffers, one block per expert, one scale column per 128 tokens
            count: { 'g.operand': 2, 'rect.expert-block': 16, 'rect.scale-cell': [8] },
            text: [/ks = \[128, 128, 128, 128, 128, 128, 128, 128\]/],
          },
          torchaoExample: {
            root: 'worked-example-view',
            count: { 'rect.run': 8, 'rect.pad-run': 8 },
            text: [/worked through/, /group sizes c = \[[\d, ]+\], M = 64/, /buffer rows = align\(M \+ E·128, 128\) = align\(64 \+ 8·128, 128\) = 1152/],
          },
        },
      },
    ],
  },
};

/** A trace stub with a recipe id and nothing else: recipe views apply on the id, the shared ones need tensors. */
const bareTrace = (recipe: string): Trace => ({ recipe: { id: recipe }, tensors: {}, stages: [], pending: [], permutation: { layout: 'contiguous' } }) as unknown as Trace;

/** The registry's views offered on this recipe's runs and no other's. */
function ownViews(recipe: string): string[] {
  return VIEWS.filter((v) => v.applies(bareTrace(recipe)) && !v.applies(bareTrace('\u0000none'))).map((v) => v.id);
}

const choicesOf = (r: RecipeSpec, run: PaletteRun): InspectChoices => ({
  ...DEFAULT_CHOICES,
  preset: run.preset,
  recipe: r.id,
  tokens: run.tokens,
  topk: run.topk,
  ep: run.ep ?? { size: 1, rank: 0 },
  arch: run.arch,
  recipeOptions: { ...run.options },
  scaleFormat: 'f32',
  quant: 'vllm',
  skew: 0,
  backend: 'cpu',
});

/** The stages of the run the picks make, from the recipe's own plan (the weights left unwritten). */
function plannedStages(r: RecipeSpec, run: PaletteRun): { id: string; title: string }[] {
  const spec = buildSpec(choicesOf(r, run), makeSpec);
  return r.plan(spec, r.synthetic(spec, { defer: true, backend: 'cpu' }).inputs, { backend: 'cpu' }).stages.map((s) => ({ id: s.id, title: s.title }));
}

test('every registered recipe has an e2e entry: its runs answer all its options and check all its own views', () => {
  for (const r of RECIPES) {
    const e = RECIPE_E2E[r.id];
    assert.ok(e, `recipe '${r.id}' has no entry in RECIPE_E2E (test/e2e/recipes.test.ts): add what the palette picks for it and what its views must show`);
    const own = ownViews(r.id).sort();
    if (r.runnable === false) {
      assert.equal(e.kind, 'transformOnly', `${r.id} is not runnable: its entry must be transformOnly`);
      continue;
    }
    assert.notEqual(e.kind, 'transformOnly', `${r.id} is runnable: its entry must drive a run`);
    if (e.kind === 'coveredBy') {
      assert.ok(existsSync(join(REPO_ROOT, e.file)), `${r.id}: ${e.file} does not exist`);
      assert.deepEqual(own, [], `${r.id} has views of its own (${own.join(', ')}): give it palette runs that check them`);
      continue;
    }
    if (e.kind !== 'palette') continue;
    assert.ok(e.runs.length > 0, `${r.id}: no runs`);
    for (const run of e.runs) {
      const where = `${r.id} ${run.name}`;
      assert.ok(PRESETS.some((p) => p.label === run.preset), `${where}: no preset labelled '${run.preset}'`);
      assert.deepEqual(Object.keys(run.options).sort(), r.options.map((o) => o.id).sort(), `${where}: answer every option of the recipe`);
      assert.deepEqual(Object.keys(run.views).sort(), own, `${where}: check each of the recipe's own views`);
      // the picks make a valid spec, and the recipe plans stages for it
      assert.ok(plannedStages(r, run).length > 0, `${where}: the recipe plans no stages`);
    }
  }
  for (const id of Object.keys(RECIPE_E2E)) assert.doesNotThrow(() => recipeById(id), `RECIPE_E2E names an unregistered recipe '${id}'`);
});

let vs: VsCode | undefined;
let workspace = '';

async function step<T>(name: string, fn: (v: VsCode) => Promise<T>): Promise<T> {
  assert.ok(vs, 'VS Code did not start');
  const t0 = Date.now();
  const out = await vs.step(name, fn);
  // the step's wall time: where this file's minutes go (the machine is shared, so no assertion on it)
  console.log(`step ${name}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return out;
}

before(async () => {
  if (skip) return;
  workspace = makeWorkspace();
  vs = await VsCode.start(workspace);
}, { timeout: 300_000 });

after(async () => {
  await vs?.stop();
  if (workspace) rmSync(workspace, { recursive: true, force: true });
});

/** Picks the quick-pick item labelled `label` at the step titled `title`: types it, waits until it is the active row. */
async function choose(v: VsCode, title: string, label: string, timeout = 20_000): Promise<void> {
  await v.quickInput.locator('.quick-input-title', { hasText: title }).waitFor({ timeout });
  await v.quickInput.locator('input.input').fill(label);
  await v.quickInput.locator('.quick-input-list .monaco-list-row.focused', { hasText: label }).first().waitFor({ timeout: 10_000 });
  await v.page.keyboard.press('Enter');
}

/** Inspect MoE Layer through its steps for one run (the recipe's options asked by their labels). */
async function inspect(v: VsCode, r: RecipeSpec, run: PaletteRun): Promise<void> {
  await v.runCommand('View: Close All Editors');
  await v.runCommand('Inspect MoE Layer');
  // the first question waits for the extension to activate (slow on a busy machine)
  await choose(v, '(1/9)', run.preset, 90_000);
  await choose(v, '(2/9): recipe', r.label);
  await v.answer('(3/9)', String(run.tokens));
  await v.answer('(4/9)', String(run.topk));
  await v.answer('(5/9)', `${run.ep?.size ?? 1}/${run.ep?.rank ?? 0}`);
  await choose(v, '(6/9): architecture', archById(run.arch).label);
  for (const o of r.options) await v.answer(`(6/9): ${o.label}`, String(run.options[o.id]));
  await choose(v, '(7/9)', 'float32 scales · vLLM');
  await v.answer('(8/9)', '0');
  await choose(v, '(9/9)', 'CPU');
  // the run has finished when the header shows its total time; an error notification ends the wait at once. (Not
  // the harness's firstPictureOrError: the panel opens on the view shown last, and on a W4AFP8 run the scale layout
  // view had drawn nothing yet when the run finished — its 7M weight scales become a canvas later.)
  const toast = v.page.locator('.notifications-toasts .notification-toast:has(.codicon-error)').first();
  const failed = toast.waitFor({ timeout: 300_000 }).then(async () => {
    throw new Error(`error notification instead of a run: ${await toast.innerText()}`);
  });
  await Promise.race([v.webview().locator('.badges .badge', { hasText: /^total/ }).waitFor({ timeout: 300_000 }), failed]);
  failed.catch(() => undefined);
  // the panel opens on the view shown last (a W4AFP8 layer's 7M weight scales as a canvas in the scale layout view):
  // show the recipe's first own view, so what follows does not wait on another recipe's picture
  const first = Object.keys(run.views)[0];
  if (first) {
    await v.webview().locator(`#tab-${first}`).click({ timeout: 60_000 });
    await v.webview().locator(`#tab-${first}.active`).waitFor({ timeout: 30_000 });
  }
}

async function errorToasts(v: VsCode): Promise<string[]> {
  return v.page.locator('.notifications-toasts .notification-toast:has(.codicon-error)').allInnerTexts();
}

/**
 * Answers the save dialog with `path` and waits for the panel's "Saved …" toast: the host posts it after the file is
 * written (VS Code's fs.writeFile creates the file before it fills it, so its mere existence proves nothing).
 */
async function saveExport(v: VsCode, path: string): Promise<Buffer> {
  // under load the simple file dialog can put its suggested name back after the harness typed ours: type it again
  for (let attempt = 1; ; attempt++) {
    try {
      await v.saveAs(path);
      break;
    } catch (e) {
      if (attempt >= 3 || !/save dialog holds/.test(String(e))) throw e;
    }
  }
  const name = path.slice(path.lastIndexOf('/') + 1);
  await v.webview().locator('.toast', { hasText: name }).waitFor({ timeout: 30_000 });
  assert.ok(existsSync(path), `${path} was written`);
  return readFileSync(path);
}

const count = (want: number | [number]): string => (typeof want === 'number' ? `${want}` : `≥ ${want[0]}`);
const countOk = (got: number, want: number | [number]): boolean => (typeof want === 'number' ? got === want : got >= want[0]);

const transformOnly = Object.entries(RECIPE_E2E).filter((e): e is [string, Extract<RecipeE2e, { kind: 'transformOnly' }>] => e[1].kind === 'transformOnly');
for (const [id, e] of transformOnly) {
  test(`${id}: the palette offers it and says it is transform-only, pointing to moe-inspect transform`, { skip, timeout: 90_000 }, async () => {
    const r = recipeById(id);
    await step(`${id}-transform-only`, async (v) => {
      await v.runCommand('View: Close All Editors');
      await v.runCommand('Notifications: Clear All Notifications');
      await v.runCommand('Inspect MoE Layer');
      await choose(v, '(1/9)', e.preset, 90_000);
      await choose(v, '(2/9): recipe', r.label);
      const toast = v.page.locator('.notifications-toasts .notification-toast', { hasText: 'is transform-only' });
      await toast.waitFor({ timeout: 15_000 });
      const text = (await toast.locator('.notification-list-item-message').innerText()).replace(/\s+/g, ' ').trim();
      assert.equal(text, transformOnlyMessage(r));
      assert.match(text, new RegExp(`moe-inspect transform --recipe ${id} `));
      // the flow ended there: no more questions, no panel
      await v.quickInput.waitFor({ state: 'hidden', timeout: 5_000 });
      assert.equal(await v.page.locator('.tab', { hasText: 'MoE:' }).count(), 0, 'no inspector panel opened');
      await v.screenshot(`recipe-${id}-transform-only`);
      await v.runCommand('Notifications: Clear All Notifications');
    });
  });
}

const paletteRuns = Object.entries(RECIPE_E2E).flatMap(([id, e]) => (e.kind === 'palette' ? e.runs.map((run) => [id, run] as const) : []));
for (const [id, run] of paletteRuns) {
  test(`${id} ${run.name}: palette → its stages → its own views → SVG and PNG export`, { skip, timeout: 420_000 }, async () => {
    const r = recipeById(id);
    const slug = `${id}-${run.name}`.toLowerCase();
    const stages = plannedStages(r, run);

    await step(`${slug}-inspect`, async (v) => {
      await inspect(v, r, run);
      const tab = v.page.locator('.tab', { hasText: `MoE: ${run.preset}` });
      await tab.waitFor({ timeout: 10_000 });
      const web = v.webview();
      assert.match(await web.locator('.app-header').innerText(), new RegExp(`${run.preset}[\\s\\S]*M ${run.tokens} · K ${makeSpec(run.preset, {}).hidden}`));
      assert.deepEqual(await errorToasts(v), []);
    });

    await step(`${slug}-stages`, async (v) => {
      const web = v.webview();
      const items = web.locator('.stage-list .stage-item');
      assert.deepEqual(await items.evaluateAll((els) => els.map((e) => e.getAttribute('data-stage'))), stages.map((s) => s.id));
      assert.deepEqual(await web.locator('.stage-list .stage-item .stage-title').allInnerTexts(), stages.map((s) => s.title));
      assert.equal(await web.locator('.stage-list .stage-item.pending').count(), 0, 'every stage ran');
      await web.locator(`.stage-list .stage-item[data-stage="${stages[0]!.id}"]`).click();
      const next = web.getByRole('button', { name: 'Next stage (→)' });
      for (let i = 0; i < stages.length; i++) {
        if (i > 0) await next.click();
        await web.locator(`.stage-list .stage-item.current[data-stage="${stages[i]!.id}"]`).waitFor({ timeout: 30_000 });
        assert.equal(await web.locator('.stage-detail h3').innerText(), `${i + 1}. ${stages[i]!.title}`);
        assert.match(await web.locator('.stepper-controls .counter').innerText(), new RegExp(`^${i + 1}\\s*/\\s*${stages.length}$`));
      }
    });

    const own = Object.entries(run.views);
    await step(`${slug}-views`, async (v) => {
      const web = v.webview();
      const tabs = await web.locator('.tab').evaluateAll((els) => els.map((e) => e.id));
      for (const [view] of own) assert.ok(tabs.includes(`tab-${view}`), `the panel offers the ${view} tab (tabs: ${tabs.join(', ')})`);
      for (const [view, check] of own) {
        await web.locator(`#tab-${view}`).click();
        await web.locator(`#tab-${view}.active`).waitFor({ timeout: 30_000 });
        const root = web.locator(`#view-host .${check.root}`);
        await root.locator('svg').first().waitFor({ timeout: 30_000 });
        assert.equal(await web.locator('#view-host .view-error').count(), 0, `${view} rendered without error`);
        // a view lacking its data draws a titled message instead of the picture
        assert.equal(await root.locator('text.message, .view-message, .empty').count(), 0, `${view} drew its picture, not a message`);
        for (const [sel, want] of Object.entries(check.count)) {
          const got = await root.locator(sel).count();
          assert.ok(countOk(got, want), `${view}: ${count(want)} × ${sel} expected, got ${got}`);
        }
        const text = (await root.locator('svg').first().textContent()) ?? '';
        for (const re of check.text) assert.match(text, re, `${view} shows ${re}`);
        await v.page.mouse.move(5, 500);
        await v.screenshot(`recipe-${slug}-${view}`);

        // the export buttons are the formats the registry gives the view
        const formats = await web.locator('.actions button').evaluateAll((els) => els.map((e) => e.getAttribute('data-format')));
        assert.deepEqual(formats, [...viewById(view)!.exportFormats]);
        const target = join(v.workspace, `${slug}-${view}.svg`);
        await web.locator('.actions button[data-format="svg"]').click();
        const svg = (await saveExport(v, target)).toString('utf8');
        assert.match(svg.trimStart(), /^(<\?xml[^>]*>\s*)?<svg[\s>]/);
        assert.match(svg, /xmlns="http:\/\/www.w3.org\/2000\/svg"/);
        assert.match(svg, /<\/svg>\s*$/);
        const exportedText = svg.replace(/<[^>]*>/g, ' ').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
        for (const re of check.text) assert.match(exportedText, re, `exported ${view} SVG holds ${re}`);
      }
    });

    await step(`${slug}-export-png`, async (v) => {
      // the view shown last, through the command palette's Export Layout Diagram
      const view = own[own.length - 1]![0];
      const target = join(v.workspace, `${slug}-${view}.png`);
      await v.runCommand('Export Layout Diagram');
      await choose(v, 'Export Layout Diagram', 'PNG');
      const png = await saveExport(v, target);
      assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
      assert.equal(png.subarray(12, 16).toString('latin1'), 'IHDR');
      const [w, h] = [png.readUInt32BE(16), png.readUInt32BE(20)];
      assert.ok(w >= 400 && h >= 100, `${view} PNG is ${w} × ${h}`);
      assert.deepEqual(await errorToasts(v), []);
      assert.deepEqual(v.cspViolations, [], 'the panel runs within its CSP');
    });
  });
}

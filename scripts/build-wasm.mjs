// Compiles the AssemblyScript kernels (kernels/wasm/*.ts) into one WebAssembly SIMD module. Called by esbuild.mjs
// (writes dist/moe-kernels.wasm beside the bundles) and, when the engine runs from source under tsx, by
// kernels/ops/gemmWasmModule.ts (writes build/wasm/moe-kernels.wasm when a source is newer). Nothing is downloaded:
// the compiler is the `assemblyscript` devDependency.
//   node scripts/build-wasm.mjs OUT.wasm
import { mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const WASM_SOURCES = join(ROOT, 'kernels', 'wasm');

/** The AssemblyScript entry files: every .ts in kernels/wasm (one kernel per file). */
export function wasmSources() {
  return readdirSync(WASM_SOURCES).filter((f) => f.endsWith('.ts')).sort().map((f) => join(WASM_SOURCES, f));
}

/** Compiles to `out` atomically (temp file in the same folder, then rename); throws with the compiler's message. */
export async function buildWasm(out) {
  const { default: asc } = await import('assemblyscript/asc');
  mkdirSync(dirname(out), { recursive: true });
  const tmp = join(dirname(out), `.${basename(out)}.${process.pid}.tmp`);
  let log = '';
  const sink = { write: (s) => ((log += String(s)), true) };
  const { error } = await asc.main(
    [...wasmSources(), '-O3', '--runtime', 'stub', '--enable', 'simd', '--noAssert', '--outFile', tmp],
    { stdout: sink, stderr: sink },
  );
  if (error) {
    rmSync(tmp, { force: true });
    throw new Error(`AssemblyScript build of ${WASM_SOURCES} failed: ${error.message}\n${log}`);
  }
  renameSync(tmp, out);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = process.argv[2];
  if (!out) {
    console.error('usage: node scripts/build-wasm.mjs OUT.wasm');
    process.exit(2);
  }
  buildWasm(resolve(out)).catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}

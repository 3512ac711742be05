/**
 * Finds and compiles the WebAssembly SIMD kernels (kernels/wasm/*.ts, AssemblyScript) once per process. Bundled, the
 * module is dist/moe-kernels.wasm beside the bundle (esbuild.mjs builds it); run from source under tsx, it is
 * build/wasm/moe-kernels.wasm, rebuilt by scripts/build-wasm.mjs when a kernel source is newer (the compiler is a
 * devDependency: nothing is downloaded). The compiled WebAssembly.Module travels to the GEMM worker threads inside
 * each job, so the workers never look for files.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

export const WASM_FILE = 'moe-kernels.wasm';

export type KernelWasm = { module: WebAssembly.Module } | { reason: string };

let cached: KernelWasm | undefined;

/**
 * From source: a module at least as new as every kernel source and the build script (dist/ after `npm run build`,
 * else build/wasm/), or build/wasm/moe-kernels.wasm rebuilt now.
 */
function fromSource(root: string): string {
  const srcDir = join(root, 'kernels', 'wasm');
  const inputs = [...readdirSync(srcDir).filter((f) => f.endsWith('.ts')).map((f) => join(srcDir, f)), join(root, 'scripts', 'build-wasm.mjs')];
  const newest = Math.max(...inputs.map((f) => statSync(f).mtimeMs));
  const out = join(root, 'build', 'wasm', WASM_FILE);
  for (const c of [join(root, 'dist', WASM_FILE), out]) if (existsSync(c) && statSync(c).mtimeMs >= newest) return c;
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'build-wasm.mjs'), out], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`scripts/build-wasm.mjs failed (exit ${r.status}): ${(r.stderr || r.stdout).trim().split('\n')[0]}`);
  return out;
}

function locate(): string {
  const bundled = join(__dirname, WASM_FILE);
  if (existsSync(bundled)) return bundled;
  const root = join(__dirname, '..', '..');
  if (existsSync(join(root, 'kernels', 'wasm'))) return fromSource(root);
  throw new Error(`${bundled} not found; run the build (npm run build)`);
}

/** The compiled kernels, or why they cannot run here (then the callers use the scalar TypeScript kernel). */
export function kernelWasm(): KernelWasm {
  if (cached) return cached;
  try {
    const module = new WebAssembly.Module(readFileSync(locate()));
    // instantiating once proves the engine runs it (SIMD included) before any job depends on it
    new WebAssembly.Instance(module, {});
    cached = { module };
  } catch (e) {
    cached = { reason: e instanceof Error ? e.message : String(e) };
  }
  return cached;
}

// Bundles the three entry points. 'vscode' stays external (the host provides it); the native
// addon is loaded at run time from build/Release, never bundled.
import * as esbuild from 'esbuild';
import { existsSync } from 'node:fs';
import { buildWasm } from './scripts/build-wasm.mjs';

const watch = process.argv.includes('--watch');
const common = { bundle: true, sourcemap: true, logLevel: 'warning', loader: { '.py': 'text' } };
const entries = [
  // @resvg/resvg-js loads a platform .node binary at run time: it stays a require of node_modules, not bundled
  { entryPoints: ['extension/extension.ts'], outfile: 'dist/extension.js', platform: 'node', format: 'cjs', external: ['vscode', '@resvg/resvg-js'], target: 'node18' },
  // the CLI's headless export renders through jsdom (dynamic requires, optional canvas): required from node_modules too
  { entryPoints: ['extension/cli.ts'], outfile: 'dist/cli.js', platform: 'node', format: 'cjs', external: ['@resvg/resvg-js', 'jsdom'], target: 'node18', banner: { js: '#!/usr/bin/env node' } },
  { entryPoints: ['kernels/backend/gpuWorker.ts'], outfile: 'dist/gpuWorker.js', platform: 'node', format: 'cjs', target: 'node18' },
  { entryPoints: ['kernels/ops/gemmWorker.ts'], outfile: 'dist/gemmWorker.js', platform: 'node', format: 'cjs', target: 'node18' },
  { entryPoints: ['webview/main.ts'], outfile: 'dist/webview.js', platform: 'browser', format: 'iife', target: 'es2022' },
].filter((e) => existsSync(e.entryPoints[0]));

// the CPU GEMM's WebAssembly SIMD kernels, beside the bundles that load them (kernels/ops/gemmWasmModule.ts)
await buildWasm('dist/moe-kernels.wasm');

for (const e of entries) {
  if (watch) await (await esbuild.context({ ...common, ...e })).watch();
  else await esbuild.build({ ...common, ...e });
}

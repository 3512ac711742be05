// Time from "Inspect MoE Layer" to the first picture in the panel, in a real VS Code (code-server) driven by
// headless chromium: Qwen3-30B-A3B, 128 tokens, CPU path. Prints figures for BENCHMARKS.md.
//   npm run build && node --import tsx scripts/bench-e2e.ts [runs=3] [tokens=128]
import { rmSync } from 'node:fs';
import { VsCode, e2eProblem, inspectViaPalette, makeWorkspace } from '../test/e2e/harness';

const runs = Number(process.argv[2] ?? 3);
const tokens = Number(process.argv[3] ?? 128);

async function main(): Promise<void> {
  const problem = e2eProblem();
  if (problem) throw new Error(`bench-e2e cannot run: ${problem}`);
  const ws = makeWorkspace();
  const tStart = Date.now();
  const v = await VsCode.start(ws);
  const startupMs = Date.now() - tStart;
  const rows: { fromLastAnswerMs: number; fromPaletteMs: number; engine: string }[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      // close the panel so the next run's first picture is a fresh one
      await v.runCommand('View: Close All Editors');
      await v.page.waitForTimeout(300);
      const t = await inspectViaPalette(v, { preset: 'Qwen3-30B-A3B', tokens, topk: 8, arch: 'SM90', recipe: 'float32 scales · vLLM', backend: 'CPU' });
      // the engine's own total (Trace.totalMs) as the panel header shows it, to separate engine from UI time
      const engine = (await v.webview().locator('.app-header .badge', { hasText: 'total' }).first().innerText()).replace(/^total\s*/, '');
      rows.push({ ...t, engine });
    }
  } finally {
    await v.stop();
    rmSync(ws, { recursive: true, force: true });
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`code-server + chromium start to workbench: ${startupMs} ms`);
  console.log(`| what (Qwen3-30B-A3B, ${tokens} tokens, CPU) | median | runs |`);
  console.log('|---|---|---|');
  console.log(`| last quick-pick answer → first SVG in panel | ${med(rows.map((r) => r.fromLastAnswerMs))} ms | ${rows.map((r) => r.fromLastAnswerMs).join(', ')} |`);
  console.log(`| palette opened → first SVG (incl. 8 scripted answers) | ${med(rows.map((r) => r.fromPaletteMs))} ms | ${rows.map((r) => r.fromPaletteMs).join(', ')} |`);
  console.log(`| of which the engine (Trace.totalMs, CPU path) | — | ${rows.map((r) => r.engine).join(', ')} |`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});

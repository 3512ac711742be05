/**
 * Real inputs: time and memory (issue 11 "Memory"). A run of the bundled CLI (`node dist/cli.js run … --backend cpu
 * --out O`) end to end, against the time of reading its inputs once from the page cache, and its peak RSS against the
 * bytes it reads — for a layer file and for a small sharded checkpoint (model.safetensors.index.json + shards, one
 * layer read). Targets: end to end ≤ 3× the read, peak RSS < 2× the bytes read.
 *
 * Each run is a child process whose peak RSS (/proc/self/status VmHWM) is reported at exit by a preloaded hook, so
 * the figure is the CLI's own. The read baseline reads the same files in 64 MiB chunks from the page cache, right
 * before each run; the checkpoint holds one MoE layer and the routing uses every expert, so its shards are
 * the bytes the run reads. Writes the "Real inputs: time and memory" section of BENCHMARKS.md.
 *   npm run build && node --import tsx scripts/bench-inputs.ts [runs=3]
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { makeSpec } from '../kernels/presets';
import { syntheticInputs } from '../kernels/synthetic';
import { writeSafetensors } from '../kernels/io/safetensors';
import type { Tensor } from '../kernels/tensor';
import { writeCheckpoint } from '../test/kernels/io/checkpoint/fixtures';
import { writeFileAtomic } from '../kernels/io/atomicWrite';
import { readParallel } from '../kernels/ops/byteRangeThreads';

const ROOT = resolve(__dirname, '..');
const CLI = join(ROOT, 'dist', 'cli.js');
const runs = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 3);
/**
 * --gpu (on the GPU machine): the issue's own case instead — a DeepSeek-V3 EP8 rank's layer file (4096 tokens, 32
 * local experts, ~1.4 GB) through `run --backend cuda`, with and without --out — in a section of its own.
 */
const GPU = process.argv.includes('--gpu');
const SECTION = GPU ? 'Real inputs on the GPU: time and memory' : 'Real inputs: time and memory';

interface Case {
  label: string;
  /** files the run reads (the read baseline reads them whole) */
  files: string[];
  args: string[];
  /** node arguments that run something else than the CLI bundle (the editor's path, below) */
  entry?: string[];
}

interface Row {
  label: string;
  bytes: number;
  readMs: number;
  /** the same read split over threads, as the CLI reads large FP8 tensors (kernels/ops/byteRangeThreads.ts) */
  threadedReadMs: number;
  runMs: number[];
  /** the CLI's own stage-table total (the layer's compute), per run */
  stagesMs: number[];
  rssBytes: number[];
  cliNotes: string[];
}

/** one read of every byte of `files`, in 64 MiB chunks into one reused buffer */
function readOnce(files: string[]): number {
  const buf = Buffer.allocUnsafe(64 << 20);
  const t0 = performance.now();
  for (const f of files) {
    const fd = openSync(f, 'r');
    try {
      while (readSync(fd, buf, 0, buf.length, null) > 0);
    } finally {
      closeSync(fd);
    }
  }
  return performance.now() - t0;
}

/** the same bytes read by the threads the CLI uses for large tensors, 256 MiB at a time into one reused buffer */
function readOnceThreaded(files: string[]): number {
  const buf = new Uint8Array(new SharedArrayBuffer(256 << 20));
  const t0 = performance.now();
  for (const f of files) {
    const fd = openSync(f, 'r');
    try {
      const size = statSync(f).size;
      for (let pos = 0; pos < size; pos += buf.length) {
        const dst = buf.subarray(0, Math.min(buf.length, size - pos));
        if (readParallel(fd, dst, pos).length) throw new Error(`${f}: a threaded read came up short`);
      }
    } finally {
      closeSync(fd);
    }
  }
  return performance.now() - t0;
}

/** the "total" row of the CLI's stage table ("total   7.04 s" or "812.3 ms") */
function stageTotalMs(stdout: string, stderr = ''): number {
  const m = /^total\s+([\d.]+) (s|ms|µs)\b/m.exec(stdout);
  if (!m) throw new Error(`no stage total in the CLI's output:\n${stdout}\n${stderr}`);
  return Number(m[1]) * (m[2] === 's' ? 1e3 : m[2] === 'ms' ? 1 : 1e-3);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mb = (b: number): string => `${(b / 1e6).toFixed(0)} MB`;

function runCli(dir: string, args: string[], entry: string[] = [CLI]): { ms: number; rss: number; stdout: string; stderr: string } {
  const hook = join(dir, 'rss-hook.cjs');
  const rssFile = join(dir, 'rss.txt');
  // VmHWM, the high-water mark of this process image's memory; not getrusage's maxRSS, which on Linux keeps the
  // RSS the forked child inherited from this (large) parent before exec
  writeFileSync(
    hook,
    `process.on('exit', () => { const fs = require('node:fs'); const kb = /VmHWM:\\s+(\\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]; fs.writeFileSync(${JSON.stringify(rssFile)}, String(Number(kb) * 1024)); });\n`,
  );
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--require', hook, ...entry, ...args], { encoding: 'utf8', cwd: ROOT, maxBuffer: 1 << 26 });
  const ms = performance.now() - t0;
  if (r.status !== 0 && r.status !== 1) throw new Error(`moe-inspect ${args.join(' ')} failed (exit ${r.status}):\n${r.stderr}`);
  return { ms, rss: Number(readFileSync(rssFile, 'utf8')), stdout: r.stdout, stderr: r.stderr };
}

function measure(dir: string, c: Case): Row {
  const bytes = c.files.reduce((s, f) => s + statSync(f).size, 0);
  readOnce(c.files); // into the page cache
  // a read right before each run, so both see the same (shared, busy) machine; the median of each is reported
  const reads: number[] = [];
  const threaded: number[] = [];
  const row: Row = { label: c.label, bytes, readMs: 0, threadedReadMs: 0, runMs: [], stagesMs: [], rssBytes: [], cliNotes: [] };
  for (let i = 0; i < runs; i++) {
    threaded.push(readOnceThreaded(c.files));
    reads.push(readOnce(c.files));
    const r = runCli(dir, c.args, c.entry);
    row.runMs.push(r.ms);
    row.stagesMs.push(stageTotalMs(r.stdout, r.stderr));
    row.rssBytes.push(r.rss);
    row.cliNotes = r.stdout.split('\n').filter((l) => l.startsWith('note: read ') || l.startsWith('backend: '));
    if (i === 0) console.log(r.stdout);
    console.log(`${c.label}: read ${reads.at(-1)!.toFixed(0)} ms (${threaded.at(-1)!.toFixed(0)} ms on threads), run ${i + 1}: ${r.ms.toFixed(0)} ms, peak RSS ${mb(r.rss)}`);
  }
  row.readMs = median(reads);
  row.threadedReadMs = median(threaded);
  return row;
}

function section(rows: Row[], baseline: { ms: number; rss: number }): string {
  const lines = [
    `## ${SECTION}`,
    '',
    `Measured by \`node --import tsx scripts/bench-inputs.ts ${runs}\` (part of \`npm run bench\`) on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC: ${cpus().length} cores, ${cpus()[0]?.model.trim() ?? '?'}, Node ${process.version}; load average at the end ${loadavg().map((x) => x.toFixed(2)).join(' ')} (the machine is shared: times are noisy).`,
    `Each run is \`node dist/cli.js run … --backend ${GPU ? 'cuda' : 'cpu'} [--out O.safetensors]\` in its own process, timed from spawn to exit; peak RSS is that process's`,
    `VmHWM (/proc/self/status) at exit. "read once" reads the same files whole, from the page cache, in 64 MiB chunks into one reused buffer on one thread, right before each run (median); "on threads" reads them split over the threads the CLI uses for large tensors (kernels/ops/byteRangeThreads.ts), 256 MiB at a time. Node running the CLI with nothing to do (\`--help\`): ${baseline.ms.toFixed(0)} ms, ${mb(baseline.rss)} peak RSS.`,
    '',
    ...(GPU
      ? [
          'On the GPU path the stage table\'s total is the GPU kernels\' time (CUDA events); the rest is process start, reading and',
          'validating the inputs once, starting CUDA, the transfers and, with --out, the stage tensors copied back and the file',
          'written (inputs and stage tensors, ~2.8 GB, fsynced and renamed into place). The CLI runs the addon in its own',
          'process; without --out or --trace the stage tensors stay on the GPU.',
        ]
      : [
          'On this CPU path the layer\'s own compute (the stage table\'s total: the CPU reference GEMMs) is part of the run; the',
          '"rest" column is the run without it — process start, reading and validating the inputs, writing --out (which holds the',
          'inputs again) — the part the issue\'s GPU figure (23.3 s for 5.7 ms of GPU work) is about.',
        ]),
    '',
    '| input | bytes read | read once (on threads) | run end to end (median; runs) | of which stages | rest ÷ read | run ÷ read (target ≤ 3×; on threads) | peak RSS (median) | RSS ÷ bytes (target < 2×) |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const run = median(r.runMs);
    const stages = median(r.stagesMs);
    const rss = median(r.rssBytes);
    const s = (ms: number): string => `${(ms / 1e3).toFixed(2)} s`;
    lines.push(
      `| ${r.label} | ${mb(r.bytes)} | ${r.readMs.toFixed(0)} ms (${r.threadedReadMs.toFixed(0)} ms) | ${s(run)} (${r.runMs.map(s).join(', ')}) | ${s(stages)} | ${((run - stages) / r.readMs).toFixed(1)}× | ${(run / r.readMs).toFixed(1)}× (${(run / r.threadedReadMs).toFixed(1)}×) | ${mb(rss)} | ${(rss / r.bytes).toFixed(2)}× |`,
    );
  }
  lines.push('');
  for (const r of rows) for (const n of r.cliNotes) lines.push(`- ${r.label}: \`${n}\``);
  return `${lines.join('\n')}\n`;
}

/** replaces this script's own section of BENCHMARKS.md (others' sections are left as they are) */
function replaceSection(md: string, sec: string): string {
  const start = md.indexOf(`## ${SECTION}`);
  if (start < 0) return `${md.trimEnd()}\n\n${sec}`;
  const rest = md.slice(start + 3);
  const next = rest.search(/^## /m);
  return md.slice(0, start) + sec + (next < 0 ? '' : `\n${rest.slice(next)}`);
}

function main(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} missing: run npm run build first`);
  const dir = mkdtempSync(join(tmpdir(), 'moe-bench-inputs-'));
  try {
    // a layer file: Qwen3-30B-A3B shapes with 64 experts (~300 MB of FP8 weights), 32 tokens
    const layer = join(dir, 'layer.safetensors');
    const spec = makeSpec('qwen3-30b-a3b', { tokens: 32, experts: 64, source: { kind: 'synthetic', seed: 1, skew: 0 } });
    const tensors: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(syntheticInputs(spec))) if (v) tensors[k] = v as Tensor;
    writeSafetensors(layer, tensors);
    // a sharded checkpoint: Qwen3-MoE FP8, hidden 2048, moe_intermediate 768, 32 experts top-8, one layer in 4 shards
    const ck = join(dir, 'qwen3-moe-ckpt');
    writeCheckpoint(ck, { family: 'qwen', hidden: 2048, intermediate: 768, experts: 32, topk: 8, layers: 1, shards: 4 });
    const shards = readdirSync(ck).filter((f) => f.endsWith('.safetensors')).map((f) => join(ck, f));
    const out = join(dir, 'out.safetensors');
    if (GPU) {
      const big = join(dir, 'dsv3-ep8.safetensors');
      const ep = makeSpec('deepseek-v3', { tokens: 4096, expertParallel: { size: 8, rank: 0, strategy: 'linear' }, source: { kind: 'synthetic', seed: 1, skew: 0 } });
      const t: Record<string, Tensor> = {};
      for (const [k, v] of Object.entries(syntheticInputs(ep))) if (v) t[k] = v as Tensor;
      writeSafetensors(big, t);
      // the editor's path for the same file, as extension/engine.ts takes it (that module is not imported here: it
      // pulls in the export formats' dependencies): the host reads the file, runs it in the GPU worker process (which
      // reads the file again and sends the stage tensors back through its pipe) and draws from the summaries
      const editor = join(dir, 'editor-path.ts');
      const from = (m: string): string => JSON.stringify(join(ROOT, 'kernels', m));
      writeFileSync(
        editor,
        [
          `import { loadLayer } from ${from('layerFile')};`,
          `import { runLayer } from ${from('pipeline')};`,
          `import { DEFAULT_RECIPE } from ${from('spec')};`,
          'const path = process.argv[2]!;',
          'const { recipe, inputs } = loadLayer(path);',
          "const spec = recipe.specFromInputs(inputs, { name: 'layer', arch: 'sm90', recipe: { ...DEFAULT_RECIPE, id: recipe.id }, source: { kind: 'file', path } });",
          "void runLayer(spec, { backend: 'cuda', inputs }).then((r) => {",
          '  const refs = Object.keys(r.trace.tensors).length;',
          '  console.log(`backend: ${r.trace.backend.name} on ${r.trace.backend.device}; ${refs} tensor summaries`);',
          '  console.log(`total ${r.trace.stages.reduce((a, s) => a + s.timeMs, 0)} ms`);',
          // exit 2 (not 1, a run's failed checks): the bench stops with the error
          '}, (e) => { console.error(e); process.exit(2); });',
        ].join('\n'),
      );
      const gpuCases: Case[] = [
        { label: 'DeepSeek-V3 EP8 rank 0 layer file (4096 tokens, 32 local experts), --out', files: [big], args: ['run', '--layer', big, '--backend', 'cuda', '--out', out] },
        { label: 'the same, no --out', files: [big], args: ['run', '--layer', big, '--backend', 'cuda'] },
        { label: "the same through the editor's path (GPU worker process, the trace's summaries; parent process's RSS)", files: [big], args: [big], entry: ['--import', 'tsx', editor] },
      ];
      const help = runCli(dir, ['--help']);
      const sec = section(gpuCases.map((c) => measure(dir, c)), { ms: help.ms, rss: help.rss });
      // where the time goes: one more run of the CLI without --out under the V8 profiler (its main thread and reader threads)
      const prof = process.env.MOE_BENCH_PROFILE_DIR;
      if (prof) {
        const r = spawnSync(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${prof}`, CLI, ...gpuCases[1]!.args], { encoding: 'utf8', cwd: ROOT, maxBuffer: 1 << 26 });
        console.log(`profiled run: exit ${r.status}; profiles in ${prof}`);
      }
      console.log(sec);
      const md = join(ROOT, 'BENCHMARKS.md');
      writeFileAtomic(md, replaceSection(readFileSync(md, 'utf8'), sec));
      return;
    }
    const cases: Case[] = [
      { label: `layer file (Qwen3-30B-A3B shapes, 64 experts, ${spec.tokens} tokens)`, files: [layer], args: ['run', '--layer', layer, '--backend', 'cpu', '--out', out] },
      {
        label: 'sharded checkpoint (Qwen3-MoE FP8, 32 experts, 4 shards, layer 0, 64 synthetic tokens)',
        files: shards,
        args: ['run', '--checkpoint', ck, '--layer-index', '0', '--tokens', '64', '--backend', 'cpu', '--out', out],
      },
    ];
    const help = runCli(dir, ['--help']);
    const rows = cases.map((c) => measure(dir, c));
    const sec = section(rows, { ms: help.ms, rss: help.rss });
    console.log(sec);
    const md = join(ROOT, 'BENCHMARKS.md');
    writeFileAtomic(md, replaceSection(readFileSync(md, 'utf8'), sec));
    console.log(`wrote the "${SECTION}" section of ${md}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();

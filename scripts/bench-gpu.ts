/**
 * `npm run bench:gpu`: one run on the GPU machine, everything side by side in the same call.
 * - the GPU's name and the roofline model picked from it (kernels/arch gpuModelForDevice)
 * - ceilings measured now (python3/torch): device-to-device copy bandwidth and FP8 torch._scaled_mm 8192³
 * - our grouped FP8 GEMM on the five shapes of ../shared/DEVICE.md, beside DeepGEMM's
 *   m_grouped_fp8_gemm_nt_contiguous (scripts/bench_gpu_deepgemm.py; built from source on the GPU machine, see
 *   scripts/gpu/setup-deepgemm.sh) and torch._scaled_grouped_mm (FP8, row-wise) / torch._grouped_mm (BF16), all
 *   timed in this run; when DeepGEMM cannot be imported the table says so and prints no ratio
 * - our quantizer at 32768×7168 vs eager PyTorch
 * - every stage of two whole layers (times from the addon's CUDA events), memory-bound stages as a fraction of the
 *   copy bandwidth measured in this run, GEMMs as a fraction of the FP8 rate measured in this run
 * Writes the `## GPU` section of BENCHMARKS.md (other sections are left as they are) and prints the tables.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadDevAddon, packageRoot, type NativeBenchLayerConfig } from '../kernels/native/addon';
import { interpretProbe } from '../kernels/backend/probe';
import type { StageId } from '../kernels/trace';
import { CONTIGUOUS_STAGES } from '../kernels/recipes/contiguous/stages';

const STAGE_ORDER: readonly StageId[] = CONTIGUOUS_STAGES.map((s) => s.id);
import { GPU_MODELS, gpuModelForDevice } from '../kernels/arch/index';
import { writeFileAtomic } from '../kernels/io/atomicWrite';

const ROOT = packageRoot(__dirname);
const REPEATS = Number(process.env.MOE_BENCH_REPEATS ?? 20);

/** the grouped GEMMs of issue 10 / DEVICE.md: experts × valid rows each (128-aligned segments), N, K */
const GEMMS = [
  { name: 'DeepSeek-V3 EP8 GEMM1', experts: 32, rows: 240, N: 4096, K: 7168 },
  { name: 'DeepSeek-V3 EP8 GEMM2', experts: 32, rows: 255, N: 7168, K: 2048 },
  { name: 'Qwen3-30B-A3B GEMM1', experts: 128, rows: 250, N: 1536, K: 2048 },
  { name: 'Qwen3-30B-A3B GEMM2', experts: 128, rows: 259, N: 2048, K: 768 },
  { name: 'large', experts: 4, rows: 9200, N: 6144, K: 7168 },
];
/** masked (DeepEP low-latency) grouped GEMMs: DeepSeek-V3 EP8 decode, 32 local experts × max_m 256 with 160–223 valid
 *  rows each (the GEMM harness's masked shape, scripts/gpu/gemm_variants.cu), GEMM1 and GEMM2 */
const MASKED_M = Array.from({ length: 32 }, (_, e) => 160 + ((e * 37) % 64));
const MASKED = [
  { name: 'DeepSeek-V3 EP8 decode GEMM1', maskedM: MASKED_M, maxM: 256, N: 4096, K: 7168 },
  { name: 'DeepSeek-V3 EP8 decode GEMM2', maskedM: MASKED_M, maxM: 256, N: 7168, K: 2048 },
];
const QUANT: [number, number] = [32768, 7168];
const LAYERS: { name: string; cfg: NativeBenchLayerConfig }[] = [
  { name: 'DeepSeek-V3 (EP8 rank: 32 local experts, 4096 tokens, top-8)', cfg: { M: 4096, K: 7168, N: 2048, E: 32, topk: 8, arch: 90, quant: 'vllm', scaleFormat: 'ue8m0', activation: 'silu', routerWeight: 'reduce' } },
  { name: 'Qwen3-30B-A3B (128 experts, 8192 tokens, top-8)', cfg: { M: 8192, K: 2048, N: 768, E: 128, topk: 8, arch: 90, quant: 'vllm', scaleFormat: 'f32', activation: 'silu', routerWeight: 'reduce' } },
];

interface TorchGemm {
  name: string;
  scaledGroupedMs?: number;
  scaledGroupedTFLOPs?: number;
  scaledGroupedError?: string;
  bf16GroupedMs?: number;
  bf16GroupedTFLOPs?: number;
  bf16GroupedError?: string;
}
interface TorchResult {
  torch: string;
  device: string;
  copyTBs: number;
  fp8TFLOPs: number;
  gemms: TorchGemm[];
  quantEagerMs: number;
  quantEagerBytes: number;
}

const f = (x: number, d = 1): string => (Number.isFinite(x) ? x.toFixed(d) : '—');
const pct = (x: number): string => `${f(100 * x, 0)}%`;

function runTorch(): TorchResult {
  const job = { gemms: GEMMS.map((g) => ({ name: g.name, rows: Array(g.experts).fill(g.rows), N: g.N, K: g.K })), quant: QUANT, repeats: REPEATS };
  const r = spawnSync('python3', [join(ROOT, 'scripts', 'bench_gpu_torch.py'), JSON.stringify(job)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`python3 bench_gpu_torch.py failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as TorchResult;
}

type DeepGemmResult =
  | { available: true; version: string; path: string; gemms: { name: string; ms?: number; error?: string }[]; masked?: { name: string; ms?: number; error?: string }[] }
  | { available: false; reason: string };

/** DeepGEMM on the same shapes in this run (it needs a CUDA build of its own: see scripts/gpu/setup-deepgemm.sh) */
function runDeepGemm(): DeepGemmResult {
  const job = { gemms: GEMMS.map((g) => ({ name: g.name, rows: Array(g.experts).fill(g.rows), N: g.N, K: g.K })), masked: MASKED, repeats: REPEATS };
  const r = spawnSync('python3', [join(ROOT, 'scripts', 'bench_gpu_deepgemm.py'), JSON.stringify(job)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  const line = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as DeepGemmResult;
  } catch {
    const why = r.error ? r.error.message : `exit ${r.status}: ${(r.stderr ?? '').trim().split('\n').slice(-1)[0] ?? ''}`;
    return { available: false, reason: `scripts/bench_gpu_deepgemm.py gave no result (${why})` };
  }
}

/** minimum compulsory bytes per stage (docs/layouts-and-stages.md §12), S = executed rows, R = routed pairs */
function stageBytes(c: NativeBenchLayerConfig, S: number): Record<StageId, number> {
  const { M, K, N, topk: k } = c;
  const G = K / 128;
  const GN = N / 128;
  const R = M * k;
  const Ma = Math.ceil(M / 4) * 4;
  return {
    quantize: 2 * M * K + M * K + 4 * M * G,
    transform_scales: 4 * M * G + 4 * Ma * G,
    permute: M * K + 4 * M * G + 4 * M * k + S * K + 4 * S * G + 4 * S + 4 * M * k,
    gemm1: 0,
    activation: 2 * S * 2 * N + 2 * S * N,
    requantize: 2 * S * N + S * N + 4 * S * GN,
    gemm2: 0,
    unpermute: 2 * R * K + 12 * M * k + 2 * M * K,
  };
}

function replaceGpuSection(md: string, section: string): string {
  const start = md.search(/^## GPU\b/m);
  if (start < 0) return `${md.trimEnd()}\n\n${section}`;
  const rest = md.slice(start + 6);
  const next = rest.search(/^## /m);
  return md.slice(0, start) + section + (next < 0 ? '' : `\n${rest.slice(next)}`);
}

function main(): void {
  const addon = loadDevAddon();
  const probe = interpretProbe(addon.probe());
  if (!probe.ok) {
    console.log(`bench:gpu needs a GPU: ${probe.reason}`);
    return;
  }
  const device = probe.device ?? 'unknown GPU';
  // the measured model of this GPU when there is one (H200-measured), else its datasheet model
  const named = gpuModelForDevice(device);
  const peak = named ? (GPU_MODELS.find((g) => g.id === `${named.id}-measured`) ?? named) : undefined;
  const date = new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
  console.log(`# GPU benchmark on ${device}, ${date}, ${REPEATS} timed runs per figure (median)`);
  const modelLine = peak
    ? `roofline model: ${peak.id} (picked from the device name; ${peak.source})`
    : `roofline model: none known for "${device}" (the tables use only the ceilings measured below)`;
  console.log(modelLine);
  const torch = runTorch();
  console.log(`ceilings measured now: copy ${f(torch.copyTBs, 2)} TB/s, FP8 _scaled_mm 8192³ ${f(torch.fp8TFLOPs, 0)} TFLOP/s (torch ${torch.torch})`);
  const dg = runDeepGemm();
  console.log(dg.available ? `DeepGEMM ${dg.version} (${dg.path})` : `DeepGEMM not available: ${dg.reason}`);

  const lines: string[] = [];
  lines.push('## GPU', '');
  lines.push(`Measured by \`npm run bench:gpu\` on **${device}**, ${date}; PyTorch ${torch.torch}; ${dg.available ? `DeepGEMM **${dg.version}** built from source on the machine` : `DeepGEMM not available (${dg.reason})`}. Every figure is the median of ${REPEATS} CUDA-event timings after warm-up, on random (never zero) data, all in one run.`);
  lines.push(`${modelLine.replace(/^roofline model: /, 'Roofline model: ')}. Ceilings measured in the same run: device-to-device copy **${f(torch.copyTBs, 2)} TB/s** (bytes read + written), FP8 \`torch._scaled_mm\` 8192³ **${f(torch.fp8TFLOPs, 0)} TFLOP/s**.`, '');

  lines.push('### Grouped FP8 GEMM (M-grouped contiguous, 1×128 A scales, 128×128 B scales, BF16 out)', '');
  lines.push('TFLOP/s on valid rows. Peers timed in this run on the same shapes and the same padded layout: DeepGEMM `m_grouped_fp8_gemm_nt_contiguous` (the production kernel, same recipe), `torch._scaled_grouped_mm` (FP8, row-wise scales: a simpler recipe) and `torch._grouped_mm` (BF16). "× DeepGEMM" and "× torch" are speed ratios (their time / ours): above 1 we are faster.', '');
  lines.push('| shape (experts × rows, N, K) | ours | TFLOP/s | DeepGEMM | × DeepGEMM | _scaled_grouped_mm FP8 | × torch | _grouped_mm BF16 |');
  lines.push('|---|---|---|---|---|---|---|---|');
  const dgRatios: number[] = [];
  const torchRatios: number[] = [];
  for (const g of GEMMS) {
    const r = addon.benchGemm({ rows: Array(g.experts).fill(g.rows), N: g.N, K: g.K, repeats: REPEATS });
    const tflops = r.usefulFlops / r.ms / 1e9;
    const t = torch.gemms.find((x) => x.name === g.name);
    const d = dg.available ? dg.gemms.find((x) => x.name === g.name) : undefined;
    let dgCell = 'not available';
    let dgRatio = '—';
    if (dg.available && d?.ms !== undefined) {
      dgCell = `${f(d.ms * 1000, 0)} µs, ${f(r.usefulFlops / d.ms / 1e9, 0)} TFLOP/s`;
      dgRatios.push(d.ms / r.ms);
      dgRatio = `**${f(d.ms / r.ms, 2)}**`;
    } else if (dg.available) dgCell = `refused: ${d?.error ?? '?'}`;
    let torchCell = `refused: ${t?.scaledGroupedError ?? '?'}`;
    let torchRatio = '—';
    if (t?.scaledGroupedMs !== undefined) {
      torchCell = `${f(t.scaledGroupedMs * 1000, 0)} µs, ${f(t.scaledGroupedTFLOPs ?? NaN, 0)} TFLOP/s`;
      torchRatios.push(t.scaledGroupedMs / r.ms);
      torchRatio = f(t.scaledGroupedMs / r.ms, 2);
    }
    const bf16 = t?.bf16GroupedMs !== undefined ? `${f(t.bf16GroupedMs * 1000, 0)} µs, ${f(t.bf16GroupedTFLOPs ?? NaN, 0)} TFLOP/s` : `refused: ${t?.bf16GroupedError ?? '?'}`;
    lines.push(`| ${g.name}: ${g.experts} × ${g.rows}, ${g.N}, ${g.K} | ${f(r.ms * 1000, 0)} µs | ${f(tflops, 0)} | ${dgCell} | ${dgRatio} | ${torchCell} | ${torchRatio} | ${bf16} |`);
  }
  lines.push('');

  lines.push('### Masked grouped FP8 GEMM (DeepEP low-latency layout: E × max_m rows, masked_m valid; same scales)', '');
  lines.push("TFLOP/s on valid rows. Ours through the addon: the GEMM the masked recipe runs (on SM90 the TMA kernel's masked variant plus a pass that zeroes rows past masked_m) and the TMA kernel's masked variant alone (rows past masked_m hold values of no meaning); DeepGEMM `m_grouped_fp8_gemm_nt_masked` (expected_m = mean of masked_m) on the same inputs' shapes, in this run. \"×\" = DeepGEMM's time / ours.", '');
  lines.push('| shape (experts × max_m, valid rows, N, K) | masked recipe\'s kernel | TMA kernel (masked) | DeepGEMM masked | × DeepGEMM (recipe\'s) | × DeepGEMM (TMA) |');
  lines.push('|---|---|---|---|---|---|');
  const maskedRatios: number[] = [];
  for (const g of MASKED) {
    const cell = (kernel: 'recipe' | 'tma'): { ms?: number; text: string } => {
      try {
        const r = addon.benchGemm({ rows: g.maskedM, maxM: g.maxM, N: g.N, K: g.K, kernel, repeats: REPEATS });
        return { ms: r.ms, text: `${f(r.ms * 1000, 0)} µs, ${f(r.usefulFlops / r.ms / 1e9, 0)} TFLOP/s (${r.kernel ?? '?'})` };
      } catch (e) {
        return { text: `failed: ${(e as Error).message.split('\n')[0]}` };
      }
    };
    const rec = cell('recipe');
    const tma = cell('tma');
    const flops = 2 * g.maskedM.reduce((a, b) => a + b, 0) * g.N * g.K;
    const d = dg.available ? dg.masked?.find((x) => x.name === g.name) : undefined;
    let dgCell = dg.available ? `refused: ${d?.error ?? '?'}` : 'not available';
    const ratio = (ours?: number): string => (d?.ms !== undefined && ours !== undefined ? `**${f(d.ms / ours, 2)}**` : '—');
    if (d?.ms !== undefined) {
      dgCell = `${f(d.ms * 1000, 0)} µs, ${f(flops / d.ms / 1e9, 0)} TFLOP/s`;
      if (tma.ms !== undefined) maskedRatios.push(d.ms / tma.ms);
    }
    const lo = Math.min(...g.maskedM);
    const hi = Math.max(...g.maskedM);
    lines.push(`| ${g.name}: ${g.maskedM.length} × ${g.maxM}, ${lo}–${hi}, ${g.N}, ${g.K} | ${rec.text} | ${tma.text} | ${dgCell} | ${ratio(rec.ms)} | ${ratio(tma.ms)} |`);
  }
  lines.push('');

  const q = addon.benchQuantize({ M: QUANT[0], K: QUANT[1], repeats: REPEATS });
  // bytes / ms / 1e9 = TB/s
  const qBw = q.bytes / q.ms / 1e9;
  const eBw = torch.quantEagerBytes / torch.quantEagerMs / 1e9;
  lines.push(`### Quantizer (per-token group of 128, BF16 → FP8 + f32 scales), ${QUANT[0]} × ${QUANT[1]}`, '');
  lines.push('| implementation | time | bytes/time | of copy bandwidth |', '|---|---|---|---|');
  lines.push(`| ours (CUDA) | ${f(q.ms * 1000, 0)} µs | ${f(qBw, 2)} TB/s | ${pct(qBw / torch.copyTBs)} |`);
  lines.push(`| eager PyTorch | ${f(torch.quantEagerMs * 1000, 0)} µs | ${f(eBw, 2)} TB/s | ${pct(eBw / torch.copyTBs)} |`, '');

  const memFractions: { stage: StageId; layer: string; frac: number }[] = [];
  for (const L of LAYERS) {
    const r = addon.benchLayer({ ...L.cfg, repeats: REPEATS, seed: 7 });
    const S = r.mSum;
    const R = L.cfg.M * L.cfg.topk;
    const bytes = stageBytes(L.cfg, S);
    const flops: Partial<Record<StageId, number>> = { gemm1: 2 * R * 2 * L.cfg.N * L.cfg.K, gemm2: 2 * R * L.cfg.K * L.cfg.N };
    lines.push(`### Whole layer, stage by stage: ${L.name}`, '');
    lines.push(`K ${L.cfg.K}, N ${L.cfg.N}, scales ${L.cfg.scaleFormat}, uniform routing; M_sum ${S} rows for ${R} routed pairs (padding ${pct((S - R) / S)}). Memory-bound stages against the copy bandwidth measured in this run (minimum bytes of docs/layouts-and-stages.md §12), GEMMs against the FP8 rate measured in this run (useful FLOPs).`, '');
    lines.push('| stage | time | work | achieved | of ceiling |', '|---|---|---|---|---|');
    let total = 0;
    for (const s of STAGE_ORDER) {
      const ms = r.timesMs[s];
      total += ms;
      const fl = flops[s];
      if (fl) {
        const tf = fl / ms / 1e9;
        lines.push(`| ${s} | ${f(ms * 1000, 0)} µs | ${f(fl / 1e9, 1)} GFLOP | ${f(tf, 0)} TFLOP/s | ${pct(tf / torch.fp8TFLOPs)} |`);
      } else {
        const bw = bytes[s] / ms / 1e9;
        if (bytes[s] >= 64e6) memFractions.push({ stage: s, layer: L.name.split(' ')[0]!, frac: bw / torch.copyTBs });
        lines.push(`| ${s} | ${f(ms * 1000, 0)} µs | ${f(bytes[s] / 1e6, 1)} MB | ${f(bw, 2)} TB/s | ${pct(bw / torch.copyTBs)} |`);
      }
    }
    lines.push(`| total | ${f(total * 1000, 0)} µs | | | |`, '');
  }

  lines.push('### Against the targets', '');
  const memBelow = memFractions.filter((m) => m.frac < 0.85);
  lines.push(`- Memory-bound stages moving ≥ 64 MB, of the copy bandwidth (target ≥ 85%): ${memFractions.map((m) => `${m.stage} (${m.layer}) ${pct(m.frac)}`).join(', ')}${memBelow.length ? `; **below target: ${memBelow.map((m) => `${m.stage} (${m.layer})`).join(', ')}**` : ''}.`);
  if (dgRatios.length) {
    const worst = Math.min(...dgRatios);
    lines.push(`- Grouped GEMM against DeepGEMM ${dg.available ? dg.version : ''} in this run (target ≥ 0.8×): ${f(worst, 2)}×–${f(Math.max(...dgRatios), 2)}×${worst >= 0.8 ? ': met on every shape.' : ': **not met on every shape**.'}`);
  } else {
    lines.push(`- Grouped GEMM against DeepGEMM: no ratio, DeepGEMM was not available in this run${dg.available ? '' : ` (${dg.reason})`}.`);
  }
  if (maskedRatios.length)
    lines.push(`- Masked grouped GEMM (TMA kernel) against DeepGEMM's masked GEMM in this run: ${maskedRatios.map((x) => `${f(x, 2)}×`).join(', ')}.`);
  if (torchRatios.length) {
    const worstT = Math.min(...torchRatios);
    lines.push(`- Against torch._scaled_grouped_mm (target: faster on every shape): ${f(worstT, 2)}×–${f(Math.max(...torchRatios), 2)}×${worstT > 1 ? ': met.' : ': **not met on every shape**.'}`);
  }
  lines.push('');
  const section = lines.join('\n');
  console.log(section);
  const md = join(ROOT, 'BENCHMARKS.md');
  const before = existsSync(md) ? readFileSync(md, 'utf8') : '# Benchmarks\n';
  writeFileAtomic(md, replaceGpuSection(before, section));
  if (process.env.OUT) writeFileSync(join(process.env.OUT, 'gpu-section.md'), section + '\n');
  console.log(`wrote the GPU section of ${md}`);
}

main();

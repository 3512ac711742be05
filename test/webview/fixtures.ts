/**
 * Hand-built Traces for the webview tests and the benchmark, shaped like the engine's output (kernels/trace.ts):
 * the e2e_small layer of the golden files (M=37, K=512, N=512, E=4, top-2) on CPU and CUDA, and a DeepSeek-V3
 * layer (K=7168, N=2048, E=256, top-8) whose w13 weight scales are the 256 × 32 × 56 blocks the view must pan.
 * Values are seeded and deterministic; scale values are powers of two for the UE8M0 recipe.
 */
import type { Trace, TensorRef, StageRecord, TensorSummary } from '../../kernels/trace';
import { type StageId } from '../../kernels/trace';
import { CONTIGUOUS_STAGES } from '../../kernels/recipes/contiguous/stages';

const STAGE_ORDER = CONTIGUOUS_STAGES.map((s) => s.id);
import type { LayoutDescriptor } from '../../kernels/layout/descriptor';
import type { DType } from '../../kernels/dtypes/index';
import type { LayerSpec, ScaleFormat } from '../../kernels/spec';
import { DEFAULT_RECIPE } from '../../kernels/spec';
import { permutationModel } from '../../webview/model/permutation';
import { Tensor } from '../../kernels/tensor';
import { tensorRef } from '../../kernels/summary';
import { toSm90ActScales, toSm100PackedUe8m0 } from '../../kernels/layout/index';

/** mulberry32: tiny seeded PRNG so fixtures are identical on every run */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function summary(v: ArrayLike<number> | undefined): TensorSummary {
  if (!v || v.length === 0) return { min: 0, max: 0, mean: 0, absMax: 0, nanCount: 0, infCount: 0 };
  let min = Infinity, max = -Infinity, sum = 0, absMax = 0, nan = 0, inf = 0;
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    if (Number.isNaN(x)) { nan++; continue; }
    if (!Number.isFinite(x)) { inf++; continue; }
    min = Math.min(min, x); max = Math.max(max, x); sum += x; absMax = Math.max(absMax, Math.abs(x));
  }
  return { min, max, mean: sum / v.length, absMax, nanCount: nan, infCount: inf };
}

const itemBytes: Record<DType, number> = { f32: 4, bf16: 2, f8e4m3fn: 1, ue8m0: 1, i32: 4, i64: 8, u8: 1, i8: 1, i4x2: 1 };

function rowMajor(shape: number[], dtype: DType): LayoutDescriptor {
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const n = shape.reduce((a, b) => a * b, 1);
  return { order: 'row-major', shape, strides, offset: 0, storageElems: n, addressedElems: n, itemBytes: itemBytes[dtype], summary: `${dtype} row-major` };
}

export function ref(name: string, dtype: DType, shape: number[], inline?: number[]): TensorRef {
  return { name, dtype, shape, layout: rowMajor(shape, dtype), summary: summary(inline), ...(inline ? { inline } : {}) };
}

/** Scales of a (rows × kBlocks) tensor: amax/448 with amax spread over a few decades, optionally rounded up to 2^e. */
function scales(n: number, r: () => number, pow2: boolean, skewRow?: (i: number) => number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const amax = 10 ** (r() * 2.5 - 1) * (skewRow ? skewRow(i) : 1);
    const s = Math.fround(amax / 448);
    out.push(pow2 ? 2 ** Math.ceil(Math.log2(s)) : s);
  }
  return out;
}

export interface FixtureOptions {
  name: string;
  tokens: number;
  hidden: number;
  intermediate: number;
  experts: number;
  topk: number;
  scaleFormat: ScaleFormat;
  backend: 'cpu' | 'cuda';
  seed: number;
  /** Zipf-like router skew: expert e is picked with weight 1/(e+1)^skew */
  skew: number;
  /** include inline weight scales */
  weightScales?: boolean;
  /** the kernel layout of the activation scales (default sm90: float32 MN-major; sm100: packed UE8M0 words) */
  arch?: 'sm90' | 'sm100';
}

/** The activation scales in `arch`'s kernel layout, as the engine's trace carries them (descriptor, inline words). */
export function kernelLayoutRef(name: string, shape: number[], values: number[], arch: 'sm90' | 'sm100'): TensorRef {
  const t = new Tensor('f32', shape, Float32Array.from(values), undefined, 0, name);
  if (arch === 'sm90') return tensorRef(name, toSm90ActScales(t), 1 << 22);
  const packed = toSm100PackedUe8m0(t);
  return tensorRef(name, packed, 1 << 22, { perWord: 4, alongDim: packed.rank - 1, byteOrder: 'little', logicalExtent: shape[shape.length - 1]! });
}

export function makeTrace(o: FixtureOptions): Trace {
  const r = rng(o.seed);
  const { tokens: M, hidden: K, intermediate: N, experts: E, topk: k } = o;
  const pow2 = o.scaleFormat === 'ue8m0';
  const spec: LayerSpec = {
    name: o.name, tokens: M, hidden: K, intermediate: N, experts: E, topk: k, arch: o.arch ?? 'sm90',
    recipe: { ...DEFAULT_RECIPE, scaleFormat: o.scaleFormat }, activation: { kind: 'silu' }, routerWeight: 'reduce',
    blockM: 128, source: { kind: 'synthetic', seed: o.seed, skew: o.skew },
  };
  // router: k distinct experts per token, Zipf-skewed
  const w = Array.from({ length: E }, (_, e) => 1 / (e + 1) ** o.skew);
  const cum: number[] = [];
  w.reduce((a, b, i) => (cum[i] = a + b), 0);
  const total = cum[E - 1]!;
  const ids: number[] = [];
  const weights: number[] = [];
  for (let t = 0; t < M; t++) {
    const chosen = new Set<number>();
    while (chosen.size < Math.min(k, E)) {
      const x = r() * total;
      let e = cum.findIndex((c) => c >= x);
      if (e < 0) e = E - 1;
      chosen.add(e);
    }
    const ws = [...chosen].map(() => r() + 0.1);
    const sum = ws.reduce((a, b) => a + b, 0);
    for (const [i, e] of [...chosen].entries()) {
      ids.push(e);
      weights.push(Math.fround(ws[i]! / sum));
    }
  }
  const perm = permutationModel({ tokens: M, topk: k, experts: E, topkIds: ids, topkWeights: weights });
  const KB = K / 128;
  const NB = N / 128;
  const tensors: Record<string, TensorRef> = {};
  const add = (t: TensorRef): void => void (tensors[t.name] = t);
  add(ref('hidden_states', 'bf16', [M, K], M * K <= 65536 ? Array.from({ length: M * K }, () => (r() - 0.5) * 4) : undefined));
  add(ref('topk_ids', 'i32', [M, k], ids));
  add(ref('topk_weights', 'f32', [M, k], weights));
  add(ref('a1q', 'f8e4m3fn', [M, K]));
  const a1s = scales(M * KB, r, pow2, (i) => (Math.floor(i / KB) % 7 === 3 ? 8 : 1));
  add(ref('a1q_scale', 'f32', [M, KB], a1s));
  add(kernelLayoutRef('a1q_scale_layout', [M, KB], a1s, o.arch ?? 'sm90'));
  add(ref('m_indices', 'i32', [perm.mSum], Array.from(perm.mIndices)));
  add(ref('inv_perm', 'i32', [M, k], Array.from(perm.invPerm)));
  add(ref('mm1_out', 'bf16', [perm.mSum, 2 * N]));
  add(ref('act_out', 'bf16', [perm.mSum, N]));
  add(ref('a2q', 'f8e4m3fn', [perm.mSum, N]));
  const a2s = perm.mSum * NB <= 300000 ? scales(perm.mSum * NB, r, pow2) : undefined;
  add(ref('a2q_scale', 'f32', [perm.mSum, NB], a2s));
  if (a2s && perm.mSum * NB <= 65536) add(kernelLayoutRef('a2q_scale_layout', [perm.mSum, NB], a2s, o.arch ?? 'sm90'));
  add(ref('mm2_out', 'bf16', [perm.mSum, K]));
  add(ref('output', 'bf16', [M, K]));
  if (o.weightScales !== false) {
    add(ref('w13_weight_scale_inv', 'f32', [E, (2 * N) / 128, KB], scales(E * ((2 * N) / 128) * KB, r, pow2, (i) => (Math.floor(i / ((2 * N) / 128) / KB) % 17 === 5 ? 16 : 1))));
    add(ref('w2_weight_scale_inv', 'f32', [E, KB, NB], scales(E * KB * NB, r, pow2)));
  }
  // times: CPU is slow and compute heavy; CUDA near its roofline on the GEMMs
  const S = perm.mSum;
  const R = perm.routed;
  const bytes: Record<StageId, number> = {
    quantize: 2 * M * K + M * K + 4 * M * KB,
    transform_scales: 4 * M * KB * 2,
    permute: M * K + 4 * M * KB + 4 * M * k + R * K + 4 * S * KB + 4 * S,
    gemm1: S * K + 4 * S * KB + E * 2 * N * K,
    activation: 2 * S * 2 * N + S * N,
    requantize: S * N + 4 * S * NB,
    gemm2: S * N + 4 * S * NB + E * K * N + 2 * S * K,
    unpermute: 2 * R * K + 12 * M * k + 2 * M * K,
  };
  const flops: Record<StageId, number> = {
    quantize: 3 * M * K, transform_scales: 0, permute: 0, gemm1: 2 * S * 2 * N * K, activation: 6 * R * N, requantize: 3 * R * N,
    gemm2: 2 * S * K * N, unpermute: 2 * R * K,
  };
  const BW = 3.35e12;
  const P = 1979e12;
  const stages: StageRecord[] = STAGE_ORDER.map((id: StageId) => {
    const tMem = (bytes[id] / BW) * 1e3;
    const tMath = (flops[id] / P) * 1e3;
    const floorMs = Math.max(tMem, tMath);
    const eff = o.backend === 'cuda' ? (id.startsWith('gemm') ? 0.55 : 0.3) + r() * 0.1 : 0.002 + r() * 0.003;
    const timeMs = Math.max(floorMs / eff, 0.002);
    const io: Record<StageId, [string[], string[]]> = {
      quantize: [['hidden_states'], ['a1q', 'a1q_scale']],
      transform_scales: [['a1q_scale'], ['a1q_scale_layout']],
      permute: [['a1q', 'a1q_scale', 'topk_ids'], ['m_indices', 'inv_perm']],
      gemm1: [['a1q', 'a1q_scale_layout', 'w13_weight_scale_inv', 'm_indices'], ['mm1_out']],
      activation: [['mm1_out'], ['act_out']],
      requantize: [['act_out'], ['a2q', 'a2q_scale', 'a2q_scale_layout']],
      gemm2: [['a2q', 'a2q_scale', 'w2_weight_scale_inv', 'm_indices'], ['mm2_out']],
      unpermute: [['mm2_out', 'inv_perm', 'topk_weights'], ['output']],
    };
    const titles: Record<StageId, string> = {
      quantize: 'Quantize activations', transform_scales: 'Transform scales', permute: 'Permute tokens', gemm1: 'Grouped GEMM 1',
      activation: 'SiLU and mul', requantize: 'Re-quantize', gemm2: 'Grouped GEMM 2', unpermute: 'Unpermute and reduce',
    };
    return {
      id, title: titles[id], inputs: io[id][0], outputs: io[id][1], timeMs, bytes: bytes[id], flops: flops[id],
      usefulFlops: id.startsWith('gemm') ? (flops[id] * R) / Math.max(S, 1) : flops[id],
      roofline: { floorMs, fraction: Math.min(1, floorMs / timeMs), bound: tMath > tMem ? 'compute' : 'memory', intensity: flops[id] / Math.max(bytes[id], 1) },
      backend: o.backend, device: o.backend === 'cuda' ? 'NVIDIA H100 80GB HBM3' : 'CPU (2 threads)',
    };
  });
  return {
    version: 1,
    spec,
    recipe: { id: 'contiguous', label: 'Contiguous (vLLM DeepGemmExperts)' },
    gemm: { production: 'DeepGEMM sm90_fp8_gemm_1d2d', ran: o.backend === 'cuda' ? 'wgmma m64n128k32 e4m3 (sm_90a)' : 'CPU reference' },
    backend: { name: o.backend, reason: o.backend === 'cuda' ? 'CUDA addon loaded' : 'CUDA unavailable: no driver (fixture)', device: stages[0]!.device },
    gpuModel: 'H100',
    rooflineModel: o.backend === 'cuda' ? { id: 'H100', label: 'H100 SXM', source: 'datasheet' } : { id: 'cpu', label: 'fixture CPU (2 cores)', source: 'fixture' },
    stages,
    checks: [
      { id: 'nk-multiple-128', level: 'pass', message: 'N and K are multiples of 128' },
      { id: 'sfa-layout', level: 'warn', message: 'a1q_scale is row-major: DeepGEMM re-lays it out MN-major on every call', tensor: 'a1q_scale' },
    ],
    tensors,
    permutation: { layout: 'contiguous', counts: perm.counts, mSum: perm.mSum, routedRows: perm.routed, paddingWaste: perm.paddingWaste, activeExperts: perm.counts.filter((c) => c > 0).length },
    createdAt: '2026-11-22T12:00:00Z',
    totalMs: stages.reduce((a, s) => a + s.timeMs, 0),
  };
}

export const smallTrace = (backend: 'cpu' | 'cuda' = 'cpu', scaleFormat: ScaleFormat = 'ue8m0', arch: 'sm90' | 'sm100' = 'sm90'): Trace =>
  makeTrace({ name: 'e2e_small', tokens: 37, hidden: 512, intermediate: 512, experts: 4, topk: 2, scaleFormat, backend, seed: 7, skew: 0.8, arch });

const dsCache = new Map<string, Trace>();
/** Built once per process, backend and architecture (about a second): callers must not mutate it. */
export function deepseekV3Trace(backend: 'cpu' | 'cuda' = 'cuda', arch: 'sm90' | 'sm100' = 'sm90'): Trace {
  let t = dsCache.get(`${backend}/${arch}`);
  if (!t) {
    t = makeTrace({ name: 'DeepSeek-V3', tokens: 4096, hidden: 7168, intermediate: 2048, experts: 256, topk: 8, scaleFormat: 'ue8m0', backend, seed: 11, skew: 1.1, arch });
    dsCache.set(`${backend}/${arch}`, t);
  }
  return t;
}

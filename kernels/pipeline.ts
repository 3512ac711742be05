/**
 * One MoE layer, end to end: pick a backend, get the inputs (given, from a file, or synthetic), refuse what cannot
 * be computed (blocking checks), run the stages, and build the Trace — per stage: tensors in and out, time, bytes,
 * FLOPs (executed and useful), roofline against the chosen GPU model, and the CPU's own throughput in the notes.
 * `tile` serves 2-D windows of any stage tensor, decoded, or as |value − float64 reference| for the error heatmaps.
 */
import type { BackendChoice, GpuModel, LayerSpec } from './spec';
import type { CheckResult, PendingStage, PermutationStats, StageId, StageRecord, Trace, TensorRef, TensorSummary } from './trace';
import { STAGE_ORDER } from './trace';
import type { LayerInputs } from './backend/types';
import type { Tile } from '../webview/protocol';
import { Tensor, decoderFor } from './tensor';
import { MoeError, shapeStr } from './errors';
import { selectBackend, type SelectedBackend } from './backend/index';
import { runChecks, BLOCKING_CHECKS } from './checks';
import { syntheticInputs, syntheticInputsDeferred, expertMapOf } from './synthetic';
import { loadLayerFile, validateValues } from './inputs';
import { planPermutation, type PermutePlan } from './ops/permute';
import { stageCosts, roofline, throughputNote } from './roofline';
import { describeLayout } from './layout/describe';
import { LayerReference64 } from './ops/reference64';
import { decodeE4M3, E4M3_DECODE } from './dtypes/fp8e4m3';

export interface RunResult {
  trace: Trace;
  /** every tensor of the run under its DESIGN.md name (inputs included) */
  tensors: Map<string, Tensor>;
  inputs: LayerInputs;
}

export interface RunLayerOptions {
  backend?: BackendChoice;
  gpuModel?: GpuModel;
  inputs?: LayerInputs;
  onProgress?: (stage: StageId | 'setup', fraction: number, message: string) => void;
  signal?: AbortSignal;
  /** max elements inlined into a TensorRef (default 4096); larger tensors are fetched as tiles */
  inlineLimit?: number;
  /**
   * A partial Trace once the inputs are ready and after each finished stage (CPU backend): `stages` holds the
   * finished stages, `pending` the others. Each tensor's ref is built once and reused by the final Trace.
   * A returned promise is awaited before a grouped GEMM starts (the long stages, whose worker threads take every
   * core), and the first one before synthetic weights are written: a UI host can hold the heavy work until its
   * first picture is on screen.
   */
  onStage?: (partial: Trace) => void | Promise<void>;
}

const TITLES: Record<StageId, string> = {
  quantize: 'Quantize activations (1×128 groups)',
  transform_scales: 'Scale factors → kernel layout',
  permute: 'Permute into expert segments',
  gemm1: 'Grouped GEMM 1 (K → 2N)',
  activation: 'SiLU-and-mul',
  requantize: 'Re-quantize',
  gemm2: 'Grouped GEMM 2 (N → K)',
  unpermute: 'Unpermute and weighted reduce',
};

const STAGE_IO: Record<StageId, [string[], string[]]> = {
  quantize: [['hidden_states'], ['a1q', 'a1q_scale']],
  transform_scales: [['a1q_scale'], ['a1q_scale_layout']],
  permute: [['a1q', 'a1q_scale', 'topk_ids', 'expert_map'], ['a1q_permuted', 'a1q_scale_permuted', 'm_indices', 'inv_perm']],
  gemm1: [['a1q_permuted', 'a1q_scale_permuted', 'w13_weight', 'w13_weight_scale_inv', 'm_indices'], ['mm1_out']],
  activation: [['mm1_out'], ['act_out']],
  requantize: [['act_out'], ['a2q', 'a2q_scale', 'a2q_scale_layout']],
  gemm2: [['a2q', 'a2q_scale', 'w2_weight', 'w2_weight_scale_inv', 'm_indices'], ['mm2_out']],
  unpermute: [['mm2_out', 'inv_perm', 'topk_weights'], ['output']],
};

interface RunExtras {
  plan: PermutePlan;
  spec: LayerSpec;
  ref?: LayerReference64;
}
const extras = new WeakMap<RunResult, RunExtras>();
/** synthetic weights written late in progressive runs (see runLayer) */
const DEFERRED_WEIGHTS: ReadonlySet<string> = new Set(['w13_weight', 'w2_weight']);

function refuseBlocking(checks: CheckResult[]): void {
  const bad = checks.filter((c) => c.level === 'fail' && BLOCKING_CHECKS.has(c.id));
  if (bad.length) throw new MoeError('E_SPEC', `cannot run this layer: ${bad.map((c) => c.message).join(' · ')}`, bad[0]!.tensor);
}

function getInputs(spec: LayerSpec, given: LayerInputs | undefined): LayerInputs {
  if (given) {
    validateValues(given);
    return given;
  }
  if (spec.source.kind === 'file') return loadLayerFile(spec.source.path);
  return syntheticInputs(spec);
}

/**
 * Stage tensors are summarised exactly up to 64M elements. Weight tensors (validated free of NaN codes before the
 * run, hundreds of MB) are summarised from an even sample of 4M elements.
 */
const SUMMARY_SAMPLE = 1 << 26;
const WEIGHT_SAMPLE = 1 << 22;
const SAMPLED_TENSORS: ReadonlySet<string> = new Set(['w13_weight', 'w2_weight']);

let bf16Table: Float32Array | undefined;
/** value of every BF16 bit pattern (256 KB, built once): the summary loop is then one load per element */
function bf16Values(): Float32Array {
  if (bf16Table) return bf16Table;
  const bits = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) bits[h] = h << 16;
  return (bf16Table = new Float32Array(bits.buffer));
}

interface Acc {
  min: number;
  max: number;
  sum: number;
  cnt: number;
  nan: number;
  inf: number;
}

function accValue(v: number, a: Acc): void {
  if (v - v !== 0) {
    if (v !== v) a.nan++;
    else a.inf++;
    return;
  }
  if (v < a.min) a.min = v;
  if (v > a.max) a.max = v;
  a.sum += v;
  a.cnt++;
}
function accTable16(st: Uint16Array, table: Float32Array, from: number, end: number, step: number, a: Acc): void {
  for (let i = from; i < end; i += step) accValue(table[st[i]!]!, a);
}
function accTable8(st: Uint8Array, table: Float32Array, from: number, end: number, step: number, a: Acc): void {
  for (let i = from; i < end; i += step) accValue(table[st[i]!]!, a);
}
function accF32(st: Float32Array, from: number, end: number, step: number, a: Acc): void {
  for (let i = from; i < end; i += step) accValue(st[i]!, a);
}
function accI32(st: Int32Array, from: number, end: number, step: number, a: Acc): void {
  for (let i = from; i < end; i += step) accValue(st[i]!, a);
}
function accU8(st: Uint8Array, from: number, end: number, step: number, a: Acc): void {
  for (let i = from; i < end; i += step) accValue(st[i]!, a);
}

/** min/max/mean/absMax over finite values plus NaN/inf counts (exact up to 64M elements, evenly sampled above) */
export function summarize(t: Tensor, sampleAbove = SUMMARY_SAMPLE): TensorSummary {
  const n = t.numel;
  const s: TensorSummary = { min: 0, max: 0, mean: 0, absMax: 0, nanCount: 0, infCount: 0 };
  if (n === 0) return s;
  const step = n > sampleAbove ? Math.ceil(n / sampleAbove) : 1;
  let min = Infinity, max = -Infinity, sum = 0, cnt = 0;
  const visit = (v: number): void => {
    if (v !== v) s.nanCount++;
    else if (v === Infinity || v === -Infinity) s.infCount++;
    else {
      if (v < min) min = v;
      if (v > max) max = v;
      sum += v;
      cnt++;
    }
  };
  if (t.isContiguous() && t.dtype !== 'i64' && t.dtype !== 'ue8m0') {
    // the hot path (stage tensors of tens of millions of elements): one monomorphic loop per storage type
    const acc: Acc = { min, max, sum, cnt, nan: 0, inf: 0 };
    const st = t.storage;
    const from = t.offset;
    const end = t.offset + n;
    if (t.dtype === 'bf16') accTable16(st as Uint16Array, bf16Values(), from, end, step, acc);
    else if (t.dtype === 'f8e4m3fn') accTable8(st as Uint8Array, E4M3_DECODE, from, end, step, acc);
    else if (st instanceof Float32Array) accF32(st, from, end, step, acc);
    else if (st instanceof Int32Array) accI32(st, from, end, step, acc);
    else accU8(st as Uint8Array, from, end, step, acc);
    ({ min, max, sum, cnt } = acc);
    s.nanCount = acc.nan;
    s.infCount = acc.inf;
  } else {
    const dec = t.dtype === 'i64' || t.dtype === 'i32' ? (v: number) => v : decoderFor(t.dtype);
    let i = 0;
    t.forEachIndex((si) => {
      if (i++ % step !== 0) return;
      const raw = t.storage[si]!;
      visit(dec(typeof raw === 'bigint' ? Number(raw) : raw));
    });
  }
  if (cnt) {
    s.min = min;
    s.max = max;
    s.mean = sum / cnt;
    s.absMax = Math.max(Math.abs(min), Math.abs(max));
  }
  return s;
}

function tensorRef(name: string, t: Tensor, inlineLimit: number, spec: LayerSpec): TensorRef {
  const packed = t.dtype === 'i32' && name.endsWith('_scale_layout');
  const groups = name.startsWith('a1') ? Math.ceil(spec.hidden / 128) : Math.ceil(spec.intermediate / 128);
  const layout = describeLayout(t, packed ? { packing: { perWord: 4, alongDim: t.rank - 1, byteOrder: 'little', logicalExtent: groups } } : undefined);
  const ref: TensorRef = { name, dtype: t.dtype, shape: [...t.shape], layout, summary: summarize(t, SAMPLED_TENSORS.has(name) ? WEIGHT_SAMPLE : SUMMARY_SAMPLE) };
  if (t.numel <= inlineLimit) {
    const dec = t.dtype === 'i32' || t.dtype === 'i64' ? (v: number) => v : decoderFor(t.dtype);
    const vals: number[] = [];
    t.forEachIndex((si) => {
      const raw = t.storage[si]!;
      vals.push(dec(typeof raw === 'bigint' ? Number(raw) : raw));
    });
    ref.inline = vals;
  }
  return ref;
}

function permutationStats(plan: PermutePlan): PermutationStats {
  const counts = Array.from(plan.counts);
  const routed = counts.reduce((a, b) => a + b, 0);
  return {
    counts,
    mSum: plan.mSum,
    routedRows: routed,
    paddingWaste: plan.mSum > 0 ? (plan.mSum - routed) / plan.mSum : 0,
    activeExperts: counts.filter((c) => c > 0).length,
  };
}

export async function runLayer(spec: LayerSpec, opts: RunLayerOptions = {}): Promise<RunResult> {
  const t0 = performance.now();
  if (opts.signal?.aborted) throw new MoeError('E_CANCELLED', 'run cancelled before it started');
  opts.onProgress?.('setup', 0, 'checking the layer');
  refuseBlocking(runChecks(spec));
  const selected = await selectBackend(opts.backend ?? 'auto');
  // a backend lives for one run: the CUDA one holds a worker process (and its CUDA context), which must not
  // outlive the run — a CLI would never exit, and an editor would collect one idle process per run
  try {
    return await runWith(selected, spec, opts, t0);
  } finally {
    await selected.backend.dispose?.();
  }
}

async function runWith({ backend, reason }: SelectedBackend, spec: LayerSpec, opts: RunLayerOptions, t0: number): Promise<RunResult> {
  const gpuModel = opts.gpuModel ?? 'H100';
  const { signal, onProgress } = opts;
  onProgress?.('setup', 0, spec.source.kind === 'file' && !opts.inputs ? 'loading the layer file' : 'preparing inputs');
  // Progressive runs on the CPU: synthetic weight codes (hundreds of MB, the slow part of the inputs) are written in
  // the background, one expert per event-loop turn, once the host has shown its first partial trace, and awaited
  // only before GEMM1 (the CPU backend reports 'permute' done, awaited, before GEMM1 starts): stages 1–3 draw at
  // once, and the webview loads without competing for the 2 cores (measured: first picture 1.7 s → 0.86 s median).
  const deferred = opts.onStage && !opts.inputs && spec.source.kind === 'synthetic' && backend.name === 'cpu' ? syntheticInputsDeferred(spec) : undefined;
  let weightsPending = !!deferred;
  let filling: Promise<void> | undefined;
  const inputs = deferred ? deferred.inputs : getInputs(spec, opts.inputs);
  const checks = runChecks(spec, inputs);
  refuseBlocking(checks);
  // the routing plan from the inputs: validates topk_ids before any compute and feeds the stats and roofline
  const map = inputs.expert_map?.contiguous().storage ?? expertMapOf(spec);
  const runInputs: LayerInputs = !inputs.expert_map && map ? { ...inputs, expert_map: new Tensor('i32', [map.length], map, undefined, 0, 'expert_map') } : inputs;
  const plan = planPermutation(runInputs.topk_ids, map ? map.length : runInputs.w13_weight.shape[0]!, { ...(map ? { expertMap: map } : {}), blockM: spec.blockM });
  if (signal?.aborted) throw new MoeError('E_CANCELLED', 'run cancelled before the first stage');

  const costs = stageCosts({
    tokens: spec.tokens,
    hidden: spec.hidden,
    intermediate: spec.intermediate,
    topk: spec.topk,
    experts: map ? map.length : spec.experts,
    counts: plan.counts,
    mSum: plan.mSum,
    arch: spec.arch,
    scaleRelayout: true,
    skipsPadding: backend.name === 'cpu',
    hasExpertMap: !!map,
  });
  const stageRecord = (id: StageId, timeMs: number, tensors: ReadonlyMap<string, Tensor>, device: string, runNotes: readonly string[]): StageRecord => {
    const cost = costs[id];
    const [ins, outs] = STAGE_IO[id];
    const notes = [throughputNote(cost, timeMs, backend.name)];
    if (id === 'transform_scales') notes.push(...runNotes.filter((n) => n.startsWith('a1q_scale')));
    if (id === 'requantize') notes.push(...runNotes.filter((n) => n.startsWith('a2q_scale')));
    if ((id === 'gemm1' || id === 'gemm2') && backend.name === 'cpu')
      notes.push('executed FLOPs/bytes count the GPU kernel’s padded 128-row tiles; the CPU kernel skips padding rows');
    return {
      id,
      title: TITLES[id],
      inputs: ins.filter((n) => tensors.has(n)),
      outputs: outs.filter((n) => tensors.has(n)),
      timeMs,
      bytes: cost.bytes,
      flops: cost.flops,
      usefulFlops: cost.usefulFlops,
      roofline: roofline(cost, timeMs, gpuModel),
      backend: backend.name,
      device,
      notes,
    };
  };

  // each tensor's ref (summary, inline values) is built once: partial traces and the final one share them
  const inlineLimit = opts.inlineLimit ?? 4096;
  const refCache = new Map<string, { t: Tensor; ref: TensorRef }>();
  const refsOf = (tensors: ReadonlyMap<string, Tensor>): Record<string, TensorRef> => {
    const refs: Record<string, TensorRef> = {};
    for (const [name, t] of tensors) {
      let hit = refCache.get(name);
      if (!hit || hit.t !== t) refCache.set(name, (hit = { t, ref: tensorRef(name, t, inlineLimit, spec) }));
      refs[name] = hit.ref;
    }
    return refs;
  };
  const traceOf = (stages: StageRecord[], tensors: ReadonlyMap<string, Tensor>, device: string, pending?: PendingStage[]): Trace => ({
    version: 1,
    spec,
    backend: { name: backend.name, reason, device },
    gpuModel,
    stages,
    checks,
    tensors: refsOf(tensors),
    permutation: permutationStats(plan),
    createdAt: new Date().toISOString(),
    totalMs: performance.now() - t0,
    ...(pending ? { pending } : {}),
  });

  const { onStage } = opts;
  let onStageDone: ((id: StageId, st: Record<string, Tensor>, times: Partial<Record<StageId, number>>) => Promise<void>) | undefined;
  if (onStage) {
    const device = 'device' in backend && typeof backend.device === 'string' ? backend.device : backend.name;
    const emit = (done: StageId[], st: Record<string, Tensor>, times: Partial<Record<StageId, number>>): void | Promise<void> => {
      const known = new Map<string, Tensor>();
      // weights not written yet are left out (a summary of zeros would be wrong, and cached)
      for (const [name, t] of Object.entries(runInputs)) if (t && !(weightsPending && DEFERRED_WEIGHTS.has(name))) known.set(name, t);
      for (const [name, t] of Object.entries(st)) known.set(name, t);
      const stages = done.map((id) => stageRecord(id, times[id] ?? 0, known, device, []));
      const pending = STAGE_ORDER.filter((id) => !done.includes(id)).map((id): PendingStage => ({ id, title: TITLES[id], outputs: [...STAGE_IO[id][1]] }));
      return onStage(traceOf(stages, known, device, pending));
    };
    const firstShown = emit([], {}, {});
    filling = deferred ? Promise.resolve(firstShown).then(() => deferred.fillWeightsAsync()) : undefined;
    // (a host that returns nothing starts the fill at once)
    // awaited before GEMM1; a run that fails earlier must not leave an unhandled rejection behind
    filling?.catch(() => undefined);
    onStageDone = async (id, st, times) => {
      const shown = emit(STAGE_ORDER.slice(0, STAGE_ORDER.indexOf(id) + 1), st, times);
      const next = STAGE_ORDER[STAGE_ORDER.indexOf(id) + 1];
      if (shown && (next === 'gemm1' || next === 'gemm2')) await shown;
      // a timer and an immediate turn, so the host posts the partial picture before the next (long, maybe blocking) work
      await new Promise<void>((resolve) => setTimeout(resolve, 1));
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (deferred && weightsPending && STAGE_ORDER.indexOf(id) >= STAGE_ORDER.indexOf('permute')) {
        await filling;
        deferred.fillWeights();
        weightsPending = false;
      }
    };
  }

  let run: Awaited<ReturnType<typeof backend.run>>;
  try {
    run = await backend.run(runInputs, spec, {
      ...(signal ? { signal } : {}),
      ...(onProgress ? { onProgress } : {}),
      ...(onStageDone ? { onStageDone } : {}),
    });
  } finally {
    // never hand out zero weights (a cancelled or failed run keeps no result, but be safe)
    deferred?.fillWeights();
  }
  if (weightsPending) throw new MoeError('E_BACKEND', `the ${backend.name} backend ran GEMM1 without reporting 'permute' done, so the synthetic weights were written too late; run without onStage`);

  const tensors = new Map<string, Tensor>();
  for (const [name, t] of Object.entries(runInputs)) if (t) tensors.set(name, t);
  for (const [name, t] of Object.entries(run.tensors)) tensors.set(name, t);
  const stages = STAGE_ORDER.map((id) => stageRecord(id, run.timesMs[id] ?? 0, tensors, run.device, run.notes ?? []));
  const trace = traceOf(stages, tensors, run.device);
  const result: RunResult = { trace, tensors, inputs: runInputs };
  extras.set(result, { plan, spec });
  return result;
}

// ---------------------------------------------------------------------------------------------------------------
// tiles

const MAX_TILE_ELEMS = 1 << 20;
const ERROR_TENSORS = ['a1q', 'mm1_out', 'act_out', 'a2q', 'mm2_out', 'output'] as const;

function as2d(t: Tensor): [number, number] {
  if (t.rank === 0) return [1, 1];
  const cols = t.shape[t.rank - 1]!;
  return [cols === 0 ? 0 : t.numel / cols, cols];
}

/** storage index of (row, col) of the 2-D view (leading dims flattened row-major) */
function storageIndex(t: Tensor, row: number, col: number): number {
  let off = t.offset;
  let r = row;
  for (let d = t.rank - 2; d >= 0; d--) {
    off += (r % t.shape[d]!) * t.strides[d]!;
    r = Math.floor(r / t.shape[d]!);
  }
  return t.rank === 0 ? off : off + col * t.strides[t.rank - 1]!;
}

function checkRange(name: string, what: string, r: [number, number], n: number): void {
  if (!Array.isArray(r) || r.length !== 2 || !Number.isInteger(r[0]) || !Number.isInteger(r[1]) || r[0] < 0 || r[1] > n || r[0] > r[1])
    throw new MoeError('E_RANGE', `tile of ${name}: ${what} [${String(r?.[0])}, ${String(r?.[1])}) must lie inside [0, ${n})`, name);
}

export function tile(result: RunResult, tensor: string, rows: [number, number], cols: [number, number], mode: 'value' | 'error'): Tile {
  const t = result.tensors.get(tensor);
  if (!t) throw new MoeError('E_VALUE', `tile: no tensor named '${tensor}' in this run (has: ${[...result.tensors.keys()].join(', ')})`, tensor);
  const [R, C] = as2d(t);
  checkRange(tensor, 'rows', rows, R);
  checkRange(tensor, 'cols', cols, C);
  const h = rows[1] - rows[0];
  const w = cols[1] - cols[0];
  if (h * w > MAX_TILE_ELEMS) throw new MoeError('E_RANGE', `tile of ${tensor}: ${h}×${w} = ${h * w} values exceeds ${MAX_TILE_ELEMS}; request smaller tiles`, tensor);
  const values = new Array<number>(h * w);
  const raw = t.dtype === 'i32' || t.dtype === 'i64' || t.dtype === 'u8' || t.dtype === 'i4x2';
  const dec = raw ? (v: number) => v : decoderFor(t.dtype);
  const valueAt = (r: number, c: number): number => {
    const v = t.storage[storageIndex(t, r, c)]!;
    return dec(typeof v === 'bigint' ? Number(v) : v);
  };
  if (mode === 'value') {
    for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) values[i * w + j] = valueAt(rows[0] + i, cols[0] + j);
  } else if (mode === 'error') {
    const ref = errorReference(result, tensor);
    for (let i = 0; i < h; i++)
      for (let j = 0; j < w; j++) {
        const r = rows[0] + i;
        const c = cols[0] + j;
        values[i * w + j] = Math.abs(ref(r, c, valueAt(r, c)));
      }
  } else throw new MoeError('E_VALUE', `tile: mode must be 'value' or 'error', got '${String(mode)}'`, tensor);
  return { tensor, mode, rows: [rows[0], rows[1]], cols: [cols[0], cols[1]], values, shape2d: [R, C] };
}

/** (row, col, value) → value − reference; NaN where there is no reference (padding rows, non-local pairs) */
function errorReference(result: RunResult, tensor: string): (r: number, c: number, v: number) => number {
  const ex = extras.get(result);
  if (!ex) throw new MoeError('E_VALUE', `tile: this result was not produced by runLayer, so it has no float64 reference`, tensor);
  if (!(ERROR_TENSORS as readonly string[]).includes(tensor))
    throw new MoeError('E_VALUE', `tile: no float64 reference for '${tensor}'; error mode covers ${ERROR_TENSORS.join(', ')}`, tensor);
  if (tensor === 'a1q') {
    // quantization error: dequantized a1q against the activations it came from
    const x = result.inputs.hidden_states;
    const sc = result.tensors.get('a1q_scale')!;
    const q = result.tensors.get('a1q')!;
    return (r, c) => decodeE4M3(q.raw(r, c)) * sc.get(r, c >> 7) - x.get(r, c);
  }
  ex.ref ??= new LayerReference64(result.inputs, ex.spec, ex.plan);
  const ref = ex.ref;
  const plan = ex.plan;
  if (tensor === 'output') return (r, c, v) => v - ref.token(r)[c]!;
  const pick = (p: ReturnType<LayerReference64['pair']>, c: number): number => {
    if (!p) return NaN;
    switch (tensor) {
      case 'mm1_out':
        return p.mm1[c]!;
      case 'act_out':
      case 'a2q':
        return p.act[c]!;
      default:
        return p.mm2[c]!;
    }
  };
  if (tensor === 'a2q') {
    const sc = result.tensors.get('a2q_scale')!;
    const q = result.tensors.get('a2q')!;
    return (r, c) => {
      const pr = plan.rowPair[r]!;
      return pr < 0 ? NaN : decodeE4M3(q.raw(r, c)) * sc.get(r, c >> 7) - pick(ref.pair(pr), c);
    };
  }
  return (r, c, v) => {
    const pr = plan.rowPair[r]!;
    return pr < 0 ? NaN : v - pick(ref.pair(pr), c);
  };
}


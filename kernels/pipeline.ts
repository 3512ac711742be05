/**
 * One MoE layer, end to end, for any recipe of the registry: pick a backend, get the inputs (given, from a file, or
 * synthetic), refuse what cannot be computed (blocking checks), plan the recipe's stages for these shapes and this
 * routing, run them, and build the Trace — per stage: tensors in and out, time, bytes, FLOPs (executed and useful)
 * and the roofline of the chosen GPU model. Tiles of any tensor come from kernels/tiles.ts.
 */
import type { BackendChoice, GpuModel, LayerSpec } from './spec';
import type { CheckResult, PendingStage, StageId, StageRecord, Trace, TensorRef } from './trace';
import type { RunPlan, LayerTensors, PlannedStage, SyntheticLayer, SyntheticMode } from './recipes/types';
import { Tensor } from './tensor';
import { MoeError } from './errors';
import { selectBackend, type SelectedBackend } from './backend/index';
import { runChecks, refuseBlocking } from './checks';
import { recipeById } from './recipes/index';
import { archById, gpuModelById, gpuModelForDevice } from './arch/index';
import { STAND_IN_KERNEL, ADDON_GEMM_KERNELS } from './arch/addonKernels';
import { loadLayer, VALIDATED } from './layerFile';
import { checkpointInputs } from './checkpointLayer';
import { roofline, throughputNote } from './roofline';
import { tensorRef } from './summary';
import { cpuPeaks } from './cpuPeaks';
import type { GpuModelSpec } from './arch/types';
import { stagesFor } from './neededStages';
import { isCreated } from './lazyTensor';

const rooflineModelOf = (m: GpuModelSpec): Trace['rooflineModel'] => ({ id: m.id, label: m.label, source: m.source });
import { expertMapOf } from './synthetic';

export { tile } from './tiles';
export { summarize } from './summary';

export interface RunResult {
  trace: Trace;
  /** every tensor of the run under its DESIGN.md name (inputs included) */
  tensors: Map<string, Tensor>;
  inputs: LayerTensors;
  /** the recipe's plan of this run (its float64 reference serves error tiles) */
  plan?: RunPlan;
}

export interface RunLayerOptions {
  backend?: BackendChoice;
  /** a GPU model id of kernels/arch, or 'auto' (default): the GPU the run used, else the architecture's first model */
  gpuModel?: GpuModel;
  /** the layer's tensors when the caller has them (a file already read, a test's tensors): read once per run */
  inputs?: LayerTensors;
  onProgress?: (stage: StageId | 'setup', fraction: number, message: string) => void;
  signal?: AbortSignal;
  /** max elements inlined into a TensorRef (default 4096); larger tensors are fetched as tiles */
  inlineLimit?: number;
  /**
   * A partial Trace once the inputs are ready and after each finished stage (CPU backend): `stages` holds the
   * finished stages, `pending` the others. Each tensor's ref is built once and reused by the final Trace.
   * A returned promise is awaited before a heavy stage (the grouped GEMMs, whose worker threads take every core)
   * and before deferred synthetic weights are written: a UI host can hold the heavy work until its first picture
   * is on screen.
   */
  onStage?: (partial: Trace) => void | Promise<void>;
  /**
   * Only these tensors are wanted (a picture of some of them, `moe-inspect export --view`): on the CPU backend only
   * the stages they take run (kernels/neededStages.ts: the plan walked backwards), and synthetic inputs no running
   * stage reads are never made (kernels/lazyTensor.ts). The trace then lists the stages that ran and the tensors that
   * exist; every tensor it holds is bit for bit what a full run gives. Other backends run the whole plan.
   * A function gets every tensor id of a full run (inputs in order, then each stage's outputs in plan order) and
   * answers the wanted ones, or 'all'.
   */
  needs?: readonly string[] | ((tensorIds: readonly string[]) => readonly string[] | 'all');
  /** CUDA in this process, not in a GPU worker (kernels/backend/index.ts SelectOptions): the CLI's one run */
  cudaInProcess?: boolean;
  /**
   * false: nobody reads the stage tensors (a CLI run that prints its table only): the CUDA backend leaves them on the
   * device, and the result holds the inputs alone; the trace's stages still list their times, bytes and FLOPs.
   */
  stageTensors?: boolean;
}

/**
 * The layer's inputs: given, read from the spec's file or checkpoint folder, or synthetic (weights deferred when a UI
 * host draws early, lazy — made when first read — when only some stages run). Given tensors (what the host read
 * for the spec) are not read again.
 */
function layerInputs(spec: LayerSpec, given: LayerTensors | undefined, mode: SyntheticMode): SyntheticLayer {
  const recipe = recipeById(spec.recipe.id);
  // tensors from loadLayer / checkpointLayer were validated there; anything else is validated now (names, dtypes, shapes, values)
  if (given) return { inputs: VALIDATED.has(given) ? given : recipe.inputsFromTensors(given) };
  if (spec.source.kind === 'file') return { inputs: loadLayer(spec.source.path, { recipe: recipe.id }).inputs };
  if (spec.source.kind === 'checkpoint') return { inputs: checkpointInputs(spec) };
  return recipe.synthetic(spec, mode);
}

/**
 * The trace's tensor refs (summaries: a histogram pass over every byte of every tensor, ~1.6 s for a 1.4 GB layer) are
 * built when `trace.tensors` is first read — by the panel, `--trace`, JSON.stringify or a structured clone, all of
 * which read getters — and then kept. A CLI run that prints only its stage table or writes `--out` never pays for them.
 */
function withLazyTensorRefs(trace: Trace, build: () => Trace['tensors']): Trace {
  let refs: Trace['tensors'] | undefined;
  Object.defineProperty(trace, 'tensors', {
    enumerable: true,
    configurable: true,
    get: () => (refs ??= build()),
    set: (v: Trace['tensors']) => {
      refs = v;
    },
  });
  return trace;
}

export async function runLayer(spec: LayerSpec, opts: RunLayerOptions = {}): Promise<RunResult> {
  const t0 = performance.now();
  if (opts.signal?.aborted) throw new MoeError('E_CANCELLED', 'run cancelled before it started');
  opts.onProgress?.('setup', 0, 'checking the layer');
  const recipe = recipeById(spec.recipe.id);
  archById(spec.arch);
  refuseBlocking(spec, runChecks(spec));
  const selected = await selectBackend(opts.backend ?? 'auto', recipe, spec, opts.cudaInProcess ? { cudaInProcess: true } : {});
  // a backend lives for one run: the CUDA one holds a worker process (and its CUDA context), which must not
  // outlive the run — a CLI would never exit, and an editor would collect one idle process per run
  try {
    return await runWith(selected, spec, opts, t0);
  } finally {
    await selected.backend.dispose?.();
  }
}

async function runWith({ backend, reason }: SelectedBackend, spec: LayerSpec, opts: RunLayerOptions, t0: number): Promise<RunResult> {
  const recipe = recipeById(spec.recipe.id);
  const arch = archById(spec.arch);
  // the roofline: the model asked for, else ('auto') the GPU the run used, else the architecture's first model
  const asked = opts.gpuModel && opts.gpuModel !== 'auto' ? gpuModelById(opts.gpuModel).id : undefined;
  const gpuFor = (device: string): GpuModel => asked ?? gpuModelForDevice(device)?.id ?? arch.gpus[0]!.id;
  const { signal, onProgress, onStage } = opts;
  onProgress?.('setup', 0, opts.inputs ? 'preparing inputs' : spec.source.kind === 'file' ? 'loading the layer file' : spec.source.kind === 'checkpoint' ? `reading layer ${spec.source.layer} of the checkpoint` : 'preparing inputs');
  // Progressive runs on the CPU: synthetic weight codes (hundreds of MB, the slow part of the inputs) are written in
  // the background once the host has shown its first partial trace, and awaited before the first heavy stage:
  // the first stages draw at once, and the webview loads without competing for the 2 cores.
  // a run of some stages (opts.needs) on the CPU: synthetic inputs are made when a running stage reads them
  const partialRun = !!opts.needs && backend.name === 'cpu';
  const layer = layerInputs(spec, opts.inputs, { defer: !!onStage && backend.name === 'cpu' && !partialRun, lazy: partialRun, backend: backend.name });
  let weightsPending = !!layer.fillWeights;
  let filling: Promise<void> | undefined;
  let inputs = layer.inputs;
  const checks: CheckResult[] = runChecks(spec, inputs);
  refuseBlocking(spec, checks);
  // the EP placement of a synthetic spec, as a tensor, so every stage and picture sees the same map
  const map = expertMapOf(spec);
  if (map && !inputs.expert_map && recipe.optionalInputNames?.includes('expert_map'))
    inputs = { ...inputs, expert_map: new Tensor('i32', [map.length], map, undefined, 0, 'expert_map') };
  const fullPlan = recipe.plan(spec, inputs, { backend: backend.name });
  const neededIds = typeof opts.needs === 'function' ? opts.needs([...new Set([...Object.keys(inputs), ...fullPlan.stages.flatMap((s) => s.writes)])]) : opts.needs;
  const wanted = new Set(partialRun && neededIds !== 'all' ? neededIds : Object.keys(inputs));
  const plan: RunPlan = partialRun && neededIds !== 'all' ? { ...fullPlan, stages: stagesFor(fullPlan.stages, wanted) } : fullPlan;
  // the inputs a trace shows: all wanted ones, and any other a stage has read (a lazy input nobody read stays unmade)
  const shownInputs = (): [string, Tensor][] => Object.entries(inputs).filter(([name, t]) => isCreated(t) || wanted.has(name));
  if (signal?.aborted) throw new MoeError('E_CANCELLED', 'run cancelled before the first stage');

  const gemm: Trace['gemm'] = { production: arch.gemm.production, ran: backend.name === 'cuda' ? arch.gemm.addonKernel : 'CPU reference (exact 128-wide block sums in float64)', ...(backend.name === 'cuda' && arch.gemm.addonCaveat ? { caveat: arch.gemm.addonCaveat } : {}) };
  const stageRecord = (s: PlannedStage, timeMs: number, tensors: ReadonlyMap<string, Tensor>, device: string, runNotes: readonly string[], ownNotes: readonly string[] = []): StageRecord => {
    const notes = [throughputNote(s.cost, timeMs, backend.name), ...ownNotes, ...(s.notes?.(backend.name) ?? [])];
    // layout notes of the scale tensors this stage writes ("a1q_scale: …")
    for (const w of s.writes) if (w.endsWith('_scale_layout')) notes.push(...runNotes.filter((n) => n.startsWith(`${w.replace(/_layout$/, '')}:`)));
    if (s.heavy && gemm.caveat) notes.push(gemm.caveat);
    return {
      id: s.id,
      title: s.title,
      inputs: s.reads.filter((n) => tensors.has(n)),
      outputs: s.writes.filter((n) => tensors.has(n)),
      timeMs,
      bytes: s.cost.bytes,
      flops: s.cost.flops,
      usefulFlops: s.cost.usefulFlops,
      // the CPU kernels skip padding rows: their floor counts the useful FLOPs only
      roofline: backend.name === 'cpu' ? roofline({ ...s.cost, flops: s.cost.usefulFlops }, timeMs, cpuPeaks()) : roofline(s.cost, timeMs, gpuFor(device)),
      ...(backend.name === 'cpu' ? { gpuFloorMs: roofline(s.cost, 0, gpuFor(device)).floorMs } : {}),
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
      if (!hit || hit.t !== t) refCache.set(name, (hit = { t, ref: tensorRef(name, t, inlineLimit, plan.packingOf?.(name, t)) }));
      refs[name] = hit.ref;
    }
    return refs;
  };
  const traceOf = (stages: StageRecord[], tensors: ReadonlyMap<string, Tensor>, device: string, pending?: PendingStage[]): Trace =>
    withLazyTensorRefs(
      {
        version: 1,
        spec,
        recipe: { id: recipe.id, label: recipe.label },
        gemm,
        backend: { name: backend.name, reason, device },
        gpuModel: gpuFor(device),
        rooflineModel: rooflineModelOf(backend.name === 'cpu' ? cpuPeaks() : gpuModelById(gpuFor(device))),
        stages,
        checks,
        tensors: {},
        permutation: plan.permutation,
        createdAt: new Date().toISOString(),
        totalMs: performance.now() - t0,
        ...(pending ? { pending } : {}),
      },
      () => refsOf(tensors),
    );

  let onStageDone: ((id: StageId, st: Record<string, Tensor>, times: Partial<Record<StageId, number>>) => Promise<void>) | undefined;
  if (onStage) {
    const device = 'device' in backend && typeof backend.device === 'string' ? backend.device : backend.name;
    const order = plan.stages.map((s) => s.id);
    const emit = (done: number, st: Record<string, Tensor>, times: Partial<Record<StageId, number>>): void | Promise<void> => {
      const known = new Map<string, Tensor>();
      // weights not written yet are left out (a summary of zeros would be wrong, and cached)
      for (const [name, t] of shownInputs()) if (!(weightsPending && layer.deferred?.has(name))) known.set(name, t);
      for (const [name, t] of Object.entries(st)) known.set(name, t);
      const stages = plan.stages.slice(0, done).map((s) => stageRecord(s, times[s.id] ?? 0, known, device, []));
      const pending = plan.stages.slice(done).map((s): PendingStage => ({ id: s.id, title: s.title, outputs: [...s.writes] }));
      return onStage(traceOf(stages, known, device, pending));
    };
    const firstShown = emit(0, {}, {});
    filling = layer.fillWeightsAsync ? Promise.resolve(firstShown).then(() => layer.fillWeightsAsync!()) : undefined;
    // awaited before the first heavy stage; a run that fails earlier must not leave an unhandled rejection behind
    filling?.catch(() => undefined);
    onStageDone = async (id, st, times) => {
      const i = order.indexOf(id);
      const shown = emit(i + 1, st, times);
      const next = plan.stages[i + 1];
      if (shown && next?.heavy) await shown;
      // a timer and an immediate turn, so the host posts the partial picture before the next (long, maybe blocking) work
      await new Promise<void>((resolve) => setTimeout(resolve, 1));
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (weightsPending && next?.heavy) {
        await filling;
        layer.fillWeights?.();
        weightsPending = false;
      }
    };
  }

  let run: Awaited<ReturnType<typeof backend.run>>;
  try {
    run = await backend.run(inputs, spec, plan, {
      // a synthetic spec with the caller's tensors: the GPU worker must not regenerate other ones from the seed.
      // A layer file is read again by the worker, on purpose: from the page cache that is ~3× faster than sending
      // the parent's tensors through the worker's IPC pipe, and takes less memory in both processes (302 MB layer,
      // 2026-12-02: 5.6–6.3 s vs 15.6–21.5 s; worker peak 377 vs 651 MB)
      ...(opts.inputs && spec.source.kind === 'synthetic' ? { inputsGiven: true } : {}),
      ...(signal ? { signal } : {}),
      ...(opts.stageTensors === false ? { stageTensors: false } : {}),
      ...(onProgress ? { onProgress } : {}),
      ...(onStageDone ? { onStageDone } : {}),
    });
  } finally {
    // never hand out zero weights (a cancelled or failed run keeps no result, but be safe)
    layer.fillWeights?.();
  }
  if (weightsPending && onStageDone && plan.stages.some((s) => s.heavy))
    throw new MoeError('E_BACKEND', `the ${backend.name} backend ran a heavy stage without reporting the stage before it done, so the synthetic weights were written too late; run without onStage`);

  // the kernel that really ran, when it is not the one the architecture asks for (the W4AFP8 recipe's wgmma kernel,
  // MOE_GEMM=wgmma|mma, or a device without wgmma); a stand-in's timings are not the architecture's
  if (run.gemmKernel && run.gemmKernel !== arch.gemm.addonKernelId) {
    gemm.ran = ADDON_GEMM_KERNELS[run.gemmKernel];
    if (run.gemmKernel === STAND_IN_KERNEL && !gemm.caveat) {
      gemm.caveat = `this run's GEMMs ran the addon's ${gemm.ran} stand-in, not ${arch.gemm.addonKernel} (MOE_GEMM=mma, or a device without wgmma): compare layouts, not speed`;
    }
  }
  const tensors = new Map<string, Tensor>();
  for (const [name, t] of shownInputs()) tensors.set(name, t);
  for (const [name, t] of Object.entries(run.tensors)) tensors.set(name, t);
  const stages = plan.stages.map((s) => stageRecord(s, run.timesMs[s.id] ?? 0, tensors, run.device, run.notes ?? [], run.stageNotes?.[s.id]));
  const trace = traceOf(stages, tensors, run.device);
  return { trace, tensors, inputs, plan };
}

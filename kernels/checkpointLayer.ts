/**
 * One MoE layer of a Hugging Face checkpoint folder as a run's { spec, inputs } (docs/checkpoints.md): the routing of
 * a router dump (topk_ids/topk_weights, or router_logits scored as the config says, DeepSeek's bias read from the
 * checkpoint) or seeded synthetic routing for the checkpoint's shapes, and the weights of the experts that routing
 * uses. Shared by `moe-inspect run --checkpoint` (extension/cli/checkpointArgs.ts), the editor's "From a checkpoint
 * folder…" flow, and the pipeline when it re-runs a checkpoint spec (another architecture, a restored panel).
 *
 * Places: without expert parallelism every expert keeps its place (unused ones zero-filled) unless that would pass
 * the 4 GiB a tensor may take, in which case only the used experts get places (expert_map); with expert parallelism
 * the rank's experts get places, as vLLM's linear expert map gives them.
 */
import { basename } from 'node:path';
import { MoeError } from './errors';
import type { Arch, ExpertParallel, LayerSpec, QuantConvention, ScaleFormat } from './spec';
import { Tensor } from './tensor';
import { Checkpoint, type LoadedLayer, type MoeLayerInfo } from './io/checkpoint';
import { loadRouterDump, resolveRouting } from './routing';
import { inputsFromTensors, specFromInputs } from './inputs';
import { Rng, syntheticHiddenStates, syntheticRouting, MAX_WEIGHT_TENSOR_BYTES } from './synthetic';
import { expertMapFor } from './ops/permute';
import { fmtBytes } from './format';
import { VALIDATED } from './layerFile';
import type { LayerTensors } from './recipes/types';

/** tokens of synthetic routing when none are asked for */
export const DEFAULT_CHECKPOINT_TOKENS = 128;

export interface CheckpointLayerOptions {
  layer: number;
  arch: Arch;
  /** a router dump (.safetensors or .npy): its hidden_states and routing; else synthetic routing */
  dump?: string;
  /** synthetic routing only (a dump gives its own tokens) */
  tokens?: number;
  seed?: number;
  skew?: number;
  /** activation scale format; default: UE8M0 when quantization_config.scale_fmt is "ue8m0" or the target is SM100 */
  scaleFormat?: ScaleFormat;
  quant?: QuantConvention;
  expertParallel?: ExpertParallel;
}

export interface CheckpointLayer {
  spec: LayerSpec;
  /** validated (the pipeline does not scan them again) */
  inputs: LayerTensors;
  /** what a user should know about how the layer was built (experts read, bytes, quantization, unverified parts) */
  notes: string[];
}

/** the activation scale format a checkpoint run uses unless told otherwise (layout-spec.md §7.3) */
export function defaultScaleFormat(ck: Checkpoint, arch: Arch): ScaleFormat {
  return ck.config.quant.scaleFmt === 'ue8m0' || arch === 'sm100' ? 'ue8m0' : 'f32';
}

/** "0: 8 experts F8_E4M3 (FP8); …" — the first MoE layers, for a message that asks which one */
export function layerList(ck: Checkpoint, n = 4): string {
  const c = ck.config;
  const first = [...c.moeLayers, ...c.mtpLayers].slice(0, n).map((l) => ck.layerInfo(l));
  const more = c.moeLayers.length + c.mtpLayers.length > first.length ? '; …' : '';
  return first.map((l) => `${l.layer}${l.mtp ? ' (MTP)' : ''}: ${l.experts} experts ${l.weightDtype ?? '?'}${l.problem ? ' — unusable' : ''}`).join('; ') + more;
}

/** Opens DIR, builds layer `opts.layer`, closes the folder. One-line MoeErrors name the file. */
export function loadCheckpointLayer(dir: string, opts: CheckpointLayerOptions): CheckpointLayer {
  const ck = Checkpoint.open(dir);
  try {
    return checkpointLayer(ck, opts);
  } finally {
    ck.close();
  }
}

/** As loadCheckpointLayer, yielding between experts and cancellable (checkpointLayerAsync). */
export async function loadCheckpointLayerAsync(dir: string, opts: Parameters<typeof checkpointLayerAsync>[1]): Promise<CheckpointLayer> {
  const ck = Checkpoint.open(dir);
  try {
    return await checkpointLayerAsync(ck, opts);
  } finally {
    ck.close();
  }
}

/** The inputs of a spec whose source is a checkpoint (a re-run or a restored panel): built again from the folder. */
export function checkpointInputs(spec: LayerSpec): LayerTensors {
  const s = spec.source;
  if (s.kind !== 'checkpoint') throw new MoeError('E_SPEC', `checkpointInputs: the spec's data source is '${s.kind}', not 'checkpoint'`);
  return loadCheckpointLayer(s.path, {
    layer: s.layer,
    arch: spec.arch,
    ...(s.inputs ? { dump: s.inputs } : { tokens: spec.tokens, seed: s.seed ?? 0, skew: s.skew ?? 0 }),
    scaleFormat: spec.recipe.scaleFormat,
    quant: spec.recipe.quant,
    ...(spec.expertParallel ? { expertParallel: spec.expertParallel } : {}),
  }).inputs;
}

export function checkpointLayer(ck: Checkpoint, opts: CheckpointLayerOptions): CheckpointLayer {
  const plan = planLayer(ck, opts);
  return finishLayer(ck, plan, ck.loadLayer(opts.layer, plan.load));
}

/**
 * As checkpointLayer, yielding to the event loop between experts (an extension host stays responsive), telling
 * `onExpert` after each, and stopping with E_CANCELLED between experts once `signal` is aborted.
 */
export async function checkpointLayerAsync(
  ck: Checkpoint,
  opts: CheckpointLayerOptions & { signal?: AbortSignal; onExpert?: (done: number, total: number) => void },
): Promise<CheckpointLayer> {
  const plan = planLayer(ck, opts);
  const cancelled = (): void => {
    if (opts.signal?.aborted) throw new MoeError('E_CANCELLED', `reading layer ${opts.layer} of ${ck.dir} cancelled`);
  };
  cancelled();
  const loaded = await ck.loadLayerAsync(opts.layer, {
    ...plan.load,
    onExpert: (done, total) => {
      opts.onExpert?.(done, total);
      cancelled();
    },
  });
  return finishLayer(ck, plan, loaded);
}

interface LayerPlan {
  opts: CheckpointLayerOptions;
  scaleFormat: ScaleFormat;
  hidden: Tensor<'bf16'> | Tensor<'f32'>;
  ids: Tensor<'i32'> | Tensor<'i64'>;
  weights: Tensor<'f32'>;
  /** what Checkpoint.loadLayer is asked for: the used experts, their places */
  load: { experts: number[]; slots: number[]; scaleFormat: ScaleFormat };
  notes: string[];
}

/** the routing (read or synthetic) and the experts it uses, before any weight is read */
function planLayer(ck: Checkpoint, opts: CheckpointLayerOptions): LayerPlan {
  const c = ck.config;
  const L = opts.layer;
  const info: MoeLayerInfo = ck.layerInfo(L);
  if (info.problem) throw new MoeError('E_FORMAT', `${ck.dir}: ${info.problem}`);
  const ep = opts.expertParallel;
  if (ep && ep.rank >= ep.size) throw new MoeError('E_SPEC', `expert parallelism: rank ${ep.rank} must be below the size ${ep.size}`);
  const scaleFormat = opts.scaleFormat ?? defaultScaleFormat(ck, opts.arch);
  const notes: string[] = [];
  if (c.quant.scaleFmt === 'ue8m0' && opts.scaleFormat === undefined) notes.push('UE8M0 activation scales: quantization_config.scale_fmt is "ue8m0"');

  // ---- routing
  let hidden: Tensor<'bf16'> | Tensor<'f32'>;
  let ids: Tensor<'i32'> | Tensor<'i64'>;
  let weights: Tensor<'f32'>;
  if (opts.dump) {
    const dumpPath = opts.dump;
    const dump = loadRouterDump(dumpPath);
    const H = dump.hidden_states.shape[1];
    if (H !== c.hidden)
      throw new MoeError('E_SHAPE', `${dumpPath}: hidden_states has ${H} columns but ${basename(ck.dir)} has hidden_size ${c.hidden}: a dump of another model?`, 'hidden_states');
    if (info.hashRouted && !dump.topk_ids)
      throw new MoeError('E_FORMAT', `${dumpPath}: layer ${L} is hash-routed (token id → experts), so its router_logits do not choose the experts; dump topk_ids and topk_weights`, 'topk_ids');
    const bias = c.router.usesCorrectionBias && !dump.topk_ids ? ck.routerBias(L) : undefined;
    if (c.router.usesCorrectionBias && !dump.topk_ids && !bias)
      throw new MoeError('E_FORMAT', `${ck.dir}: layer ${L} chooses experts with e_score_correction_bias but the checkpoint has no such tensor; dump topk_ids and topk_weights instead`, 'e_score_correction_bias');
    const r = resolveRouting(dump, c.experts, c.router, bias);
    notes.push(r.from === 'dump' ? `routing: topk_ids/topk_weights from ${dumpPath}` : `routing: router_logits from ${dumpPath} scored with ${c.router.scoring} top-${c.router.topk}${c.router.nGroup > 1 ? ` (${c.router.topkGroup} of ${c.router.nGroup} groups)` : ''}`);
    hidden = r.hidden_states;
    ids = r.topk_ids;
    weights = r.topk_weights;
  } else {
    const M = opts.tokens ?? DEFAULT_CHECKPOINT_TOKENS;
    const seed = opts.seed ?? 0;
    const rng = new Rng(seed);
    hidden = new Tensor('bf16', [M, c.hidden], syntheticHiddenStates(M, c.hidden, rng), undefined, 0, 'hidden_states');
    const routing = syntheticRouting(M, c.experts, c.router.topk, opts.skew ?? 0, rng);
    ids = new Tensor('i32', [M, c.router.topk], routing.topkIds, undefined, 0, 'topk_ids');
    weights = new Tensor('f32', [M, c.router.topk], routing.topkWeights, undefined, 0, 'topk_weights');
    notes.push(`routing: synthetic (${M} tokens, seed ${seed}); pass a router dump for a real run's routing`);
  }

  // ---- which experts: the routing's; places as vLLM would hold them
  const used = new Set<number>();
  const idc = ids.contiguous();
  for (let i = 0; i < idc.numel; i++) {
    const v = Number(idc.storage[i]!);
    if (v >= 0) used.add(v);
  }
  let slots: number[];
  if (ep) {
    const map = expertMapFor(c.experts, ep);
    slots = [...map.keys()].filter((g) => map[g]! >= 0);
  } else if (c.experts * 2 * c.intermediate * c.hidden <= MAX_WEIGHT_TENSOR_BYTES) {
    slots = Array.from({ length: c.experts }, (_, g) => g);
  } else {
    slots = [...used].sort((a, b) => a - b);
    notes.push(`all ${c.experts} experts would take more than 4 GiB: only the ${slots.length} the routing uses get places (expert_map); expert parallelism (--ep N --rank R) gives one rank's`);
  }
  const toRead = slots.filter((g) => used.has(g));
  return { opts, scaleFormat, hidden, ids, weights, load: { experts: toRead, slots, scaleFormat }, notes };
}

/** the validated inputs and the spec, once the weights are read */
function finishLayer(ck: Checkpoint, plan: LayerPlan, loaded: LoadedLayer): CheckpointLayer {
  const { opts, scaleFormat, hidden, ids, weights } = plan;
  const c = ck.config;
  const L = opts.layer;
  const ep = opts.expertParallel;
  const notes = [...plan.notes, `read ${plan.load.experts.length} of ${c.experts} experts of layer ${L} (${fmtBytes(loaded.bytesRead)}) from ${ck.dir}`, ...loaded.notes];

  const inputs = inputsFromTensors({
    hidden_states: hidden,
    topk_ids: ids,
    topk_weights: weights,
    w13_weight: loaded.w13_weight,
    w13_weight_scale_inv: loaded.w13_weight_scale_inv,
    w2_weight: loaded.w2_weight,
    w2_weight_scale_inv: loaded.w2_weight_scale_inv,
    ...(loaded.expert_map ? { expert_map: loaded.expert_map } : {}),
  });
  VALIDATED.add(inputs);
  const synthetic = !opts.dump ? { seed: opts.seed ?? 0, skew: opts.skew ?? 0 } : {};
  const spec: LayerSpec = specFromInputs(inputs, {
    name: `${basename(ck.dir)} layer ${L}`,
    arch: opts.arch,
    recipe: { id: 'contiguous', actGroup: 128, weightBlock: 128, scaleFormat, quant: opts.quant ?? 'vllm' },
    activation: { ...c.activation },
    routerWeight: c.routerWeight,
    source: { kind: 'checkpoint', path: ck.dir, layer: L, ...(opts.dump ? { inputs: opts.dump } : synthetic) },
    ...(ep ? { expertParallel: ep } : {}),
  });
  return { spec, inputs, notes };
}

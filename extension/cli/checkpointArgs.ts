/**
 * `--checkpoint DIR --layer-index L [--inputs DUMP]` for `run`, and `check --checkpoint DIR`: one MoE layer of a
 * Hugging Face checkpoint folder as a { spec, inputs } choice in the shape layerFromFlags returns (docs/checkpoints.md).
 *
 * Routing: the dump's topk_ids/topk_weights, or its router_logits scored as the config says (DeepSeek's bias read
 * from the checkpoint); without --inputs, seeded synthetic hidden states and routing for the checkpoint's shapes.
 * Weights: only the experts the routing uses are read. Without expert parallelism every expert keeps its place
 * (unused ones zero-filled) unless that would pass the 4 GiB a tensor may take, in which case only the used experts
 * get places (expert_map); with --ep N --rank R the rank's experts get places, as vLLM's linear expert map gives them.
 * Activation scales: --act-scale, else UE8M0 when quantization_config.scale_fmt is "ue8m0" (DeepSeek-V3.1, V4) or
 * the target is SM100, else float32.
 */
import { basename } from 'node:path';
import { MoeError } from '../../kernels/errors';
import type { ExpertParallel, LayerSpec } from '../../kernels/spec';
import { Tensor } from '../../kernels/tensor';
import { Checkpoint, rangesText, verifyLayer } from '../../kernels/io/checkpoint';
import { loadRouterDump, resolveRouting } from '../../kernels/routing';
import { inputsFromTensors, specFromInputs } from '../../kernels/inputs';
import { Rng, syntheticHiddenStates, syntheticRouting, MAX_WEIGHT_TENSOR_BYTES } from '../../kernels/synthetic';
import { expertMapFor } from '../../kernels/ops/permute';
import { runChecks } from '../../kernels/checks';
import { fmtBytes } from '../../kernels/format';
import { type Flags, type FlagSpec, int, num, oneOf, parseFlags, required, str } from './args';
import type { LayerChoice } from './layerArgs';

export const CHECKPOINT_FLAGS: FlagSpec = {
  checkpoint: { type: 'string' },
  'layer-index': { type: 'string' },
  inputs: { type: 'string' },
};

export interface CheckpointChoice extends LayerChoice {
  /** what a user should know about how the layer was built (experts read, bytes, quantization, unverified parts) */
  notes: string[];
}

const DEFAULT_TOKENS = 128;

/** the first MoE layers with expert count and dtype, for the message that asks for --layer-index */
function layerList(ck: Checkpoint): string {
  const c = ck.config;
  const first = [...c.moeLayers, ...c.mtpLayers].slice(0, 4).map((l) => ck.layerInfo(l));
  const more = c.moeLayers.length + c.mtpLayers.length > first.length ? '; …' : '';
  return first.map((l) => `${l.layer}${l.mtp ? ' (MTP)' : ''}: ${l.experts} experts ${l.weightDtype ?? '?'}${l.problem ? ' — unusable' : ''}`).join('; ') + more;
}

export function checkpointFromFlags(flags: Flags, command: string): CheckpointChoice {
  const dir = required(flags, 'checkpoint', command);
  for (const other of ['layer', 'preset'] as const)
    if (str(flags, other) !== undefined) throw new MoeError('E_SPEC', `${command}: --checkpoint and --${other} both give the layer; use one`);
  const ck = Checkpoint.open(dir);
  try {
    return choose(ck, flags, command);
  } finally {
    ck.close();
  }
}

function choose(ck: Checkpoint, flags: Flags, command: string): CheckpointChoice {
  const c = ck.config;
  const moe = [...c.moeLayers, ...c.mtpLayers];
  const L = int(flags, 'layer-index', undefined, 0);
  if (L === undefined)
    throw new MoeError('E_SPEC', `${command}: --checkpoint needs --layer-index L (MoE layers ${rangesText(moe)}; ${layerList(ck)})`);
  const info = ck.layerInfo(L);
  if (info.problem) throw new MoeError('E_FORMAT', `${ck.dir}: ${info.problem}`);

  const arch = oneOf(flags, 'arch', ['sm90', 'sm100'] as const, 'sm90');
  const fromConfig = c.quant.scaleFmt === 'ue8m0';
  const scaleFormat = oneOf(flags, 'act-scale', ['f32', 'ue8m0'] as const, fromConfig || arch === 'sm100' ? 'ue8m0' : 'f32');
  const quant = oneOf(flags, 'quant', ['vllm', 'deepgemm'] as const, 'vllm');
  const backend = oneOf(flags, 'backend', ['auto', 'cpu', 'cuda'] as const, 'auto');
  const gpuModel = oneOf(flags, 'gpu', ['H100', 'H200', 'B200', 'H100-measured'] as const, 'H100');
  const epSize = int(flags, 'ep', undefined, 1);
  const expertParallel: ExpertParallel | undefined = epSize && epSize > 1 ? { size: epSize, rank: int(flags, 'rank', 0, 0)!, strategy: 'linear' } : undefined;
  if (expertParallel && expertParallel.rank >= expertParallel.size) throw new MoeError('E_SPEC', `--rank ${expertParallel.rank} must be below --ep ${expertParallel.size}`);
  const notes: string[] = [];
  if (fromConfig && str(flags, 'act-scale') === undefined) notes.push('UE8M0 activation scales: quantization_config.scale_fmt is "ue8m0"');

  // ---- routing
  const dumpPath = str(flags, 'inputs');
  let hidden: Tensor<'bf16'> | Tensor<'f32'>;
  let ids: Tensor<'i32'> | Tensor<'i64'>;
  let weights: Tensor<'f32'>;
  if (dumpPath) {
    for (const f of ['tokens', 'seed', 'skew'] as const)
      if (str(flags, f) !== undefined) throw new MoeError('E_SPEC', `${command}: --${f} is for synthetic inputs; --inputs ${dumpPath} gives the tokens`);
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
    const M = int(flags, 'tokens', DEFAULT_TOKENS, 1)!;
    const seed = int(flags, 'seed', 0, 0)!;
    const rng = new Rng(seed);
    hidden = new Tensor('bf16', [M, c.hidden], syntheticHiddenStates(M, c.hidden, rng), undefined, 0, 'hidden_states');
    const routing = syntheticRouting(M, c.experts, c.router.topk, num(flags, 'skew', 0), rng);
    ids = new Tensor('i32', [M, c.router.topk], routing.topkIds, undefined, 0, 'topk_ids');
    weights = new Tensor('f32', [M, c.router.topk], routing.topkWeights, undefined, 0, 'topk_weights');
    notes.push(`routing: synthetic (${M} tokens, seed ${seed}); pass --inputs DUMP for a real run's routing`);
  }

  // ---- which experts: the routing's; places as vLLM would hold them
  const used = new Set<number>();
  const idc = ids.contiguous();
  for (let i = 0; i < idc.numel; i++) {
    const v = Number(idc.storage[i]!);
    if (v >= 0) used.add(v);
  }
  let slots: number[];
  if (expertParallel) {
    const map = expertMapFor(c.experts, expertParallel);
    slots = [...map.keys()].filter((g) => map[g]! >= 0);
  } else if (c.experts * 2 * c.intermediate * c.hidden <= MAX_WEIGHT_TENSOR_BYTES) {
    slots = Array.from({ length: c.experts }, (_, g) => g);
  } else {
    slots = [...used].sort((a, b) => a - b);
    notes.push(`all ${c.experts} experts would take more than 4 GiB: only the ${slots.length} the routing uses get places (expert_map); --ep N --rank R gives one rank's`);
  }
  const toRead = slots.filter((g) => used.has(g));
  const loaded = ck.loadLayer(L, { experts: toRead, slots, scaleFormat });
  notes.push(`read ${toRead.length} of ${c.experts} experts of layer ${L} (${fmtBytes(loaded.bytesRead)}) from ${ck.dir}`, ...loaded.notes);

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
  const spec: LayerSpec = specFromInputs(inputs, {
    name: `${basename(ck.dir)} layer ${L}`,
    arch,
    recipe: { id: 'contiguous', actGroup: 128, weightBlock: 128, scaleFormat, quant },
    activation: { ...c.activation },
    routerWeight: c.routerWeight,
    source: { kind: 'checkpoint', path: ck.dir, layer: L, ...(dumpPath ? { inputs: dumpPath } : {}) },
    ...(expertParallel ? { expertParallel } : {}),
  });
  return { spec, inputs, backend, gpuModel, notes };
}

/** `moe-inspect check --checkpoint DIR [--arch] [--act-scale] [--weights]`: one line per MoE layer; exit 1 on a failure */
export function checkCheckpointCommand(argv: string[], out: NodeJS.WritableStream): number {
  const flags = parseFlags(
    argv,
    { checkpoint: { type: 'string' }, arch: { type: 'string' }, 'act-scale': { type: 'string' }, weights: { type: 'boolean' } },
    'check',
  );
  const dir = required(flags, 'checkpoint', 'check');
  const arch = oneOf(flags, 'arch', ['sm90', 'sm100'] as const, 'sm90');
  const ck = Checkpoint.open(dir);
  try {
    const c = ck.config;
    const scaleFormat = oneOf(flags, 'act-scale', ['f32', 'ue8m0'] as const, c.quant.scaleFmt === 'ue8m0' || arch === 'sm100' ? 'ue8m0' : 'f32');
    out.write(
      `${dir}: ${c.familyLabel} (model_type ${c.modelType}), ${c.moeLayers.length} MoE layers of ${c.numLayers}, ${c.experts} experts top-${c.router.topk}, hidden ${c.hidden}, moe_intermediate ${c.intermediate}` +
        `${c.quant.method ? `, ${c.quant.method}${c.quant.blockSize ? ` ${c.quant.blockSize.join('×')}` : ''}${c.quant.scaleFmt ? ` scale_fmt ${c.quant.scaleFmt}` : ''}` : ''}\n`,
    );
    // the shape-level guards are the same for every layer: once, from a spec of the checkpoint's shapes
    const spec: LayerSpec = {
      name: basename(dir),
      tokens: DEFAULT_TOKENS,
      hidden: c.hidden,
      intermediate: c.intermediate,
      experts: c.experts,
      topk: c.router.topk,
      arch,
      recipe: { id: 'contiguous', actGroup: 128, weightBlock: 128, scaleFormat, quant: 'vllm' },
      activation: { ...c.activation },
      routerWeight: c.routerWeight,
      blockM: 128,
      source: { kind: 'checkpoint', path: dir, layer: c.moeLayers[0] ?? 0 },
    };
    const mark = { pass: 'PASS', info: 'INFO', warn: 'WARN', fail: 'FAIL' } as const;
    let failed = 0;
    let warned = 0;
    for (const g of runChecks(spec).filter((x) => x.level !== 'pass' && x.id !== 'tokens.deepgemm-min')) {
      out.write(`${mark[g.level]}  all layers: ${g.message}\n`);
      if (g.level === 'fail') failed++;
      if (g.level === 'warn') warned++;
    }
    const layers = ck.layers().map((l) => l.layer);
    for (const L of layers) {
      const v = verifyLayer(ck, L, { scanWeights: flags.weights === true, powerOfTwoScales: arch === 'sm100' });
      out.write(`${mark[v.level]}  ${v.message}\n`);
      if (v.level === 'fail') failed++;
      if (v.level === 'warn') warned++;
    }
    out.write(`\n${layers.length} MoE layers checked: ${failed} failed, ${warned} warnings${flags.weights ? '' : ' (weights not scanned for NaN codes: add --weights)'}\n`);
    return failed ? 1 : 0;
  } finally {
    ck.close();
  }
}

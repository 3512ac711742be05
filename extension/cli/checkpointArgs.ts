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
import { Checkpoint, rangesText, verifyLayer } from '../../kernels/io/checkpoint';
import { checkpointLayer, defaultScaleFormat, layerList, DEFAULT_CHECKPOINT_TOKENS } from '../../kernels/checkpointLayer';
import { runChecks } from '../../kernels/checks';
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
  const actScale = str(flags, 'act-scale') === undefined ? undefined : oneOf(flags, 'act-scale', ['f32', 'ue8m0'] as const, 'f32');
  const quant = oneOf(flags, 'quant', ['vllm', 'deepgemm'] as const, 'vllm');
  const backend = oneOf(flags, 'backend', ['auto', 'cpu', 'cuda'] as const, 'auto');
  const gpuModel = oneOf(flags, 'gpu', ['H100', 'H200', 'B200', 'H100-measured'] as const, 'H100');
  const epSize = int(flags, 'ep', undefined, 1);
  const expertParallel: ExpertParallel | undefined = epSize && epSize > 1 ? { size: epSize, rank: int(flags, 'rank', 0, 0)!, strategy: 'linear' } : undefined;
  if (expertParallel && expertParallel.rank >= expertParallel.size) throw new MoeError('E_SPEC', `--rank ${expertParallel.rank} must be below --ep ${expertParallel.size}`);

  const dump = str(flags, 'inputs');
  if (dump) {
    for (const f of ['tokens', 'seed', 'skew'] as const)
      if (str(flags, f) !== undefined) throw new MoeError('E_SPEC', `${command}: --${f} is for synthetic inputs; --inputs ${dump} gives the tokens`);
  }
  const built = checkpointLayer(ck, {
    layer: L,
    arch,
    quant,
    ...(actScale ? { scaleFormat: actScale } : {}),
    ...(dump ? { dump } : { tokens: int(flags, 'tokens', DEFAULT_CHECKPOINT_TOKENS, 1)!, seed: int(flags, 'seed', 0, 0)!, skew: num(flags, 'skew', 0) }),
    ...(expertParallel ? { expertParallel } : {}),
  });
  // the library's hint names no flag; the CLI's does
  const notes = built.notes.map((n) => n.replace('pass a router dump for', 'pass --inputs DUMP for'));
  return { spec: built.spec, inputs: built.inputs, backend, gpuModel, notes };
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
    const scaleFormat = oneOf(flags, 'act-scale', ['f32', 'ue8m0'] as const, defaultScaleFormat(ck, arch));
    out.write(
      `${dir}: ${c.familyLabel} (model_type ${c.modelType}), ${c.moeLayers.length} MoE layers of ${c.numLayers}, ${c.experts} experts top-${c.router.topk}, hidden ${c.hidden}, moe_intermediate ${c.intermediate}` +
        `${c.quant.method ? `, ${c.quant.method}${c.quant.blockSize ? ` ${c.quant.blockSize.join('×')}` : ''}${c.quant.scaleFmt ? ` scale_fmt ${c.quant.scaleFmt}` : ''}` : ''}\n`,
    );
    // the shape-level guards are the same for every layer: once, from a spec of the checkpoint's shapes
    const spec: LayerSpec = {
      name: basename(dir),
      tokens: DEFAULT_CHECKPOINT_TOKENS,
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

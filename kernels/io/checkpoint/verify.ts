/**
 * Per-layer guards over a checkpoint without loading its layers: every expert's tensors present with the right dtype
 * and shape, every block scale finite and positive (and a power of two where the target needs UE8M0, SM100), and —
 * on request, reading the weights one expert at a time — no FP8 NaN codes. One verdict per layer.
 */
import { MoeError, shapeStr } from '../../errors';
import { isPowerOfTwoF32 } from '../../dtypes/ue8m0';
import type { Checkpoint } from './checkpoint';
import type { ShardTensor } from './shards';

export interface LayerVerdict {
  layer: number;
  level: 'pass' | 'warn' | 'fail';
  message: string;
}

export interface VerifyOptions {
  /** read every FP8 weight and look for NaN codes (0x7F/0xFF): reads the whole layer, one expert at a time */
  scanWeights?: boolean;
  /** block scales must be powers of two (SM100's packed UE8M0 layout) */
  powerOfTwoScales?: boolean;
}

export function verifyLayer(ck: Checkpoint, layer: number, opts: VerifyOptions = {}): LayerVerdict {
  const info = ck.layerInfo(layer);
  const tag = `layer ${layer}${info.mtp ? ' (MTP)' : ''}`;
  if (info.problem) return { layer, level: 'fail', message: `${tag}: ${info.problem}` };
  const E = ck.config.experts;
  const notes: string[] = [];
  let buf: Uint8Array | undefined;
  try {
    for (let e = 0; e < E; e++) {
      const p = ck.expertTensors(layer, e);
      for (const [which, proj] of Object.entries(p)) {
        if (proj.scale && info.format === 'fp8') checkScales(ck, proj.scale, `${tag} expert ${e} ${which}`, opts.powerOfTwoScales === true);
        if (proj.scale && info.format === 'fp4') checkE8m0(ck, proj.scale, `${tag} expert ${e} ${which}`);
        if (opts.scanWeights && info.format === 'fp8') {
          const n = proj.weight.end - proj.weight.begin;
          if (!buf || buf.length < n) buf = new Uint8Array(n);
          const view = buf.subarray(0, n);
          ck.readBytes(proj.weight, view);
          const at = view.findIndex((b) => (b & 0x7f) === 0x7f);
          if (at >= 0) {
            const cols = proj.weight.shape[1]!;
            throw new MoeError('E_VALUE', `${tag} expert ${e}: ${proj.weight.name}[${Math.floor(at / cols)}, ${at % cols}] is an FP8 NaN code 0x${view[at]!.toString(16)} (${proj.weight.file})`, proj.weight.name);
          }
        }
      }
    }
  } catch (e) {
    if (e instanceof MoeError) return { layer, level: 'fail', message: e.message.startsWith(tag) ? e.message : `${tag}: ${e.message}` };
    throw e;
  }
  if (info.format === 'fp4') notes.push('FP4 weights are unpacked and quantized to FP8 at load (the FP4 packing is unverified)');
  else if (info.format !== 'fp8') notes.push(`${info.weightDtype} weights are quantized to FP8 at load`);
  if (info.hashRouted) notes.push('hash-routed: its topk_ids must come from a dump');
  const checked = info.format === 'fp8' ? `scales finite and positive${opts.powerOfTwoScales ? ', powers of two' : ''}${opts.scanWeights ? ', no FP8 NaN codes' : ''}` : 'tensors present';
  return {
    layer,
    level: info.format === 'fp4' ? 'warn' : 'pass',
    message: `${tag}: ${info.experts} experts, ${info.weightDtype}${info.scaleDtype ? ` + ${info.scaleDtype} scales` : ''}, w13 ${shapeStr(info.shapes.w13_weight)}, w2 ${shapeStr(info.shapes.w2_weight)}; ${checked}${notes.length ? `; ${notes.join('; ')}` : ''}`,
  };
}

function checkScales(ck: Checkpoint, t: ShardTensor, where: string, pow2: boolean): void {
  const v = ck.readScalesF32(t);
  const cols = t.shape[1] ?? 1;
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    if (!(Number.isFinite(x) && x > 0))
      throw new MoeError('E_VALUE', `${where}: ${t.name}[${Math.floor(i / cols)}, ${i % cols}] = ${x}: block scales must be finite and positive (${t.file})`, t.name);
    if (pow2 && !isPowerOfTwoF32(x))
      throw new MoeError('E_VALUE', `${where}: ${t.name}[${Math.floor(i / cols)}, ${i % cols}] = ${x} is not a power of two: SM100 packs UE8M0 exponents only (vLLM requantizes weights to UE8M0 at load)`, t.name);
  }
}

function checkE8m0(ck: Checkpoint, t: ShardTensor, where: string): void {
  const n = t.end - t.begin;
  const raw = new Uint8Array(n);
  ck.readBytes(t, raw);
  const at = raw.indexOf(0xff);
  if (at >= 0) throw new MoeError('E_VALUE', `${where}: ${t.name} byte ${at} is 0xFF, the UE8M0 NaN (${t.file})`, t.name);
}

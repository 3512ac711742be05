/**
 * `moe-inspect transform --recipe w4afp8`: a W4AFP8 layer file as SGLang's W4AFp8MoEMethod.process_weights_after_loading
 * leaves it for the CUTLASS kernel (docs/layouts-and-stages.md §9), under the input's names:
 *   w13_weight_scale_inv (E, 2·I_p, H/128) F32  → BF16 (E, (H/128)/α, 2·I_p·α)
 *   w2_weight_scale_inv  (E, H, I_p/128) F32    → BF16 (E, (I_p/128)/α, H·α)      α = 4 if the K-group count % 4 == 0, else 1
 *   w13_input_scale (E, 2) / w2_input_scale (E,) → (1,) F32, the max over all experts (when the file has them)
 * The packed int4 weights and every other tensor are written unchanged.
 */
import type { Tensor } from '../../tensor';
import { MoeError, shapeStr } from '../../errors';
import { archById } from '../../arch/index';
import { wantDtype, wantShape } from '../../inputs';
import { T } from '../tensors';
import { WT } from './tensors';
import { groupScales, packedWeight, wantPacked } from './inputs';
import { interleaveScales } from './interleave';
import { scalarTensor } from './scales';
import { roundBf16 } from '../../dtypes/bf16';

const NEEDED = [T.w13_weight, T.w13_weight_scale_inv, T.w2_weight, T.w2_weight_scale_inv] as const;

function maxScale(t: Tensor, name: string, shape: number[]): Tensor<'f32'> {
  wantDtype(t, name, ['bf16', 'f32']);
  wantShape(t, name, shape, 'the per-expert static input scales as loaded');
  let m = -Infinity;
  for (const v of t.toFloat32()) {
    if (!(v > 0) || !Number.isFinite(v)) throw new MoeError('E_VALUE', `${name}: ${v} is not a positive finite scale`, name);
    if (v > m) m = v;
  }
  // a float32 input scale would have been loaded into SGLang's BF16 parameter first
  return scalarTensor(roundBf16(m), name);
}

export function w4TransformLayer(raw: Readonly<Record<string, Tensor>>, opts: { arch: string }): { tensors: Record<string, Tensor>; notes: string[]; metadata: Record<string, string> } {
  const missing = NEEDED.filter((n) => !raw[n]);
  if (missing.length) throw new MoeError('E_FORMAT', `transform --recipe w4afp8: missing ${missing.join(', ')} (needs ${NEEDED.join(', ')} under SGLang's names)`, missing[0]);
  const w13 = packedWeight(raw[T.w13_weight]!, T.w13_weight);
  if (w13.rank !== 3 || w13.shape[1]! % 2 !== 0)
    throw new MoeError('E_SHAPE', `w13_weight: expected shape [E, 2·I_p, H/2] (gate rows then up rows, two int4 per byte), got ${shapeStr(w13.shape)}`, T.w13_weight);
  const [E, twoIp, halfH] = w13.shape as [number, number, number];
  const H = 2 * halfH;
  const Ip = twoIp / 2;
  const w2 = packedWeight(raw[T.w2_weight]!, T.w2_weight);
  wantPacked(w2, T.w2_weight, [E, H], Ip, 'I_p');
  const s13 = groupScales(raw[T.w13_weight_scale_inv]!, T.w13_weight_scale_inv, E, twoIp, H, 'H');
  const s2 = groupScales(raw[T.w2_weight_scale_inv]!, T.w2_weight_scale_inv, E, H, Ip, 'I_p');
  const i13 = interleaveScales(s13, T.w13_weight_scale_inv);
  const i2 = interleaveScales(s2, T.w2_weight_scale_inv);
  const out: Record<string, Tensor> = { ...raw, [T.w13_weight_scale_inv]: i13.tensor, [T.w2_weight_scale_inv]: i2.tensor };
  const how = (a: number, g: number): string => (a === 4 ? `α = 4: ${g} K-groups, 4 of a row side by side` : `α = 1: ${g} K-group${g === 1 ? '' : 's'} (not a multiple of 4), a plain transpose`);
  const notes = [
    `${T.w13_weight_scale_inv}: ${shapeStr(s13.shape)} float32 → ${shapeStr(i13.tensor.shape)} bf16 (${how(i13.alpha, H / 128)})`,
    `${T.w2_weight_scale_inv}: ${shapeStr(s2.shape)} float32 → ${shapeStr(i2.tensor.shape)} bf16 (${how(i2.alpha, Ip / 128)})`,
  ];
  if (raw[WT.w13_input_scale]) {
    out[WT.w13_input_scale] = maxScale(raw[WT.w13_input_scale], WT.w13_input_scale, [E, 2]);
    notes.push(`${WT.w13_input_scale}: ${shapeStr(raw[WT.w13_input_scale].shape)} → [1] float32, the max over all experts = ${out[WT.w13_input_scale]!.get(0)} (the static GEMM1 activation scale)`);
  }
  if (raw[WT.w2_input_scale]) {
    out[WT.w2_input_scale] = maxScale(raw[WT.w2_input_scale], WT.w2_input_scale, [E]);
    notes.push(`${WT.w2_input_scale}: ${shapeStr(raw[WT.w2_input_scale].shape)} → [1] float32, the max over all experts = ${out[WT.w2_input_scale]!.get(0)} (the static GEMM2 activation scale)`);
  }
  notes.push(`${T.w13_weight} ${shapeStr(w13.shape)}, ${T.w2_weight} ${shapeStr(w2.shape)}: packed int4, unchanged (a further in-kernel reorder by CUTLASS is not visible from SGLang's Python path: ✖ unverified)`);
  const arch = archById(opts.arch);
  if (Math.floor(arch.computeCapability / 10) !== 9) notes.push(`${arch.label}: this is the layout SGLang's SM90 CUTLASS W4A8 kernel loads; other architectures may not run this kernel`);
  return {
    tensors: out,
    notes,
    metadata: { layout: 'SGLang W4AFP8 after process_weights_after_loading (docs/layouts-and-stages.md §9)', w13_scale_alpha: String(i13.alpha), w2_scale_alpha: String(i2.alpha) },
  };
}

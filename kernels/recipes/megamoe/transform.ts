/**
 * `moe-inspect transform --recipe megamoe-sm90 | megamoe-sm100`: a layer's expert weights re-laid out the way
 * DeepGEMM's MegaMoE loads them (docs/layouts-and-stages.md §7.5), under the input names.
 * - SM90 (transform_weights_for_mega_moe_sm90): only the L1 FP8 weight is interleaved; its 128×128 block scales stay
 *   in the natural gate-then-up order and L2 is untouched.
 * - SM100 (transform_weights_for_mega_moe): the interleave on the weight AND on its per-row packed UE8M0 scales,
 *   then the UTCCP transpose of both L1 and L2 scales. BF16 weights (no scales): interleave only.
 */
import { MoeError, shapeStr } from '../../errors';
import type { Tensor } from '../../tensor';
import { wantDtype, wantShape, scalesToF32 } from '../../inputs';
import { archById } from '../../arch/index';
import { broadcastWeightScaleRows } from '../../layout/weightScales';
import { toSm100PackedUe8m0 } from '../../layout/sm100';
import { T } from '../tensors';
import { checkIh, interleaveW13, utccpTranspose } from './interleave';
import { kernelSizeProblems } from './limits';

export interface TransformResult {
  tensors: Record<string, Tensor>;
  notes: string[];
  metadata?: Record<string, string>;
}

interface Weights {
  w13: Tensor;
  w2: Tensor;
  s13?: Tensor;
  s2?: Tensor;
  E: number;
  IH: number;
  H: number;
}

const WEIGHT_NAMES = [T.w13_weight, T.w13_weight_scale_inv, T.w2_weight, T.w2_weight_scale_inv] as const;

/** the four weight tensors, checked against each other (one-line errors naming the tensor) */
function readWeights(raw: Readonly<Record<string, Tensor>>, recipe: string, allowBf16: boolean): Weights {
  for (const n of [T.w13_weight, T.w2_weight])
    if (!raw[n]) throw new MoeError('E_FORMAT', `transform --recipe ${recipe}: missing tensor '${n}' (a layer file needs ${WEIGHT_NAMES.join(', ')})`, n);
  const w13 = raw[T.w13_weight]!;
  const fp8 = ['f8e4m3fn', 'u8'];
  wantDtype(w13, T.w13_weight, allowBf16 ? [...fp8, 'bf16'] : fp8);
  if (w13.rank !== 3 || w13.shape[1]! % 2 !== 0)
    throw new MoeError('E_SHAPE', `${T.w13_weight}: expected shape [E, 2·IH, H] (IH gate rows, then IH up rows), got ${shapeStr(w13.shape)}`, T.w13_weight);
  const [E, twoIh, H] = w13.shape as [number, number, number];
  const IH = twoIh / 2;
  checkIh(IH, T.w13_weight);
  const w2 = raw[T.w2_weight]!;
  const isFp8 = w13.dtype !== 'bf16';
  wantDtype(w2, T.w2_weight, isFp8 ? fp8 : ['bf16']);
  wantShape(w2, T.w2_weight, [E, H, IH], `E × H × IH, from w13_weight ${shapeStr(w13.shape)}`);
  if (!isFp8) {
    const extra = [T.w13_weight_scale_inv, T.w2_weight_scale_inv].filter((n) => raw[n]);
    if (extra.length) throw new MoeError('E_FORMAT', `${extra[0]}: BF16 weights carry no block scales, but the file has ${extra.join(', ')}; give FP8 weights with their scales, or BF16 weights alone`, extra[0]);
    return { w13, w2, E, IH, H };
  }
  for (const n of [T.w13_weight_scale_inv, T.w2_weight_scale_inv])
    if (!raw[n]) throw new MoeError('E_FORMAT', `transform --recipe ${recipe}: missing tensor '${n}': FP8 weights need their 128×128 block scales (${WEIGHT_NAMES.join(', ')})`, n);
  const s13 = raw[T.w13_weight_scale_inv]!;
  const s2 = raw[T.w2_weight_scale_inv]!;
  wantDtype(s13, T.w13_weight_scale_inv, ['f32', 'ue8m0']);
  wantShape(s13, T.w13_weight_scale_inv, [E, Math.ceil(twoIh / 128), Math.ceil(H / 128)], 'one scale per 128×128 block of w13_weight');
  wantDtype(s2, T.w2_weight_scale_inv, ['f32', 'ue8m0']);
  wantShape(s2, T.w2_weight_scale_inv, [E, Math.ceil(H / 128), Math.ceil(IH / 128)], 'one scale per 128×128 block of w2_weight');
  return { w13, w2, s13, s2, E, IH, H };
}

function passThrough(raw: Readonly<Record<string, Tensor>>, out: Record<string, Tensor>, notes: string[]): void {
  if (raw[T.expert_map]) out[T.expert_map] = raw[T.expert_map]!;
  const dropped = Object.keys(raw).filter((n) => !(n in out) && !(WEIGHT_NAMES as readonly string[]).includes(n));
  if (dropped.length) notes.push(`not written: ${dropped.join(', ')} (the transform re-lays out the expert weights only)`);
}

const interleaveNote = (w: Weights): string =>
  `w13_weight ${shapeStr(w.w13.shape)}: gate/up rows interleaved in groups of 8 — out rows 0–7 ← gate 0–7, 8–15 ← up 0–7 (rows ${w.IH}–${w.IH + 7}), 16–23 ← gate 8–15, … (docs/layouts-and-stages.md §7.5)`;

export function transformSm90(raw: Readonly<Record<string, Tensor>>, opts: { arch: string }): TransformResult {
  const arch = archById(opts.arch);
  if (Math.floor(arch.computeCapability / 10) !== 9)
    throw new MoeError(
      'E_SPEC',
      `transform --recipe megamoe-sm90 lays weights out for the Hopper MegaMoE kernel (compute capability 9.x); --arch ${arch.id} is ${(arch.computeCapability / 10).toFixed(1)}: use --recipe megamoe-sm100 for Blackwell, or --arch sm90`,
    );
  const w = readWeights(raw, 'megamoe-sm90', false);
  const { tensor } = interleaveW13(w.w13, T.w13_weight);
  const out: Record<string, Tensor> = {
    [T.w13_weight]: tensor,
    [T.w13_weight_scale_inv]: w.s13!,
    [T.w2_weight]: w.w2,
    [T.w2_weight_scale_inv]: w.s2!,
  };
  const notes = [
    interleaveNote(w),
    `w13_weight_scale_inv, w2_weight, w2_weight_scale_inv: unchanged — Hopper keeps the 128×128 block scales in their natural gate-then-up order (the kernel reads interleaved row r's scale from block ⌊source row / 128⌋) and L2 is not transformed`,
  ];
  for (const p of kernelSizeProblems(w.H, w.IH)) notes.push(`note: the SM90 MegaMoE kernel would refuse this layer: ${p}`);
  passThrough(raw, out, notes);
  return { tensors: out, notes, metadata: { 'megamoe.target': 'sm90', 'megamoe.w13': 'granularity-8 gate/up row interleave (docs/layouts-and-stages.md §7.5); scales natural', 'megamoe.intermediate': String(w.IH) } };
}

/** float32 (or UE8M0) block scales → one row per output row, packed UE8M0 int32 (docs/layouts-and-stages.md §4.2, §4.4) */
function packedPerRow(s: Tensor, rows: number, name: string): Tensor<'i32'> {
  const f = scalesToF32(s, name).withName(name);
  return toSm100PackedUe8m0(broadcastWeightScaleRows(f, rows, 128)).withName(name);
}

export function transformSm100(raw: Readonly<Record<string, Tensor>>): TransformResult {
  const w = readWeights(raw, 'megamoe-sm100', true);
  const { tensor } = interleaveW13(w.w13, T.w13_weight);
  const notes = [interleaveNote(w)];
  const out: Record<string, Tensor> = { [T.w13_weight]: tensor, [T.w2_weight]: w.w2 };
  if (!w.s13) {
    notes.push('BF16 weights: interleave only; w2_weight unchanged (no scales to transpose)');
    passThrough(raw, out, notes);
    return { tensors: out, notes, metadata: { 'megamoe.target': 'sm100', 'megamoe.w13': 'granularity-8 gate/up row interleave (docs/layouts-and-stages.md §7.5)', 'megamoe.intermediate': String(w.IH) } };
  }
  // per-row packed scales first (the layout SM100 kernels read), then the same interleave as the weight, then UTCCP
  const s13 = utccpTranspose(interleaveW13(packedPerRow(w.s13, 2 * w.IH, T.w13_weight_scale_inv), T.w13_weight_scale_inv).tensor, T.w13_weight_scale_inv);
  const s2 = utccpTranspose(packedPerRow(w.s2!, w.H, T.w2_weight_scale_inv), T.w2_weight_scale_inv);
  out[T.w13_weight_scale_inv] = s13;
  out[T.w2_weight_scale_inv] = s2;
  notes.push(
    `w13_weight_scale_inv → int32 ${shapeStr(s13.shape)}: broadcast to one row per output row, packed UE8M0 (4 K-blocks per word, low byte first), rows interleaved like the weight, then the UTCCP transpose within every 128-row chunk (new row 128c + 4b + a ← old row 128c + 32a + b)`,
    `w2_weight_scale_inv → int32 ${shapeStr(s2.shape)}: broadcast, packed, UTCCP transpose; w2_weight unchanged`,
    'the kernel keeps packed scales MN-major (strides (mn·words, 1, mn)); the file holds their logical rows, row-major',
    "SM100 MegaMoE (fp8_fp4_mega_moe) takes FP4 weights with 32-wide UE8M0 scales (recipe (1, 1, 32)): this applies its layout to the FP8 layer's 128×128 block scales; the FP8 → FP4 conversion is not done",
  );
  passThrough(raw, out, notes);
  return {
    tensors: out,
    notes,
    metadata: {
      'megamoe.target': 'sm100',
      'megamoe.w13': 'granularity-8 gate/up row interleave (docs/layouts-and-stages.md §7.5)',
      'megamoe.scales': 'per-row packed UE8M0 int32, interleaved (L1), UTCCP-transposed in 128-row chunks (L1, L2); logical rows',
      'megamoe.intermediate': String(w.IH),
    },
  };
}

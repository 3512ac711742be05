/**
 * How W4AFP8 tensors read when hovered in a notebook (the lead wires these into extension/hover/classify.ts). `dtype`
 * is the torch dtype name the probe reports; `shape`, when given, must also hold (SGLang reuses the FP8 names
 * `*_weight_scale_inv` for its int4 group scales, which only the shape tells apart from 128×128 block scales).
 */
import type { HoverHint } from '../types';

export type { HoverHint };

/** group scales (E, rows, K/128) have as many rows as the weight, block scales rows/128: rows ≥ 128·(K/128) is not a block grid */
const manyRows = (s: readonly number[]): boolean => s.length === 3 && s[1]! > 4 * s[2]! && s[1]! % 128 === 0;

export const hoverHints: readonly HoverHint[] = [
  {
    name: /(^|\.)w13_weight$/,
    dtype: 'int8',
    rank: 3,
    text: 'W4AFP8 w13 (E_l, 2·I_p, H/2): signed int4 packed two per byte along K (element 2j in the low nibble), gate rows then up rows; SGLang cutlass_w4a8_moe_mm converts them to FP8 in registers',
  },
  {
    name: /(^|\.)w2_weight$/,
    dtype: 'int8',
    rank: 3,
    text: 'W4AFP8 w2 (E_l, H, I_p/2): signed int4 packed two per byte along K = I_p (element 2j in the low nibble)',
  },
  {
    name: /(^|\.)w(13|2)_weight_scale_inv$/,
    dtype: 'float32',
    rank: 3,
    shape: manyRows,
    text: 'W4AFP8 int4 group scales as loaded (E_l, rows, K/128): one per output row and 128 K-elements; SGLang casts them to BF16 and interleaves them to (E_l, (K/128)/α, rows·α), α = 4 when K/128 divides by 4',
  },
  {
    name: /(^|\.)w(13|2)_weight_scale_inv$/,
    dtype: 'bfloat16',
    rank: 3,
    text: 'W4AFP8 group scales in the CUTLASS kernel layout (E_l, (K/128)/α, rows·α): out[e, j, α·r + i] = s[e, r, α·j + i], α = 4 (or 1 when K/128 is not a multiple of 4)',
  },
  {
    name: /(^|\.)w13_input_scale$/,
    text: 'W4AFP8 static FP8 input scale of GEMM1: (E_l, 2) BF16 per expert (gate, up) in the checkpoint; after load the max over all experts, one float32 for the whole tensor',
  },
  {
    name: /(^|\.)w2_input_scale$/,
    text: 'W4AFP8 static FP8 input scale of GEMM2: (E_l,) BF16 in the checkpoint; after load the max over all experts, one float32',
  },
];

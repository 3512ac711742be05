/**
 * MegaMoE's activation quantizer: DeepGEMM's rule (docs/layouts-and-stages.md §2.2, rows "DeepGEMM test utils
 * per_token_cast_to_fp8" and "DeepGEMM mega-MoE activation reference"): per row and group of `group` columns,
 * s = fl(max(amax, 1e−4) / 448), q = fp8(fl(x · fl(1/s))), float32 scales (no UE8M0 rounding: vLLM stages with
 * use_ue8m0=False, §7.4). The staging uses group 128, the L2 activations group 64. With group 128 it is bit for bit
 * kernels/ops/quantize.ts quantizeRowGroups with the 'deepgemm' convention and float32 scales (tested).
 */
import { MoeError } from '../../errors';
import { f32Bits, fround } from '../../dtypes/float32';
import { encodeE4M3Bits } from '../../ops/quantize';

const FP8_MAX = 448;
const AMAX_FLOOR = fround(1e-4);

/** row `src[srcOff … srcOff+K)` → q[qOff…] and K/group scales at scale[scaleOff + j·scaleStride]; throws on a non-finite value (its column) */
export function quantizeGroups(
  src: Float32Array,
  srcOff: number,
  K: number,
  group: number,
  q: Uint8Array,
  qOff: number,
  scale: Float32Array,
  scaleOff: number,
  scaleStride: number,
): void {
  if (!Number.isInteger(group) || group <= 0 || K % group !== 0) throw new MoeError('E_SHAPE', `quantizeGroups: K = ${K} is not a multiple of the group ${group}`);
  for (let j = 0, g0 = srcOff; g0 < srcOff + K; j++, g0 += group) {
    let amax = 0;
    for (let c = 0; c < group; c++) {
      const x = src[g0 + c]!;
      if (!Number.isFinite(x)) throw new NonFiniteValue(g0 + c - srcOff, x);
      const a = x < 0 ? -x : x;
      if (a > amax) amax = a;
    }
    const s = fround((amax > AMAX_FLOOR ? amax : AMAX_FLOOR) / FP8_MAX);
    scale[scaleOff + j * scaleStride] = s;
    const inv = fround(1 / s);
    const qBase = qOff + j * group;
    for (let c = 0; c < group; c++) q[qBase + c] = encodeE4M3Bits(f32Bits(fround(src[g0 + c]! * inv)));
  }
}

/** a non-finite value at `column` of the row being quantized (the caller names the tensor and the row) */
export class NonFiniteValue extends MoeError {
  constructor(
    readonly column: number,
    readonly value: number,
  ) {
    super('E_VALUE', `non-finite value ${value} at column ${column}: FP8 quantization needs finite values`);
  }
}


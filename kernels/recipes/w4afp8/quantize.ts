/**
 * Static per-tensor FP8 quantization (docs/layouts-and-stages.md §9): one float32 scale s for the whole tensor, fixed at load time
 * (the max of the checkpoint's per-expert input scales). The rule computed is SGLang's reference:
 *   q = fp8(clamp(fl(x / s), −448, 448))          (IEEE float32 division, PyTorch's round-to-nearest-even cast)
 * SGLang's kernels (the pre-reorder Triton kernel, sgl_per_tensor_quant_fp8) multiply by the reciprocal instead,
 * fp8_sat(fl(x · fl(1/s))): the two can differ by one FP8 code where fl(x/s) and fl(x·fl(1/s)) straddle a rounding
 * boundary. Both are computed and the differing codes counted, so a stage can say how often that happens.
 */
import { fround } from '../../dtypes/float32';
import { encodeE4M3Bits } from '../../ops/quantize';

const FP8_MAX = 448;

export interface StaticQuantStats {
  /** elements with |x / s| > 448: clamped to ±448 (the static scale is too small for them) */
  clamped: number;
  /** elements whose code differs under the kernels' x · fl(1/s) */
  kernelDiffers: number;
}

const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);
const codeOf = (v: number): number => {
  scratch[0] = v;
  return encodeE4M3Bits(scratchBits[0]!);
};

/**
 * n values src[srcOff…] (already float32) → q[qOff…], with the per-tensor scale s (a positive float32).
 * Adds to `stats` and returns it.
 */
export function quantizeStaticRow(src: ArrayLike<number>, srcOff: number, n: number, q: Uint8Array, qOff: number, s: number, stats: StaticQuantStats): StaticQuantStats {
  const inv = fround(1 / s);
  for (let i = 0; i < n; i++) {
    const x = src[srcOff + i]!;
    let v = fround(x / s);
    if (v > FP8_MAX || v < -FP8_MAX) {
      stats.clamped++;
      v = v > 0 ? FP8_MAX : -FP8_MAX;
    }
    const code = codeOf(v);
    q[qOff + i] = code;
    let w = fround(x * inv);
    if (w > FP8_MAX) w = FP8_MAX;
    else if (w < -FP8_MAX) w = -FP8_MAX;
    if (codeOf(w) !== code) stats.kernelDiffers++;
  }
  return stats;
}

/** one line for a stage note */
export function staticQuantNote(what: string, s: number, n: number, st: StaticQuantStats): string {
  const pct = (c: number): string => (n ? `${((100 * c) / n).toFixed(c && (100 * c) / n < 0.01 ? 4 : 2)}%` : '0%');
  return (
    `${what}: static per-tensor scale ${s} (FP8 range ±${(448 * s).toPrecision(4)}); ${st.clamped} of ${n} values (${pct(st.clamped)}) beyond it clamped to ±448` +
    `; ${st.kernelDiffers} code${st.kernelDiffers === 1 ? '' : 's'} (${pct(st.kernelDiffers)}) would differ under SGLang's kernels, which multiply by fl(1/s) instead of dividing`
  );
}

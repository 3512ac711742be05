/**
 * Finite but absurd inputs (hidden_states = 3e38, a weight scale of 1e30) pass the NaN/inf checks and then overflow
 * to inf inside a stage, far from the tensor that caused it. This bounds every stage's output from the inputs'
 * largest magnitudes — a worst case: when it passes, no stage can overflow — and refuses the inputs before the
 * run, naming the tensor, the element and the stage.
 *
 * The bounds, stage by stage (spec README §2 quantization, §5 GEMM and activation). Every stage tensor past quantize
 * is BF16 or FP8 + scale, so the ceiling is BF16's largest finite value, (2 − 2^−7)·2^127 ≈ 3.39e38 (float32's is
 * barely larger); amax/448 itself is finite for every finite amax, so the scales cannot overflow, only the products:
 * - quantize: |dequantized a| ≤ 448·scale ≤ 2·max|x| (a UE8M0 scale is amax/448 rounded up to a power of two: at
 *   most 2× larger) — call that A.
 * - GEMM1: |mm1_out| ≤ K · A · W13, with W13 = 448 · max(w13_weight_scale_inv) the largest dequantized weight.
 *   Call it B1.
 * - activation: |silu(g)·u| ≤ |g|·|u| ≤ B1² (|silu(g)| ≤ |g|; a SwiGLU clamp only lowers it).
 * - GEMM2: |mm2_out| ≤ N · 2·B1² · W2, W2 = 448 · max(w2_weight_scale_inv) (re-quantization: the same 2× as above).
 *   Call it B2.
 * - reduce: |output| ≤ topk · max|topk_weights| · B2.
 * Real layers sit many orders of magnitude below (DeepSeek-V3: max|x| ~1e4, W ~1 give B1 ~1e8, B2 ~1e20), so no
 * real input is refused; with weights ~1 the first DeepSeek-V3 input to trip it has max|x| ~1e13 (the activation
 * squares B1).
 */
import { decodeBf16 } from './dtypes/bf16';
import type { LayerInputs } from './backend/types';
import type { Tensor } from './tensor';
import { MoeError } from './errors';

/** the largest finite BF16 value: (2 − 2^−7) · 2^127 */
export const BF16_MAX = 3.3895313892515355e38;
/** the largest finite FP8 E4M3FN value */
const FP8_MAX = 448;

interface Extreme {
  /** the largest magnitude */
  value: number;
  /** that element's value, with its sign */
  signed: number;
  /** multi-index of the element */
  at: number[];
}

/** largest |value| of a BF16/F32 tensor and where it is (one pass, no float32 copy of a BF16 tensor) */
export function absMax(t: Tensor<'bf16'> | Tensor<'f32'>): Extreme {
  const c = t.contiguous();
  // one loop per element type, over plain locals: a loop that sees both array kinds checks the kind on every access
  const { best, signed, index } = c.dtype === 'bf16' ? absMaxBf16(c.storage as Uint16Array, c.offset, c.numel) : absMaxF32(c.storage as Float32Array, c.offset, c.numel);
  const at: number[] = [];
  let rest = Math.max(0, index);
  for (let d = t.rank - 1; d >= 0; d--) {
    at.unshift(rest % t.shape[d]!);
    rest = Math.floor(rest / t.shape[d]!);
  }
  return { value: best, signed, at };
}

interface Found {
  best: number;
  signed: number;
  /** logical index, −1 when there is no (non-NaN) element */
  index: number;
}

function absMaxBf16(st: Uint16Array, offset: number, n: number): Found {
  // the magnitude order of non-NaN BF16 bit patterns (sign cleared) is their integer order
  let bestBits = -1;
  let index = -1;
  for (let i = 0; i < n; i++) {
    const b = st[offset + i]! & 0x7fff;
    if (b > bestBits && b < 0x7f80) {
      bestBits = b;
      index = i;
    }
  }
  if (index < 0) return { best: 0, signed: 0, index };
  const best = decodeBf16(bestBits);
  return { best, signed: st[offset + index]! & 0x8000 ? -best : best, index };
}

function absMaxF32(st: Float32Array, offset: number, n: number): Found {
  let best = 0;
  let index = -1;
  for (let i = 0; i < n; i++) {
    const v = Math.abs(st[offset + i]!);
    if (v > best) {
      best = v;
      index = i;
    }
  }
  return { best, signed: index >= 0 ? st[offset + index]! : 0, index };
}

const fmt = (v: number): string => v.toPrecision(3);
const where = (name: string, e: Extreme): string => `${name}[${e.at.join(', ')}] = ${fmt(e.signed)}`;

/** Refuses inputs whose magnitudes could overflow a stage (see the module comment for the bounds). */
export function checkMagnitudes(inputs: LayerInputs): void {
  const K = inputs.hidden_states.shape[1]!;
  const N = inputs.w2_weight.shape[2]!;
  const topk = inputs.topk_ids.shape[1]!;
  const x = absMax(inputs.hidden_states);
  const s13 = absMax(inputs.w13_weight_scale_inv);
  const s2 = absMax(inputs.w2_weight_scale_inv);
  const tw = absMax(inputs.topk_weights);
  const A = 2 * x.value;
  const W13 = FP8_MAX * s13.value;
  const W2 = FP8_MAX * s2.value;
  const B1 = K * A * W13;
  const act = B1 * B1;
  const B2 = N * 2 * act * W2;
  const out = topk * tw.value * B2;
  const limit = `BF16's largest finite value ${fmt(BF16_MAX)}; scale the inputs down (real layers stay below ~1e4)`;
  // the factors feeding each stage, with a generous "typical" magnitude: the one furthest above its typical value
  // is named as the cause
  const xs: Factor = { name: 'hidden_states', e: x, typical: 1e4 };
  const w13: Factor = { name: 'w13_weight_scale_inv', e: s13, typical: 1 };
  const w2: Factor = { name: 'w2_weight_scale_inv', e: s2, typical: 1 };
  const tws: Factor = { name: 'topk_weights', e: tw, typical: 1 };
  const refuse = (factors: Factor[], what: string): never => {
    const c = factors.reduce((a, b) => (b.e.value / b.typical > a.e.value / a.typical ? b : a));
    throw new MoeError('E_VALUE', `${where(c.name, c.e)} is too large: ${what}, past ${limit}`, c.name);
  };
  const inputsLine = `${where('hidden_states', x)} and ${where('w13_weight_scale_inv', s13)} (weights up to 448 × that)`;
  if (!(B1 <= BF16_MAX)) refuse([xs, w13], `with ${inputsLine}, Grouped GEMM 1 (K = ${K}) can reach ${fmt(B1)}`);
  if (!(act <= BF16_MAX)) refuse([xs, w13], `with ${inputsLine}, Grouped GEMM 1 (K = ${K}) can reach ${fmt(B1)} and SiLU-and-mul its square ${fmt(act)}`);
  if (!(B2 <= BF16_MAX)) refuse([xs, w13, w2], `Grouped GEMM 2 (N = ${N}) on activations up to ${fmt(act)} with ${where('w2_weight_scale_inv', s2)} can reach ${fmt(B2)}`);
  if (!(out <= BF16_MAX)) refuse([xs, w13, w2, tws], `the weighted reduce of ${topk} expert outputs up to ${fmt(B2)} with ${where('topk_weights', tw)} can reach ${fmt(out)}`);
}

interface Factor {
  name: string;
  e: Extreme;
  typical: number;
}

/**
 * Float64 references of the three passes, row by row on demand (the |error| heatmaps and the tests):
 * - from the BF16 inputs (no quantization): what FP8 training approximates,
 *     output[t] = x[t]·W[e]ᵀ, grad_input[t] = g[t]·W[e], grad_weight[e][n, k] = Σ_{t ∈ e} g[t, n]·x[t, k];
 * - from the quantized operands (dequantized, summed in float64): what the FP8 GEMM computes before its float32
 *   accumulation and BF16 rounding, with the sum of |terms| that bounds those roundings.
 */
import type { Tensor } from '../../tensor';
import { E4M3_DECODE } from '../../dtypes/fp8e4m3';
import { readRows, type FloatTensor } from './quantize';
import { TOKEN_BLOCK, type GroupPlan } from './groups';
import type { TorchaoInputs } from './inputs';

const B = TOKEN_BLOCK;

/** the expert of each token (rows of input in order) */
export function tokenExperts(groups: GroupPlan): Int32Array {
  const out = new Int32Array(groups.tokens);
  for (let e = 0; e < groups.sizes.length; e++) out.fill(e, groups.srcStarts[e]!, groups.srcStarts[e]! + groups.sizes[e]!);
  return out;
}

function row(t: FloatTensor, r: number): Float32Array {
  const C = t.shape[t.rank - 1]!;
  const out = new Float32Array(C);
  readRows(t, r, r + 1, out);
  return out;
}

export class TrainingReference64 {
  private readonly experts: Int32Array;
  private readonly weights = new Map<number, Float32Array>();
  private readonly flatW: FloatTensor;
  readonly M: number;
  readonly K: number;
  readonly N: number;

  constructor(
    private readonly inputs: TorchaoInputs,
    private readonly groups: GroupPlan,
  ) {
    this.experts = tokenExperts(groups);
    [this.M, this.K] = inputs.input.shape as [number, number];
    this.N = inputs.weight.shape[1]!;
    this.flatW = inputs.weight.contiguous().reshape([inputs.weight.shape[0]! * this.N, this.K]) as FloatTensor;
  }

  private weightOf(e: number): Float32Array {
    let w = this.weights.get(e);
    if (!w) {
      w = new Float32Array(this.N * this.K);
      readRows(this.flatW, e * this.N, (e + 1) * this.N, w);
      this.weights.set(e, w);
    }
    return w;
  }

  /** x[t] · W[e]ᵀ, (N,) */
  outputRow(t: number): Float64Array {
    const x = row(this.inputs.input, t);
    const w = this.weightOf(this.experts[t]!);
    const out = new Float64Array(this.N);
    for (let n = 0; n < this.N; n++) {
      let s = 0;
      for (let k = 0; k < this.K; k++) s += x[k]! * w[n * this.K + k]!;
      out[n] = s;
    }
    return out;
  }

  /** g[t] · W[e], (K,) */
  gradInputRow(t: number): Float64Array {
    const g = row(this.inputs.grad_output, t);
    const w = this.weightOf(this.experts[t]!);
    const out = new Float64Array(this.K);
    for (let n = 0; n < this.N; n++) {
      const gn = g[n]!;
      if (gn === 0) continue;
      for (let k = 0; k < this.K; k++) out[k] += gn * w[n * this.K + k]!;
    }
    return out;
  }

  /** Σ_{t ∈ e} g[t, n] · x[t, :], (K,) */
  gradWeightRow(e: number, n: number): Float64Array {
    const out = new Float64Array(this.K);
    const x = new Float32Array(this.K);
    const g = new Float32Array(this.N);
    for (let t = this.groups.srcStarts[e]!; t < this.groups.srcStarts[e]! + this.groups.sizes[e]!; t++) {
      readRows(this.inputs.grad_output, t, t + 1, g);
      const gn = g[n]!;
      if (gn === 0) continue;
      readRows(this.inputs.input, t, t + 1, x);
      for (let k = 0; k < this.K; k++) out[k] += gn * x[k]!;
    }
    return out;
  }
}

/** a float64 sum and the sum of the magnitudes of its per-block terms (the rounding budget of the FP8 GEMM) */
export interface RefValue {
  value: number;
  magnitude: number;
}

/**
 * M-grouped GEMM from quantized operands: Σ_j a_s[r, j]·b_s[e, ⌊n/128⌋, j]·Σ_{k ∈ j} a_q[r, k]·b_q[e, n, k] in float64.
 * aScale is (rows, K/128) with any strides; b (E, N, K), bScale (E, N/128, K/128).
 */
export function mGroupedRef64(a: Tensor<'f8e4m3fn'>, aScale: Tensor<'f32'>, b: Tensor<'f8e4m3fn'>, bScale: Tensor<'f32'>, r: number, e: number, n: number): RefValue {
  const K = a.shape[1]!;
  let value = 0;
  let magnitude = 0;
  for (let j = 0; j < K / B; j++) {
    let s = 0;
    for (let k = j * B; k < (j + 1) * B; k++) s += E4M3_DECODE[a.raw(r, k)]! * E4M3_DECODE[b.raw(e, n, k)]!;
    const term = aScale.get(r, j) * bScale.get(e, n >> 7, j) * s;
    value += term;
    magnitude += Math.abs(term);
  }
  return { value, magnitude };
}

/** K-grouped wgrad from the flat operands: Σ_J sa[n, J]·sb[k, J]·Σ_{m ∈ J} a[n, m]·b[k, m] over expert e's blocks */
export function kGroupedRef64(
  lhs: Tensor<'f8e4m3fn'>,
  lhsScale: Tensor<'f32'>,
  rhs: Tensor<'f8e4m3fn'>,
  rhsScale: Tensor<'f32'>,
  groups: GroupPlan,
  e: number,
  n: number,
  k: number,
): RefValue {
  const N = lhsScale.shape[0]!;
  const K = rhsScale.shape[0]!;
  const P = groups.padded[e]!;
  const start = groups.starts[e]!;
  let value = 0;
  let magnitude = 0;
  for (let jj = 0; jj < P / B; jj++) {
    const J = start / B + jj;
    let s = 0;
    for (let m = jj * B; m < (jj + 1) * B; m++) s += E4M3_DECODE[lhs.raw(start * N + n * P + m)]! * E4M3_DECODE[rhs.raw(start * K + k * P + m)]!;
    const term = lhsScale.get(n, J) * rhsScale.get(k, J) * s;
    value += term;
    magnitude += Math.abs(term);
  }
  return { value, magnitude };
}

/**
 * The W4AFP8 layer in float64, pair by pair, from the same quantized activations: dequantize the FP8 row
 * (q · a1_scale) and the weights (int4 · BF16 group scale, the scales SGLang's kernel reads), matmul in float64,
 * silu(gate) · up in float64, re-quantize where the recipe rounds (the BF16-stored activation, static per-tensor
 * scale a2_scale), matmul, weighted sum over the token's slots (at the reduce). For the property tests and the
 * |error| heatmaps; pairs are computed on demand and cached (PairwiseReference64).
 */
import type { Tensor } from '../../tensor';
import type { PermutePlan } from '../../ops/permute';
import { PairwiseReference64, type PairReference } from '../../ops/reference64';
import { E4M3_DECODE } from '../../dtypes/fp8e4m3';
import { roundBf16 } from '../../dtypes/bf16';
import type { W4Inputs } from './inputs';
import { quantizeStaticRow } from './quantize';

const silu = (g: number): number => g / (1 + Math.exp(-g));

/** signed int4 of element k of a packed row starting at byte `base` */
const int4At = (bytes: Uint8Array, base: number, k: number): number => {
  const nib = (bytes[base + (k >> 1)]! >> ((k & 1) * 4)) & 0xf;
  return nib >= 8 ? nib - 16 : nib;
};

function bytesOf(t: Tensor<'i4x2'>): Uint8Array {
  const c = t.contiguous();
  return c.storage.subarray(c.offset, c.offset + c.numel);
}

export class W4Reference64 extends PairwiseReference64 {
  private readonly Ip: number;
  private readonly w13: Uint8Array;
  private readonly w2: Uint8Array;
  /** BF16-rounded group scales in natural order (E, rows, groups) */
  private readonly s13: Float64Array;
  private readonly s2: Float64Array;
  private readonly a1q: Uint8Array;

  constructor(
    private readonly inputs: W4Inputs,
    plan: PermutePlan,
    private readonly a1: number,
    private readonly a2: number,
  ) {
    const [M, H] = inputs.hidden_states.shape as [number, number];
    super(plan, M, H, inputs.topk_ids.shape[1]!);
    this.Ip = inputs.w2_weight.shape[2]! * 2;
    this.w13 = bytesOf(inputs.w13_weight);
    this.w2 = bytesOf(inputs.w2_weight);
    this.s13 = Float64Array.from(inputs.w13_weight_scale_inv.toFloat32(), roundBf16);
    this.s2 = Float64Array.from(inputs.w2_weight_scale_inv.toFloat32(), roundBf16);
    this.a1q = new Uint8Array(M * H);
    const x = inputs.hidden_states.toFloat32();
    quantizeStaticRow(x, 0, x.length, this.a1q, 0, a1, { clamped: 0, kernelDiffers: 0 });
  }

  protected reduceWeight(t: number, s: number): number {
    return this.inputs.topk_weights.get(t, s);
  }

  protected computePair(_p: number, e: number, t: number): PairReference {
    const { H, Ip } = this;
    const a = new Float64Array(H);
    for (let c = 0; c < H; c++) a[c] = E4M3_DECODE[this.a1q[t * H + c]!]! * this.a1;
    const G13 = H / 128;
    const mm1 = new Float64Array(2 * Ip);
    for (let n = 0; n < 2 * Ip; n++) {
      const base = (e * 2 * Ip + n) * (H / 2);
      const sRow = (e * 2 * Ip + n) * G13;
      let sum = 0;
      for (let c = 0; c < H; c++) sum += a[c]! * int4At(this.w13, base, c) * this.s13[sRow + (c >> 7)]!;
      mm1[n] = sum;
    }
    const act = new Float64Array(Ip);
    for (let n = 0; n < Ip; n++) act[n] = silu(mm1[n]!) * mm1[Ip + n]!;
    // the recipe rounds here: act is stored BF16, then quantized with the static scale
    const q = new Uint8Array(Ip);
    quantizeStaticRow(Float32Array.from(act, roundBf16), 0, Ip, q, 0, this.a2, { clamped: 0, kernelDiffers: 0 });
    const a2 = new Float64Array(Ip);
    for (let n = 0; n < Ip; n++) a2[n] = E4M3_DECODE[q[n]!]! * this.a2;
    const G2 = Ip / 128;
    const mm2 = new Float64Array(H);
    for (let c = 0; c < H; c++) {
      const base = (e * H + c) * (Ip / 2);
      const sRow = (e * H + c) * G2;
      let sum = 0;
      for (let i = 0; i < Ip; i++) sum += a2[i]! * int4At(this.w2, base, i) * this.s2[sRow + (i >> 7)]!;
      mm2[c] = sum;
    }
    return { mm1, act, a2, mm2 };
  }
}

/**
 * torchao's FP8 blockwise quantizers for MoE training (docs/layouts-and-stages.md §8 and the torchao row of §2.2), bit for bit:
 *   amax  = max |x| over the group, clamped below by fl32(1e−12) (Triton promotes BF16 to float32 for the clamp)
 *   quant = fl32(448 / amax)      — the division in float64, then rounded to float32
 *   q     = fp8(clamp(fl32(x · quant), −448, 448))
 *   scale = fl32(1 / quant)        — `tl.div_rn(1.0, scale)`: the stored "inverse" scale, the dequant multiplier
 * The same rule runs over four group shapes, one per operand:
 *   forward LHS  1×128 along K, scales (M_buf, K/128) float32 column-major (strides (1, M_buf)), as torchao allocates;
 *   weights      128×128 blocks, written (E, N, K) for the forward and transposed (E, K, N) for dgrad;
 *   dgrad LHS    1×128 along N (the forward LHS quantizer on grad_output);
 *   wgrad        128 tokens × 1 feature, written into DeepGEMM's flat K-grouped buffer (row-major (D, P_e) blocks
 *                per expert) with scales (D, S/128) row-major.
 * Arithmetic: JS numbers are float64; a product or quotient of float32 values computed in float64 and rounded with
 * Math.fround is the correctly rounded float32 result, i.e. exactly what the GPU's float32 operations give.
 */
import { Tensor } from '../../tensor';
import { MoeError, shapeStr } from '../../errors';
import { sharedBytes } from '../../ops/gemm';
import { TOKEN_BLOCK, type GroupPlan } from './groups';

export type FloatTensor = Tensor<'bf16'> | Tensor<'f32'>;

export const FP8_MAX = 448;
/** torchao's EPS = 1e-12 as the float32 the clamp compares against */
export const TORCHAO_EPS = Math.fround(1e-12);
const B = TOKEN_BLOCK;

/** the quantization multiplier and the stored dequant scale of a group with this amax */
export function torchaoScales(amax: number): { quant: number; scale: number } {
  const a = amax > TORCHAO_EPS ? amax : TORCHAO_EPS;
  const quant = Math.fround(FP8_MAX / a);
  return { quant, scale: Math.fround(1 / quant) };
}

// one float32 scratch value and its bits: the cast reads the bits (no allocation per element)
const one = new Float32Array(1);
const oneBits = new Int32Array(one.buffer);
/** 1.5·2^52: adding and subtracting it rounds a double below 2^51 to an integer, ties to even */
const RNE_MAGIC = 6755399441055744;

/**
 * The FP8 E4M3 code of a finite float32 with |y| ≤ 448 (a clamped quantizer output), from its bits: round to nearest
 * even onto 3 mantissa bits (normals) or onto multiples of 2^−9 (below 2^−6). Equal to PyTorch's cast on that range
 * (checked against encodeE4M3 in the tests), without its logarithms.
 */
export function e4m3OfClamped(bits: number): number {
  const sign = (bits >>> 24) & 0x80;
  const abs = bits & 0x7fffffff;
  if (abs < 0x3c800000) {
    one[0] = 0;
    oneBits[0] = abs;
    return sign | (one[0]! * 512 + RNE_MAGIC - RNE_MAGIC);
  }
  const r = abs + 0x7ffff + ((abs >>> 20) & 1);
  return sign | ((((r >>> 23) - 120) << 3) | ((r >>> 20) & 7));
}

/** the FP8 code of x (a float32 value) under the quantization multiplier `quant` */
export function torchaoCode(x: number, quant: number): number {
  const y = Math.fround(x * quant);
  one[0] = y > FP8_MAX ? FP8_MAX : y < -FP8_MAX ? -FP8_MAX : y;
  return e4m3OfClamped(oneBits[0]!);
}

/** Copies rows [r0, r1) of a contiguous-or-not (rows, C) float tensor into dst as float32 (BF16 widened exactly). */
export function readRows(x: FloatTensor, r0: number, r1: number, dst: Float32Array): void {
  const C = x.shape[x.rank - 1]!;
  const n = (r1 - r0) * C;
  if (x.isContiguous()) {
    const from = x.offset + r0 * C;
    if (x.dtype === 'f32') dst.set((x.storage as Float32Array).subarray(from, from + n));
    else {
      const src = x.storage as Uint16Array;
      const bits = new Uint32Array(dst.buffer, dst.byteOffset, n);
      for (let i = 0; i < n; i++) bits[i] = src[from + i]! << 16;
    }
    return;
  }
  const rows = x.rank === 2 ? x : x.reshape([x.numel / C, C]);
  for (let r = r0; r < r1; r++) for (let c = 0; c < C; c++) dst[(r - r0) * C + c] = rows.get(r, c);
}

/** first non-finite element of vals[from, from + n) as an index, or −1 */
function firstNonFinite(vals: Float32Array, from: number, n: number, stride = 1): number {
  for (let i = 0; i < n; i++) if (!Number.isFinite(vals[from + i * stride]!)) return i;
  return -1;
}

function nonFinite(name: string, at: string, v: number): MoeError {
  return new MoeError('E_VALUE', `${name}${at} = ${v}: FP8 quantization needs finite values`, name);
}

/**
 * torchao `triton_fp8_blockwise_act_quant_lhs`: (R, C) → q (R, C) FP8 row-major and scales (R, C/128) float32 in
 * column-major storage (strides (1, R)) — for R a multiple of 4 that is DeepGEMM's MN-major TMA-aligned layout.
 */
export function quantizeRows1x128(x: FloatTensor, name: string): { q: Tensor<'f8e4m3fn'>; scale: Tensor<'f32'> } {
  if (x.rank !== 2) throw new MoeError('E_SHAPE', `${name}: expected a 2-D (rows, C) tensor, got ${shapeStr(x.shape)}`, name);
  const [R, C] = x.shape as [number, number];
  if (C % B !== 0) throw new MoeError('E_SHAPE', `${name}: C = ${C} (shape ${shapeStr(x.shape)}) must be a multiple of ${B} for 1×${B} groups`, name);
  const G = C / B;
  const q = sharedBytes(Math.max(1, R * C));
  const s = new Float32Array(Math.max(1, R * G));
  const row = new Float32Array(C);
  for (let r = 0; r < R; r++) {
    readRows(x, r, r + 1, row);
    for (let j = 0; j < G; j++) {
      let amax = 0;
      let finite = 0;
      for (let c = j * B; c < (j + 1) * B; c++) {
        const v = row[c]!;
        const a = v < 0 ? -v : v;
        if (a > amax) amax = a;
        finite += v - v;
      }
      if (finite !== 0) {
        const c = j * B + firstNonFinite(row, j * B, B);
        throw nonFinite(name, `[${r}, ${c}]`, row[c]!);
      }
      const { quant, scale } = torchaoScales(amax);
      s[j * R + r] = scale;
      for (let c = j * B; c < (j + 1) * B; c++) q[r * C + c] = torchaoCode(row[c]!, quant);
    }
  }
  return {
    q: new Tensor('f8e4m3fn', [R, C], q.subarray(0, R * C), undefined, 0, `${name}_fp8`),
    scale: new Tensor('f32', [R, G], s, [1, R], 0, `${name}_scale`),
  };
}

/**
 * torchao `triton_fp8_blockwise_weight_quant_grouped_{forward,dgrad}_rhs` on a (E, N, K) weight: one scale per
 * 128×128 block. 'forward' writes q (E, N, K) with scales (E, N/128, K/128); 'dgrad' writes the same codes
 * transposed, q (E, K, N) with scales (E, K/128, N/128) — the layout DeepGEMM's dgrad call reads K-major.
 */
export function quantizeWeight128(w: FloatTensor, layout: 'forward' | 'dgrad', name: string): { q: Tensor<'f8e4m3fn'>; scale: Tensor<'f32'> } {
  if (w.rank !== 3) throw new MoeError('E_SHAPE', `${name}: expected a 3-D (E, N, K) weight, got ${shapeStr(w.shape)}`, name);
  const [E, N, K] = w.shape as [number, number, number];
  if (N % B !== 0 || K % B !== 0) throw new MoeError('E_SHAPE', `${name}: N and K of ${shapeStr(w.shape)} must be multiples of ${B} for 128×128 blocks`, name);
  const Nb = N / B;
  const Kb = K / B;
  const q = sharedBytes(Math.max(1, E * N * K));
  const s = new Float32Array(Math.max(1, E * Nb * Kb));
  const band = new Float32Array(B * K);
  const rows = w.isContiguous() ? w : w.contiguous();
  const flat = rows.reshape([E * N, K]) as FloatTensor;
  for (let e = 0; e < E; e++)
    for (let bn = 0; bn < Nb; bn++) {
      readRows(flat, e * N + bn * B, e * N + (bn + 1) * B, band);
      for (let bk = 0; bk < Kb; bk++) {
        let amax = 0;
        let finite = 0;
        for (let i = 0; i < B; i++)
          for (let k = bk * B; k < (bk + 1) * B; k++) {
            const v = band[i * K + k]!;
            const a = v < 0 ? -v : v;
            if (a > amax) amax = a;
            finite += v - v;
          }
        if (finite !== 0)
          for (let i = 0; i < B; i++) {
            const c = firstNonFinite(band, i * K + bk * B, B);
            if (c >= 0) throw nonFinite(name, `[${e}, ${bn * B + i}, ${bk * B + c}]`, band[i * K + bk * B + c]!);
          }
        const { quant, scale } = torchaoScales(amax);
        if (layout === 'forward') {
          s[(e * Nb + bn) * Kb + bk] = scale;
          for (let i = 0; i < B; i++) {
            const n = bn * B + i;
            for (let k = bk * B; k < (bk + 1) * B; k++) q[(e * N + n) * K + k] = torchaoCode(band[i * K + k]!, quant);
          }
        } else {
          s[(e * Kb + bk) * Nb + bn] = scale;
          for (let i = 0; i < B; i++) {
            const n = bn * B + i;
            for (let k = bk * B; k < (bk + 1) * B; k++) q[(e * K + k) * N + n] = torchaoCode(band[i * K + k]!, quant);
          }
        }
      }
    }
  const shape = layout === 'forward' ? [E, N, K] : [E, K, N];
  const sShape = layout === 'forward' ? [E, Nb, Kb] : [E, Kb, Nb];
  const suffix = layout === 'forward' ? '' : '_t';
  return {
    q: new Tensor('f8e4m3fn', shape, q.subarray(0, E * N * K), undefined, 0, `${name}${suffix}_fp8`),
    scale: new Tensor('f32', sShape, s.subarray(0, E * Nb * Kb), undefined, 0, `${name}${suffix}_scale`),
  };
}

/**
 * torchao `triton_fp8_blockwise_act_quant_k_grouped_deepgemm`: the first S = Σ P_e rows of a padded (rows, D) tensor
 * (experts' groups in order, each P_e a multiple of 128) → a flat FP8 buffer of S·D codes in which expert e's block is
 * the row-major (D, P_e) transpose of its rows, starting at s_e·D, and scales (D, S/128) row-major: one per
 * (feature, 128-token block), over the 128 tokens of the block.
 */
export function quantizeKGrouped(x: FloatTensor, groups: GroupPlan, name: string): { q: Tensor<'f8e4m3fn'>; scale: Tensor<'f32'> } {
  if (x.rank !== 2) throw new MoeError('E_SHAPE', `${name}: expected a 2-D (rows, D) tensor, got ${shapeStr(x.shape)}`, name);
  const [rows, D] = x.shape as [number, number];
  if (D % B !== 0) throw new MoeError('E_SHAPE', `${name}: D = ${D} (shape ${shapeStr(x.shape)}) must be a multiple of ${B}`, name);
  const S = groups.paddedTokens;
  if (rows < S) throw new MoeError('E_SHAPE', `${name}: has ${rows} rows but the padded expert groups need ${S}`, name);
  const nb = groups.blocks;
  const q = sharedBytes(Math.max(1, S * D));
  const s = new Float32Array(Math.max(1, D * nb));
  const band = new Float32Array(B * D);
  const amax = new Float32Array(D);
  const bad = new Float64Array(D);
  for (let e = 0; e < groups.sizes.length; e++) {
    const P = groups.padded[e]!;
    const start = groups.starts[e]!;
    for (let jj = 0; jj < P / B; jj++) {
      const r0 = start + jj * B;
      const J = start / B + jj;
      readRows(x, r0, r0 + B, band);
      amax.fill(0);
      bad.fill(0);
      for (let m = 0; m < B; m++)
        for (let d = 0; d < D; d++) {
          const v = band[m * D + d]!;
          const a = v < 0 ? -v : v;
          if (a > amax[d]!) amax[d] = a;
          bad[d] += v - v;
        }
      for (let d = 0; d < D; d++) {
        if (bad[d] !== 0) {
          const m = firstNonFinite(band, d, B, D);
          throw nonFinite(name, `[${r0 + m}, ${d}]`, band[m * D + d]!);
        }
        const { quant, scale } = torchaoScales(amax[d]!);
        s[d * nb + J] = scale;
        const base = start * D + d * P + jj * B;
        for (let m = 0; m < B; m++) q[base + m] = torchaoCode(band[m * D + d]!, quant);
      }
    }
  }
  return {
    q: new Tensor('f8e4m3fn', [S * D], q.subarray(0, S * D), undefined, 0, `${name}_kgrouped`),
    scale: new Tensor('f32', [D, nb], s.subarray(0, D * nb), undefined, 0, `${name}_kgrouped_scale`),
  };
}

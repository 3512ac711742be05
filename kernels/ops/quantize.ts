/**
 * FP8 E4M3FN quantization, bit-exact with the golden files (docs/layouts-and-stages.md §2, docs/layouts-and-stages.md §2.2).
 * Activations: one float32 scale per row and 128-element K-group.
 *   vllm     : s = fl(max(amax, 1e-10) / 448),  q = fp8(clamp(fl(x / s), ±448))
 *   deepgemm : s = fl(max(amax, 1e-4) / 448),   q = fp8(fl(x · fl(1 / s)))
 *   UE8M0    : s ← smallest power of two ≥ s (bitwise rule) before q is computed.
 * Weights: 128×128 blocks, DeepGEMM per_block_cast_to_fp8 (deepgemm convention over the block).
 * Division and multiplication happen in float64 and are then rounded to float32: for float32 operands that is the
 * correctly rounded float32 result (53 ≥ 2·24 + 2 bits), i.e. exactly IEEE float32 arithmetic.
 * The floors are float32 constants, as in the kernels (a float32 tensor clamped by 1e-4 holds fl(1e-4)).
 * Non-finite inputs are refused (E_VALUE naming the element): a NaN scale would poison a whole group silently.
 */
import { bitsToF32, fround } from '../dtypes/float32';
import { encodeE4M3 } from '../dtypes/fp8e4m3';
import { ceilScaleToUe8m0 } from '../dtypes/ue8m0';
import { MoeError, shapeStr } from '../errors';
import type { QuantConvention, ScaleFormat } from '../spec';
import { Tensor } from '../tensor';

export interface ActQuantOptions {
  convention: QuantConvention;
  scaleFormat: ScaleFormat;
}

export const QUANT_GROUP = 128;
const FP8_MAX = 448;
const AMAX_FLOOR: Readonly<Record<QuantConvention, number>> = { vllm: fround(1e-10), deepgemm: fround(1e-4) };

// ---- FP8 encode through a 64K table -------------------------------------------------------------------------------
// Indexed by the upper 16 bits of the float32 (sign, exponent, 7 mantissa bits). Rounding to E4M3 is monotone in the
// magnitude, so when the lowest and the highest float32 of a bucket encode to the same byte, every float32 in it does;
// the few buckets that straddle a rounding boundary (ties) and the inf/NaN exponent are marked and take the exact path.
const AMBIGUOUS = 0x100;
let encodeTable: Uint16Array | undefined;

function buildEncodeTable(): Uint16Array {
  const t = new Uint16Array(65536);
  for (let hi = 0; hi < 65536; hi++) {
    if (((hi >>> 7) & 0xff) === 0xff) {
      t[hi] = AMBIGUOUS;
      continue;
    }
    const lo = encodeE4M3(bitsToF32(hi << 16));
    const up = encodeE4M3(bitsToF32((hi << 16) | 0xffff));
    t[hi] = lo === up ? lo : AMBIGUOUS;
  }
  return t;
}

/** PyTorch's float32 → float8_e4m3fn cast of the float32 with these bits (exactly encodeE4M3, faster) */
export function encodeE4M3Bits(bits: number): number {
  const t = (encodeTable ??= buildEncodeTable());
  const e = t[bits >>> 16]!;
  return e !== AMBIGUOUS ? e : encodeE4M3(bitsToF32(bits));
}

// scratch row for one group: values after fl(·) and their bits (module level: no allocation per call)
const groupVals = new Float32Array(QUANT_GROUP);
const groupBits = new Uint32Array(groupVals.buffer);

function checkOptions(opts: ActQuantOptions | { scaleFormat: ScaleFormat }, what: string): void {
  if ('convention' in opts && opts.convention !== 'vllm' && opts.convention !== 'deepgemm')
    throw new MoeError('E_VALUE', `${what}: unknown quantization convention '${String(opts.convention)}' (expected 'vllm' or 'deepgemm')`);
  if (opts.scaleFormat !== 'f32' && opts.scaleFormat !== 'ue8m0')
    throw new MoeError('E_VALUE', `${what}: unknown scale format '${String(opts.scaleFormat)}' (expected 'f32' or 'ue8m0')`);
}

/** Thrown by the inner kernel; callers that know the row rethrow it with the row named. */
class NonFiniteInput extends MoeError {
  constructor(
    readonly column: number,
    readonly value: number,
    srcOff: number,
  ) {
    super('E_VALUE', `non-finite input ${value} at column ${column} of the row starting at element ${srcOff}: FP8 quantization needs finite values`);
  }
}

function firstNonFinite(src: Float32Array, from: number, n: number): number {
  for (let c = 0; c < n; c++) if (!Number.isFinite(src[from + c]!)) return c;
  return -1;
}

/**
 * Quantizes one row of K values (K a multiple of 128) starting at src[srcOff] into q[qOff…] and writes its K/128
 * scales to scale[scaleOff + j·scaleStride] (scaleStride = 1 for row-major scales, = padded M for MN-major ones).
 */
export function quantizeRowGroups(
  src: Float32Array,
  srcOff: number,
  K: number,
  q: Uint8Array,
  qOff: number,
  scale: Float32Array,
  scaleOff: number,
  scaleStride: number,
  opts: ActQuantOptions,
): void {
  if (K % QUANT_GROUP !== 0) throw new MoeError('E_SHAPE', `quantizeRowGroups: K = ${K} is not a multiple of ${QUANT_GROUP}`);
  const deep = opts.convention === 'deepgemm';
  const ue8m0 = opts.scaleFormat === 'ue8m0';
  const floor = deep ? AMAX_FLOOR.deepgemm : AMAX_FLOOR.vllm;
  const groups = K / QUANT_GROUP;
  const table = (encodeTable ??= buildEncodeTable());
  for (let j = 0; j < groups; j++) {
    const base = srcOff + j * QUANT_GROUP;
    let amax = 0;
    let finite = 0; // x − x is 0 for finite x and NaN for ±inf/NaN: one add per element detects both
    for (let c = 0; c < QUANT_GROUP; c++) {
      const x = src[base + c]!;
      const a = x < 0 ? -x : x;
      if (a > amax) amax = a;
      finite += x - x;
    }
    if (finite !== 0) {
      const c = firstNonFinite(src, base, QUANT_GROUP);
      throw new NonFiniteInput(j * QUANT_GROUP + c, src[base + c]!, srcOff);
    }
    let s = fround((amax > floor ? amax : floor) / FP8_MAX);
    if (ue8m0) s = ceilScaleToUe8m0(s).scale;
    scale[scaleOff + j * scaleStride] = s;
    if (deep) {
      const inv = fround(1 / s);
      for (let c = 0; c < QUANT_GROUP; c++) groupVals[c] = src[base + c]! * inv;
    } else {
      for (let c = 0; c < QUANT_GROUP; c++) {
        const v = src[base + c]! / s;
        // clamping before or after the float32 rounding is the same: ±448 is representable and rounding is monotone
        groupVals[c] = v > FP8_MAX ? FP8_MAX : v < -FP8_MAX ? -FP8_MAX : v;
      }
    }
    const qBase = qOff + j * QUANT_GROUP;
    for (let c = 0; c < QUANT_GROUP; c++) {
      const b = groupBits[c]!;
      const e = table[b >>> 16]!;
      q[qBase + c] = e !== AMBIGUOUS ? e : encodeE4M3(bitsToF32(b));
    }
  }
}

/** Decodes row-major BF16 rows into a float32 buffer (BF16 is the upper half of a float32). */
function bf16RowsToF32(src: Uint16Array, from: number, n: number, dst: Float32Array): void {
  const bits = new Uint32Array(dst.buffer, dst.byteOffset, n);
  for (let i = 0; i < n; i++) bits[i] = src[from + i]! << 16;
}

function checkInput(x: Tensor, what: string, ranks: readonly number[]): void {
  const name = x.name || 'input';
  if (x.dtype !== 'bf16' && x.dtype !== 'f32') throw new MoeError('E_DTYPE', `${name}: ${what} expects bf16 or f32, got ${x.dtype}`, x.name);
  if (!ranks.includes(x.rank))
    throw new MoeError('E_SHAPE', `${name}: ${what} expects ${ranks.map((r) => `${r}-D`).join(' or ')}, got shape ${shapeStr(x.shape)}`, x.name);
}

/**
 * (M, K) → q (M, K) fp8 and scale (M, K/128) float32, both row-major. M = 0 gives empty (0, K) and (0, K/128)
 * outputs; K must be a multiple of 128 (E_SHAPE otherwise).
 */
export function quantizeActivations(
  x: Tensor<'bf16'> | Tensor<'f32'>,
  opts: ActQuantOptions,
): { q: Tensor<'f8e4m3fn'>; scale: Tensor<'f32'> } {
  const name = x.name || 'activations';
  checkInput(x, 'quantizeActivations', [2]);
  checkOptions(opts, name);
  const [M, K] = x.shape as [number, number];
  if (K % QUANT_GROUP !== 0)
    throw new MoeError('E_SHAPE', `${name}: K = ${K} (shape ${shapeStr(x.shape)}) must be a multiple of the quantization group ${QUANT_GROUP}`, x.name);
  const groups = K / QUANT_GROUP;
  const q = new Uint8Array(M * K);
  const scale = new Float32Array(M * groups);
  const c = x.contiguous() as Tensor<'bf16'> | Tensor<'f32'>;
  const rowBuf = c.dtype === 'bf16' ? new Float32Array(K) : undefined;
  for (let m = 0; m < M; m++) {
    let src: Float32Array;
    let off: number;
    if (rowBuf) {
      bf16RowsToF32(c.storage as Uint16Array, c.offset + m * K, K, rowBuf);
      src = rowBuf;
      off = 0;
    } else {
      src = c.storage as Float32Array;
      off = c.offset + m * K;
    }
    try {
      quantizeRowGroups(src, off, K, q, m * K, scale, m * groups, 1, opts);
    } catch (e) {
      if (e instanceof NonFiniteInput)
        throw new MoeError('E_VALUE', `${name}[${m}, ${e.column}] = ${e.value}: FP8 quantization needs finite activations (row ${m}, column ${e.column})`, x.name);
      throw e;
    }
  }
  const base = x.name || 'x';
  return {
    q: new Tensor('f8e4m3fn', [M, K], q, undefined, 0, `${base}_q`),
    scale: new Tensor('f32', [M, groups], scale, undefined, 0, `${base}_scale`),
  };
}

/**
 * Weights (E, N, K) or (N, K) → q of the same shape and scaleInv (E, ⌈N/128⌉, ⌈K/128⌉) (or 2-D), DeepGEMM's
 * per_block_cast_to_fp8: amax over each 128×128 block clamped to ≥ 1e-4, s = amax/448 (UE8M0: rounded up),
 * q = fp8(fl(x · fl(1/s))). Edge blocks may be ragged: amax runs over the real elements only (DeepGEMM zero-pads,
 * which cannot change an amax ≥ 0).
 */
export function quantizeWeightBlocks(
  w: Tensor<'bf16'> | Tensor<'f32'>,
  opts: { scaleFormat: ScaleFormat },
): { q: Tensor<'f8e4m3fn'>; scaleInv: Tensor<'f32'> } {
  const name = w.name || 'weight';
  checkInput(w, 'quantizeWeightBlocks', [2, 3]);
  checkOptions(opts, name);
  const three = w.rank === 3;
  const E = three ? w.shape[0]! : 1;
  const N = w.shape[w.rank - 2]!;
  const K = w.shape[w.rank - 1]!;
  const B = QUANT_GROUP;
  const nb = Math.ceil(N / B);
  const kb = Math.ceil(K / B);
  const q = new Uint8Array(E * N * K);
  const sInv = new Float32Array(E * nb * kb);
  const c = w.contiguous() as Tensor<'bf16'> | Tensor<'f32'>;
  const mat = c.dtype === 'bf16' ? new Float32Array(N * K) : undefined;
  const floor = AMAX_FLOOR.deepgemm;
  for (let e = 0; e < E; e++) {
    let src: Float32Array;
    let off: number;
    if (mat) {
      bf16RowsToF32(c.storage as Uint16Array, c.offset + e * N * K, N * K, mat);
      src = mat;
      off = 0;
    } else {
      src = c.storage as Float32Array;
      off = c.offset + e * N * K;
    }
    for (let bn = 0; bn < nb; bn++) {
      const n1 = Math.min(N, (bn + 1) * B);
      for (let bk = 0; bk < kb; bk++) {
        const k0 = bk * B;
        const width = Math.min(K, k0 + B) - k0;
        let amax = 0;
        let finite = 0;
        for (let n = bn * B; n < n1; n++) {
          const rowOff = off + n * K + k0;
          for (let k = 0; k < width; k++) {
            const v = src[rowOff + k]!;
            const a = v < 0 ? -v : v;
            if (a > amax) amax = a;
            finite += v - v;
          }
          if (finite !== 0) {
            const col = firstNonFinite(src, rowOff, width);
            const at = three ? `[${e}, ${n}, ${k0 + col}]` : `[${n}, ${k0 + col}]`;
            throw new MoeError('E_VALUE', `${name}${at} = ${src[rowOff + col]}: FP8 weight quantization needs finite values`, w.name);
          }
        }
        let s = fround((amax > floor ? amax : floor) / FP8_MAX);
        if (opts.scaleFormat === 'ue8m0') s = ceilScaleToUe8m0(s).scale;
        sInv[(e * nb + bn) * kb + bk] = s;
        const inv = fround(1 / s);
        for (let n = bn * B; n < n1; n++) {
          const rowOff = off + n * K + k0;
          for (let k = 0; k < width; k++) groupVals[k] = src[rowOff + k]! * inv;
          const qOff = (e * N + n) * K + k0;
          for (let k = 0; k < width; k++) q[qOff + k] = encodeE4M3Bits(groupBits[k]!);
        }
      }
    }
  }
  return {
    q: new Tensor('f8e4m3fn', [...w.shape], q, undefined, 0, `${w.name || 'weight'}`),
    scaleInv: new Tensor('f32', three ? [E, nb, kb] : [nb, kb], sInv, undefined, 0, `${w.name || 'weight'}_scale_inv`),
  };
}

// AssemblyScript (compiled to WebAssembly SIMD by scripts/build-wasm.mjs; not part of the TypeScript project).
//
// One unit of the grouped FP8 GEMM (docs/layouts-and-stages.md §5): `rows` token rows of one expert against `cols`
// (≤ 128, one scale block of N) weight rows, all K-blocks. The caller (kernels/ops/gemmWasm.ts) copies the unit's
// operands into this instance's memory and reads the BF16 results back.
//
// Numerics, the same as kernels/ops/gemm.ts's naive loop, operation for operation:
// - each FP8 code is decoded to float64 exactly (decodeBlock: the same bits as the naive loop's F64_DECODE table);
// - a 128-element block sum of FP8 products is exact in float64 (every product has ≤ 8 significant bits and is a
//   multiple of 2^−18 with magnitude < 2^18, so any partial sum of ≤ 128 of them is exact), hence the two f64x2
//   lanes and their final addition give exactly the naive loop's block sum;
// - then f = fl32(a_scale · b_scale), t = fl32(f · s), acc = fl32(acc + t), in K-block order, as float64
//   operations rounded to float32 exactly where the naive loop calls Math.fround;
// - BF16 output rounds to nearest even, NaN kept quiet with its sign (kernels/dtypes/bf16.ts encodeBf16).

/** float64 scratch row length: one K-block */
const BLK: i32 = 128;
const BLK_BYTES: usize = 128 * 8;

/** First free byte after the module's static data: the caller lays its buffers out from here. */
export function heapBase(): usize {
  return __heap_base;
}

/**
 * Decodes FP8 E4M3 codes to float64, 8 at a time in SIMD, by building the float64's top 16 bits (sign, 11-bit
 * exponent, 4 mantissa bits; the other 48 bits are 0) — bit for bit the value of kernels/dtypes/fp8e4m3.ts's table:
 * - normal (E ≥ 1): (E·16 + M·2) + 1016·16, i.e. exponent E + 1016 = (E − 7) + 1023 and mantissa M/8;
 * - subnormal (E = 0): M·2^−9 normalised, from an 8-entry table looked up with i8x16.swizzle (±0 for M = 0; the
 *   lookup only runs for groups of 8 that hold a subnormal code);
 * - the sign bit on top; the NaN codes (magnitude 0x7f, either sign) become the table's NaN, +0x7ff8000000000000.
 * Integer operations only: no float64 denormal ever enters the FPU (x86 cores can take ~100 cycles per denormal
 * operand). Decodes whole groups of 8 (reads ≤ 7 bytes past src + len: the caller leaves slack), then zeros dst[len]
 * when len is odd (the f64x2 loops read pairs).
 */
@inline
function decodeBlock(src: usize, len: i32, dst: usize): void {
  const zero = i16x8.splat(0);
  // top 16 bits of M·2^−9, M = 0…7: 0, 2^−9, 2^−8, 1.5·2^−8, 2^−7, 1.25·2^−7, 1.5·2^−7, 1.75·2^−7 (low bytes, high bytes)
  const subLo = i8x16(0x00, 0x60, 0x70, 0x78, <i8>0x80, <i8>0x84, <i8>0x88, <i8>0x8c, 0, 0, 0, 0, 0, 0, 0, 0);
  const subHi = i8x16(0x00, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0, 0, 0, 0, 0, 0, 0, 0);
  for (let t = 0; t < len; t += 8) {
    const c = v128.load8x8_u(src + <usize>t);
    const mag = v128.and(c, i16x8.splat(0x7f));
    const sign = i16x8.shl(v128.and(c, i16x8.splat(0x80)), 8);
    let top = v128.or(i16x8.add(i16x8.shl(mag, 1), i16x8.splat(1016 << 4)), sign);
    const e0 = i16x8.eq(v128.and(c, i16x8.splat(0x78)), zero);
    const nan = i16x8.eq(mag, i16x8.splat(0x7f));
    // E = 0 (±0, subnormals) and NaN are rare in quantized data: one test for both keeps the common group short
    if (v128.any_true(v128.or(e0, nan))) {
      let sub = zero;
      if (v128.any_true(v128.andnot(e0, i16x8.eq(mag, zero)))) {
        const m = v128.and(c, i16x8.splat(0x07)); // each i16 lane: bytes [M, 0], so its high byte looks up entry 0 (= 0)
        sub = v128.or(i8x16.swizzle(subLo, m), i16x8.shl(i8x16.swizzle(subHi, m), 8));
      }
      top = v128.bitselect(v128.or(sub, sign), top, e0);
      top = v128.bitselect(i16x8.splat(0x7ff8), top, nan);
    }
    // top16 into the high 16 bits of each float64 with interleaves against zero (unpack shapes the engine emits as one
    // instruction each, where an arbitrary two-input shuffle costs several)
    const wLo = i8x16.shuffle(zero, top, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
    const wHi = i8x16.shuffle(zero, top, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
    const d = dst + (<usize>t << 3);
    v128.store(d, i8x16.shuffle(zero, wLo, 0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23));
    v128.store(d + 16, i8x16.shuffle(zero, wLo, 8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31));
    v128.store(d + 32, i8x16.shuffle(zero, wHi, 0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23));
    v128.store(d + 48, i8x16.shuffle(zero, wHi, 8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31));
  }
  if (len & 1) store<f64>(dst + (<usize>len << 3), 0.0);
}

@inline
function hsum(v: v128): f64 {
  return f64x2.extract_lane(v, 0) + f64x2.extract_lane(v, 1);
}

/** acc[i] = fl32(acc[i] + fl32(fl32(as · ws) · s)): the naive loop's float32 accumulation across K-blocks */
@inline
function accumulate(acc: usize, as: f32, ws: f32, s: f64): void {
  const f = <f32>(<f64>as * <f64>ws);
  const t = <f32>(<f64>f * s);
  store<f32>(acc, <f32>(<f64>load<f32>(acc) + <f64>t));
}

/** kernels/dtypes/bf16.ts encodeBf16 */
@inline
function bf16(x: f32): u16 {
  const bits = reinterpret<u32>(x);
  if ((bits & 0x7f800000) == 0x7f800000 && (bits & 0x7fffff) != 0) return <u16>(((bits >>> 16) | 0x40) & 0xffff);
  return <u16>(((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff);
}

/**
 * Rows [r, r+4) × the two decoded weight columns in bF (second at bF + BLK_BYTES) over one K-block of `pairs`
 * float64 pairs: eight exact block sums, accumulated into acc (row stride `cols`).
 */
function tile4x2(aF: usize, bF: usize, pairs: i32, acc: usize, cols: i32, aS: usize, kb: i32, ws0: f32, ws1: f32, last: bool): void {
  let s00 = f64x2.splat(0), s01 = f64x2.splat(0), s10 = f64x2.splat(0), s11 = f64x2.splat(0);
  let s20 = f64x2.splat(0), s21 = f64x2.splat(0), s30 = f64x2.splat(0), s31 = f64x2.splat(0);
  const end = <usize>pairs << 4;
  for (let k: usize = 0; k < end; k += 16) {
    const b0 = v128.load(bF + k);
    const b1 = v128.load(bF + BLK_BYTES + k);
    const x0 = v128.load(aF + k);
    s00 = f64x2.add(s00, f64x2.mul(x0, b0));
    s01 = f64x2.add(s01, f64x2.mul(x0, b1));
    const x1 = v128.load(aF + BLK_BYTES + k);
    s10 = f64x2.add(s10, f64x2.mul(x1, b0));
    s11 = f64x2.add(s11, f64x2.mul(x1, b1));
    const x2 = v128.load(aF + 2 * BLK_BYTES + k);
    s20 = f64x2.add(s20, f64x2.mul(x2, b0));
    s21 = f64x2.add(s21, f64x2.mul(x2, b1));
    const x3 = v128.load(aF + 3 * BLK_BYTES + k);
    s30 = f64x2.add(s30, f64x2.mul(x3, b0));
    s31 = f64x2.add(s31, f64x2.mul(x3, b1));
  }
  const rs = <usize>cols << 2;
  const as0 = load<f32>(aS), as1 = load<f32>(aS + (<usize>kb << 2));
  const as2 = load<f32>(aS + (<usize>kb << 3)), as3 = load<f32>(aS + (<usize>kb * 12));
  accumulate(acc, as0, ws0, hsum(s00));
  accumulate(acc + rs, as1, ws0, hsum(s10));
  accumulate(acc + 2 * rs, as2, ws0, hsum(s20));
  accumulate(acc + 3 * rs, as3, ws0, hsum(s30));
  if (last) return;
  accumulate(acc + 4, as0, ws1, hsum(s01));
  accumulate(acc + rs + 4, as1, ws1, hsum(s11));
  accumulate(acc + 2 * rs + 4, as2, ws1, hsum(s21));
  accumulate(acc + 3 * rs + 4, as3, ws1, hsum(s31));
}

/**
 * Rows [r, r+3) × the two decoded weight columns: the three rows a 4-row tiling leaves (Qwen3-30B-A3B at 128 tokens
 * has ~7 rows per expert), 5 loads per 6 products where three 1-row tiles take 9.
 */
function tile3x2(aF: usize, bF: usize, pairs: i32, acc: usize, cols: i32, aS: usize, kb: i32, ws0: f32, ws1: f32, last: bool): void {
  let s00 = f64x2.splat(0), s01 = f64x2.splat(0), s10 = f64x2.splat(0), s11 = f64x2.splat(0);
  let s20 = f64x2.splat(0), s21 = f64x2.splat(0);
  const end = <usize>pairs << 4;
  for (let k: usize = 0; k < end; k += 16) {
    const b0 = v128.load(bF + k);
    const b1 = v128.load(bF + BLK_BYTES + k);
    const x0 = v128.load(aF + k);
    s00 = f64x2.add(s00, f64x2.mul(x0, b0));
    s01 = f64x2.add(s01, f64x2.mul(x0, b1));
    const x1 = v128.load(aF + BLK_BYTES + k);
    s10 = f64x2.add(s10, f64x2.mul(x1, b0));
    s11 = f64x2.add(s11, f64x2.mul(x1, b1));
    const x2 = v128.load(aF + 2 * BLK_BYTES + k);
    s20 = f64x2.add(s20, f64x2.mul(x2, b0));
    s21 = f64x2.add(s21, f64x2.mul(x2, b1));
  }
  const rs = <usize>cols << 2;
  const as0 = load<f32>(aS), as1 = load<f32>(aS + (<usize>kb << 2)), as2 = load<f32>(aS + (<usize>kb << 3));
  accumulate(acc, as0, ws0, hsum(s00));
  accumulate(acc + rs, as1, ws0, hsum(s10));
  accumulate(acc + 2 * rs, as2, ws0, hsum(s20));
  if (last) return;
  accumulate(acc + 4, as0, ws1, hsum(s01));
  accumulate(acc + rs + 4, as1, ws1, hsum(s11));
  accumulate(acc + 2 * rs + 4, as2, ws1, hsum(s21));
}

/** Rows [r, r+2) × the two decoded weight columns (two rows left after the 4-row tiles). */
function tile2x2(aF: usize, bF: usize, pairs: i32, acc: usize, cols: i32, aS: usize, kb: i32, ws0: f32, ws1: f32, last: bool): void {
  let s00 = f64x2.splat(0), s01 = f64x2.splat(0), s10 = f64x2.splat(0), s11 = f64x2.splat(0);
  const end = <usize>pairs << 4;
  for (let k: usize = 0; k < end; k += 16) {
    const b0 = v128.load(bF + k);
    const b1 = v128.load(bF + BLK_BYTES + k);
    const x0 = v128.load(aF + k);
    s00 = f64x2.add(s00, f64x2.mul(x0, b0));
    s01 = f64x2.add(s01, f64x2.mul(x0, b1));
    const x1 = v128.load(aF + BLK_BYTES + k);
    s10 = f64x2.add(s10, f64x2.mul(x1, b0));
    s11 = f64x2.add(s11, f64x2.mul(x1, b1));
  }
  const rs = <usize>cols << 2;
  const as0 = load<f32>(aS), as1 = load<f32>(aS + (<usize>kb << 2));
  accumulate(acc, as0, ws0, hsum(s00));
  accumulate(acc + rs, as1, ws0, hsum(s10));
  if (last) return;
  accumulate(acc + 4, as0, ws1, hsum(s01));
  accumulate(acc + rs + 4, as1, ws1, hsum(s11));
}

/** One row × the two decoded weight columns (the row left over after the 4-row tiles). */
function tile1x2(aF: usize, bF: usize, pairs: i32, acc: usize, as0: f32, ws0: f32, ws1: f32, last: bool): void {
  let s0 = f64x2.splat(0), s1 = f64x2.splat(0);
  const end = <usize>pairs << 4;
  for (let k: usize = 0; k < end; k += 16) {
    const x = v128.load(aF + k);
    s0 = f64x2.add(s0, f64x2.mul(x, v128.load(bF + k)));
    s1 = f64x2.add(s1, f64x2.mul(x, v128.load(bF + BLK_BYTES + k)));
  }
  accumulate(acc, as0, ws0, hsum(s0));
  if (!last) accumulate(acc + 4, as0, ws1, hsum(s1));
}

/**
 * The unit. Inputs: a (rows × K FP8 codes), aS (rows × Kb float32), b (cols × K codes), bS (Kb float32: the one
 * column block's scales); the code regions must be followed by ≥ 7 readable bytes. Scratch: aF (rows × 128 float64), bF (2 × 128 float64), acc
 * (rows × cols float32). Output: out (rows × cols BF16, dense).
 */
export function gemmUnit(rows: i32, cols: i32, K: i32, a: usize, aS: usize, b: usize, bS: usize, aF: usize, bF: usize, acc: usize, out: usize): void {
  const Kb = (K + BLK - 1) / BLK;
  memory.fill(acc, 0, <usize>(rows * cols) << 2);
  for (let j = 0; j < Kb; j++) {
    const k0 = j * BLK;
    const len = min(BLK, K - k0);
    const pairs = (len + 1) >> 1;
    for (let r = 0; r < rows; r++) decodeBlock(a + <usize>r * <usize>K + <usize>k0, len, aF + <usize>r * BLK_BYTES);
    const ws = load<f32>(bS + (<usize>j << 2));
    for (let c = 0; c < cols; c += 2) {
      const last = c + 1 >= cols;
      decodeBlock(b + <usize>c * <usize>K + <usize>k0, len, bF);
      if (!last) decodeBlock(b + <usize>(c + 1) * <usize>K + <usize>k0, len, bF + BLK_BYTES);
      let r = 0;
      for (; r + 4 <= rows; r += 4)
        tile4x2(aF + <usize>r * BLK_BYTES, bF, pairs, acc + ((<usize>r * <usize>cols + <usize>c) << 2), cols, aS + ((<usize>r * <usize>Kb + <usize>j) << 2), Kb, ws, ws, last);
      const left = rows - r;
      if (left == 3) tile3x2(aF + <usize>r * BLK_BYTES, bF, pairs, acc + ((<usize>r * <usize>cols + <usize>c) << 2), cols, aS + ((<usize>r * <usize>Kb + <usize>j) << 2), Kb, ws, ws, last);
      else if (left == 2) tile2x2(aF + <usize>r * BLK_BYTES, bF, pairs, acc + ((<usize>r * <usize>cols + <usize>c) << 2), cols, aS + ((<usize>r * <usize>Kb + <usize>j) << 2), Kb, ws, ws, last);
      else if (left == 1)
        tile1x2(aF + <usize>r * BLK_BYTES, bF, pairs, acc + ((<usize>r * <usize>cols + <usize>c) << 2), load<f32>(aS + ((<usize>r * <usize>Kb + <usize>j) << 2)), ws, ws, last);
    }
  }
  const n = <usize>(rows * cols);
  for (let i: usize = 0; i < n; i++) store<u16>(out + (i << 1), bf16(load<f32>(acc + (i << 2))));
}

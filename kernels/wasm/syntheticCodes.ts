// AssemblyScript (compiled to WebAssembly SIMD by scripts/build-wasm.mjs, into the same module as gemmUnit.ts).
//
// The synthetic FP8 weight codes (kernels/syntheticCodes.ts): a xorshift32 stream through a 64K-entry code table,
// byte for byte the stream of the JavaScript reference (fillCodesJs):
// - word mode (the destination 4-byte aligned): each draw d gives two consecutive codes, table[d & 0xffff] then
//   table[d >>> 16];
// - byte mode (the rest): each draw gives one code, table[d & 0xffff].
// One xorshift32 step is six dependent integer operations, so a single stream is latency-bound. xorshift32 is linear
// over GF(2) (state' = M·state), so a block of 4·S draws is made by four SIMD lanes at once: lane j starts at the
// state S·j draws further on (M^(S·j)·state, a 32×32 bit-matrix product) and writes draws [S·j, S·(j+1)) of the
// block; the last lane ends on the state the next block starts from. Same draws, same bytes, four at a time.

/** draws per lane in one four-lane block (the block is 4·S draws = 8·S bytes) */
const S: i32 = 2048;

/** First free byte after the module's static data (gemmUnit.ts exports the same as heapBase). */
export function codesHeapBase(): usize {
  return __heap_base;
}

@inline
function step(x: u32): u32 {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return x;
}

/** m · x over GF(2): m is 32 columns (u32 each), column b the image of bit b */
function apply(m: usize, x: u32): u32 {
  let r: u32 = 0;
  for (let b: u32 = 0; b < 32; b++) r ^= load<u32>(m + (<usize>b << 2)) & (0 - ((x >>> b) & 1));
  return r;
}

/** The space codesWords needs for its jump matrices (call codesInit once per instance, before codesWords). */
export function codesJumpBytes(): usize {
  return 3 * 32 * 4;
}

/** Writes M^S, M^2S, M^3S (32 columns each) at `jumps`. */
export function codesInit(jumps: usize): void {
  for (let b: u32 = 0; b < 32; b++) {
    let x: u32 = 1 << b;
    for (let t = 0; t < S; t++) x = step(x);
    store<u32>(jumps + (<usize>b << 2), x);
  }
  for (let j: usize = 1; j < 3; j++)
    for (let b: usize = 0; b < 32; b++) store<u32>(jumps + j * 128 + (b << 2), apply(jumps, load<u32>(jumps + (j - 1) * 128 + (b << 2))));
}

/** `words` 32-bit words of codes (two draws each) at `out` from state x; returns the state after the last draw. */
export function codesWords(x: u32, table: usize, jumps: usize, out: usize, words: i32): u32 {
  const blockWords = 2 * S;
  let w = 0;
  for (; w + blockWords <= words; w += blockWords) {
    let v = i32x4.splat(x);
    v = i32x4.replace_lane(v, 1, apply(jumps, x));
    v = i32x4.replace_lane(v, 2, apply(jumps + 128, x));
    v = i32x4.replace_lane(v, 3, apply(jumps + 256, x));
    const o0 = out + (<usize>w << 2);
    const o1 = o0 + (<usize>S << 1);
    const o2 = o1 + (<usize>S << 1);
    const o3 = o2 + (<usize>S << 1);
    for (let t: usize = 0; t < <usize>S << 1; t += 2) {
      v = v128.xor(v, i32x4.shl(v, 13));
      v = v128.xor(v, i32x4.shr_u(v, 17));
      v = v128.xor(v, i32x4.shl(v, 5));
      const d0 = <u32>i32x4.extract_lane(v, 0);
      const d1 = <u32>i32x4.extract_lane(v, 1);
      const d2 = <u32>i32x4.extract_lane(v, 2);
      const d3 = <u32>i32x4.extract_lane(v, 3);
      store<u16>(o0 + t, <u16>load<u8>(table + (d0 & 0xffff)) | (<u16>load<u8>(table + (d0 >>> 16)) << 8));
      store<u16>(o1 + t, <u16>load<u8>(table + (d1 & 0xffff)) | (<u16>load<u8>(table + (d1 >>> 16)) << 8));
      store<u16>(o2 + t, <u16>load<u8>(table + (d2 & 0xffff)) | (<u16>load<u8>(table + (d2 >>> 16)) << 8));
      store<u16>(o3 + t, <u16>load<u8>(table + (d3 & 0xffff)) | (<u16>load<u8>(table + (d3 >>> 16)) << 8));
    }
    x = <u32>i32x4.extract_lane(v, 3);
  }
  for (; w < words; w++) {
    const lo = step(x);
    x = step(lo);
    const c = <u32>load<u8>(table + (lo & 0xffff)) | (<u32>load<u8>(table + (lo >>> 16)) << 8) | (<u32>load<u8>(table + (x & 0xffff)) << 16) | (<u32>load<u8>(table + (x >>> 16)) << 24);
    store<u32>(out + (<usize>w << 2), c);
  }
  return x;
}

/** `n` codes at `out`, one draw each (byte mode); returns the state after the last draw. */
export function codesBytes(x: u32, table: usize, out: usize, n: i32): u32 {
  for (let i = 0; i < n; i++) {
    x = step(x);
    store<u8>(out + <usize>i, load<u8>(table + (x & 0xffff)));
  }
  return x;
}

// AssemblyScript (compiled to WebAssembly SIMD by scripts/build-wasm.mjs; not part of the TypeScript project).
//
// The CPU roofline's compute peak (kernels/cpuPeaks.ts), measured with the GEMM kernel's own inner loop (gemmUnit.ts
// tile4x2): per step, 4 token-row and 2 weight-row f64x2 loads, 8 products, 8 independent running sums, from
// buffers that stay in L1. A scalar JavaScript multiply-add chain measures a fraction of that, and the SIMD kernel
// then showed above "100 %" of its floor.

const ROW: usize = 1024; // one K-block of float64: the kernel's decoded row length
const buf = memory.data(6 * <i32>ROW);

/** `steps` inner-loop steps: 32 · steps float64 operations (8 f64x2 multiplies and adds); returns a sum to keep them */
export function gemmInnerLoop(steps: i32): f64 {
  for (let i: usize = 0; i < 6 * ROW; i += 8) store<f64>(buf + i, 1.0 + <f64>(i & 255) * 1e-3);
  let s00 = f64x2.splat(0), s01 = f64x2.splat(0), s10 = f64x2.splat(0), s11 = f64x2.splat(0);
  let s20 = f64x2.splat(0), s21 = f64x2.splat(0), s30 = f64x2.splat(0), s31 = f64x2.splat(0);
  for (let i = 0; i < steps; i++) {
    const k = (<usize>i & 63) << 4;
    const b0 = v128.load(buf + 4 * ROW + k);
    const b1 = v128.load(buf + 5 * ROW + k);
    const x0 = v128.load(buf + k);
    s00 = f64x2.add(s00, f64x2.mul(x0, b0));
    s01 = f64x2.add(s01, f64x2.mul(x0, b1));
    const x1 = v128.load(buf + ROW + k);
    s10 = f64x2.add(s10, f64x2.mul(x1, b0));
    s11 = f64x2.add(s11, f64x2.mul(x1, b1));
    const x2 = v128.load(buf + 2 * ROW + k);
    s20 = f64x2.add(s20, f64x2.mul(x2, b0));
    s21 = f64x2.add(s21, f64x2.mul(x2, b1));
    const x3 = v128.load(buf + 3 * ROW + k);
    s30 = f64x2.add(s30, f64x2.mul(x3, b0));
    s31 = f64x2.add(s31, f64x2.mul(x3, b1));
  }
  const s = f64x2.add(f64x2.add(f64x2.add(s00, s01), f64x2.add(s10, s11)), f64x2.add(f64x2.add(s20, s21), f64x2.add(s30, s31)));
  return f64x2.extract_lane(s, 0) + f64x2.extract_lane(s, 1);
}

/**
 * The grouped GEMM's units on the WebAssembly SIMD kernel (kernels/wasm/gemmUnit.ts): one instance per thread with
 * its own linear memory. Per unit the FP8 codes and scales of its rows and its ≤ 128 weight rows are copied in (the
 * weight copy is the read the kernel needs anyway, and brings the slice into cache), the kernel runs, and the BF16
 * block comes back into the job's shared output. Same numerics as the naive loop: see the kernel's header.
 */
import { type GemmJob } from './gemmKernel';

interface UnitExports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  gemmUnit(rows: number, cols: number, K: number, a: number, aS: number, b: number, bS: number, aF: number, bF: number, acc: number, out: number): void;
}

const PAGE = 65536;
const align16 = (x: number): number => (x + 15) & ~15;

export class WasmGemmUnits {
  private readonly x: UnitExports;
  private readonly free: number;

  constructor(module: WebAssembly.Module) {
    this.x = new WebAssembly.Instance(module, {}).exports as unknown as UnitExports;
    this.free = align16(this.x.heapBase());
  }

  private reserve(bytes: number): void {
    const have = this.x.memory.buffer.byteLength;
    if (bytes > have) this.x.memory.grow(Math.ceil((bytes - have) / PAGE));
  }

  /** Rows [r0, r1) of (renumbered) expert e against output columns [n0, n1), n1 − n0 ≤ 128 within one scale block. */
  run(job: GemmJob, e: number, r0: number, r1: number, n0: number, n1: number): void {
    const { K, N } = job;
    const Kb = Math.ceil(K / 128);
    const Nb = Math.ceil(N / 128);
    const rows = r1 - r0;
    const cols = n1 - n0;
    // layout: aF (rows × 128 f64) | bF (2 × 128 f64) | acc (rows × cols f32) | out (rows × cols u16) | a codes | a scales | b codes | b scales | 16 bytes
    // of slack (the kernel decodes codes in groups of 8 and may read up to 7 bytes past a code region)
    const aF = this.free;
    const bF = aF + rows * 1024;
    const acc = bF + 2048;
    const out = align16(acc + rows * cols * 4);
    const a = align16(out + rows * cols * 2);
    const aS = align16(a + rows * K);
    const b = align16(aS + rows * Kb * 4);
    const bS = align16(b + cols * K);
    this.reserve(bS + Kb * 4 + 16);
    const buf = this.x.memory.buffer;
    new Uint8Array(buf, a, rows * K).set(job.a.subarray(r0 * K, r1 * K));
    new Float32Array(buf, aS, rows * Kb).set(job.aScale.subarray(r0 * Kb, r1 * Kb));
    const bBase = e * N * K;
    new Uint8Array(buf, b, cols * K).set(job.b.subarray(bBase + n0 * K, bBase + n1 * K));
    const sb = (e * Nb + (n0 >> 7)) * Kb;
    new Float32Array(buf, bS, Kb).set(job.bScale.subarray(sb, sb + Kb));
    this.x.gemmUnit(rows, cols, K, a, aS, b, bS, aF, bF, acc, out);
    const res = new Uint16Array(buf, out, rows * cols);
    for (let r = 0; r < rows; r++) job.out.set(res.subarray(r * cols, (r + 1) * cols), (r0 + r) * N + n0);
  }
}

let current: { id: number; units: WasmGemmUnits } | undefined;

/**
 * This thread's instance for the job's module, kept by the module's id: a new instance per job (each posted module
 * is a new object) grew fresh memory for every job — page faults on every batch of a GEMM over per-expert weights.
 */
export function wasmUnits(wasm: { module: WebAssembly.Module; id: number }): WasmGemmUnits {
  if (current?.id !== wasm.id) current = { id: wasm.id, units: new WasmGemmUnits(wasm.module) };
  return current.units;
}

/**
 * The synthetic FP8 weight codes (hundreds of MB per layer: the slow part of a synthetic run): a xorshift32 stream
 * seeded per expert, through a 64K-entry table mapping a 16-bit uniform to the FP8 code of a Gaussian (σ = 448/4,
 * clipped at ±448). fillCodes runs the WebAssembly SIMD kernel (kernels/wasm/syntheticCodes.ts); fillCodesJs is the
 * JavaScript reference it must match byte for byte (and the fallback where WebAssembly SIMD does not run).
 */
import { encodeE4M3 } from './dtypes/fp8e4m3';
import { kernelWasm } from './ops/gemmWasmModule';

/** Acklam's rational approximation of the standard normal quantile (|error| < 1.2e-9: plenty for a code table). */
function normalQuantile(p: number): number {
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  }
  if (p > 1 - lo) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
}

/** 16-bit uniform → FP8 code of a Gaussian with σ = 448/4, clipped at ±448 (a block's amax lands near 448). */
let codeTable: Uint8Array | undefined;
export function fp8CodeTable(): Uint8Array {
  if (codeTable) return codeTable;
  const t = new Uint8Array(65536);
  for (let i = 0; i < 65536; i++) {
    const v = normalQuantile((i + 0.5) / 65536) * 112;
    t[i] = encodeE4M3(Math.max(-448, Math.min(448, v)));
  }
  return (codeTable = t);
}

/** the stream's first state: any seed, 0 included (xorshift32 would stay at 0 forever) */
const initialState = (seed: number): number => seed | 0 || 0x2545f491;

/** The reference: FP8 codes from a xorshift32 stream seeded by the caller (two codes per 32-bit draw, stored four
 * at a time through a word view when dst is 4-byte aligned; one code per draw otherwise and for the last 0–3 bytes). */
export function fillCodesJs(dst: Uint8Array, seed: number): void {
  const t = fp8CodeTable();
  let x = initialState(seed);
  const n = dst.length;
  let i = 0;
  if (dst.byteOffset % 4 === 0) {
    const words = new Uint32Array(dst.buffer, dst.byteOffset, n >>> 2);
    for (let w = 0; w < words.length; w++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      const lo = x;
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      words[w] = (t[lo & 0xffff]! | (t[lo >>> 16]! << 8) | (t[x & 0xffff]! << 16) | (t[x >>> 16]! << 24)) >>> 0;
    }
    i = words.length * 4;
  }
  for (; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    dst[i] = t[x & 0xffff]!;
  }
}

interface CodesExports {
  memory: WebAssembly.Memory;
  codesHeapBase(): number;
  codesJumpBytes(): number;
  codesInit(jumps: number): void;
  codesWords(x: number, table: number, jumps: number, out: number, words: number): number;
  codesBytes(x: number, table: number, out: number, n: number): number;
}

/** bytes generated per kernel call: stays in the L2 cache before it is copied out */
const CHUNK = 1 << 18;

interface CodesKernel {
  x: CodesExports;
  table: number;
  jumps: number;
  out: number;
}

let kernel: CodesKernel | null | undefined;

/** This thread's instance (the code table and jump matrices written once), or null where WebAssembly SIMD does not run. */
function codesKernel(): CodesKernel | null {
  if (kernel !== undefined) return kernel;
  const k = kernelWasm();
  if (!('module' in k)) return (kernel = null);
  const x = new WebAssembly.Instance(k.module, {}).exports as unknown as CodesExports;
  const table = (x.codesHeapBase() + 15) & ~15;
  const jumps = table + 65536;
  const out = (jumps + x.codesJumpBytes() + 15) & ~15;
  const need = out + CHUNK;
  const have = x.memory.buffer.byteLength;
  if (need > have) x.memory.grow(Math.ceil((need - have) / 65536));
  new Uint8Array(x.memory.buffer, table, 65536).set(fp8CodeTable());
  x.codesInit(jumps);
  return (kernel = { x, table, jumps, out });
}

/** Fills dst with the same bytes as fillCodesJs(dst, seed), on the WebAssembly SIMD kernel where it runs. */
export function fillCodes(dst: Uint8Array, seed: number): void {
  const k = codesKernel();
  if (!k) return fillCodesJs(dst, seed);
  const { x: wasm, table, jumps, out } = k;
  let x = initialState(seed);
  const n = dst.length;
  let i = 0;
  if (dst.byteOffset % 4 === 0) {
    const end = n & ~3;
    for (; i < end; i += CHUNK) {
      const len = Math.min(CHUNK, end - i);
      x = wasm.codesWords(x, table, jumps, out, len >>> 2);
      dst.set(new Uint8Array(wasm.memory.buffer, out, len), i);
    }
    i = end;
  }
  for (; i < n; i += CHUNK) {
    const len = Math.min(CHUNK, n - i);
    x = wasm.codesBytes(x, table, out, len);
    dst.set(new Uint8Array(wasm.memory.buffer, out, len), i);
  }
}

/** Several fills shared out among threads (kernels/syntheticCodesParallel.ts): dst on shared memory. */
export interface CodesJob {
  kind: 'codes';
  fills: { dst: Uint8Array; seed: number }[];
  /** [next fill, cancel flag] */
  control: Int32Array;
}

/** A thread's part of a CodesJob: fills taken one at a time from the shared counter until none are left. */
export function runCodesJob(job: CodesJob): void {
  for (;;) {
    if (Atomics.load(job.control, 1) !== 0) return;
    const i = Atomics.add(job.control, 0, 1);
    if (i >= job.fills.length) return;
    const f = job.fills[i]!;
    fillCodes(f.dst, f.seed);
  }
}

/*
 * Jumping the stream: a xorshift32 step is linear over GF(2)^32, so k steps are one 32 × 32 bit matrix, applied as
 * four 256-entry tables (one per byte of the state). Sampling every 96th code of a 600 MB tensor then costs four
 * lookups per sample instead of 48 steps, and writes nothing but the samples.
 */

/** one xorshift32 step, the generator's own */
const xorshift = (x: number): number => {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return x;
};

/** a linear map as the images of the 32 unit vectors */
const applyMap = (m: Int32Array, x: number): number => {
  let r = 0;
  for (let b = 0; b < 32; b++) if ((x >>> b) & 1) r ^= m[b]!;
  return r;
};

/** the map of k steps (k ≥ 1), by squaring */
function stepsMap(k: number): Int32Array {
  let result: Int32Array | undefined;
  let pow = Int32Array.from({ length: 32 }, (_, b) => xorshift(1 << b));
  for (;;) {
    if (k & 1) result = result ? result.map((v) => applyMap(pow, v)) : pow.slice();
    k = Math.floor(k / 2);
    if (!k) return result!;
    const p = pow;
    pow = p.map((v) => applyMap(p, v));
  }
}

const jumpTables = new Map<number, Int32Array>();

/** k steps as four 256-entry tables (4 KB: stays in the L1 cache): t[256·s + v] is the image of v at byte s */
function jumpTable(k: number): Int32Array {
  let t = jumpTables.get(k);
  if (t) return t;
  const m = stepsMap(k);
  t = new Int32Array(1024);
  for (let s = 0; s < 4; s++) for (let v = 0; v < 256; v++) t[256 * s + v] = applyMap(m, v << (8 * s));
  if (jumpTables.size >= 64) jumpTables.clear();
  jumpTables.set(k, t);
  return t;
}

const jump = (t: Int32Array, x: number): number => t[x & 255]! ^ t[256 + ((x >>> 8) & 255)]! ^ t[512 + ((x >>> 16) & 255)]! ^ t[768 + (x >>> 24)]!;

/**
 * The codes fillCodes writes at from, from + step, … (dst.length of them, all below n) of a 4-byte-aligned n-byte
 * destination seeded by `seed`, without writing the others: byte i < n & ~3 is half of the stream's draw
 * 2⌊i/4⌋ + 1 + ⌊(i mod 4)/2⌋ (the low 16 bits for even i), a byte past the last whole word the low half of its own
 * draw. Any step; from and step whole numbers.
 */
export function sampleCodes(dst: Uint8Array, seed: number, n: number, from: number, step: number): void {
  if (!dst.length) return;
  if (!(Number.isInteger(from) && Number.isInteger(step) && from >= 0 && step >= 1 && from + (dst.length - 1) * step < n))
    throw new RangeError(`sampleCodes: ${dst.length} samples from ${from} every ${step} pass ${n} bytes`);
  const t = fp8CodeTable();
  const words = n - (n % 4);
  /** the stream's draw (1-based) that byte p comes from */
  const drawOf = (p: number): number => (p < words ? 2 * Math.floor(p / 4) + 1 + (p % 4 >= 2 ? 1 : 0) : words / 2 + (p - words) + 1);
  let x = initialState(seed);
  const advance = (k: number): void => {
    if (k > 12) x = jump(jumpTable(k), x);
    else for (; k > 0; k--) x = xorshift(x);
  };
  const last = from + (dst.length - 1) * step;
  if (step % 4 === 0 && last < words) {
    // every sample at the same place in its word (a summary's usual case): one jump of step / 2 draws each
    const high = from % 2 === 1;
    advance(drawOf(from));
    const k = step / 2;
    const jt = k > 12 ? jumpTable(k) : undefined;
    for (let j = 0; ; j++) {
      dst[j] = t[high ? x >>> 16 : x & 0xffff]!;
      if (j + 1 === dst.length) return;
      if (jt) x = jt[x & 255]! ^ jt[256 + ((x >>> 8) & 255)]! ^ jt[512 + ((x >>> 16) & 255)]! ^ jt[768 + (x >>> 24)]!;
      else for (let i = 0; i < k; i++) x = xorshift(x);
    }
  }
  let drawn = 0;
  for (let j = 0, p = from; j < dst.length; j++, p += step) {
    const draw = drawOf(p);
    advance(draw - drawn);
    drawn = draw;
    dst[j] = t[p < words && p % 2 === 1 ? x >>> 16 : x & 0xffff]!;
  }
}

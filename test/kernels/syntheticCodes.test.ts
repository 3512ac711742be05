/**
 * The synthetic FP8 weight codes: the WebAssembly SIMD generator (fillCodes) against the JavaScript reference
 * (fillCodesJs), byte for byte, over seeds (0 and ones with the top bit set included), lengths around the kernel's
 * four-lane block and chunk sizes (odd ones included) and every byte alignment of the destination.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { fillCodes, fillCodesJs, sampleCodes } from '../../kernels/syntheticCodes';
import { kernelWasm } from '../../kernels/ops/gemmWasmModule';
import { fillCodesParallel } from '../../kernels/syntheticCodesParallel';
import { shutdownGemmWorkers } from '../../kernels/ops/gemm';

after(() => shutdownGemmWorkers());

const SEEDS = [0, 1, 2, 0x2545f491, 0x7fffffff, 0x80000000, 0xdeadbeef, 0xffffffff, 123456789];
// the kernel makes 16 KB blocks of four lanes inside 256 KB chunks: lengths on, around and across both
const LENGTHS = [0, 1, 2, 3, 4, 5, 7, 8, 127, 4096, 16383, 16384, 16385, 16388, 16391, 49157, 262144, 262147, 262148 + 16384 + 5, 3 * 262144 + 13];

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

test('the WebAssembly generator runs here (else fillCodes is only the reference again)', () => {
  const k = kernelWasm();
  assert.ok('module' in k, 'reason' in k ? k.reason : '');
});

test('fillCodes writes the same bytes as the JavaScript reference for every seed, length and alignment', () => {
  for (const seed of SEEDS)
    for (const n of LENGTHS)
      for (const offset of [0, 1, 2, 3, 4, 6]) {
        if (n > 20000 && offset % 4 !== 0 && offset !== 1) continue; // the unaligned path is one loop: one offset suffices for the long ones
        const want = new Uint8Array(new ArrayBuffer(n + 8), offset, n);
        const got = new Uint8Array(new SharedArrayBuffer(n + 8), offset, n);
        fillCodesJs(want, seed);
        fillCodes(got, seed);
        assert.equal(firstDifference(want, got), -1, `seed ${seed}, length ${n}, byte offset ${offset}`);
        // the bytes around dst stay untouched
        assert.ok(new Uint8Array(got.buffer, 0, offset).every((v) => v === 0) && new Uint8Array(got.buffer, offset + n).every((v) => v === 0), `seed ${seed}, length ${n}, offset ${offset}: wrote outside dst`);
      }
});

test('a whole expert of Qwen3-30B-A3B (w13: 3 MB) matches the reference on several seeds', () => {
  const n = 2 * 768 * 2048;
  const want = new Uint8Array(n);
  const got = new Uint8Array(new SharedArrayBuffer(n));
  for (const seed of [1, 0x9e3779b9, 42]) {
    fillCodesJs(want, seed);
    fillCodes(got, seed);
    assert.equal(firstDifference(want, got), -1, `seed ${seed}`);
  }
});

test('fillCodesParallel: the same bytes as fillCodes one by one, on 1, 2 and 3 threads, shared memory or not', async () => {
  const sizes = [262147, 5, 3 * 65536, 16391, 0, 100000, 7];
  const experts = (shared: boolean) => {
    const total = sizes.reduce((a, b) => a + b, 0) + 1;
    const buf = shared ? new Uint8Array(new SharedArrayBuffer(total)) : new Uint8Array(total);
    let at = 1; // odd offsets: the unaligned path too
    return sizes.map((n, e) => ({ dst: buf.subarray(at, (at += n)), seed: 1000 + e }));
  };
  const want = experts(false);
  for (const f of want) fillCodesJs(f.dst, f.seed);
  for (const [threads, shared] of [[1, true], [2, true], [3, true], [2, false]] as const) {
    const got = experts(shared);
    await fillCodesParallel(got, threads);
    got.forEach((f, e) => assert.equal(firstDifference(want[e]!.dst, f.dst), -1, `expert ${e}, ${threads} threads, shared ${shared}`));
  }
});

test('sampleCodes: every step-th code of an aligned fill, from any start, without making the others', () => {
  for (const seed of [0, 7, 0xffffffff])
    for (const n of [1, 3, 4, 5, 8, 4099, 2 * 768 * 2048 + 3])
      for (const step of [1, 2, 3, 4, 5, 9, 13, 48, 96, 97, 1792, 100003]) {
        const want = new Uint8Array(n);
        fillCodesJs(want, seed);
        for (const from of [0, 1, 2, 3, 6, Math.min(n - 1, 12345)]) {
          if (from >= n) continue;
          const got = new Uint8Array(Math.floor((n - 1 - from) / step) + 1);
          sampleCodes(got, seed, n, from, step);
          const i = got.findIndex((c, j) => c !== want[from + j * step]);
          assert.equal(i, -1, `seed ${seed}, ${n} bytes, from ${from} every ${step}: sample ${i}`);
        }
      }
  // a sample past the end is an error, not a silently wrong code
  assert.throws(() => sampleCodes(new Uint8Array(3), 1, 10, 2, 4), RangeError);
});

test('the reference stream is the one synthetic layers have always had (pinned bytes)', () => {
  const a = new Uint8Array(12);
  fillCodesJs(a, 1);
  const b = new Uint8Array(new ArrayBuffer(8), 1, 7);
  fillCodesJs(b, 7);
  assert.deepEqual([Array.from(a), Array.from(b)], PINNED);
});

/** written by kernels/synthetic.ts's fillCodes before it moved to kernels/syntheticCodes.ts (main at 323fef4) */
const PINNED = [
  [240, 253, 246, 247, 99, 96, 94, 242, 241, 88, 226, 237],
  [112, 90, 106, 229, 217, 230, 241],
];

/**
 * Blocking jobs over large byte ranges on shared memory, split across a few threads: reading a file range into it
 * and finding the first FP8 NaN code in it. Both are bound by memory, not by compute, on one thread:
 * - a read into fresh memory pays the first touch of every page: a DeepSeek-V3 EP8 layer file (1.47 GB) took 849 ms
 *   into new arrays against 315 ms into one reused buffer (the H200 machine, 2026-12-02), and the kernel serves
 *   faults on different pages in parallel;
 * - the NaN-code scan of its 1.4 GB of weights took ~0.3 s on one thread (memchr).
 * Each thread takes one slice (whole 4 KiB pages). The caller blocks (Atomics.wait), as in the synchronous code these
 * replace; a slice a thread could not finish is redone on the calling thread, which then reports any error as before.
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';

/** When a job is split, and how finely. Tests lower both to split small ranges. */
export const SPLIT = {
  /** below this many bytes one thread does the job (a thread's start-up would cost more than it saves) */
  minBytes: 64 << 20,
  minSliceBytes: 16 << 20,
};
const MAX_THREADS = 8;
/** no slice finishing for this long means a stuck read (a hung network file system): not a wait forever */
const STALL_MS = 120_000;

// Plain JavaScript run with eval (no bundle entry needed). Positional reads share the process's file descriptors.
// state: [finished count, then per slice: 1 done / −1 failed, then per slice the first NaN code's offset or −1]
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { readSync } = require('node:fs');
parentPort.on('message', (m) => {
  const state = new Int32Array(m.state);
  let ok = false;
  try {
    const dst = new Uint8Array(m.buffer, m.byteOffset, m.length);
    if (m.job === 'read') {
      let done = 0;
      while (done < m.length) {
        const got = readSync(m.fd, dst, done, Math.min(1 << 30, m.length - done), m.pos + done);
        if (got === 0) break;
        done += got;
      }
      ok = done === m.length;
    } else {
      const b = Buffer.from(m.buffer, m.byteOffset, m.length);
      const pos = b.indexOf(0x7f);
      const neg = (pos < 0 ? b : b.subarray(0, pos)).indexOf(0xff);
      Atomics.store(state, 1 + m.slices + m.slot, neg >= 0 ? neg : pos);
      ok = true;
    }
  } catch (e) {}
  Atomics.store(state, 1 + m.slot, ok ? 1 : -1);
  Atomics.add(state, 0, 1);
  Atomics.notify(state, 0);
});
`;

let pool: Worker[] = [];

function threads(n: number): Worker[] {
  while (pool.length < n) {
    const w = new Worker(WORKER_SOURCE, { eval: true });
    // idle threads never keep a process alive; one that exits is replaced on the next job
    w.unref();
    w.on('exit', () => {
      pool = pool.filter((x) => x !== w);
    });
    pool.push(w);
  }
  return pool.slice(0, n);
}

export interface Slice {
  /** offset in the range */
  from: number;
  length: number;
  /** the job finished the whole slice */
  ok: boolean;
  /** findNanCode: offset of the slice's first NaN code in the slice, or −1 */
  found: number;
}

type Job = { job: 'read'; fd: number; pos: number } | { job: 'findNanCode' };

function run(bytes: Uint8Array, job: Job): Slice[] {
  if (!(bytes.buffer instanceof SharedArrayBuffer)) throw new TypeError('byteRangeThreads: the bytes must be on a SharedArrayBuffer');
  const n = Math.max(1, Math.min(MAX_THREADS, availableParallelism(), Math.floor(bytes.length / SPLIT.minSliceBytes)));
  const size = Math.ceil(bytes.length / n / 4096) * 4096;
  const slices: Slice[] = [];
  for (let from = 0; from < bytes.length; from += size) slices.push({ from, length: Math.min(size, bytes.length - from), ok: false, found: -1 });
  const state = new Int32Array(new SharedArrayBuffer(4 * (1 + 2 * slices.length)));
  const ws = threads(slices.length);
  slices.forEach((s, slot) => {
    const at = job.job === 'read' ? { pos: job.pos + s.from } : {};
    ws[slot]!.postMessage({ ...job, ...at, buffer: bytes.buffer, byteOffset: bytes.byteOffset + s.from, length: s.length, state: state.buffer, slot, slices: slices.length });
  });
  let finished = 0;
  while (finished < slices.length) {
    if (Atomics.wait(state, 0, finished, STALL_MS) === 'timed-out') break;
    finished = Atomics.load(state, 0);
  }
  for (const [i, s] of slices.entries()) {
    s.ok = Atomics.load(state, 1 + i) === 1;
    s.found = Atomics.load(state, 1 + slices.length + i);
  }
  return slices;
}

/**
 * Reads dst.length bytes at file position `pos` of `fd` into dst (on a SharedArrayBuffer) on several threads.
 * Returns the slices that were not read whole (empty when all went well): the caller reads those itself.
 */
export function readParallel(fd: number, dst: Uint8Array, pos: number): Slice[] {
  return run(dst, { job: 'read', fd, pos }).filter((s) => !s.ok);
}

/**
 * Index of the first FP8 E4M3FN NaN code (0x7F, 0xFF) in `bytes` (on a SharedArrayBuffer), or −1, found on several
 * threads; `serial` scans a slice a thread could not (the caller's one-thread scan).
 */
export function firstNanCodeParallel(bytes: Uint8Array, serial: (slice: Uint8Array) => number): number {
  for (const s of run(bytes, { job: 'findNanCode' })) {
    const at = s.ok ? s.found : serial(bytes.subarray(s.from, s.from + s.length));
    if (at >= 0) return s.from + at;
  }
  return -1;
}

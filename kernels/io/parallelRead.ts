/**
 * Large reads into shared memory on several threads at once. Reading a layer file into fresh memory is bound by the
 * first touch of every page, not by the copy: a DeepSeek-V3 EP8 layer file (1.47 GB) took 849 ms into new arrays
 * against 315 ms into one reused buffer (the H200 machine, 2026-12-02). The kernel serves faults on different pages in
 * parallel, so a few threads each read (pread) one slice of the range straight into the SharedArrayBuffer. The caller
 * blocks, as in the readSync this replaces; a slice that fails or comes up short is read again on the calling thread,
 * which then reports the error as before (E_IO naming the file and tensor).
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';

/** When a read is split, and how finely. Tests lower both to split small reads. */
export const PARALLEL_READ = {
  /** below this many bytes one thread reads (a worker's start-up would cost more than the faults it saves) */
  minBytes: 64 << 20,
  minSliceBytes: 16 << 20,
};
const MAX_THREADS = 8;
/** no slice finishing for this long means a stuck read (a hung network file system) — not a wait forever */
const STALL_MS = 120_000;

// Plain JavaScript run with eval (no bundle entry needed). Positional reads share the process's file descriptor.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { readSync } = require('node:fs');
parentPort.on('message', (m) => {
  const dst = new Uint8Array(m.buffer, m.byteOffset, m.length);
  let done = 0;
  try {
    while (done < m.length) {
      const got = readSync(m.fd, dst, done, Math.min(1 << 30, m.length - done), m.pos + done);
      if (got === 0) break;
      done += got;
    }
  } catch (e) {}
  const state = new Int32Array(m.state);
  Atomics.store(state, 1 + m.slot, done === m.length ? 1 : -1);
  Atomics.add(state, 0, 1);
  Atomics.notify(state, 0);
});
`;

let pool: Worker[] = [];

function readers(n: number): Worker[] {
  while (pool.length < n) {
    const w = new Worker(WORKER_SOURCE, { eval: true });
    // idle readers never keep a process alive; one that dies is replaced on the next read
    w.unref();
    w.on('exit', () => {
      pool = pool.filter((x) => x !== w);
    });
    pool.push(w);
  }
  return pool.slice(0, n);
}

export interface Slice {
  /** offset in dst */
  from: number;
  length: number;
}

/**
 * Reads dst.length bytes at file position `pos` of `fd` into dst (on a SharedArrayBuffer) with several threads.
 * Returns the slices that were not read whole (empty when all went well): the caller reads those itself.
 */
export function readParallel(fd: number, dst: Uint8Array, pos: number, threads = Math.min(MAX_THREADS, availableParallelism())): Slice[] {
  if (!(dst.buffer instanceof SharedArrayBuffer)) throw new TypeError('readParallel: dst must be on a SharedArrayBuffer');
  const n = Math.max(1, Math.min(threads, Math.floor(dst.length / PARALLEL_READ.minSliceBytes)));
  // slices of whole 4 KiB pages, so no two threads touch one page
  const slice = Math.ceil(dst.length / n / 4096) * 4096;
  const slices: Slice[] = [];
  for (let from = 0; from < dst.length; from += slice) slices.push({ from, length: Math.min(slice, dst.length - from) });
  const state = new Int32Array(new SharedArrayBuffer(4 * (1 + slices.length)));
  const ws = readers(slices.length);
  slices.forEach((s, i) =>
    ws[i]!.postMessage({ fd, buffer: dst.buffer, byteOffset: dst.byteOffset + s.from, length: s.length, pos: pos + s.from, state: state.buffer, slot: i }),
  );
  let finished = 0;
  while (finished < slices.length) {
    if (Atomics.wait(state, 0, finished, STALL_MS) === 'timed-out') break;
    finished = Atomics.load(state, 0);
  }
  // a slice still running after a stall is left to its reader and read again here: the same bytes land either way
  return slices.filter((_, i) => Atomics.load(state, 1 + i) !== 1);
}

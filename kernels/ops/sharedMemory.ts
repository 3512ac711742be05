/** Byte arrays on shared memory: the GEMM worker threads read them without a copy. No Node imports (the webview bundle reaches this through the routing helpers). */

/** A zero-filled byte array on shared memory. */
export function sharedBytes(n: number): Uint8Array {
  return new Uint8Array(new SharedArrayBuffer(n));
}

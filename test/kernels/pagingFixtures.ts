/** Helpers shared by the tests of weights made per expert (expertPages.test.ts, expertPagesCpu.test.ts). */
import { PAGING, expertPagesOf, expertChunks } from '../../kernels/expertPages';
import type { Tensor } from '../../kernels/tensor';

/** a tensor's bytes, whole or made per expert (each chunk is the same buffer refilled: copied before the next) */
export const bytesOf = (t: Tensor): Buffer => {
  if (expertPagesOf(t)) {
    const copies: Buffer[] = [];
    for (const c of expertChunks(t as Tensor<'f8e4m3fn'>)) copies.push(Buffer.from(c));
    return Buffer.concat(copies);
  }
  const c = t.contiguous();
  return Buffer.from(c.storage.buffer, c.storage.byteOffset + c.offset * c.itemBytes, c.numel * c.itemBytes);
};

/** runs `fn` with PAGING's limits lowered (so a small layer is paged), then restores them */
export async function withPaging<T>(limits: Partial<typeof PAGING>, fn: () => Promise<T> | T): Promise<T> {
  const saved = { ...PAGING };
  Object.assign(PAGING, limits);
  try {
    return await fn();
  } finally {
    Object.assign(PAGING, saved);
  }
}

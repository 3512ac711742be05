/**
 * A one-byte (E, rows, K) weight tensor of a safetensors file that one array cannot hold (more than 2^32 elements:
 * a whole DeepSeek-V3 layer's w13_weight is 7.5 GB), as a tensor made per expert (kernels/expertPages.ts): each
 * expert's byte range is read from the file when a reader asks for it — the GEMM's batches, the validation scan, a
 * summary's sample, a tile — so the layer runs with one batch of experts resident. The file is opened for each read:
 * nothing is held open between stages, and a file that shrank since its header was read is an error naming it.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { MoeError, shapeStr } from '../errors';
import { expertPagedTensor } from '../expertPages';
import type { Tensor } from '../tensor';
import type { SafetensorsEntry } from './safetensors';

/** Is this entry a stacked one-byte weight tensor past one array (read per expert rather than refused)? */
export function needsExpertPages(e: SafetensorsEntry, limitBytes: number): boolean {
  return e.dtype === 'F8_E4M3' && e.shape.length === 3 && e.shape.reduce((a, b) => a * b, 1) > limitBytes;
}

export function expertPagedFromFile(path: string, e: SafetensorsEntry): Tensor<'f8e4m3fn'> {
  const [E, rows, K] = e.shape as [number, number, number];
  const perExpert = rows * K;
  return expertPagedTensor([E, rows, K], e.name, {
    perExpert,
    active: () => true,
    fill: (expert, dst) => {
      const fd = openSync(path, 'r');
      try {
        let done = 0;
        while (done < dst.length) {
          const n = readSync(fd, dst, done, Math.min(dst.length - done, 1 << 30), e.begin + expert * perExpert + done);
          if (n === 0)
            throw new MoeError('E_IO', `${path}: tensor '${e.name}' ${shapeStr(e.shape)}: the file ends inside expert ${expert}'s bytes (it shrank after its header was read?)`, e.name);
          done += n;
        }
      } finally {
        closeSync(fd);
      }
    },
  });
}

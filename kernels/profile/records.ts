/** What the trace and CSV importers produce: one record per kernel launch, and the file reader they share. */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { MoeError } from '../errors';

/** Nsight Compute's per-kernel figures (absent when the export did not collect them) */
export interface NcuMetrics {
  /** achieved DRAM throughput, % of peak */
  dramPct?: number;
  /** compute (SM) throughput, % of peak */
  smPct?: number;
  /** memory throughput (the busiest memory unit), % of peak */
  memPct?: number;
  /** achieved occupancy, % */
  occupancyPct?: number;
  registers?: number;
  /** static + dynamic shared memory per block, bytes */
  sharedBytes?: number;
}

export interface KernelRecord {
  name: string;
  /** launch order in the file (trace: by start time; ncu: by ID) */
  seq: number;
  /** start time in µs (Chrome traces only) */
  startUs?: number;
  /** duration in µs */
  durUs: number;
  device: string;
  stream: string;
  kind: 'kernel' | 'memcpy' | 'memset';
  /** the PyTorch ops around its launch, innermost first (Kineto traces with CPU ops) */
  ops?: string[];
  metrics?: NcuMetrics;
}

/** a profile file as text; gzip (by its magic bytes, whatever the name) is inflated */
export function readProfileText(path: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new MoeError('E_IO', `${path}: cannot read (${(e as Error).message})`);
  }
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (e) {
      throw new MoeError('E_FORMAT', `${path}: looks gzip-compressed but does not inflate (${(e as Error).message}): a truncated download?`);
    }
  }
  return bytes.toString('utf8');
}

/**
 * safetensors reader and writer. The reader opens the file once, validates the whole header up front and then reads
 * each tensor by byte range (fs.readSync at the tensor's offsets): a 3 GB checkpoint costs only the bytes asked for.
 * Format: 8-byte little-endian header length N, N bytes of JSON ({name: {dtype, shape, data_offsets}, __metadata__}),
 * then the data buffer; data_offsets are relative to the start of the data buffer.
 * Data is little-endian on disk; typed arrays use the host byte order, which is little-endian on every platform
 * VS Code ships for (x64, arm64), so raw bytes are copied straight into the tensor's storage.
 * Hostile files: only regular files are opened (a FIFO would block), the header must be UTF-8 JSON without duplicate
 * keys and at most MAX_HEADER_DEPTH deep, and messages cap the names they list. Tensors past 2 GiB are read in
 * chunks (one readSync call takes < 2 GiB) at offsets past 4 GiB; past 2^32 elements a read is refused by name.
 * The writer replaces its target atomically (atomicWrite.ts): concurrent writers never leave a mixed file.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { allocStorage, DTYPES, type DType, type StorageFor } from '../dtypes/index';
import { briefName, listNames, MoeError, shapeStr } from '../errors';
import { numelOf, Tensor } from '../tensor';
import { decodeF16 } from '../dtypes/f16';
import { sharedBytes } from '../ops/sharedMemory';
import { SPLIT, readParallel } from '../ops/byteRangeThreads';
import { writeFileAtomic } from './atomicWrite';
import { fileKind } from './fileKind';
import { firstInvalidUtf8, scanJson } from './strictJson';
import { expertChunks, expertPagesOf } from '../expertPages';

export interface SafetensorsEntry {
  name: string;
  dtype: string;
  shape: number[];
  /** absolute file byte offsets, [begin, end) */
  begin: number;
  end: number;
}

/** On-disk dtypes we understand: item size and the engine dtype a plain read returns. */
interface DiskDType {
  itemBytes: number;
  /** engine dtype of a plain read */
  native: DType;
  /** stored as a different float width: converted to float32 on read (F16, F64) */
  convert?: 'f16' | 'f64';
}

const DISK_DTYPES: Readonly<Record<string, DiskDType>> = {
  F32: { itemBytes: 4, native: 'f32' },
  BF16: { itemBytes: 2, native: 'bf16' },
  F8_E4M3: { itemBytes: 1, native: 'f8e4m3fn' },
  F8_E8M0: { itemBytes: 1, native: 'ue8m0' },
  I32: { itemBytes: 4, native: 'i32' },
  I64: { itemBytes: 8, native: 'i64' },
  U8: { itemBytes: 1, native: 'u8' },
  // torch.int8 storage. What the bytes mean is the reader's business: SGLang's W4AFP8 packs two int4 per byte
  // (docs/layouts-and-stages.md §9) and its recipe reads them as i4x2; anything else sees signed bytes
  I8: { itemBytes: 1, native: 'i8' },
  F16: { itemBytes: 2, native: 'f32', convert: 'f16' },
  F64: { itemBytes: 8, native: 'f32', convert: 'f64' },
};

/** One-byte engine dtypes are the same raw bytes under different names: golden files store FP8 as U8. */
const BYTE_DTYPES: ReadonlySet<DType> = new Set<DType>(['u8', 'i8', 'f8e4m3fn', 'ue8m0', 'i4x2']);

/** The reference implementation refuses headers above 100 MB; so do we (a corrupt length must not allocate GBs). */
const MAX_HEADER_BYTES = 100_000_000;
/**
 * A valid header nests 3 deep (object → tensor entry → shape array); anything past this bound is refused before
 * JSON.parse's result is walked (a 200 000-deep header must be an error, not a stack overflow).
 */
export const MAX_HEADER_DEPTH = 64;
/**
 * The most elements one tensor read may return: Node 20's typed-array length limit (2^32), the lowest of the Node
 * versions we support. A bigger tensor is refused by name and size (read it in pieces with readRows).
 */
export const MAX_TENSOR_ELEMENTS = 2 ** 32;
/** readSync takes at most 2^31 − 1 bytes per call (Linux returns at most 0x7ffff000): read big tensors in chunks */
const READ_CHUNK_BYTES = 1 << 30;
/** F16/F64 tensors are read through a bounded scratch buffer and converted chunk by chunk */
const CONVERT_CHUNK_ELEMS = 1 << 24;

export interface SafetensorsOpenOptions {
  /** bytes per positional read (default 1 GiB, must stay below 2 GiB); tests use small chunks to exercise the loop */
  readChunkBytes?: number;
  /**
   * large reads into shared memory (the FP8 weights) on several threads (kernels/ops/byteRangeThreads.ts); default true,
   * false reads every byte on the calling thread in readChunkBytes pieces
   */
  parallelRead?: boolean;
}

export function safetensorsDtype(dtype: DType): string {
  return DTYPES[dtype].safetensors;
}

function isNonNegInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** a header value for a message, cut short (a shape may be a million-element array) */
function brief(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}

const GiB = (bytes: number): string => `${(bytes / 2 ** 30).toFixed(2)} GiB`;

export class SafetensorsFile {
  readonly metadata: Record<string, string>;
  private fd: number | undefined;
  private readonly entries: Map<string, SafetensorsEntry>;

  private readonly readChunkBytes: number;
  private readonly parallelRead: boolean;

  private constructor(
    readonly path: string,
    fd: number,
    entries: Map<string, SafetensorsEntry>,
    metadata: Record<string, string>,
    opts: SafetensorsOpenOptions,
  ) {
    this.fd = fd;
    this.entries = entries;
    this.metadata = metadata;
    this.readChunkBytes = Math.max(1, Math.min(READ_CHUNK_BYTES, Math.floor(opts.readChunkBytes ?? READ_CHUNK_BYTES)));
    this.parallelRead = opts.parallelRead ?? true;
  }

  static open(path: string, opts: SafetensorsOpenOptions = {}): SafetensorsFile {
    let fd: number;
    try {
      // O_NONBLOCK: opening a FIFO for reading would otherwise wait forever for a writer; for a regular file it
      // changes nothing. The fstat below then refuses anything that is not a regular file.
      fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
    } catch (e) {
      throw new MoeError('E_IO', `${path}: cannot open safetensors file (${(e as Error).message})`);
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new MoeError('E_IO', `${path}: is ${fileKind(st)}, not a regular file; give a .safetensors file`);
      const { entries, metadata } = parseHeader(path, fd);
      return new SafetensorsFile(path, fd, entries, metadata, opts);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  entry(name: string): SafetensorsEntry {
    const e = this.entries.get(name);
    if (!e) throw new MoeError('E_FORMAT', `${this.path}: no tensor named '${briefName(name)}' (has: ${listNames(this.names())})`, name);
    return { ...e, shape: [...e.shape] };
  }

  read(name: string, as?: DType): Tensor {
    const e = this.entry(name);
    return this.readRange(e, 0, e.shape.length ? e.shape[0]! : 1, as);
  }

  /** rows [rowStart, rowEnd) of the first dimension; only that byte range is read */
  readRows(name: string, rowStart: number, rowEnd: number, as?: DType): Tensor {
    const e = this.entry(name);
    if (e.shape.length === 0) throw new MoeError('E_SHAPE', `${this.path}: tensor '${name}' is a scalar; readRows needs at least one dimension`, name);
    const rows = e.shape[0]!;
    if (!Number.isInteger(rowStart) || !Number.isInteger(rowEnd) || rowStart < 0 || rowEnd > rows || rowStart > rowEnd)
      throw new MoeError('E_RANGE', `${this.path}: tensor '${name}' ${shapeStr(e.shape)}: rows [${rowStart}, ${rowEnd}) are not inside [0, ${rows})`, name);
    return this.readRange(e, rowStart, rowEnd, as);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private resultDtype(e: SafetensorsEntry, as: DType | undefined): DType {
    const disk = DISK_DTYPES[e.dtype]!;
    if (as === undefined || as === disk.native) return disk.native;
    if (disk.itemBytes === 1 && BYTE_DTYPES.has(as)) return as;
    throw new MoeError(
      'E_DTYPE',
      `${this.path}: tensor '${e.name}' is stored as ${e.dtype} (reads as ${disk.native}); it cannot be read as ${as}` +
        (disk.itemBytes === 1 ? ' (one-byte tensors can be read as u8, i8, f8e4m3fn, ue8m0 or i4x2)' : ''),
      e.name,
    );
  }

  private readRange(e: SafetensorsEntry, rowStart: number, rowEnd: number, as: DType | undefined): Tensor {
    if (this.fd === undefined) throw new MoeError('E_IO', `${this.path}: file is closed (reading '${e.name}')`, e.name);
    const dtype = this.resultDtype(e, as);
    const disk = DISK_DTYPES[e.dtype]!;
    const shape = e.shape.length ? [rowEnd - rowStart, ...e.shape.slice(1)] : [];
    const rowElems = numelOf(e.shape.slice(1));
    const n = numelOf(shape);
    const nbytes = n * disk.itemBytes;
    const pos = e.begin + rowStart * rowElems * disk.itemBytes;
    const what = `${this.path}: tensor '${briefName(e.name)}' ${shapeStr(shape)} ${e.dtype}`;
    if (n > MAX_TENSOR_ELEMENTS)
      throw new MoeError(
        'E_RANGE',
        `${what} has ${n} elements (${GiB(nbytes)}), more than the ${MAX_TENSOR_ELEMENTS} (2^32) one typed array can hold; read it in row ranges (readRows) instead`,
        e.name,
      );
    let storage: StorageFor<DType>;
    try {
      // one-byte tensors (FP8 weights, the bulk of a layer) are read straight into shared memory, where the GEMM
      // worker threads read them: kernels/inputs.ts asFp8 then keeps them as they are instead of copying them, so a
      // layer's weights take their size once, not twice, at the peak (BENCHMARKS.md "Real inputs: time and memory")
      storage = DTYPES[dtype].itemBytes === 1 && !disk.convert ? (sharedBytes(n) as StorageFor<DType>) : allocStorage(dtype, n);
    } catch (err) {
      // V8 says "Array buffer allocation failed" (out of memory) or "Invalid typed array length"
      throw new MoeError('E_RANGE', `${what}: cannot allocate ${GiB(n * DTYPES[dtype].itemBytes)} to read it (${(err as Error).message})`, e.name);
    }
    if (disk.convert) {
      const f = storage as Float32Array;
      const chunk = Math.min(n, CONVERT_CHUNK_ELEMS);
      const raw = new Uint8Array(chunk * disk.itemBytes);
      const dv = new DataView(raw.buffer);
      for (let from = 0; from < n; from += chunk) {
        const m = Math.min(chunk, n - from);
        this.readExactly(raw.subarray(0, m * disk.itemBytes), pos + from * disk.itemBytes, e.name);
        if (disk.convert === 'f16') for (let i = 0; i < m; i++) f[from + i] = decodeF16(dv.getUint16(2 * i, true));
        else for (let i = 0; i < m; i++) f[from + i] = dv.getFloat64(8 * i, true);
      }
    } else {
      this.readExactly(new Uint8Array(storage.buffer, storage.byteOffset, nbytes), pos, e.name);
    }
    return new Tensor(dtype, shape, storage, undefined, 0, e.name);
  }

  /** fills dst from file position pos with positional reads of at most readChunkBytes (readSync caps one call below 2 GiB) */
  private readExactly(dst: Uint8Array, pos: number, name: string): void {
    // a large read into shared memory (FP8 weights) on several threads; a slice they could not read whole is read
    // here, which reports why
    if (this.parallelRead && dst.buffer instanceof SharedArrayBuffer && dst.length >= SPLIT.minBytes) {
      for (const s of readParallel(this.fd!, dst, pos)) this.readSerially(dst.subarray(s.from, s.from + s.length), pos + s.from, name, pos + dst.length);
      return;
    }
    this.readSerially(dst, pos, name, pos + dst.length);
  }

  /** `end`: where the tensor ends in the file (for the message when the file is shorter) */
  private readSerially(dst: Uint8Array, pos: number, name: string, end: number): void {
    let done = 0;
    while (done < dst.length) {
      let got: number;
      try {
        got = readSync(this.fd!, dst, done, Math.min(this.readChunkBytes, dst.length - done), pos + done);
      } catch (err) {
        throw new MoeError('E_IO', `${this.path}: reading tensor '${briefName(name)}' failed: ${(err as Error).message}`, name);
      }
      if (got === 0)
        throw new MoeError('E_IO', `${this.path}: tensor '${briefName(name)}' ends at byte ${end} but the file ends at ${pos + done} (file shrank?)`, name);
      done += got;
    }
  }
}

function readAt(path: string, fd: number, len: number, pos: number): Uint8Array {
  const buf = new Uint8Array(len);
  let done = 0;
  while (done < len) {
    const got = readSync(fd, buf, done, len - done, pos + done);
    if (got === 0) throw new MoeError('E_FORMAT', `${path}: truncated safetensors header (needed ${len} bytes at ${pos}, got ${done})`);
    done += got;
  }
  return buf;
}

function parseHeader(path: string, fd: number): { entries: Map<string, SafetensorsEntry>; metadata: Record<string, string> } {
  const size = fstatSync(fd).size;
  if (size < 8) throw new MoeError('E_FORMAT', `${path}: truncated safetensors file: ${size} bytes, the 8-byte header length alone needs 8`);
  const lenBytes = readAt(path, fd, 8, 0);
  const headerLen64 = new DataView(lenBytes.buffer).getBigUint64(0, true);
  if (headerLen64 > BigInt(size - 8))
    throw new MoeError('E_FORMAT', `${path}: header length ${headerLen64} exceeds the file (${size} bytes): truncated or not a safetensors file`);
  const headerLen = Number(headerLen64);
  if (headerLen > MAX_HEADER_BYTES) throw new MoeError('E_FORMAT', `${path}: header length ${headerLen} is above the ${MAX_HEADER_BYTES}-byte limit`);
  if (headerLen < 2) throw new MoeError('E_FORMAT', `${path}: header length ${headerLen} is too small for a JSON object`);
  const raw = readAt(path, fd, headerLen, 8);
  // the reference implementation refuses a header that is not UTF-8; a lenient decode would turn bad bytes into
  // U+FFFD and let two different files name the same tensor
  const badByte = firstInvalidUtf8(raw);
  if (badByte >= 0)
    throw new MoeError('E_FORMAT', `${path}: header is not valid UTF-8 (byte 0x${raw[badByte]!.toString(16).padStart(2, '0')} at header offset ${badByte}); tensor names and metadata must be UTF-8`);
  const text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(raw);
  const problem = scanJson(text, MAX_HEADER_DEPTH);
  if (problem?.kind === 'depth')
    throw new MoeError('E_FORMAT', `${path}: header nests deeper than ${MAX_HEADER_DEPTH} levels (at character ${problem.at}); a safetensors header is 3 deep: not a safetensors file`);
  if (problem?.kind === 'duplicate') {
    const where = problem.path.length === 0 ? 'tensor name' : `key in ${problem.path.map((p) => `'${briefName(p)}'`).join(' → ')}`;
    throw new MoeError('E_FORMAT', `${path}: duplicate ${where}: '${briefName(problem.key)}' appears twice in the header (JSON readers disagree on which one wins); the file is corrupt`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new MoeError('E_FORMAT', `${path}: header is not valid JSON (${brief((e as Error).message)}); starts with ${JSON.stringify(text.slice(0, 40))}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new MoeError('E_FORMAT', `${path}: header must be a JSON object, got ${Array.isArray(json) ? 'an array' : typeof json}`);
  const dataStart = 8 + headerLen;
  const dataLen = size - dataStart;
  const metadata: Record<string, string> = {};
  const entries = new Map<string, SafetensorsEntry>();
  for (const [name, v] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new MoeError('E_FORMAT', `${path}: __metadata__ must be an object of strings`);
      for (const [k, mv] of Object.entries(v as Record<string, unknown>)) {
        if (typeof mv !== 'string') throw new MoeError('E_FORMAT', `${path}: __metadata__['${briefName(k)}'] must be a string, got ${typeof mv}`);
        metadata[k] = mv;
      }
      continue;
    }
    entries.set(name, validateEntry(path, name, v, dataStart, dataLen));
  }
  // overlapping tensors would alias each other's bytes: the file is corrupt
  const sorted = [...entries.values()].filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    const p = sorted[i - 1]!;
    const c = sorted[i]!;
    if (c.begin < p.end)
      throw new MoeError(
        'E_FORMAT',
        `${path}: tensor '${briefName(c.name)}' data [${c.begin - dataStart}, ${c.end - dataStart}) overlaps '${briefName(p.name)}' [${p.begin - dataStart}, ${p.end - dataStart})`,
        c.name,
      );
  }
  return { entries, metadata };
}

function validateEntry(path: string, name: string, v: unknown, dataStart: number, dataLen: number): SafetensorsEntry {
  const bad = (why: string): MoeError => new MoeError('E_FORMAT', `${path}: tensor '${briefName(name)}': ${why}`, name);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad('header entry must be an object {dtype, shape, data_offsets}');
  const o = v as Record<string, unknown>;
  if (typeof o.dtype !== 'string') throw bad('missing dtype');
  const disk = DISK_DTYPES[o.dtype];
  if (!disk) throw bad(`unsupported dtype ${briefName(o.dtype)} (supported: ${Object.keys(DISK_DTYPES).join(', ')})`);
  if (!Array.isArray(o.shape) || !o.shape.every(isNonNegInt)) throw bad(`shape must be an array of non-negative integers, got ${brief(o.shape)}`);
  const shape = o.shape as number[];
  const off = o.data_offsets;
  if (!Array.isArray(off) || off.length !== 2) throw bad(`data_offsets must be [begin, end], got ${brief(off)}`);
  const [b, e] = off as unknown[];
  if (!isNonNegInt(b) || !isNonNegInt(e)) throw bad(`data_offsets must be non-negative integers, got ${brief(off)}`);
  if (e < b) throw bad(`data_offsets [${b}, ${e}] end before they begin`);
  if (e > dataLen) throw bad(`data_offsets [${b}, ${e}] run past the end of the data (${dataLen} bytes): truncated file?`);
  const expect = numelOf(shape) * disk.itemBytes;
  if (expect !== e - b)
    throw bad(`shape ${brief(shape)} × ${disk.itemBytes} bytes (${o.dtype}) = ${expect} bytes, but data_offsets [${b}, ${e}] span ${e - b}`);
  return { name, dtype: o.dtype, shape: [...shape], begin: dataStart + b, end: dataStart + e };
}

/** Order used by the reference writer: larger alignment first, then by name, so every tensor starts aligned. */
function writeOrder(tensors: Record<string, Tensor>): string[] {
  return Object.keys(tensors).sort((a, b) => tensors[b]!.itemBytes - tensors[a]!.itemBytes || (a < b ? -1 : a > b ? 1 : 0));
}

export function writeSafetensors(path: string, tensors: Record<string, Tensor>, metadata?: Record<string, string>): void {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) {
    for (const [k, v] of Object.entries(metadata))
      if (typeof v !== 'string') throw new MoeError('E_VALUE', `${path}: metadata '${k}' must be a string, got ${typeof v}`);
    header.__metadata__ = metadata;
  }
  const names = writeOrder(tensors);
  // each tensor's bytes, or — for weights made per expert (kernels/expertPages.ts) — its experts one at a time,
  // made while the file is written and never all resident
  const blobs: (Uint8Array | (() => Iterable<Uint8Array>))[] = [];
  let offset = 0;
  for (const name of names) {
    if (name === '__metadata__') throw new MoeError('E_VALUE', `${path}: '__metadata__' is reserved and cannot name a tensor`, name);
    const given = tensors[name]!;
    const paged = expertPagesOf(given) ? (given as Tensor<'f8e4m3fn'>) : undefined;
    const t = paged ?? given.contiguous();
    const length = t.numel * t.itemBytes;
    header[name] = { dtype: safetensorsDtype(t.dtype), shape: [...t.shape], data_offsets: [offset, offset + length] };
    blobs.push(paged ? () => expertChunks(paged) : new Uint8Array(t.storage.buffer, t.storage.byteOffset + t.offset * t.itemBytes, length));
    offset += length;
  }
  let json = JSON.stringify(header);
  // pad with spaces so the data buffer starts 8-byte aligned (as the reference implementation does)
  const jsonBytes = new TextEncoder().encode(json);
  const padded = Math.ceil(jsonBytes.length / 8) * 8;
  json += ' '.repeat(padded - jsonBytes.length);
  const head = new Uint8Array(8 + padded);
  new DataView(head.buffer).setBigUint64(0, BigInt(padded), true);
  head.set(new TextEncoder().encode(json), 8);
  // temp file + rename: concurrent writers of one path leave one whole file, a failed write leaves the old one
  writeFileAtomic(path, (function* () {
    yield head;
    for (const b of blobs) yield* b instanceof Uint8Array ? [b] : b();
  })());
}

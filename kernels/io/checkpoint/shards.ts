/**
 * The safetensors files of a Hugging Face checkpoint folder, indexed by tensor name, and byte-range reads from them.
 *
 * Why not SafetensorsFile (kernels/io/safetensors.ts): a checkpoint shard holds tensors of dtypes the engine never
 * reads (I8-packed FP4, F8_E5M2, BOOL, U64, …), and the strict layer-file reader refuses a whole file for one of
 * them. Here a header is indexed as it is — name, dtype string, shape, absolute byte range — and only the tensors a
 * caller reads are checked against what it expects. Every range is checked to lie inside its file when the header is
 * read, so a shard shorter than its header says is refused by name before any data is read.
 *
 * Reads go straight into the caller's buffer (the stacked result), in chunks of at most 1 GiB: Node's fs.readSync
 * takes at most 2³¹−1 bytes per call, and positions past 4 GiB are passed as plain numbers (exact up to 2⁵³).
 *
 * Layouts handled (docs/checkpoints.md):
 *   DIR/model.safetensors.index.json  {"metadata": {...}, "weight_map": {tensor name: shard file name}}
 *   DIR/model.safetensors             one file, no index
 *   DIR/*.safetensors                 several files without an index (each header is read)
 */
import { closeSync, existsSync, fstatSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { MoeError, shapeStr } from '../../errors';

export interface ShardTensor {
  name: string;
  /** dtype as the header spells it (F8_E4M3, BF16, F32, F8_E8M0, I8, …) */
  dtype: string;
  shape: number[];
  /** absolute byte range in `file`, [begin, end) */
  begin: number;
  end: number;
  /** full path of the shard */
  file: string;
}

/** bytes per element of the safetensors dtypes; packed sub-byte dtypes (F4, F6_*) are absent: their size is not checked */
export const SAFETENSORS_ITEM_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  F8_E8M0: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
};

/** The reference implementation refuses headers above 100 MB; a corrupt length must not allocate gigabytes. */
const MAX_HEADER_BYTES = 100_000_000;
/** largest single read: fs.readSync refuses lengths of 2³¹ and more */
export const READ_CHUNK_BYTES = 1 << 30;

function readExactly(fd: number, path: string, dst: Uint8Array, pos: number, what: string): void {
  let done = 0;
  while (done < dst.length) {
    const len = Math.min(READ_CHUNK_BYTES, dst.length - done);
    let got: number;
    try {
      got = readSync(fd, dst, done, len, pos + done);
    } catch (e) {
      throw new MoeError('E_IO', `${path}: reading ${what} at byte ${pos + done} failed (${(e as Error).message})`);
    }
    if (got === 0)
      throw new MoeError('E_IO', `${path}: ${what} needs bytes up to ${pos + dst.length} but the file ends at ${pos + done}: it was truncated or replaced while open`);
    done += got;
  }
}

/**
 * Bytes [from, from + dst.length) of a tensor, read with a descriptor of its own that is closed again: for weights
 * read per expert long after the checkpoint was closed (kernels/expertPages.ts).
 */
export function readShardRange(t: ShardTensor, dst: Uint8Array, from = 0): void {
  if (from < 0 || from + dst.length > t.end - t.begin)
    throw new MoeError('E_RANGE', `${t.file}: bytes [${from}, ${from + dst.length}) are outside tensor '${t.name}' (${t.end - t.begin} bytes)`, t.name);
  let fd: number;
  try {
    fd = openSync(t.file, 'r');
  } catch (e) {
    throw new MoeError('E_IO', `${t.file}: cannot open shard (${(e as Error).message})`);
  }
  try {
    readExactly(fd, t.file, dst, t.begin + from, `tensor '${t.name}'`);
  } finally {
    closeSync(fd);
  }
}

/** Reads and indexes one shard's header; data ranges are checked against the file size. */
export function readShardHeader(path: string, fd: number): Map<string, ShardTensor> {
  const size = fstatSync(fd).size;
  const bad = (why: string): MoeError => new MoeError('E_FORMAT', `${path}: ${why}`);
  if (size < 8) throw bad(`${size} bytes: too short for a safetensors file (the header length alone takes 8)`);
  const lenBytes = new Uint8Array(8);
  readExactly(fd, path, lenBytes, 0, 'the header length');
  const headerLen64 = new DataView(lenBytes.buffer).getBigUint64(0, true);
  if (headerLen64 > BigInt(size - 8)) throw bad(`header length ${headerLen64} runs past the end of the file (${size} bytes): truncated, or not a safetensors file`);
  const headerLen = Number(headerLen64);
  if (headerLen > MAX_HEADER_BYTES) throw bad(`header length ${headerLen} is above the ${MAX_HEADER_BYTES}-byte limit: not a safetensors file?`);
  const text = Buffer.alloc(headerLen);
  readExactly(fd, path, text, 8, 'the header');
  let json: unknown;
  try {
    json = JSON.parse(text.toString('utf8'));
  } catch (e) {
    throw bad(`header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw bad('header must be a JSON object');
  const dataStart = 8 + headerLen;
  const out = new Map<string, ShardTensor>();
  for (const [name, v] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') continue;
    const o = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof o !== 'object' || o === null || typeof o.dtype !== 'string' || !Array.isArray(o.shape) || !Array.isArray(o.data_offsets))
      throw bad(`tensor '${name}': header entry must be {dtype, shape, data_offsets}, got ${JSON.stringify(v)?.slice(0, 80)}`);
    const shape = o.shape as unknown[];
    const off = o.data_offsets as unknown[];
    if (!shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) throw bad(`tensor '${name}': shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    if (off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && (d as number) >= 0) || (off[1] as number) < (off[0] as number))
      throw bad(`tensor '${name}': data_offsets ${JSON.stringify(off)} must be [begin, end] with 0 ≤ begin ≤ end`);
    const [b, e] = off as [number, number];
    const item = SAFETENSORS_ITEM_BYTES[o.dtype];
    const dims = shape as number[];
    if (item !== undefined) {
      const need = dims.reduce((a, d) => a * d, 1) * item;
      if (need !== e - b) throw bad(`tensor '${name}': shape ${shapeStr(dims)} × ${item} bytes (${o.dtype}) = ${need} bytes, but data_offsets [${b}, ${e}] span ${e - b}`);
    }
    if (dataStart + e > size)
      throw bad(`tensor '${name}' ends at byte ${dataStart + e} but the file has ${size} bytes: the shard is shorter than its header says (an interrupted download?) — fetch it again`);
    out.set(name, { name, dtype: o.dtype, shape: [...dims], begin: dataStart + b, end: dataStart + e, file: path });
  }
  return out;
}

const INDEX_FILE = 'model.safetensors.index.json';
const SINGLE_FILE = 'model.safetensors';

/**
 * The tensors of a checkpoint folder. Headers are read lazily, one shard at a time, and cached; file descriptors stay
 * open until close(). With an index, only the shards holding a requested tensor are ever opened.
 */
export class CheckpointFiles {
  /** tensor name → shard file name (relative to dir) */
  private readonly weightMap: Map<string, string>;
  private readonly headers = new Map<string, Map<string, ShardTensor>>();
  private readonly fds = new Map<string, number>();
  /** bytes read from tensor data so far (not headers): what a caller's memory/IO budget is measured against */
  bytesRead = 0;

  private constructor(
    readonly dir: string,
    /** the file that names the shards: the index, or the single/first safetensors file */
    readonly indexPath: string,
    weightMap: Map<string, string>,
  ) {
    this.weightMap = weightMap;
  }

  static open(dir: string): CheckpointFiles {
    let st;
    try {
      st = statSync(dir);
    } catch (e) {
      throw new MoeError('E_IO', `${dir}: cannot open checkpoint folder (${(e as Error).message})`);
    }
    if (!st.isDirectory()) throw new MoeError('E_IO', `${dir}: not a folder; a checkpoint is a folder holding config.json and model.safetensors(.index.json)`);
    const indexPath = join(dir, INDEX_FILE);
    if (existsSync(indexPath)) return new CheckpointFiles(dir, indexPath, parseIndex(dir, indexPath));
    const single = join(dir, SINGLE_FILE);
    const files = existsSync(single) ? [SINGLE_FILE] : readdirSync(dir).filter((f) => f.endsWith('.safetensors')).sort();
    if (!files.length) throw new MoeError('E_IO', `${dir}: no ${INDEX_FILE}, no ${SINGLE_FILE} and no *.safetensors file: not a Hugging Face checkpoint folder`);
    // without an index every file's header is read once to learn which tensors it holds
    const map = new Map<string, string>();
    const cf = new CheckpointFiles(dir, join(dir, files[0]!), map);
    for (const f of files)
      for (const name of cf.header(f).keys()) {
        const prev = map.get(name);
        if (prev !== undefined) {
          cf.close();
          throw new MoeError('E_FORMAT', `${join(dir, f)}: tensor '${name}' is also in ${prev}; without ${INDEX_FILE} the folder must not hold two copies of a tensor`, name);
        }
        map.set(name, f);
      }
    return cf;
  }

  names(): IterableIterator<string> {
    return this.weightMap.keys();
  }

  has(name: string): boolean {
    return this.weightMap.has(name);
  }

  /** the tensor's header entry (reads its shard's header the first time) */
  locate(name: string): ShardTensor {
    const shard = this.weightMap.get(name);
    if (shard === undefined) throw new MoeError('E_FORMAT', `${this.indexPath}: no tensor named '${name}'`, name);
    const t = this.header(shard, name).get(name);
    if (!t) throw new MoeError('E_FORMAT', `${join(this.dir, shard)}: ${basename(this.indexPath)} puts '${name}' in this shard but its header has no such tensor`, name);
    return t;
  }

  /** reads `dst.length` bytes of tensor `t` starting `from` bytes into its data */
  readInto(t: ShardTensor, dst: Uint8Array, from = 0): void {
    if (from < 0 || from + dst.length > t.end - t.begin)
      throw new MoeError('E_RANGE', `${t.file}: bytes [${from}, ${from + dst.length}) are outside tensor '${t.name}' (${t.end - t.begin} bytes)`, t.name);
    readExactly(this.fd(t.file), t.file, dst, t.begin + from, `tensor '${t.name}'`);
    this.bytesRead += dst.length;
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }

  private fd(path: string): number {
    let fd = this.fds.get(path);
    if (fd === undefined) {
      try {
        fd = openSync(path, 'r');
      } catch (e) {
        throw new MoeError('E_IO', `${path}: cannot open shard (${(e as Error).message})`);
      }
      this.fds.set(path, fd);
    }
    return fd;
  }

  private header(shard: string, forTensor?: string): Map<string, ShardTensor> {
    let h = this.headers.get(shard);
    if (h) return h;
    const path = join(this.dir, shard);
    if (!existsSync(path))
      throw new MoeError(
        'E_IO',
        `${path}: ${basename(this.indexPath)} names this shard${forTensor ? ` (for '${forTensor}')` : ''} but it is not in ${this.dir}: download it or fix the index`,
        forTensor,
      );
    h = readShardHeader(path, this.fd(path));
    this.headers.set(shard, h);
    return h;
  }
}

function parseIndex(dir: string, indexPath: string): Map<string, string> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(indexPath, 'utf8'));
  } catch (e) {
    throw new MoeError('E_FORMAT', `${indexPath}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  const wm = (json as { weight_map?: unknown } | null)?.weight_map;
  if (typeof wm !== 'object' || wm === null || Array.isArray(wm))
    throw new MoeError('E_FORMAT', `${indexPath}: needs a "weight_map" object {tensor name: shard file}, got ${JSON.stringify(wm)?.slice(0, 60) ?? 'none'}`);
  const map = new Map<string, string>();
  for (const [name, f] of Object.entries(wm as Record<string, unknown>)) {
    // shards live beside the index: a path that leaves the folder is refused rather than followed
    if (typeof f !== 'string' || !f.endsWith('.safetensors') || f.includes('..') || f.startsWith('/') || f.includes('\\'))
      throw new MoeError('E_FORMAT', `${indexPath}: weight_map['${name}'] = ${JSON.stringify(f)} is not a .safetensors file name in ${dir}`, name);
    map.set(name, f);
  }
  return map;
}

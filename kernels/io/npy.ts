/**
 * NumPy .npy reader (format versions 1.0, 2.0 and 3.0), for users who dump tensors with np.save.
 * Layout: magic "\x93NUMPY", major, minor, header length (u16 LE for v1, u32 LE for v2/v3), a Python dict literal
 * {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } padded with spaces and '\n', then the raw data.
 * A Fortran-order array comes back with column-major strides over the file's data: the layout is preserved, which
 * is what the inspector draws (call .contiguous() for a row-major copy).
 * dtypes: '<f4' f32, '<f2' and '<f8' (converted to f32), '<i4' i32, '<i8' i64, '|u1' u8, '<u2' (unsigned 16-bit
 * integers, widened to i32 — numpy has no bfloat16; pass { u2As: 'bf16' } for BF16 bits saved as uint16).
 */
import { readFileSync } from 'node:fs';
import type { DType } from '../dtypes/index';
import { MoeError } from '../errors';
import { numelOf, Tensor } from '../tensor';
import { decodeF16 } from '../dtypes/f16';

export interface NpyOptions {
  /** how to read '<u2' arrays: integer values widened to i32 (default) or raw BF16 bits */
  u2As?: 'i32' | 'bf16';
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

interface NpyHeader {
  descr: string;
  fortran: boolean;
  shape: number[];
}

function parseHeader(path: string, text: string): NpyHeader {
  const bad = (why: string): MoeError => new MoeError('E_FORMAT', `${path}: bad .npy header (${why}): ${JSON.stringify(text.trim().slice(0, 120))}`);
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text);
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(text);
  if (!descr) throw bad("no 'descr' string (structured dtypes are not supported)");
  if (!fortran) throw bad("no 'fortran_order'");
  if (!shape) throw bad("no 'shape' tuple");
  const dims = shape[1]!
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      const v = Number(s.replace(/L$/, ''));
      if (!Number.isSafeInteger(v) || v < 0) throw bad(`shape entry '${s}' is not a non-negative integer`);
      return v;
    });
  return { descr: descr[1]!, fortran: fortran[1] === 'True', shape: dims };
}

function columnMajorStrides(shape: readonly number[]): number[] {
  const s: number[] = [];
  let acc = 1;
  for (const d of shape) {
    s.push(acc);
    acc *= d;
  }
  return s;
}

/** copies `nbytes` from `src` at `from` into a fresh, aligned buffer (the data offset need not be aligned) */
function aligned(src: Uint8Array, from: number, nbytes: number): ArrayBuffer {
  const buf = new ArrayBuffer(nbytes);
  new Uint8Array(buf).set(src.subarray(from, from + nbytes));
  return buf;
}

export function readNpy(path: string, opts: NpyOptions = {}): Tensor {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new MoeError('E_IO', `${path}: cannot read .npy file (${(e as Error).message})`);
  }
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw new MoeError('E_FORMAT', `${path}: not a .npy file (missing the \\x93NUMPY magic)`);
  const major = bytes[6]!;
  if (major < 1 || major > 3) throw new MoeError('E_FORMAT', `${path}: unsupported .npy format version ${major}.${bytes[7]} (1.0, 2.0 and 3.0 are read)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lenBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lenBytes) throw new MoeError('E_FORMAT', `${path}: truncated .npy header`);
  const headerLen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const dataStart = 8 + lenBytes + headerLen;
  if (dataStart > bytes.length) throw new MoeError('E_FORMAT', `${path}: .npy header length ${headerLen} runs past the end of the file (${bytes.length} bytes)`);
  // v3 headers are UTF-8, v1/v2 latin-1; the keys we read are ASCII either way
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(8 + lenBytes, dataStart));
  const h = parseHeader(path, text);
  const n = numelOf(h.shape);
  const kinds: Record<string, { size: number; dtype: DType }> = {
    '<f4': { size: 4, dtype: 'f32' },
    '<f2': { size: 2, dtype: 'f32' },
    '<f8': { size: 8, dtype: 'f32' },
    '<i4': { size: 4, dtype: 'i32' },
    '<i8': { size: 8, dtype: 'i64' },
    '|u1': { size: 1, dtype: 'u8' },
    '<u1': { size: 1, dtype: 'u8' },
    '<u2': { size: 2, dtype: opts.u2As === 'bf16' ? 'bf16' : 'i32' },
  };
  const kind = kinds[h.descr];
  if (!kind)
    throw new MoeError(
      'E_DTYPE',
      `${path}: .npy dtype '${h.descr}' is not supported (supported: ${Object.keys(kinds).join(', ')}; big-endian and bool arrays are not)`,
    );
  const nbytes = n * kind.size;
  if (dataStart + nbytes > bytes.length)
    throw new MoeError('E_FORMAT', `${path}: shape (${h.shape.join(', ')}) × ${kind.size} bytes needs ${nbytes} data bytes, the file has ${bytes.length - dataStart}`);
  const buf = aligned(bytes, dataStart, nbytes);
  const strides = h.fortran ? columnMajorStrides(h.shape) : undefined;
  const name = path.replace(/^.*[\\/]/, '').replace(/\.npy$/, '');
  switch (h.descr) {
    case '<f4':
      return new Tensor('f32', h.shape, new Float32Array(buf), strides, 0, name);
    case '<f2':
      return new Tensor('f32', h.shape, Float32Array.from(new Uint16Array(buf), decodeF16), strides, 0, name);
    case '<f8':
      return new Tensor('f32', h.shape, Float32Array.from(new Float64Array(buf)), strides, 0, name);
    case '<i4':
      return new Tensor('i32', h.shape, new Int32Array(buf), strides, 0, name);
    case '<i8':
      return new Tensor('i64', h.shape, new BigInt64Array(buf), strides, 0, name);
    case '<u2':
      return kind.dtype === 'bf16'
        ? new Tensor('bf16', h.shape, new Uint16Array(buf), strides, 0, name)
        : new Tensor('i32', h.shape, Int32Array.from(new Uint16Array(buf)), strides, 0, name);
    default:
      return new Tensor('u8', h.shape, new Uint8Array(buf), strides, 0, name);
  }
}

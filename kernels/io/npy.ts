/**
 * NumPy .npy reader (format versions 1.0, 2.0 and 3.0), for users who dump tensors with np.save.
 * Layout: magic "\x93NUMPY", major, minor, header length (u16 LE for v1, u32 LE for v2/v3), a Python dict literal
 * {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } padded with spaces and '\n', then the raw data.
 * A Fortran-order array comes back with column-major strides over the file's data: the layout is preserved, which
 * is what the inspector draws (call .contiguous() for a row-major copy).
 * dtypes: '<f4' f32, '<f2' and '<f8' (converted to f32), '<i4' i32, '<i8' i64, '|u1' u8, '<u2' (unsigned 16-bit
 * integers, widened to i32 — numpy has no bfloat16; pass { u2As: 'bf16' } for BF16 bits saved as uint16).
 */
import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { fileKind } from './fileKind';
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

/** A value of the header dict: a string, a bool, or a tuple of non-negative integers (all the header holds). */
type PyValue = { kind: 'str'; value: string } | { kind: 'bool'; value: boolean } | { kind: 'tuple'; value: number[] } | { kind: 'other'; text: string };

const HEADER_KEYS = ['descr', 'fortran_order', 'shape'] as const;

/**
 * The header is a Python dict literal, which NumPy reads with ast.literal_eval and then requires to have exactly
 * the keys 'descr', 'fortran_order' and 'shape'. This is a small parser for that dict — string keys; string, bool
 * and integer-tuple values — so a 'descr' inside another value's string is just text, as it is to NumPy. Unknown,
 * missing and duplicate keys are refused (Python would silently keep the last of two).
 */
function parseHeaderDict(text: string, bad: (why: string) => MoeError): Map<string, PyValue> {
  let i = 0;
  const n = text.length;
  const ws = (): void => {
    while (i < n && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  const expect = (c: string): void => {
    ws();
    if (text[i] !== c) throw bad(`expected '${c}' at character ${i}, found ${i < n ? `'${text[i]}'` : 'the end'}`);
    i++;
  };
  const str = (): string => {
    const q = text[i];
    if (q !== "'" && q !== '"') throw bad(`expected a quoted string at character ${i}`);
    let out = '';
    i++;
    while (i < n && text[i] !== q) {
      if (text[i] === '\\') {
        const e = text[i + 1];
        // the escapes a dtype string could need; any other backslash stays as written (as in Python)
        out += e === '\\' || e === "'" || e === '"' ? e : `\\${e ?? ''}`;
        i += 2;
      } else out += text[i++];
    }
    if (i >= n) throw bad('unterminated string');
    i++;
    return out;
  };
  const value = (): PyValue => {
    ws();
    const c = text[i];
    if (c === "'" || c === '"') return { kind: 'str', value: str() };
    if (text.startsWith('True', i)) {
      i += 4;
      return { kind: 'bool', value: true };
    }
    if (text.startsWith('False', i)) {
      i += 5;
      return { kind: 'bool', value: false };
    }
    if (c === '(') {
      i++;
      const dims: number[] = [];
      let commas = 0;
      for (;;) {
        ws();
        if (i >= n) throw bad('the header ends inside the shape tuple');
        if (text[i] === ')') {
          i++;
          break;
        }
        const m = /^(\d+)L?/.exec(text.slice(i, i + 40));
        if (!m) throw bad(`shape entries must be non-negative integers, found ${JSON.stringify(text.slice(i, i + 12))} at character ${i}`);
        const v = Number(m[1]);
        if (!Number.isSafeInteger(v)) throw bad(`shape entry ${m[1]} is too large`);
        dims.push(v);
        i += m[0].length;
        ws();
        if (text[i] === ',') {
          commas++;
          i++;
        } else if (text[i] !== ')') throw bad(`expected ',' or ')' in the shape tuple at character ${i}`);
      }
      // (3) is the integer 3 in Python, not a tuple
      if (dims.length === 1 && commas === 0) return { kind: 'other', text: `(${dims[0]})` };
      return { kind: 'tuple', value: dims };
    }
    // anything else (a list of fields for a structured dtype, None, a number): reported by the key's check
    const start = i;
    let depth = 0;
    while (i < n) {
      const d = text[i]!;
      if (d === '[' || d === '(' || d === '{') depth++;
      else if (d === ']' || d === ')' || d === '}') {
        if (depth === 0) break;
        depth--;
      } else if (d === ',' && depth === 0) break;
      else if (d === "'" || d === '"') {
        str();
        continue;
      }
      i++;
    }
    return { kind: 'other', text: text.slice(start, i).trim() };
  };

  const dict = new Map<string, PyValue>();
  expect('{');
  ws();
  while (text[i] !== '}') {
    ws();
    const key = str();
    if (!(HEADER_KEYS as readonly string[]).includes(key)) throw bad(`unknown key '${key}' (a .npy header has exactly ${HEADER_KEYS.map((k) => `'${k}'`).join(', ')})`);
    if (dict.has(key)) throw bad(`key '${key}' appears twice`);
    expect(':');
    dict.set(key, value());
    ws();
    if (text[i] === ',') {
      i++;
      ws();
    } else if (text[i] !== '}') throw bad(`expected ',' or '}' at character ${i}`);
  }
  i++;
  ws();
  if (i < n) throw bad(`unexpected text after the dict at character ${i}`);
  return dict;
}

function parseHeader(path: string, text: string): NpyHeader {
  const bad = (why: string): MoeError => new MoeError('E_FORMAT', `${path}: bad .npy header (${why}): ${JSON.stringify(text.trim().slice(0, 120))}`);
  const d = parseHeaderDict(text, bad);
  const missing = HEADER_KEYS.filter((k) => !d.has(k));
  if (missing.length) throw bad(`missing ${missing.map((k) => `'${k}'`).join(', ')}`);
  const descr = d.get('descr')!;
  const fortran = d.get('fortran_order')!;
  const shape = d.get('shape')!;
  if (descr.kind !== 'str') throw bad("'descr' is not a dtype string (structured dtypes are not supported)");
  if (fortran.kind !== 'bool') throw bad("'fortran_order' must be True or False");
  if (shape.kind !== 'tuple') throw bad("'shape' must be a tuple of non-negative integers");
  return { descr: descr.value, fortran: fortran.value, shape: shape.value };
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
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO must not block the open; fstat then refuses anything but a regular file
    fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (e) {
    throw new MoeError('E_IO', `${path}: cannot read .npy file (${(e as Error).message})`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new MoeError('E_IO', `${path}: is ${fileKind(st)}, not a regular file; give a .npy file`);
    bytes = readFileSync(fd);
  } catch (e) {
    if (e instanceof MoeError) throw e;
    throw new MoeError('E_IO', `${path}: cannot read .npy file (${(e as Error).message})`);
  } finally {
    closeSync(fd);
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

/**
 * Decodes the probe's raw little-endian sample bytes into numbers, by torch/numpy dtype name. FP8, UE8M0 and BF16
 * go through the engine's own codecs (kernels/dtypes) so the hover shows exactly what the pipeline would read.
 */
import { decodeE4M3 } from '../../kernels/dtypes/fp8e4m3';
import { decodeUe8m0 } from '../../kernels/dtypes/ue8m0';
import { decodeBf16 } from '../../kernels/dtypes/bf16';

type Reader = (view: DataView, byteOffset: number) => number;

/** IEEE half precision (numpy float16 / torch.float16). */
export function decodeF16(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** FP8 E5M2 (IEEE-like: bias 15, infinities and NaNs at exponent 31). */
export function decodeE5M2(b: number): number {
  return decodeF16((b & 0xff) << 8);
}

const READERS: Readonly<Record<string, { bytes: number; read: Reader }>> = {
  float32: { bytes: 4, read: (v, o) => v.getFloat32(o, true) },
  float64: { bytes: 8, read: (v, o) => v.getFloat64(o, true) },
  float16: { bytes: 2, read: (v, o) => decodeF16(v.getUint16(o, true)) },
  bfloat16: { bytes: 2, read: (v, o) => decodeBf16(v.getUint16(o, true)) },
  float8_e4m3fn: { bytes: 1, read: (v, o) => decodeE4M3(v.getUint8(o)) },
  float8_e5m2: { bytes: 1, read: (v, o) => decodeE5M2(v.getUint8(o)) },
  float8_e8m0fnu: { bytes: 1, read: (v, o) => decodeUe8m0(v.getUint8(o)) },
  bool: { bytes: 1, read: (v, o) => (v.getUint8(o) !== 0 ? 1 : 0) },
  int8: { bytes: 1, read: (v, o) => v.getInt8(o) },
  uint8: { bytes: 1, read: (v, o) => v.getUint8(o) },
  int16: { bytes: 2, read: (v, o) => v.getInt16(o, true) },
  uint16: { bytes: 2, read: (v, o) => v.getUint16(o, true) },
  int32: { bytes: 4, read: (v, o) => v.getInt32(o, true) },
  uint32: { bytes: 4, read: (v, o) => v.getUint32(o, true) },
  int64: { bytes: 8, read: (v, o) => Number(v.getBigInt64(o, true)) },
  uint64: { bytes: 8, read: (v, o) => Number(v.getBigUint64(o, true)) },
};

/** torch spells a few dtypes differently from numpy */
const ALIASES: Readonly<Record<string, string>> = { half: 'float16', float: 'float32', double: 'float64', long: 'int64', int: 'int32', short: 'int16' };

export const canonicalDtype = (name: string): string => ALIASES[name] ?? name;

export const canDecode = (dtype: string): boolean => canonicalDtype(dtype) in READERS;

/** Values of `count` elements of `dtype` stored in `hex`; undefined when the dtype is unknown or the size is wrong. */
export function decodeSample(dtype: string, itemBytes: number, hex: string, count: number): number[] | undefined {
  const r = READERS[canonicalDtype(dtype)];
  if (!r || r.bytes !== itemBytes || hex.length !== 2 * count * itemBytes || !/^[0-9a-f]*$/i.test(hex)) return undefined;
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  const view = new DataView(bytes.buffer);
  const out = new Array<number>(count);
  for (let i = 0; i < count; i++) out[i] = r.read(view, i * itemBytes);
  return out;
}

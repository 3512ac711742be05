/**
 * The tensor model: dtype, shape, strides (in storage elements), offset and a typed-array storage.
 * Layout is a property of strides + storage, never of a name, so padding slots and storage order can be drawn.
 * Values are read through `get` (decoded to a JS number) or `raw` (the stored bits/integer).
 */
import { allocStorage, DTYPES, type DType, type Storage, type StorageFor } from './dtypes/index';
import { decodeE4M3 } from './dtypes/fp8e4m3';
import { decodeUe8m0 } from './dtypes/ue8m0';
import { decodeBf16 } from './dtypes/bf16';
import { MoeError, shapeStr } from './errors';

export const numelOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

export function rowMajorStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** Number of storage elements from the first to the last addressed element, plus one (0 for empty tensors). */
export function stridedExtent(shape: readonly number[], strides: readonly number[]): number {
  if (shape.some((d) => d === 0)) return 0;
  return 1 + shape.reduce((acc, d, i) => acc + (d - 1) * strides[i]!, 0);
}

export function decoderFor(dtype: DType): (raw: number) => number {
  switch (dtype) {
    case 'f8e4m3fn':
      return decodeE4M3;
    case 'ue8m0':
      return decodeUe8m0;
    case 'bf16':
      return decodeBf16;
    case 'i8':
      // stored as unsigned bytes: two's complement back to −128…127
      return (v) => (v << 24) >> 24;
    default:
      return (v) => v;
  }
}

export class Tensor<D extends DType = DType> {
  readonly strides: readonly number[];
  constructor(
    readonly dtype: D,
    readonly shape: readonly number[],
    readonly storage: StorageFor<D>,
    strides?: readonly number[],
    readonly offset = 0,
    readonly name = '',
  ) {
    this.strides = strides ?? rowMajorStrides(shape);
    if (this.strides.length !== shape.length)
      throw new MoeError('E_SHAPE', `${name || 'tensor'}: ${shape.length} dims but ${this.strides.length} strides`, name);
    if (shape.some((d) => !Number.isInteger(d) || d < 0))
      throw new MoeError('E_SHAPE', `${name || 'tensor'}: invalid shape ${shapeStr(shape)}`, name);
    const need = offset + stridedExtent(shape, this.strides);
    if (need > storage.length)
      throw new MoeError(
        'E_RANGE',
        `${name || 'tensor'}: shape ${shapeStr(shape)} strides ${shapeStr(this.strides)} offset ${offset} addresses ${need} elements, storage holds ${storage.length}`,
        name,
      );
  }

  static zeros<D extends DType>(dtype: D, shape: readonly number[], name = ''): Tensor<D> {
    return new Tensor(dtype, shape, allocStorage(dtype, numelOf(shape)), undefined, 0, name);
  }

  /** Allocates exactly the strided extent (as torch.empty_strided does) and fills it with `fill`. */
  static emptyStrided<D extends DType>(dtype: D, shape: readonly number[], strides: readonly number[], name = ''): Tensor<D> {
    return new Tensor(dtype, shape, allocStorage(dtype, stridedExtent(shape, strides)), strides, 0, name);
  }

  static fromF32(shape: readonly number[], values: ArrayLike<number>, name = ''): Tensor<'f32'> {
    return new Tensor('f32', shape, Float32Array.from(values), undefined, 0, name);
  }

  get rank(): number {
    return this.shape.length;
  }
  get numel(): number {
    return numelOf(this.shape);
  }
  get itemBytes(): number {
    return DTYPES[this.dtype].itemBytes;
  }
  /** bytes of logical data (numel × item size) */
  get nbytes(): number {
    return this.numel * this.itemBytes;
  }

  withName(name: string): Tensor<D> {
    return new Tensor(this.dtype, this.shape, this.storage, this.strides, this.offset, name);
  }

  isContiguous(): boolean {
    const rm = rowMajorStrides(this.shape);
    return this.shape.every((d, i) => d <= 1 || this.strides[i] === rm[i]);
  }

  /** storage index of a logical index */
  index(...idx: number[]): number {
    let o = this.offset;
    for (let i = 0; i < idx.length; i++) o += idx[i]! * this.strides[i]!;
    return o;
  }

  raw(...idx: number[]): number {
    const v = this.storage[this.index(...idx)]!;
    return typeof v === 'bigint' ? Number(v) : v;
  }

  get(...idx: number[]): number {
    return decoderFor(this.dtype)(this.raw(...idx));
  }

  transpose(a = -2, b = -1): Tensor<D> {
    const r = this.rank;
    const i = (a + r) % r;
    const j = (b + r) % r;
    const shape = [...this.shape];
    const strides = [...this.strides];
    [shape[i], shape[j]] = [shape[j]!, shape[i]!];
    [strides[i], strides[j]] = [strides[j]!, strides[i]!];
    return new Tensor(this.dtype, shape, this.storage, strides, this.offset, this.name);
  }

  slice(dim: number, start: number, end: number): Tensor<D> {
    const d = (dim + this.rank) % this.rank;
    if (start < 0 || end > this.shape[d]! || start > end)
      throw new MoeError('E_RANGE', `${this.name || 'tensor'}: slice [${start}, ${end}) out of dim ${d} of size ${this.shape[d]}`, this.name);
    const shape = [...this.shape];
    shape[d] = end - start;
    return new Tensor(this.dtype, shape, this.storage, this.strides, this.offset + start * this.strides[d]!, this.name);
  }

  /** reshape is legal only for contiguous tensors here (no stride inference for the general case) */
  reshape(shape: readonly number[]): Tensor<D> {
    if (numelOf(shape) !== this.numel)
      throw new MoeError('E_SHAPE', `${this.name || 'tensor'}: cannot reshape ${shapeStr(this.shape)} to ${shapeStr(shape)}`, this.name);
    if (!this.isContiguous())
      throw new MoeError('E_LAYOUT', `${this.name || 'tensor'}: reshape needs a contiguous tensor (strides ${shapeStr(this.strides)}); call contiguous() first`, this.name);
    return new Tensor(this.dtype, shape, this.storage, undefined, this.offset, this.name);
  }

  /** visits every logical element in row-major order with its storage index */
  forEachIndex(fn: (storageIndex: number, linear: number) => void): void {
    const n = this.numel;
    if (n === 0) return;
    const r = this.rank;
    const idx = new Array<number>(r).fill(0);
    let off = this.offset;
    for (let lin = 0; lin < n; lin++) {
      fn(off, lin);
      for (let d = r - 1; d >= 0; d--) {
        idx[d]!++;
        off += this.strides[d]!;
        if (idx[d]! < this.shape[d]!) break;
        off -= idx[d]! * this.strides[d]!;
        idx[d] = 0;
      }
    }
  }

  /** a row-major copy with its own storage */
  contiguous(): Tensor<D> {
    if (this.isContiguous() && this.offset === 0 && this.storage.length === this.numel) return this;
    const out = allocStorage(this.dtype, this.numel) as Storage;
    const src = this.storage as Storage;
    this.forEachIndex((s, l) => {
      (out as Uint8Array)[l] = (src as Uint8Array)[s]!;
    });
    return new Tensor(this.dtype, this.shape, out as StorageFor<D>, undefined, 0, this.name);
  }

  /** logical values, row-major, decoded to float32 (i64 through Number) */
  toFloat32(): Float32Array {
    const out = new Float32Array(this.numel);
    const dec = decoderFor(this.dtype);
    const src = this.storage as Storage;
    this.forEachIndex((s, l) => {
      const v = src[s]!;
      out[l] = dec(typeof v === 'bigint' ? Number(v) : v);
    });
    return out;
  }
}

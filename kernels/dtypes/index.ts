/**
 * The dtypes the engine knows. Storage is always a typed array of the dtype's storage element; the value of an
 * element is obtained through `decode` (FP8, UE8M0 and BF16 are stored as their raw bits).
 */
export type DType = 'f32' | 'bf16' | 'f8e4m3fn' | 'ue8m0' | 'i32' | 'i64' | 'u8' | 'i8' | 'i4x2';

export type StorageFor<D extends DType> = D extends 'f32'
  ? Float32Array
  : D extends 'bf16'
    ? Uint16Array
    : D extends 'i32'
      ? Int32Array
      : D extends 'i64'
        ? BigInt64Array
        : Uint8Array;

export type Storage = Float32Array | Uint16Array | Int32Array | BigInt64Array | Uint8Array;

export interface DTypeInfo {
  readonly name: DType;
  /** bytes per storage element (i4x2 holds two int4 values in one byte) */
  readonly itemBytes: number;
  /** safetensors dtype string used on disk */
  readonly safetensors: string;
  readonly isFloat: boolean;
}

export const DTYPES: Readonly<Record<DType, DTypeInfo>> = {
  f32: { name: 'f32', itemBytes: 4, safetensors: 'F32', isFloat: true },
  bf16: { name: 'bf16', itemBytes: 2, safetensors: 'BF16', isFloat: true },
  f8e4m3fn: { name: 'f8e4m3fn', itemBytes: 1, safetensors: 'F8_E4M3', isFloat: true },
  ue8m0: { name: 'ue8m0', itemBytes: 1, safetensors: 'F8_E8M0', isFloat: true },
  i32: { name: 'i32', itemBytes: 4, safetensors: 'I32', isFloat: false },
  i64: { name: 'i64', itemBytes: 8, safetensors: 'I64', isFloat: false },
  u8: { name: 'u8', itemBytes: 1, safetensors: 'U8', isFloat: false },
  /** raw signed bytes (torch.int8); stored as unsigned bytes, read as two's complement */
  i8: { name: 'i8', itemBytes: 1, safetensors: 'I8', isFloat: false },
  i4x2: { name: 'i4x2', itemBytes: 1, safetensors: 'I8', isFloat: false },
};

export function allocStorage<D extends DType>(dtype: D, n: number): StorageFor<D> {
  switch (dtype) {
    case 'f32':
      return new Float32Array(n) as StorageFor<D>;
    case 'bf16':
      return new Uint16Array(n) as StorageFor<D>;
    case 'i32':
      return new Int32Array(n) as StorageFor<D>;
    case 'i64':
      return new BigInt64Array(n) as StorageFor<D>;
    default:
      return new Uint8Array(n) as StorageFor<D>;
  }
}

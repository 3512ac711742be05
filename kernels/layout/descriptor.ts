/**
 * A layout descriptor says how a logical tensor sits in its storage, in terms the UI can draw: which dimension is
 * contiguous, how far the MN extent is padded (TMA alignment), whether values are packed several to a word, and how
 * many storage slots exist versus how many are addressed.
 */
export type StorageOrder = 'row-major' | 'mn-major' | 'strided';

export interface Packing {
  /** values per storage word (4 UE8M0 exponent bytes per int32) */
  perWord: number;
  /** logical dimension the packed values run along */
  alongDim: number;
  /** byte 0 (least significant) holds the lowest index */
  byteOrder: 'little';
  /** logical extent before packing (e.g. K-blocks), the rest of the last word is zero padding */
  logicalExtent: number;
}

export interface LayoutDescriptor {
  order: StorageOrder;
  shape: number[];
  strides: number[];
  offset: number;
  /** storage elements allocated */
  storageElems: number;
  /** storage elements addressed by the logical shape */
  addressedElems: number;
  /** MN extent after padding (align(M, 4) for TMA) when the layout pads it */
  paddedMN?: number;
  /** bytes per storage element */
  itemBytes: number;
  packing?: Packing;
  /** one-line human description, e.g. "float32, MN-major, TMA-aligned (M padded 5→8)" */
  summary: string;
}

/**
 * What the hover probe reports about one tensor. `ProbeWire` is the probe's JSON exactly as Python sends it
 * (snake_case, sample as hex bytes); `ProbedTensor` is the checked, decoded form the rest of the extension uses
 * (and what `openTensor` receives), with the sample decoded through kernels/dtypes.
 */

export interface ProbeWireSample {
  /** indices of the leading dimensions (all zero) the window was taken at */
  lead: number[];
  rows: number;
  cols: number;
  /** the window's values, row-major, as little-endian bytes in hex */
  hex: string;
}

export interface ProbeWire {
  library: 'torch' | 'numpy';
  type: string;
  dtype: string;
  item_bytes: number;
  shape: number[];
  /** in elements; null when a byte stride is not a multiple of the item size (numpy structured views) */
  strides: number[] | null;
  strides_bytes: number[];
  storage: { bytes: number; offset_bytes: number } | null;
  device: string;
  requires_grad: boolean;
  sample: ProbeWireSample | null;
  sample_error: string | null;
  c_contiguous: boolean | null;
  f_contiguous: boolean | null;
  /** 'K': last-dim stride 1; 'MN': second-to-last stride 1; 'both': a unit dimension makes both true */
  major: 'K' | 'MN' | 'both' | null;
  /** the stride of the non-unit dimension is a multiple of 16 bytes */
  tma_aligned: boolean | null;
}

export interface TensorSample {
  /** leading indices (all zero) of the 2-D window */
  lead: number[];
  rows: number;
  cols: number;
  /** decoded values, row-major (NaN kept); integers beyond 2^53 lose precision */
  values: number[];
}

export interface ProbedTensor {
  /** the expression that was hovered, e.g. `layer.w13_weight_scale_inv` */
  expression: string;
  /** where it was evaluated */
  origin: 'notebook' | 'debug';
  library: 'torch' | 'numpy';
  /** fully qualified Python type, e.g. `torch.nn.parameter.Parameter` */
  typeName: string;
  /** torch/numpy dtype name without the module, e.g. `float8_e4m3fn` */
  dtype: string;
  itemBytes: number;
  shape: number[];
  strides: number[] | null;
  stridesBytes: number[];
  storageOffset: number | null;
  storageElems: number | null;
  storageBytes: number | null;
  device: string;
  requiresGrad: boolean;
  cContiguous: boolean | null;
  fContiguous: boolean | null;
  major: 'K' | 'MN' | 'both' | null;
  tmaAligned: boolean | null;
  sample: TensorSample | null;
  /** why there is no sample, when there is none */
  sampleNote: string | null;
}

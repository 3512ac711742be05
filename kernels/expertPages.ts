/**
 * A stacked (E, rows, K) FP8 weight tensor that never exists as one array: each expert's slice is made when a reader
 * asks for it, and dropped after. A whole DeepSeek-V3 layer on one rank (256 experts: w13 7.5 GB, w2 3.8 GB) is past
 * the 4 GiB one typed array may hold on Node 20 and past what a laptop should keep resident, yet a run touches the
 * weights one expert at a time: the grouped GEMM reads the experts that received tokens, in batches
 * (kernels/ops/gemm.ts), a file writer streams them (kernels/io/safetensors.ts), a summary samples them, a tile reads
 * one expert. Anything else that asks for the whole `storage` gets an error that names the tensor and what to do
 * instead, never a RangeError or a silently short array. The CPU engine takes smaller synthetic layers this way too
 * (Qwen3-30B-A3B's 600 MB): each GEMM batch made into one reused buffer costs less than a fresh tensor's page faults.
 *
 * Its metadata (dtype, shape, row-major strides, name) is answered at once, as a lazy tensor's is
 * (kernels/lazyTensor.ts), so guards, plans and layout descriptors work unchanged.
 */
import { Tensor, rowMajorStrides } from './tensor';
import { MoeError, shapeStr } from './errors';

/**
 * When weights are made per expert, and how many at once. Tests lower these to page small layers and compare them,
 * bit for bit, with the same layers held whole.
 */
export const PAGING = {
  /** a stacked FP8 weight tensor above this many bytes is made per expert: one array holds at most 2^32 − 1 on Node 20 */
  wholeTensorBytes: 2 ** 32 - 1,
  /**
   * on the CPU backend, synthetic weights whose w13 passes this many bytes are made per expert too: writing a fresh
   * tensor costs a first-touch page fault per 4 KiB page (10–50 µs each on a small VM; ~2.6 s of a 600 MB
   * Qwen3-30B-A3B layer's 3.0 s of weights), while each GEMM batch's experts made into one reused buffer fault once
   */
  cpuTensorBytes: 64 * 2 ** 20,
  /**
   * bytes of such a tensor made at once by the grouped GEMM (kernels/ops/gemm.ts multiplies its experts in batches of
   * about this size, at least one expert): small enough to stay resident and warm between batches
   */
  batchBytes: 32 * 2 ** 20,
};

/** Which backend reads a synthetic layer's weights: the CUDA addon (and any other reader of whole tensors) or the CPU engine. */
export type WeightReader = 'cpu' | 'cuda';

/**
 * Are a synthetic layer's weights — w13 (El, 2N, K), w2 (El, K, N) — made per expert? For the CPU engine when w13
 * passes PAGING.cpuTensorBytes; for the CUDA addon (which takes whole tensors) only when w13 is past one array, and
 * the addon then refuses the layer. Either way each expert must be whole 4-byte words (so each expert's codes take
 * fillCodes' word path from offset 0, as the one-array path does at every expert's offset: the same bytes either
 * way). kernels/synthetic.ts makes them so, the estimate counts them so, and kernels/backend/cudaSupport.ts refuses.
 */
export function syntheticWeightsPaged(localExperts: number, N: number, K: number, reader: WeightReader): boolean {
  const limit = reader === 'cpu' ? Math.min(PAGING.cpuTensorBytes, PAGING.wholeTensorBytes) : PAGING.wholeTensorBytes;
  return localExperts * 2 * N * K > limit && (N * K) % 4 === 0;
}

export interface ExpertPages {
  /** elements (= bytes, FP8) of one expert's (rows, K) slice */
  readonly perExpert: number;
  /** does expert e hold values? An expert that received no tokens is all zeros and is never generated. */
  active(e: number): boolean;
  /** writes expert e's values into dst (length perExpert), zeros for an inactive expert */
  fill(e: number, dst: Uint8Array): void;
  /** optional: several experts at once (e.g. on worker threads), the same bytes as `fill` one by one */
  fillMany?(fills: readonly { e: number; dst: Uint8Array }[]): Promise<void>;
  /**
   * optional: expert e's values at from, from + step, … (dst.length of them), the bytes `fill` writes there, without
   * making the rest (kernels/summary.ts samples a tensor evenly, as it does a whole one)
   */
  sample?(e: number, from: number, step: number, dst: Uint8Array): void;
}

const METADATA = new Set<PropertyKey>(['dtype', 'shape', 'strides', 'offset', 'name']);
const pagesOf = new WeakMap<object, ExpertPages>();
/** tensors whose values a reader has asked for (fill or fillMany: a stage, a tile, a file writer; not a summary's sample) */
const read = new WeakSet<object>();
const madeMs = new WeakMap<object, number>();

const gib = (bytes: number): string => `${(bytes / 2 ** 30).toFixed(1)} GiB`;

/** A Tensor (instanceof holds) whose `storage` is never made; read it per expert through expertSlice/expertChunks. */
export function expertPagedTensor(shape: readonly [number, number, number], name: string, pages: ExpertPages): Tensor<'f8e4m3fn'> {
  if (pages.perExpert !== shape[1] * shape[2])
    throw new MoeError('E_SHAPE', `${name}: one expert's page holds ${pages.perExpert} elements, but ${shapeStr(shape)} needs ${shape[1] * shape[2]}`, name);
  const meta: Record<string, unknown> = { dtype: 'f8e4m3fn', shape: [...shape], strides: rowMajorStrides(shape), offset: 0, name };
  const bytes = shape[0] * pages.perExpert;
  // why it is paged, decided now (PAGING may change later)
  const pastOneArray = bytes > PAGING.wholeTensorBytes;
  const whole = (): never => {
    throw new MoeError(
      'E_SPEC',
      pastOneArray
        ? `${name}: ${shapeStr(shape)} FP8 weights (${gib(bytes)}) are made one expert at a time on this rank (a whole tensor would pass the 4 GiB one array holds); ` +
            'this use needs the whole tensor at once — compute one rank of experts instead (--ep 8 --rank R)'
        : `${name}: ${shapeStr(shape)} FP8 weights (${(bytes / 2 ** 20).toFixed(0)} MiB) are made one expert at a time by the CPU engine (kernels/expertPages.ts); ` +
            'this use needs the whole tensor at once — read it per expert (expertSlice, expertChunks)',
      name,
    );
  };
  const proxy = new Proxy(Object.create(Tensor.prototype) as Tensor<'f8e4m3fn'>, {
    get(_target, prop, receiver) {
      if (METADATA.has(prop)) return meta[prop as string];
      if (prop === 'storage') return whole();
      // prototype getters and methods (rank, numel, isContiguous, …) run against the proxy; the ones that read
      // values reach `storage` above and fail with the message
      return Reflect.get(Tensor.prototype, prop, receiver);
    },
    set() {
      throw new MoeError('E_VALUE', `${name}: a weight tensor made per expert is read-only`, name);
    },
  });
  // its source as readers see it: the same, noting that values were read (a lazy input is shown once a stage reads it)
  pagesOf.set(proxy, {
    perExpert: pages.perExpert,
    active: (e) => pages.active(e),
    fill: (e, dst) => {
      read.add(proxy);
      const t0 = performance.now();
      pages.fill(e, dst);
      madeMs.set(proxy, (madeMs.get(proxy) ?? 0) + performance.now() - t0);
    },
    ...(pages.fillMany
      ? {
          fillMany: async (fills) => {
            read.add(proxy);
            const t0 = performance.now();
            await pages.fillMany!(fills);
            madeMs.set(proxy, (madeMs.get(proxy) ?? 0) + performance.now() - t0);
          },
        }
      : {}),
    ...(pages.sample ? { sample: pages.sample.bind(pages) } : {}),
  });
  return proxy;
}

/**
 * Milliseconds spent so far making (synthetic) or reading (a layer file, a checkpoint) this tensor's experts for its
 * readers. A stage that reads it one GEMM batch at a time does this work inside its own time; the CPU backend takes
 * it out of the stage's time and says how much it was (kernels/backend/cpu.ts). 0 for any other tensor.
 */
export function expertPagesMadeMs(t: Tensor): number {
  return madeMs.get(t) ?? 0;
}

/** Has a reader asked for values of this tensor made per expert (a stage, a tile, a file writer; a summary does not count)? */
export function expertPagesRead(t: Tensor): boolean {
  return read.has(t);
}

/** The per-expert source of a tensor made by expertPagedTensor; undefined for every other tensor. */
export function expertPagesOf(t: Tensor): ExpertPages | undefined {
  return pagesOf.get(t);
}

/** Expert e's (rows, K) slice as a tensor of its own, made now (a fresh array the caller owns). */
export function expertSlice(t: Tensor<'f8e4m3fn'>, e: number): Tensor<'f8e4m3fn'> {
  const pages = expertPagesOf(t);
  const [E, rows, K] = t.shape as [number, number, number];
  if (!Number.isInteger(e) || e < 0 || e >= E) throw new MoeError('E_RANGE', `${t.name}: expert ${e} is outside 0…${E - 1}`, t.name);
  if (!pages) return t.slice(0, e, e + 1).contiguous().reshape([rows, K]);
  const bytes = new Uint8Array(pages.perExpert);
  pages.fill(e, bytes);
  return new Tensor('f8e4m3fn', [rows, K], bytes, undefined, 0, `${t.name}[${e}]`);
}

/**
 * The tensor's bytes in storage order, one expert at a time. The same buffer is refilled for each expert: a
 * consumer must use (or copy) each chunk before asking for the next — as a synchronous file writer does.
 */
export function* expertChunks(t: Tensor<'f8e4m3fn'>): Generator<Uint8Array> {
  const pages = expertPagesOf(t);
  if (!pages) throw new MoeError('E_SPEC', `${t.name}: not a tensor made per expert`, t.name);
  const buf = new Uint8Array(pages.perExpert);
  for (let e = 0; e < t.shape[0]!; e++) {
    pages.fill(e, buf);
    yield buf;
  }
}

/**
 * A tensor whose values are created on first read. Its metadata (dtype, shape, row-major strides, name) is known
 * at once, so guards, plans and cost models that look only at shapes never create it; anything that reads its
 * storage (a stage's kernel, a summary, a tile) creates it then, exactly once. A run that needs only some stages
 * (kernels/neededStages.ts) thus never allocates the inputs those stages do not read: the synthetic FP8 weights of a
 * DeepSeek-V3 layer (7.5 GB for 256 experts) are not made for a picture of its activation scales.
 */
import { Tensor, rowMajorStrides } from './tensor';
import { MoeError, shapeStr } from './errors';
import type { DType } from './dtypes/index';
import { expertPagesOf, expertPagesRead } from './expertPages';

/** what a lazy tensor answers without being created */
const METADATA = new Set<PropertyKey>(['dtype', 'shape', 'strides', 'offset', 'name']);

interface LazyState {
  made?: Tensor;
}
const states = new WeakMap<object, LazyState>();

/**
 * A Tensor (instanceof holds) that calls `make` the first time anything beyond its metadata is read. `make` must
 * return a contiguous tensor of exactly this dtype and shape; it is checked, so a wrong generator fails loudly.
 */
export function lazyTensor<D extends DType>(dtype: D, shape: readonly number[], name: string, make: () => Tensor<D>): Tensor<D> {
  const meta: Record<string, unknown> = { dtype, shape: [...shape], strides: rowMajorStrides(shape), offset: 0, name };
  const state: LazyState = {};
  const real = (): Tensor => {
    if (!state.made) {
      const t = make();
      if (t.dtype !== dtype || shapeStr(t.shape) !== shapeStr(shape) || !t.isContiguous() || t.offset !== 0)
        throw new MoeError('E_VALUE', `${name}: its generator made a ${t.dtype} ${shapeStr(t.shape)} tensor (offset ${t.offset}); expected a contiguous ${dtype} ${shapeStr(shape)}`, name);
      state.made = t.name === name ? t : t.withName(name);
    }
    return state.made;
  };
  const proxy = new Proxy(Object.create(Tensor.prototype) as Tensor<D>, {
    get(_target, prop, receiver) {
      if (METADATA.has(prop)) return meta[prop as string];
      // prototype getters and methods (rank, numel, isContiguous, …) run against the proxy: metadata stays lazy
      if (!(prop === 'storage') && prop in Tensor.prototype) return Reflect.get(Tensor.prototype, prop, receiver);
      return Reflect.get(real(), prop);
    },
    set() {
      throw new MoeError('E_VALUE', `${name}: a lazy input tensor is read-only`, name);
    },
  });
  states.set(proxy, state);
  return proxy;
}

/**
 * Has this tensor's data been created? True for every ordinary tensor; false for a lazy one not read yet, and for
 * one made per expert (kernels/expertPages.ts), which never exists whole, until a reader asked for its values (a
 * stage that ran, as a lazy one is made): a run shows it where it is wanted or was read.
 */
export function isCreated(t: Tensor): boolean {
  if (expertPagesOf(t)) return expertPagesRead(t);
  const s = states.get(t);
  return !s || !!s.made;
}

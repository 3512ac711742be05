/**
 * Moving tensors between the parent process and the GPU worker, and from the addon's outputs to tensors (the inputs
 * the addon takes are built in layerArgs.ts). Tensors cross the process boundary as plain objects (structured
 * clone, `serialization: 'advanced'`); SharedArrayBuffers cannot cross it and are copied first.
 */
import { Tensor } from '../tensor';
import type { DType, StorageFor } from '../dtypes/index';
import type { StageTensors } from '../backend/types';
import type { NativeLayerResult } from './addon';

export interface WireTensor {
  dtype: DType;
  shape: number[];
  strides: number[];
  offset: number;
  name: string;
  storage: StorageFor<DType>;
}

function plainStorage<S extends ArrayBufferView>(s: S): S {
  if (!(s.buffer instanceof SharedArrayBuffer)) return s;
  const ctor = s.constructor as new (b: ArrayBufferLike) => S;
  const copy = new Uint8Array(s.byteLength);
  copy.set(new Uint8Array(s.buffer, s.byteOffset, s.byteLength));
  return new ctor(copy.buffer);
}

export function toWire(t: Tensor): WireTensor {
  return { dtype: t.dtype, shape: [...t.shape], strides: [...t.strides], offset: t.offset, name: t.name, storage: plainStorage(t.storage) };
}

export function fromWire(w: WireTensor): Tensor {
  return new Tensor(w.dtype, w.shape, w.storage, w.strides, w.offset, w.name);
}

export function tensorsToWire(ts: Record<string, Tensor | undefined>): Record<string, WireTensor> {
  const out: Record<string, WireTensor> = {};
  for (const [k, t] of Object.entries(ts)) if (t) out[k] = toWire(t);
  return out;
}

export function tensorsFromWire(ws: Record<string, WireTensor>): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [k, w] of Object.entries(ws)) out[k] = fromWire(w);
  return out;
}

/**
 * The addon's outputs as stage tensors under DESIGN.md's names: a kernel layout (the *_scale_layout tensors) keeps
 * its strided storage, as the kernel reads it; anything else is made row-major (e.g. scales the addon produced
 * MN-major come back as the logical tensor).
 */
export function stageTensorsFromNative(r: NativeLayerResult): StageTensors {
  const out: StageTensors = {};
  for (const [name, n] of Object.entries(r.tensors)) {
    const numel = n.shape.reduce((a, b) => a * b, 1);
    if (numel === 0) {
      out[name] = new Tensor(n.dtype, n.shape, new (n.data.constructor as new (k: number) => typeof n.data)(0), undefined, 0, name);
      continue;
    }
    const t = new Tensor(n.dtype, n.shape, n.data, n.strides, 0, name);
    out[name] = n.kernelLayout ? t : t.contiguous().withName(name);
  }
  return out;
}

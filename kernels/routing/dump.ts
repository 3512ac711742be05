/**
 * Router dumps: one MoE layer's inputs as a real run saw them (docs/dump-layer-inputs.md writes them).
 *   hidden_states (M, H) BF16|F32|F16   and either
 *   topk_ids (M, k) I32|I64 + topk_weights (M, k) F32|BF16   (the run's own choice), or
 *   router_logits (M, E) F32|BF16|F16                          (scored here as the model's config says)
 * Leading dimensions are flattened: (batch, seq, H) becomes (batch·seq, H).
 * Files: one .safetensors holding those names, or .npy files named after them (a folder, or the path of one of
 * them; numpy has no bfloat16, so BF16 saved as uint16 is read as BF16 bits).
 * Pickles (.pt, .pth, .bin, .pkl — torch.save) are refused: unpickling runs arbitrary code and needs Python; the
 * error gives the one-line command that converts the file.
 */
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { MoeError, shapeStr } from '../errors';
import { SafetensorsFile } from '../io/safetensors';
import { readNpy } from '../io/npy';
import { Tensor } from '../tensor';
import { routeFromLogits } from './score';
import type { RouterConfig } from './types';

export const DUMP_TENSOR_NAMES = ['hidden_states', 'topk_ids', 'topk_weights', 'router_logits'] as const;
type DumpName = (typeof DUMP_TENSOR_NAMES)[number];

export interface RouterDump {
  path: string;
  hidden_states: Tensor<'bf16'> | Tensor<'f32'>;
  topk_ids?: Tensor<'i32'> | Tensor<'i64'>;
  topk_weights?: Tensor<'f32'>;
  router_logits?: Tensor<'f32'>;
}

const PICKLE_EXTENSIONS = new Set(['.pt', '.pth', '.bin', '.pkl', '.pickle', '.ckpt']);

/** the one-line conversion a user runs where torch and safetensors are installed */
export function conversionCommand(path: string): string {
  const out = path.replace(/\.[^./\\]+$/, '') + '.safetensors';
  return `python -c "import torch, safetensors.torch as st; d = torch.load('${path}', map_location='cpu'); st.save_file({k: v.contiguous() for k, v in d.items()}, '${out}')"`;
}

function refusePickle(path: string, why: string): never {
  throw new MoeError(
    'E_FORMAT',
    `${path}: ${why}; pickles can run code when loaded and need Python, so they are not opened here. Convert it once: ${conversionCommand(path)}`,
  );
}

/** zip (torch.save since 1.6) or a raw pickle stream (protocol 2–5) */
function sniffPickle(path: string): string | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const b = new Uint8Array(4);
    const n = readSync(fd, b, 0, 4, 0);
    if (n >= 4 && b[0] === 0x50 && b[1] === 0x4b && b[2] === 0x03 && b[3] === 0x04) return 'a zip archive, as torch.save writes';
    if (n >= 2 && b[0] === 0x80 && b[1]! >= 2 && b[1]! <= 5) return 'a Python pickle';
    return undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** (…, X) → (∏…, X); ranks below 2 are refused by the caller's shape check */
function flatten2d<T extends Tensor>(t: T): T {
  if (t.rank <= 2) return t;
  const last = t.shape[t.rank - 1]!;
  return t.contiguous().reshape([t.numel / Math.max(1, last), last]) as T;
}

function toF32(t: Tensor, name: string): Tensor<'f32'> {
  if (t.dtype === 'f32') return t as Tensor<'f32'>;
  return new Tensor('f32', [...t.shape], t.toFloat32(), undefined, 0, name);
}

function want(t: Tensor, name: string, dtypes: readonly string[]): void {
  if (!dtypes.includes(t.dtype))
    throw new MoeError('E_DTYPE', `${name}: expected ${dtypes.join(' or ')}, got ${t.dtype} with shape ${shapeStr(t.shape)}`, name);
}

function readSafetensorsDump(path: string): Partial<Record<DumpName, Tensor>> {
  const f = SafetensorsFile.open(path);
  try {
    const raw: Partial<Record<DumpName, Tensor>> = {};
    for (const n of DUMP_TENSOR_NAMES) if (f.has(n)) raw[n] = f.read(n);
    if (!raw.hidden_states)
      throw new MoeError(
        'E_FORMAT',
        `${path}: no 'hidden_states'; a router dump holds hidden_states and either topk_ids + topk_weights or router_logits (it has: ${f.names().slice(0, 12).join(', ') || 'no tensors'})`,
        'hidden_states',
      );
    return raw;
  } finally {
    f.close();
  }
}

function readNpyDump(path: string): Partial<Record<DumpName, Tensor>> {
  const dir = statSync(path).isDirectory() ? path : dirname(path);
  const raw: Partial<Record<DumpName, Tensor>> = {};
  for (const n of DUMP_TENSOR_NAMES) {
    const p = join(dir, `${n}.npy`);
    if (existsSync(p)) raw[n] = readNpy(p, { u2As: n === 'hidden_states' || n === 'router_logits' || n === 'topk_weights' ? 'bf16' : 'i32' }).withName(n);
  }
  if (!raw.hidden_states)
    throw new MoeError('E_FORMAT', `${dir}: no hidden_states.npy; an .npy router dump is a folder of hidden_states.npy and topk_ids.npy + topk_weights.npy or router_logits.npy`, 'hidden_states');
  return raw;
}

/** Reads and checks a router dump. Shapes must agree on M; ids must come with weights. */
export function loadRouterDump(path: string): RouterDump {
  if (!existsSync(path)) throw new MoeError('E_IO', `${path}: no such file or folder (router dump)`);
  const ext = extname(path).toLowerCase();
  if (PICKLE_EXTENSIONS.has(ext)) refusePickle(path, `'${ext}' is a PyTorch/pickle file`);
  const isDir = statSync(path).isDirectory();
  if (!isDir) {
    const sniffed = sniffPickle(path);
    if (sniffed) refusePickle(path, `this file is ${sniffed}`);
  }
  let raw: Partial<Record<DumpName, Tensor>>;
  if (ext === '.safetensors') raw = readSafetensorsDump(path);
  else if (ext === '.npy' || isDir) raw = readNpyDump(path);
  else throw new MoeError('E_FORMAT', `${path}: a router dump is a .safetensors file or .npy files (got '${basename(path)}')`);

  const x = flatten2d(raw.hidden_states!);
  want(x, 'hidden_states', ['bf16', 'f32']);
  if (x.rank !== 2) throw new MoeError('E_SHAPE', `hidden_states: expected (M, hidden), got ${shapeStr(x.shape)}`, 'hidden_states');
  const M = x.shape[0]!;
  const rows = (t: Tensor, name: string): void => {
    if (t.rank !== 2 || t.shape[0] !== M)
      throw new MoeError('E_SHAPE', `${name}: expected (${M}, ·) — one row per token of hidden_states ${shapeStr(x.shape)} — got ${shapeStr(t.shape)}`, name);
  };
  const dump: RouterDump = { path, hidden_states: x as Tensor<'bf16'> | Tensor<'f32'> };
  if (raw.topk_ids || raw.topk_weights) {
    if (!raw.topk_ids || !raw.topk_weights)
      throw new MoeError('E_FORMAT', `${path}: has ${raw.topk_ids ? 'topk_ids' : 'topk_weights'} without ${raw.topk_ids ? 'topk_weights' : 'topk_ids'}; the two come together`, raw.topk_ids ? 'topk_weights' : 'topk_ids');
    const ids = flatten2d(raw.topk_ids);
    want(ids, 'topk_ids', ['i32', 'i64']);
    rows(ids, 'topk_ids');
    const w = flatten2d(raw.topk_weights);
    want(w, 'topk_weights', ['f32', 'bf16']);
    if (w.rank !== 2 || w.shape[0] !== M || w.shape[1] !== ids.shape[1])
      throw new MoeError('E_SHAPE', `topk_weights: expected ${shapeStr(ids.shape)} like topk_ids, got ${shapeStr(w.shape)}`, 'topk_weights');
    dump.topk_ids = ids as Tensor<'i32'> | Tensor<'i64'>;
    dump.topk_weights = toF32(w, 'topk_weights');
  }
  if (raw.router_logits) {
    const l = flatten2d(raw.router_logits);
    want(l, 'router_logits', ['f32', 'bf16']);
    rows(l, 'router_logits');
    dump.router_logits = toF32(l, 'router_logits');
  }
  if (!dump.topk_ids && !dump.router_logits)
    throw new MoeError('E_FORMAT', `${path}: has hidden_states but neither topk_ids + topk_weights nor router_logits: the routing is missing`, 'topk_ids');
  return dump;
}

export interface ResolvedRouting {
  hidden_states: Tensor<'bf16'> | Tensor<'f32'>;
  topk_ids: Tensor<'i32'> | Tensor<'i64'>;
  topk_weights: Tensor<'f32'>;
  /** where the ids came from */
  from: 'dump' | 'logits';
}

/**
 * The routing of a dump: its own topk_ids/topk_weights when present (what the run did), else its router_logits
 * scored with `cfg` (and `bias`, DeepSeek's e_score_correction_bias). `experts` checks ids/logits against the model.
 */
export function resolveRouting(dump: RouterDump, experts: number, cfg?: RouterConfig, bias?: Float32Array): ResolvedRouting {
  if (dump.topk_ids && dump.topk_weights) {
    const ids = dump.topk_ids.contiguous();
    for (let i = 0; i < ids.numel; i++) {
      const v = ids.raw(Math.floor(i / ids.shape[1]!), i % ids.shape[1]!);
      if (v < -1 || v >= experts)
        throw new MoeError('E_VALUE', `topk_ids[${Math.floor(i / ids.shape[1]!)}, ${i % ids.shape[1]!}] = ${v}: expected an expert in 0…${experts - 1} (or −1) for this model`, 'topk_ids');
    }
    return { hidden_states: dump.hidden_states, topk_ids: dump.topk_ids, topk_weights: dump.topk_weights, from: 'dump' };
  }
  const logits = dump.router_logits!;
  const [M, E] = logits.shape as [number, number];
  if (E !== experts) throw new MoeError('E_SHAPE', `router_logits: ${E} columns but the model has ${experts} routed experts`, 'router_logits');
  if (!cfg) throw new MoeError('E_SPEC', `${dump.path}: holds router_logits only; scoring them needs the model's router config (run with --checkpoint)`, 'router_logits');
  const r = routeFromLogits(logits.contiguous().storage, M, E, cfg, bias);
  return {
    hidden_states: dump.hidden_states,
    topk_ids: new Tensor('i32', [M, cfg.topk], r.topkIds, undefined, 0, 'topk_ids'),
    topk_weights: new Tensor('f32', [M, cfg.topk], r.topkWeights, undefined, 0, 'topk_weights'),
    from: 'logits',
  };
}

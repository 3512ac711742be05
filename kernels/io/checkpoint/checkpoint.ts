/**
 * A Hugging Face checkpoint folder opened for its MoE layers (docs/checkpoints.md).
 *
 * `layers()` lists the MoE layers the config declares, with expert count, on-disk dtype and the stacked shapes.
 * `loadLayer(L)` builds vLLM's FusedMoE weights for one layer:
 *   w13_weight (E, 2I, H) FP8 — per expert the gate rows, then the up rows (vLLM's w13 order)
 *   w13_weight_scale_inv (E, ⌈2I/128⌉, ⌈H/128⌉) f32 · w2_weight (E, H, I) FP8 · w2_weight_scale_inv (E, ⌈H/128⌉, ⌈I/128⌉)
 * reading only the byte ranges of that layer's experts, straight into the stacked result (nothing else as large is
 * allocated). FP8 checkpoints are used as stored (F8_E4M3, or U8 holding the same bytes; F8_E8M0/BF16/F16 scales are
 * widened to float32). BF16/F16/F32 weights — and DeepSeek-V4's FP4 experts (✖ unverified packing) — are quantized
 * with the 128×128 block quantizer (kernels/ops/quantize.ts), one 128-row band at a time.
 * A subset of experts (those the routing uses, or one rank's) can be read: the others are zero-filled (weights 0,
 * scales 1: they receive no tokens) or omitted, with an expert_map global → local (−1 = not loaded).
 */
import { Tensor } from '../../tensor';
import { MoeError, shapeStr } from '../../errors';
import { decodeUe8m0 } from '../../dtypes/ue8m0';
import { decodeF16 } from '../../dtypes/f16';
import { decodeBf16 } from '../../dtypes/bf16';
import { quantizeWeightBlocks } from '../../ops/quantize';
import { sharedBytes } from '../../ops/gemm';
import { PAGING, expertPagedTensor } from '../../expertPages';
import type { ScaleFormat } from '../../spec';
import { CheckpointFiles, readShardRange, type ShardTensor } from './shards';
import { type CheckpointConfig, detectFamily, familyConfig, KNOWN_MODEL_TYPES, readConfigJson } from './config';
import { type ExpertNames, type FamilyDef, expand } from './families';

/** one expert's gate, up and down projections in the shards */
type ExpertTensors = { gate: Proj; up: Proj; down: Proj };

/** how a layer's expert weights are stored, and so how they are loaded */
export type WeightFormat = 'fp8' | 'bf16' | 'f16' | 'f32' | 'fp4';

export interface MoeLayerInfo {
  layer: number;
  /** a multi-token-prediction layer (DeepSeek-V3's model.layers.61) rather than a layer of the main model */
  mtp: boolean;
  /** DeepSeek-V4 hash-routed layer: the routing must come from a dump */
  hashRouted: boolean;
  /** routed experts whose gate, up and down tensors all exist */
  experts: number;
  format?: WeightFormat;
  /** on-disk dtype of the expert weights, e.g. F8_E4M3 or BF16 */
  weightDtype?: string;
  /** on-disk dtype of their block scales (FP8/FP4 only) */
  scaleDtype?: string;
  /** shapes of the stacked result for all experts */
  shapes: { w13_weight: number[]; w2_weight: number[] };
  /** set when the layer cannot be loaded: why, in one line */
  problem?: string;
}

export interface LoadLayerOptions {
  /** global expert ids to read (default: all); duplicates are ignored */
  experts?: readonly number[];
  /** experts not read: zero-filled in place (default) or left out, with an expert_map */
  unread?: 'zero' | 'omit';
  /**
   * the global experts that get a place in the result, in id order (overrides `unread`): an expert-parallel rank's
   * local experts, say. Those not in `experts` are zero-filled; an expert_map is returned when fewer than all.
   */
  slots?: readonly number[];
  /** scale format used when the weights must be quantized (BF16/F16/F32/FP4 checkpoints); FP8 is used as stored */
  scaleFormat?: ScaleFormat;
  /** called after each expert */
  onExpert?: (done: number, total: number) => void;
}

export interface LoadedLayer {
  layer: number;
  w13_weight: Tensor<'f8e4m3fn'>;
  w13_weight_scale_inv: Tensor<'f32'>;
  w2_weight: Tensor<'f8e4m3fn'>;
  w2_weight_scale_inv: Tensor<'f32'>;
  /** (E,) global → local, −1 = not loaded; only when experts were omitted */
  expert_map?: Tensor<'i32'>;
  /** global ids of the experts read, in local order */
  loadedExperts: number[];
  format: WeightFormat;
  /** tensor bytes read from the shards for this layer */
  bytesRead: number;
  notes: string[];
}

interface Proj {
  weight: ShardTensor;
  scale?: ShardTensor;
}

/** which checkpoint tensors are MoE-looking, for the unknown-family message */
const MOE_LOOKING = /experts?\.\d+\.|block_sparse_moe|\.moe\.|router|\.gate\.(weight|bias|e_score)/;

const FP4_VALUES = [0, 0.5, 1, 1.5, 2, 3, 4, 6];
const B = 128;

export class Checkpoint {
  private readonly names: ExpertNames;
  private closed = false;

  private constructor(
    readonly dir: string,
    readonly config: CheckpointConfig,
    readonly family: FamilyDef,
    private readonly files: CheckpointFiles,
  ) {
    this.names = this.pickNames();
  }

  /** Opens DIR: reads config.json, finds the family and the shard layout. One-line errors name the file. */
  static open(dir: string): Checkpoint {
    const { json, path } = readConfigJson(dir);
    const family = detectFamily(json);
    const files = CheckpointFiles.open(dir);
    try {
      if (!family) {
        const found = [...files.names()].filter((n) => MOE_LOOKING.test(n));
        const list = found.length ? `${found.slice(0, 6).join(', ')}${found.length > 6 ? `, … (${found.length} in all)` : ''}` : 'none';
        throw new MoeError(
          'E_FORMAT',
          `${path}: model_type '${String(json.model_type ?? '?')}' (${Array.isArray(json.architectures) ? json.architectures.join(', ') : 'no architectures'}) is not a MoE family read here (${KNOWN_MODEL_TYPES.join(', ')}); MoE-looking tensors: ${list}`,
        );
      }
      return new Checkpoint(dir, familyConfig(json, path, family), family, files);
    } catch (e) {
      files.close();
      throw e;
    }
  }

  close(): void {
    this.files.close();
    this.closed = true;
  }

  /** tensor bytes read so far (all layers) */
  get bytesRead(): number {
    return this.files.bytesRead;
  }

  /** the MoE layers the config declares (then MTP layers present in the files), each checked from headers only */
  layers(): MoeLayerInfo[] {
    const c = this.config;
    const mtp = c.mtpLayers.filter((l) => this.files.has(`${expand(this.names.gate, l, 0)}.weight`));
    return [...c.moeLayers, ...mtp].map((l) => this.layerInfo(l));
  }

  layerInfo(layer: number): MoeLayerInfo {
    const c = this.config;
    const info: MoeLayerInfo = {
      layer,
      mtp: layer >= c.numLayers,
      hashRouted: layer < c.hashLayers,
      experts: 0,
      shapes: { w13_weight: [c.experts, 2 * c.intermediate, c.hidden], w2_weight: [c.experts, c.hidden, c.intermediate] },
    };
    if (!c.moeLayers.includes(layer) && !c.mtpLayers.includes(layer)) {
      info.problem = `layer ${layer} is not a MoE layer of this ${c.familyLabel} model (MoE layers: ${rangesText([...c.moeLayers, ...c.mtpLayers])})`;
      return info;
    }
    const missing: number[] = [];
    for (let e = 0; e < c.experts; e++) {
      const all = (['gate', 'up', 'down'] as const).every((p) => this.files.has(`${expand(this.names[p], layer, e)}.weight`));
      if (all) info.experts++;
      else missing.push(e);
    }
    try {
      if (missing.length)
        throw new MoeError(
          'E_FORMAT',
          `layer ${layer}: ${missing.length} of ${c.experts} experts have no ${expand(this.names.gate, layer, missing[0])}.weight (or up/down) — missing experts ${rangesText(missing)}`,
        );
      const p = this.expertTensors(layer, 0);
      info.format = this.formatOf(p.gate, layer);
      info.weightDtype = p.gate.weight.dtype;
      if (p.gate.scale) info.scaleDtype = p.gate.scale.dtype;
    } catch (e) {
      if (!(e instanceof MoeError)) throw e;
      info.problem = e.message;
    }
    return info;
  }

  /** One expert's tensors, checked: names, dtypes and shapes (scales: 128×128 blocks, or 1×32 for FP4). */
  expertTensors(layer: number, expert: number): ExpertTensors {
    const { hidden: H, intermediate: I } = this.config;
    const gate = this.proj(layer, expert, 'gate');
    const format = this.formatOf(gate, layer);
    const check = (p: Proj, which: 'gate' | 'up' | 'down', rows: number, cols: number): Proj => {
      const w = p.weight;
      const where = `${w.file}: '${w.name}'`;
      if (w.dtype !== gate.weight.dtype) throw new MoeError('E_DTYPE', `${where} is ${w.dtype} but the layer's gate projection is ${gate.weight.dtype}`, w.name);
      const want = format === 'fp4' ? [rows, cols / 2] : [rows, cols];
      if (shapeStr(w.shape) !== shapeStr(want))
        throw new MoeError('E_SHAPE', `${where}: expected ${shapeStr(want)} (${which} projection${format === 'fp4' ? ', two FP4 values per byte' : ''}: hidden ${H}, moe_intermediate ${I}), got ${shapeStr(w.shape)}`, w.name);
      if (format === 'fp8' || format === 'fp4') {
        if (!p.scale)
          throw new MoeError('E_FORMAT', `${where} is ${format.toUpperCase()} but has no block scales (${this.family.scaleSuffixes.map((s) => `${w.name.replace(/\.weight$/, '')}${s}`).join(' or ')})`, w.name);
        const s = p.scale;
        const wantS = format === 'fp4' ? [rows, cols / 32] : [Math.ceil(rows / B), Math.ceil(cols / B)];
        if (shapeStr(s.shape) !== shapeStr(wantS))
          throw new MoeError('E_SHAPE', `${s.file}: '${s.name}': expected ${shapeStr(wantS)} (${format === 'fp4' ? 'one scale per 32 values' : 'one scale per 128×128 block'} of ${shapeStr([rows, cols])}), got ${shapeStr(s.shape)}`, s.name);
        const okScale = format === 'fp4' ? ['F8_E8M0', 'U8'] : ['F32', 'BF16', 'F16', 'F8_E8M0'];
        if (!okScale.includes(s.dtype)) throw new MoeError('E_DTYPE', `${s.file}: '${s.name}' is ${s.dtype}; ${format.toUpperCase()} block scales are read as ${okScale.join(', ')}`, s.name);
      }
      return p;
    };
    return {
      gate: check(gate, 'gate', I, H),
      up: check(this.proj(layer, expert, 'up'), 'up', I, H),
      down: check(this.proj(layer, expert, 'down'), 'down', H, I),
    };
  }

  /** DeepSeek's e_score_correction_bias of a layer (float32), or undefined when the family/checkpoint has none */
  routerBias(layer: number): Float32Array | undefined {
    for (const tpl of this.family.routerBias) {
      const name = expand(tpl, layer);
      if (!this.files.has(name)) continue;
      const t = this.files.locate(name);
      if (t.shape.length !== 1 || t.shape[0] !== this.config.experts)
        throw new MoeError('E_SHAPE', `${t.file}: '${name}': expected [${this.config.experts}] (one bias per routed expert), got ${shapeStr(t.shape)}`, name);
      const n = this.config.experts;
      if (t.dtype === 'F32') {
        const out = new Float32Array(n);
        this.files.readInto(t, new Uint8Array(out.buffer));
        return out;
      }
      if (t.dtype === 'BF16' || t.dtype === 'F16') {
        const raw = new Uint16Array(n);
        this.files.readInto(t, new Uint8Array(raw.buffer));
        return Float32Array.from(raw, t.dtype === 'BF16' ? decodeBf16 : decodeF16);
      }
      throw new MoeError('E_DTYPE', `${t.file}: '${name}' is ${t.dtype}; a router bias is read as F32, BF16 or F16`, name);
    }
    return undefined;
  }

  /** a block-scale tensor as float32 (F32, BF16, F16 or F8_E8M0 on disk) */
  readScalesF32(t: ShardTensor): Float32Array {
    const out = new Float32Array(t.shape.reduce((a, d) => a * d, 1));
    this.readScales(t, out, 0);
    return out;
  }

  /** raw bytes of a tensor, from byte `from` of its data */
  readBytes(t: ShardTensor, dst: Uint8Array, from = 0): void {
    this.files.readInto(t, dst, from);
  }

  loadLayer(layer: number, opts: LoadLayerOptions = {}): LoadedLayer {
    const steps = this.loadSteps(layer, opts);
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
    }
  }

  /** as loadLayer, yielding to the event loop between experts (an extension host stays responsive) */
  async loadLayerAsync(layer: number, opts: LoadLayerOptions = {}): Promise<LoadedLayer> {
    const steps = this.loadSteps(layer, opts);
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  // ---- internals ----------------------------------------------------------------------------------------------------

  private *loadSteps(layer: number, opts: LoadLayerOptions): Generator<void, LoadedLayer, void> {
    if (this.closed) throw new MoeError('E_IO', `${this.dir}: checkpoint is closed`);
    const c = this.config;
    const info = this.layerInfo(layer);
    if (info.problem) throw new MoeError('E_FORMAT', `${this.dir}: ${info.problem}`);
    const format = info.format!;
    const { hidden: H, intermediate: I, experts: E } = c;
    if (format === 'fp8') {
      const bs = c.quant.blockSize;
      if (bs && (bs[0] !== B || bs[1] !== B))
        throw new MoeError('E_FORMAT', `${c.configPath}: quantization_config.weight_block_size is [${bs.join(', ')}]; the FP8 GEMMs here take 128×128 weight blocks`);
      if (I % B !== 0)
        throw new MoeError('E_SHAPE', `layer ${layer}: moe_intermediate_size ${I} is not a multiple of 128, so the gate and up FP8 scale blocks cannot be stacked into w13's 128-row blocks (vLLM refuses this layout too)`);
    }
    const ids = this.expertList(opts.experts);
    const slots = opts.slots ? this.expertList(opts.slots) : opts.unread === 'omit' ? ids : this.expertList(undefined);
    const slotOf = new Int32Array(E).fill(-1);
    slots.forEach((g, j) => (slotOf[g] = j));
    const notInSlots = ids.find((g) => slotOf[g]! < 0);
    if (notInSlots !== undefined) throw new MoeError('E_SPEC', `expert ${notInSlots} is to be read but has no place among the ${slots.length} slots given`);
    const El = slots.length;
    const w13Bytes = El * 2 * I * H;
    // FP8 weights past one array are read per expert when a stage uses them (kernels/expertPages.ts); weights that
    // must be quantized here (BF16/F16/F32/FP4) would need their scales before any read, so they are held whole
    const paged = format === 'fp8' && w13Bytes > PAGING.wholeTensorBytes;
    if (w13Bytes > PAGING.wholeTensorBytes && !paged)
      throw new MoeError(
        'E_SPEC',
        `layer ${layer}: w13_weight for ${El} experts is [${El}, ${2 * I}, ${H}] = ${(w13Bytes / 2 ** 30).toFixed(1)} GiB of ${format.toUpperCase()} weights to quantize, above the 4 GiB one tensor may take here; read fewer experts (the routing's, or one expert-parallel rank's: --ep N --rank R)`,
      );
    const Hb = Math.ceil(H / B);
    const Ib = Math.ceil(I / B);
    const I2b = Math.ceil((2 * I) / B);
    const w13 = sharedBytes(paged ? 1 : El * 2 * I * H);
    const w2 = sharedBytes(paged ? 1 : El * H * I);
    /** per slot, the expert's weight tensors in the shards (paged: read when a stage asks for the expert) */
    const sources: (ExpertTensors | undefined)[] = new Array<ExpertTensors | undefined>(El);
    const s13 = new Float32Array(El * I2b * Hb).fill(1);
    const s2 = new Float32Array(El * Hb * Ib).fill(1);
    const before = this.files.bytesRead;
    const scaleFormat = opts.scaleFormat ?? 'f32';
    const band = format === 'fp8' ? undefined : new BandReader(this.files, format, scaleFormat, H, I);
    for (let j = 0; j < ids.length; j++) {
      const e = ids[j]!;
      const l = slotOf[e]!;
      const p = this.expertTensors(layer, e);
      if (format === 'fp8') {
        if (paged) sources[l] = p;
        else {
          this.files.readInto(p.gate.weight, w13.subarray(l * 2 * I * H, l * 2 * I * H + I * H));
          this.files.readInto(p.up.weight, w13.subarray(l * 2 * I * H + I * H, (l + 1) * 2 * I * H));
          this.files.readInto(p.down.weight, w2.subarray(l * H * I, (l + 1) * H * I));
        }
        this.readScales(p.gate.scale!, s13, l * I2b * Hb);
        this.readScales(p.up.scale!, s13, (l * I2b + Ib) * Hb);
        this.readScales(p.down.scale!, s2, l * Hb * Ib);
      } else {
        band!.quantizeStacked([p.gate, p.up], I, w13, s13, l * 2 * I * H, l * I2b * Hb);
        band!.quantizeStacked([p.down], H, w2, s2, l * H * I, l * Hb * Ib);
      }
      opts.onExpert?.(j + 1, ids.length);
      yield;
    }
    const notes = [...c.notes];
    if (format !== 'fp8') notes.push(`${info.weightDtype} expert weights quantized here to FP8 with 128×128 blocks (${scaleFormat} scales)`);
    if (format === 'fp4') notes.push('FP4 unpacking (low nibble first, E2M1 × 2^(scale−127) per 32 values) is unverified against DeepSeek-V4\'s own code');
    if (El < E) notes.push(`${El} of ${E} experts have a place (expert_map; the others are −1)`);
    if (ids.length < El) notes.push(`${ids.length} of ${El} experts read; the others are zero-filled (weights 0, scales 1: they receive no tokens)`);
    if (paged) notes.push(`w13_weight [${El}, ${2 * I}, ${H}] is past one array (${(w13Bytes / 2 ** 30).toFixed(1)} GiB): expert weights are read from the shards one expert at a time, when a stage uses them`);
    const expertMap = El < E ? new Tensor('i32', [E], slotOf, undefined, 0, 'expert_map') : undefined;
    // paged: gate rows then up rows of each expert (a shorter dst takes the prefix), down for w2; zeros without tokens
    const pagedW13 = (): Tensor<'f8e4m3fn'> =>
      expertPagedTensor([El, 2 * I, H], 'w13_weight', {
        perExpert: 2 * I * H,
        active: (l) => !!sources[l],
        fill: (l, dst) => {
          const p = sources[l];
          if (!p) return void dst.fill(0);
          readShardRange(p.gate.weight, dst.subarray(0, Math.min(dst.length, I * H)));
          if (dst.length > I * H) readShardRange(p.up.weight, dst.subarray(I * H));
        },
      });
    const pagedW2 = (): Tensor<'f8e4m3fn'> =>
      expertPagedTensor([El, H, I], 'w2_weight', {
        perExpert: H * I,
        active: (l) => !!sources[l],
        fill: (l, dst) => (sources[l] ? readShardRange(sources[l].down.weight, dst) : void dst.fill(0)),
      });
    return {
      layer,
      w13_weight: paged ? pagedW13() : new Tensor('f8e4m3fn', [El, 2 * I, H], w13, undefined, 0, 'w13_weight'),
      w13_weight_scale_inv: new Tensor('f32', [El, I2b, Hb], s13, undefined, 0, 'w13_weight_scale_inv'),
      w2_weight: paged ? pagedW2() : new Tensor('f8e4m3fn', [El, H, I], w2, undefined, 0, 'w2_weight'),
      w2_weight_scale_inv: new Tensor('f32', [El, Hb, Ib], s2, undefined, 0, 'w2_weight_scale_inv'),
      ...(expertMap ? { expert_map: expertMap } : {}),
      loadedExperts: ids,
      format,
      bytesRead: this.files.bytesRead - before,
      notes,
    };
  }

  private expertList(experts: readonly number[] | undefined): number[] {
    const E = this.config.experts;
    if (!experts) return Array.from({ length: E }, (_, i) => i);
    const set = new Set<number>();
    for (const e of experts) {
      if (!Number.isInteger(e) || e < 0 || e >= E) throw new MoeError('E_RANGE', `expert ${e} is not in 0…${E - 1} (${E} routed experts)`);
      set.add(e);
    }
    return [...set].sort((a, b) => a - b);
  }

  /** a block-scale tensor widened to float32 into dst[at…] */
  private readScales(t: ShardTensor, dst: Float32Array, at: number): void {
    const n = t.shape.reduce((a, d) => a * d, 1);
    if (t.dtype === 'F32') {
      this.files.readInto(t, new Uint8Array(dst.buffer, dst.byteOffset + at * 4, n * 4));
      return;
    }
    if (t.dtype === 'F8_E8M0') {
      const raw = new Uint8Array(n);
      this.files.readInto(t, raw);
      for (let i = 0; i < n; i++) dst[at + i] = decodeUe8m0(raw[i]!);
      return;
    }
    const raw = new Uint16Array(n);
    this.files.readInto(t, new Uint8Array(raw.buffer));
    if (t.dtype === 'BF16') {
      const bits = new Uint32Array(dst.buffer, dst.byteOffset + at * 4, n);
      for (let i = 0; i < n; i++) bits[i] = raw[i]! << 16;
    } else for (let i = 0; i < n; i++) dst[at + i] = decodeF16(raw[i]!);
  }

  private proj(layer: number, expert: number, which: 'gate' | 'up' | 'down'): Proj {
    const base = expand(this.names[which], layer, expert);
    const weight = this.files.locate(`${base}.weight`);
    for (const suffix of this.family.scaleSuffixes) if (this.files.has(base + suffix)) return { weight, scale: this.files.locate(base + suffix) };
    return { weight };
  }

  private formatOf(gate: Proj, layer: number): WeightFormat {
    const w = gate.weight;
    switch (w.dtype) {
      case 'F8_E4M3':
        return 'fp8';
      case 'BF16':
        return 'bf16';
      case 'F16':
        return 'f16';
      case 'F32':
        return 'f32';
      case 'U8':
      case 'I8':
        // raw FP8 bytes have H columns; packed FP4 (DeepSeek-V4's experts) has H/2
        if (w.shape[1] === this.config.hidden) return 'fp8';
        if (w.shape[1]! * 2 === this.config.hidden) return 'fp4';
        break;
      default:
    }
    throw new MoeError(
      'E_DTYPE',
      `${w.file}: '${w.name}' (layer ${layer}) is ${w.dtype} ${shapeStr(w.shape)}; expert weights are read as F8_E4M3 (or U8 FP8 bytes), I8/U8 packed FP4, BF16, F16 or F32`,
      w.name,
    );
  }

  /** the first spelling of the family's expert names present in the files */
  private pickNames(): ExpertNames {
    const c = this.config;
    const first = c.moeLayers[0] ?? c.mtpLayers[0];
    if (first === undefined) throw new MoeError('E_FORMAT', `${c.configPath}: the config declares no MoE layer (${c.numLayers} layers)`);
    for (const n of this.family.expertNames) if (this.files.has(`${expand(n.gate, first)}.weight`)) return n;
    const found = [...this.files.names()].filter((n) => MOE_LOOKING.test(n));
    throw new MoeError(
      'E_FORMAT',
      `${this.files.indexPath}: config.json says ${c.familyLabel} (model_type '${c.modelType}') with MoE layer ${first}, but there is no ${this.family.expertNames.map((n) => `'${expand(n.gate, first)}.weight'`).join(' or ')}; MoE-looking tensors: ${found.slice(0, 6).join(', ') || 'none'}${found.length > 6 ? `, … (${found.length} in all)` : ''}`,
    );
  }
}

/**
 * Quantizes expert matrices that are not FP8 on disk, one 128-row band at a time (the band is a row of 128×128
 * blocks, so the result equals quantizing the whole stacked matrix). Memory: one band in float32.
 */
class BandReader {
  private readonly rowF32: Float32Array;
  private readonly raw: Uint8Array;
  private readonly rawScales: Uint8Array;

  constructor(
    private readonly files: CheckpointFiles,
    private readonly format: Exclude<WeightFormat, 'fp8'>,
    private readonly scaleFormat: ScaleFormat,
    H: number,
    I: number,
  ) {
    const maxCols = Math.max(H, I);
    this.rowF32 = new Float32Array(B * maxCols);
    this.raw = new Uint8Array(B * maxCols * 4);
    this.rawScales = new Uint8Array(B * Math.ceil(maxCols / 32));
  }

  /**
   * parts: matrices stacked along rows (gate then up, or down alone), each `rowsEach` × cols; writes FP8 codes to
   * q[qAt…] and block scales to s[sAt…] for the stacked matrix.
   */
  quantizeStacked(parts: Proj[], rowsEach: number, q: Uint8Array, s: Float32Array, qAt: number, sAt: number): void {
    const cols = this.format === 'fp4' ? parts[0]!.weight.shape[1]! * 2 : parts[0]!.weight.shape[1]!;
    const rows = rowsEach * parts.length;
    const colBlocks = Math.ceil(cols / B);
    for (let r0 = 0, band = 0; r0 < rows; r0 += B, band++) {
      const r1 = Math.min(rows, r0 + B);
      // a band may straddle two parts (gate/up) when rowsEach is not a multiple of 128
      for (let r = r0; r < r1; ) {
        const part = Math.floor(r / rowsEach);
        const end = Math.min(r1, (part + 1) * rowsEach);
        this.decodeRows(parts[part]!, r - part * rowsEach, end - part * rowsEach, cols, (r - r0) * cols);
        r = end;
      }
      const bandT = new Tensor('f32', [r1 - r0, cols], this.rowF32.subarray(0, (r1 - r0) * cols), undefined, 0, parts[0]!.weight.name);
      const { q: bq, scaleInv } = quantizeWeightBlocks(bandT, { scaleFormat: this.scaleFormat });
      q.set(bq.storage, qAt + r0 * cols);
      s.set(scaleInv.storage, sAt + band * colBlocks);
    }
  }

  /** rows [ra, rb) of one part, decoded to float32 at rowF32[at…] */
  private decodeRows(p: Proj, ra: number, rb: number, cols: number, at: number): void {
    const w = p.weight;
    const n = (rb - ra) * cols;
    const out = this.rowF32;
    if (this.format === 'f32') {
      this.files.readInto(w, new Uint8Array(out.buffer, out.byteOffset + at * 4, n * 4), ra * cols * 4);
    } else if (this.format === 'bf16' || this.format === 'f16') {
      const raw = this.raw.subarray(0, n * 2);
      this.files.readInto(w, raw, ra * cols * 2);
      const h = new Uint16Array(raw.buffer, raw.byteOffset, n);
      if (this.format === 'bf16') {
        const bits = new Uint32Array(out.buffer, out.byteOffset + at * 4, n);
        for (let i = 0; i < n; i++) bits[i] = h[i]! << 16;
      } else for (let i = 0; i < n; i++) out[at + i] = decodeF16(h[i]!);
    } else {
      // FP4 E2M1, two per byte (low nibble = even column — ✖ unverified), one UE8M0 scale per 32 values of a row
      const raw = this.raw.subarray(0, n / 2);
      this.files.readInto(w, raw, (ra * cols) / 2);
      const sc = p.scale!;
      const perRow = cols / 32;
      const rs = this.rawScales.subarray(0, (rb - ra) * perRow);
      this.files.readInto(sc, rs, ra * perRow);
      for (let i = 0; i < n; i++) {
        const byte = raw[i >> 1]!;
        const nib = i & 1 ? byte >> 4 : byte & 15;
        const v = FP4_VALUES[nib & 7]! * decodeUe8m0(rs[Math.floor(i / 32)]!);
        out[at + i] = nib & 8 ? -v : v;
      }
    }
  }
}

/** "3…60" style list of integers */
export function rangesText(xs: readonly number[]): string {
  const out: string[] = [];
  for (let i = 0; i < xs.length; ) {
    let j = i;
    while (j + 1 < xs.length && xs[j + 1] === xs[j]! + 1) j++;
    out.push(j > i ? `${xs[i]}…${xs[j]}` : String(xs[i]));
    i = j + 1;
  }
  return out.length > 8 ? `${out.slice(0, 8).join(', ')}, …` : out.join(', ');
}

/**
 * Small Hugging Face checkpoints in the real on-disk format, written from scratch: config.json,
 * model.safetensors.index.json and shards (8-byte little-endian header length, JSON header, data), with the
 * tensor names and config fields of each family. Values are seeded and returned so tests can compare bytes.
 */
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync, ftruncateSync } from 'node:fs';
import { join } from 'node:path';

export interface RawTensor {
  name: string;
  dtype: string;
  shape: number[];
  bytes: Uint8Array;
}

/** A safetensors file with exactly these tensors, in this order (any dtype string). */
export function writeRawSafetensors(path: string, tensors: RawTensor[], metadata: Record<string, string> = { format: 'pt' }): void {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let off = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.bytes.length] };
    off += t.bytes.length;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, len);
    writeSync(fd, json);
    for (const t of tensors) writeSync(fd, t.bytes);
  } finally {
    closeSync(fd);
  }
}

/**
 * A sparse safetensors file: `padBytes` of a filler tensor first (never written: the file system keeps a hole),
 * then `tensors` — so their data sits past `padBytes`. Costs only the bytes of `tensors` on disk.
 */
export function writeSparseSafetensors(path: string, padBytes: number, tensors: RawTensor[]): void {
  const header: Record<string, unknown> = { 'model.embed_tokens.weight': { dtype: 'U8', shape: [padBytes], data_offsets: [0, padBytes] } };
  let off = padBytes;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.bytes.length] };
    off += t.bytes.length;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, len, 0, 8, 0);
    writeSync(fd, json, 0, json.length, 8);
    const dataStart = 8 + json.length;
    ftruncateSync(fd, dataStart + off);
    let pos = dataStart + padBytes;
    for (const t of tensors) {
      writeSync(fd, t.bytes, 0, t.bytes.length, pos);
      pos += t.bytes.length;
    }
  } finally {
    closeSync(fd);
  }
}

/** xorshift32 bytes; FP8 NaN codes (0x7F, 0xFF) replaced so the weights are valid */
export function fp8Bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed | 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const b = x & 0xff;
    out[i] = (b & 0x7f) === 0x7f ? b - 1 : b;
  }
  return out;
}

export function f32Bytes(values: ArrayLike<number>): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

/** BF16 bits of seeded values in roughly ±2 */
export function bf16Values(n: number, seed: number): Uint16Array {
  const out = new Uint16Array(n);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  let x = seed | 0 || 7;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    f[0] = ((x >>> 0) / 4294967296 - 0.5) * 4;
    out[i] = u[0]! >>> 16;
  }
  return out;
}

export type Family = 'deepseek' | 'qwen' | 'mixtral' | 'v4';
export type WeightKind = 'fp8' | 'bf16' | 'fp4' | 'fp8-u8' | 'fp8-e8m0';

export interface FixtureOptions {
  family: Family;
  weights?: WeightKind;
  hidden?: number;
  intermediate?: number;
  experts?: number;
  topk?: number;
  layers?: number;
  /** shards to spread the tensors over (1 = model.safetensors without an index) */
  shards?: number;
  config?: Record<string, unknown>;
  seed?: number;
}

export interface ExpertData {
  gate: Uint8Array;
  up: Uint8Array;
  down: Uint8Array;
  gateScale?: Float32Array;
  upScale?: Float32Array;
  downScale?: Float32Array;
  /** FP4 only: raw packed bytes and e8m0 scale bytes */
  raw?: Record<'gate' | 'up' | 'down', { packed: Uint8Array; scales: Uint8Array }>;
}

export interface Fixture {
  dir: string;
  config: Record<string, unknown>;
  moeLayers: number[];
  /** layer → expert → data (weights as stored: FP8 bytes or BF16 bytes) */
  experts: Map<number, ExpertData[]>;
  bias: Map<number, Float32Array>;
  names: (layer: number, expert: number) => { gate: string; up: string; down: string; scale: string };
}

function baseConfig(o: Required<Pick<FixtureOptions, 'family' | 'hidden' | 'intermediate' | 'experts' | 'topk' | 'layers'>>): Record<string, unknown> {
  switch (o.family) {
    case 'deepseek':
      // field names and values as in deepseek-ai/DeepSeek-V3's config.json, shrunk
      return {
        architectures: ['DeepseekV3ForCausalLM'],
        model_type: 'deepseek_v3',
        hidden_size: o.hidden,
        intermediate_size: o.hidden * 2,
        moe_intermediate_size: o.intermediate,
        n_routed_experts: o.experts,
        n_shared_experts: 1,
        num_experts_per_tok: o.topk,
        num_hidden_layers: o.layers,
        first_k_dense_replace: 1,
        moe_layer_freq: 1,
        n_group: 2,
        topk_group: 1,
        norm_topk_prob: true,
        routed_scaling_factor: 2.5,
        scoring_func: 'sigmoid',
        topk_method: 'noaux_tc',
        num_nextn_predict_layers: 0,
        torch_dtype: 'bfloat16',
        quantization_config: { activation_scheme: 'dynamic', fmt: 'e4m3', quant_method: 'fp8', weight_block_size: [128, 128] },
      };
    case 'qwen':
      // as Qwen/Qwen3-30B-A3B-FP8's config.json, shrunk
      return {
        architectures: ['Qwen3MoeForCausalLM'],
        model_type: 'qwen3_moe',
        hidden_size: o.hidden,
        intermediate_size: o.hidden * 3,
        moe_intermediate_size: o.intermediate,
        num_experts: o.experts,
        num_experts_per_tok: o.topk,
        num_hidden_layers: o.layers,
        decoder_sparse_step: 1,
        mlp_only_layers: [],
        norm_topk_prob: true,
        torch_dtype: 'bfloat16',
        quantization_config: { activation_scheme: 'dynamic', fmt: 'e4m3', quant_method: 'fp8', weight_block_size: [128, 128] },
      };
    case 'mixtral':
      // as mistralai/Mixtral-8x7B-v0.1's config.json, shrunk (BF16, no quantization_config)
      return {
        architectures: ['MixtralForCausalLM'],
        model_type: 'mixtral',
        hidden_size: o.hidden,
        intermediate_size: o.intermediate,
        num_local_experts: o.experts,
        num_experts_per_tok: o.topk,
        num_hidden_layers: o.layers,
        router_aux_loss_coef: 0.02,
        torch_dtype: 'bfloat16',
      };
    case 'v4':
      return {
        architectures: ['DeepseekV4ForCausalLM'],
        model_type: 'deepseek_v4',
        expert_dtype: 'fp4',
        hidden_size: o.hidden,
        moe_intermediate_size: o.intermediate,
        n_routed_experts: o.experts,
        n_shared_experts: 1,
        num_experts_per_tok: o.topk,
        num_hidden_layers: o.layers,
        num_hash_layers: 1,
        norm_topk_prob: true,
        routed_scaling_factor: 1.5,
        scoring_func: 'sqrtsoftplus',
        swiglu_limit: 10.0,
        topk_method: 'noaux_tc',
        quantization_config: { activation_scheme: 'dynamic', fmt: 'e4m3', quant_method: 'fp8', scale_fmt: 'ue8m0', weight_block_size: [128, 128] },
      };
  }
}

function namesFor(family: Family): (l: number, e: number) => { gate: string; up: string; down: string; scale: string } {
  switch (family) {
    case 'mixtral':
      return (l, e) => ({
        gate: `model.layers.${l}.block_sparse_moe.experts.${e}.w1`,
        up: `model.layers.${l}.block_sparse_moe.experts.${e}.w3`,
        down: `model.layers.${l}.block_sparse_moe.experts.${e}.w2`,
        scale: '.weight_scale_inv',
      });
    case 'v4':
      return (l, e) => ({ gate: `layers.${l}.ffn.experts.${e}.w1`, up: `layers.${l}.ffn.experts.${e}.w3`, down: `layers.${l}.ffn.experts.${e}.w2`, scale: '.scale' });
    default:
      return (l, e) => ({
        gate: `model.layers.${l}.mlp.experts.${e}.gate_proj`,
        up: `model.layers.${l}.mlp.experts.${e}.up_proj`,
        down: `model.layers.${l}.mlp.experts.${e}.down_proj`,
        scale: '.weight_scale_inv',
      });
  }
}

function moeLayersOf(family: Family, layers: number, cfg: Record<string, unknown>): number[] {
  const all = Array.from({ length: layers }, (_, i) => i);
  if (family === 'deepseek') return all.filter((l) => l >= (cfg.first_k_dense_replace as number));
  if (family === 'qwen') return all.filter((l) => !(cfg.mlp_only_layers as number[]).includes(l) && (l + 1) % (cfg.decoder_sparse_step as number) === 0);
  return all;
}

/** Writes a checkpoint folder; returns what was written. */
export function writeCheckpoint(dir: string, opts: FixtureOptions): Fixture {
  const o = { hidden: 256, intermediate: 256, experts: 4, topk: 2, layers: 3, ...opts };
  const weights: WeightKind = opts.weights ?? (o.family === 'mixtral' ? 'bf16' : o.family === 'v4' ? 'fp4' : 'fp8');
  const config = { ...baseConfig(o), ...(opts.config ?? {}) };
  if (weights === 'bf16') delete config.quantization_config;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  const H = o.hidden;
  const I = o.intermediate;
  const names = namesFor(o.family);
  const moeLayers = moeLayersOf(o.family, o.layers, config);
  const tensors: RawTensor[] = [];
  const experts = new Map<number, ExpertData[]>();
  const bias = new Map<number, Float32Array>();
  let seed = (opts.seed ?? 1) * 7919;
  // a dense tensor per layer (as real checkpoints have), plus the router
  tensors.push({ name: 'model.embed_tokens.weight', dtype: 'BF16', shape: [16, H], bytes: new Uint8Array(bf16Values(16 * H, 3).buffer) });
  for (let l = 0; l < o.layers; l++) {
    tensors.push({ name: `model.layers.${l}.input_layernorm.weight`, dtype: 'BF16', shape: [H], bytes: new Uint8Array(bf16Values(H, l + 11).buffer) });
    if (!moeLayers.includes(l)) {
      tensors.push({ name: `model.layers.${l}.mlp.gate_proj.weight`, dtype: 'BF16', shape: [2 * H, H], bytes: new Uint8Array(bf16Values(2 * H * H, l).buffer) });
      continue;
    }
    const list: ExpertData[] = [];
    const gateName = o.family === 'mixtral' ? `model.layers.${l}.block_sparse_moe.gate.weight` : o.family === 'v4' ? `layers.${l}.ffn.gate.weight` : `model.layers.${l}.mlp.gate.weight`;
    tensors.push({ name: gateName, dtype: 'BF16', shape: [o.experts, H], bytes: new Uint8Array(bf16Values(o.experts * H, l + 5).buffer) });
    if (o.family === 'deepseek' || o.family === 'v4') {
      const b = Float32Array.from({ length: o.experts }, (_, e) => ((e * 37 + l) % 11) / 100 - 0.05);
      bias.set(l, b);
      tensors.push({ name: o.family === 'v4' ? `layers.${l}.ffn.gate.bias` : `model.layers.${l}.mlp.gate.e_score_correction_bias`, dtype: 'F32', shape: [o.experts], bytes: f32Bytes(b) });
    }
    for (let e = 0; e < o.experts; e++) {
      const n = names(l, e);
      const d: Partial<ExpertData> = {};
      for (const [which, rows, cols] of [['gate', I, H], ['up', I, H], ['down', H, I]] as const) {
        const tname = n[which];
        if (weights === 'bf16') {
          const bytes = new Uint8Array(bf16Values(rows * cols, seed++).buffer);
          d[which] = bytes;
          tensors.push({ name: `${tname}.weight`, dtype: 'BF16', shape: [rows, cols], bytes });
        } else if (weights === 'fp4') {
          const packed = fp8Bytes((rows * cols) / 2, seed++);
          const scales = Uint8Array.from({ length: (rows * cols) / 32 }, (_, i) => 120 + ((i * 7 + e) % 9));
          d.raw ??= {} as ExpertData['raw'];
          d.raw![which] = { packed, scales };
          d[which] = packed;
          tensors.push({ name: `${tname}.weight`, dtype: 'I8', shape: [rows, cols / 2], bytes: packed });
          tensors.push({ name: `${tname}${n.scale}`, dtype: 'F8_E8M0', shape: [rows, cols / 32], bytes: scales });
        } else {
          const bytes = fp8Bytes(rows * cols, seed++);
          d[which] = bytes;
          tensors.push({ name: `${tname}.weight`, dtype: weights === 'fp8-u8' ? 'U8' : 'F8_E4M3', shape: [rows, cols], bytes });
          const sShape = [Math.ceil(rows / 128), Math.ceil(cols / 128)];
          const n2 = sShape[0]! * sShape[1]!;
          if (weights === 'fp8-e8m0') {
            const sb = Uint8Array.from({ length: n2 }, (_, i) => 110 + ((i + e + seed) % 7));
            (d as Record<string, unknown>)[`${which}Scale`] = Float32Array.from(sb, (b) => 2 ** (b - 127));
            tensors.push({ name: `${tname}${n.scale}`, dtype: 'F8_E8M0', shape: sShape, bytes: sb });
          } else {
            const sv = Float32Array.from({ length: n2 }, (_, i) => 1e-3 * (1 + ((i + e * 3 + seed) % 13)));
            (d as Record<string, unknown>)[`${which}Scale`] = sv;
            tensors.push({ name: `${tname}${n.scale}`, dtype: 'F32', shape: sShape, bytes: f32Bytes(sv) });
          }
        }
      }
      list.push(d as ExpertData);
    }
    experts.set(l, list);
  }
  tensors.push({ name: 'lm_head.weight', dtype: 'BF16', shape: [16, H], bytes: new Uint8Array(bf16Values(16 * H, 9).buffer) });

  const shards = opts.shards ?? 2;
  if (shards === 1) {
    writeRawSafetensors(join(dir, 'model.safetensors'), tensors);
  } else {
    const per = Math.ceil(tensors.length / shards);
    const weightMap: Record<string, string> = {};
    let total = 0;
    for (let s = 0; s < shards; s++) {
      const file = `model-${String(s + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
      const part = tensors.slice(s * per, (s + 1) * per);
      writeRawSafetensors(join(dir, file), part);
      for (const t of part) {
        weightMap[t.name] = file;
        total += t.bytes.length;
      }
    }
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2));
  }
  return { dir, config, moeLayers, experts, bias, names };
}

/** config.json of a checkpoint folder → the family and its MoE fields (docs/checkpoints.md). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MoeError } from '../../errors';
import { type ConfigJson, type FamilyConfig, type FamilyDef, type FamilyId, detectFamily, FAMILIES } from './families';

export interface QuantConfig {
  /** quantization_config.quant_method, e.g. "fp8" */
  method?: string;
  /** quantization_config.weight_block_size, e.g. [128, 128] */
  blockSize?: [number, number];
  /** "ue8m0" (DeepSeek-V3.1, V4): power-of-two activation scales (docs/layouts-and-stages.md §7.3) */
  scaleFmt?: string;
  /** DeepSeek-V4's expert_dtype ("fp4" in the released weights) */
  expertDtype?: string;
}

export interface CheckpointConfig extends FamilyConfig {
  family: FamilyId;
  familyLabel: string;
  modelType: string;
  architectures: string[];
  quant: QuantConfig;
  configPath: string;
}

export function readConfigJson(dir: string): { json: ConfigJson; path: string } {
  const path = join(dir, 'config.json');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new MoeError('E_IO', `${path}: cannot read the checkpoint's config (${(e as Error).message}); a checkpoint folder holds config.json beside its .safetensors files`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new MoeError('E_FORMAT', `${path}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new MoeError('E_FORMAT', `${path}: must hold a JSON object`);
  return { json: json as ConfigJson, path };
}

function quantOf(json: ConfigJson, path: string): QuantConfig {
  const q = json.quantization_config;
  const out: QuantConfig = {};
  if (typeof json.expert_dtype === 'string') out.expertDtype = json.expert_dtype;
  if (q === undefined || q === null) return out;
  if (typeof q !== 'object' || Array.isArray(q)) throw new MoeError('E_FORMAT', `${path}: quantization_config must be an object, got ${JSON.stringify(q)}`);
  const o = q as Record<string, unknown>;
  if (typeof o.quant_method === 'string') out.method = o.quant_method;
  if (typeof o.scale_fmt === 'string') out.scaleFmt = o.scale_fmt;
  const b = o.weight_block_size;
  if (b !== undefined && b !== null) {
    if (!Array.isArray(b) || b.length !== 2 || !b.every((v) => Number.isInteger(v) && v > 0))
      throw new MoeError('E_FORMAT', `${path}: quantization_config.weight_block_size must be [rows, cols], got ${JSON.stringify(b)}`);
    out.blockSize = [b[0] as number, b[1] as number];
  }
  return out;
}

export function familyConfig(json: ConfigJson, path: string, family: FamilyDef): CheckpointConfig {
  return {
    ...family.parse(json, path),
    family: family.id,
    familyLabel: family.label,
    modelType: String(json.model_type ?? ''),
    architectures: Array.isArray(json.architectures) ? json.architectures.map(String) : [],
    quant: quantOf(json, path),
    configPath: path,
  };
}

/** the families as a user knows them, for error messages */
export const KNOWN_MODEL_TYPES = FAMILIES.flatMap((f) => f.modelTypes);

export { detectFamily };

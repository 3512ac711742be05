/**
 * Reads a saved run (`moe-inspect run --trace FILE`: the Trace as JSON, gzip allowed) for MoE: Compare With…: a
 * regular file only, bounded in size and nesting, checked field by field with the panel's own Trace check
 * (kernels/protocol.ts checkTrace), so a file that passes can be drawn. A PyTorch profiler trace picked by mistake is
 * told apart and pointed at MoE: Import Profiler Trace…. Every refusal is one line naming the file.
 */
import { readFileSync, statSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { MoeError } from '../errors';
import { fileKind } from './fileKind';
import { scanJson } from './strictJson';
import { checkTrace } from '../protocol';
import type { Trace } from '../trace';

/** a saved trace inlines small tensors only; anything past this is not one */
export const MAX_TRACE_FILE_BYTES = 512 * 2 ** 20;
/** a Trace nests a handful of levels (spec.recipe.options, tensors.X.layout.packing) */
const MAX_TRACE_DEPTH = 32;

export function readTraceFile(path: string): Trace {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw new MoeError('E_IO', `${path}: cannot read (${(e as Error).message})`);
  }
  if (!st.isFile()) throw new MoeError('E_IO', `${path} is ${fileKind(st)}, not a trace file: pick the JSON that moe-inspect run --trace wrote`);
  if (st.size > MAX_TRACE_FILE_BYTES) throw new MoeError('E_FORMAT', `${path}: ${st.size} bytes, more than a saved trace's ${MAX_TRACE_FILE_BYTES}: pick the JSON that moe-inspect run --trace wrote`);
  let bytes: Buffer = readFileSync(path);
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes, { maxOutputLength: MAX_TRACE_FILE_BYTES });
    } catch (e) {
      throw new MoeError('E_FORMAT', `${path}: gzip that does not inflate within ${MAX_TRACE_FILE_BYTES} bytes (${(e as Error).message})`);
    }
  }
  const text = bytes.toString('utf8');
  const problem = scanJson(text, MAX_TRACE_DEPTH);
  if (problem?.kind === 'depth') throw new MoeError('E_FORMAT', `${path}: JSON nested ${problem.depth} deep at character ${problem.at}; a trace nests at most ${MAX_TRACE_DEPTH}`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new MoeError('E_FORMAT', `${path} is not JSON (${(e as Error).message}): pick the JSON that moe-inspect run --trace wrote`);
  }
  const o = v as Record<string, unknown> | null;
  if (Array.isArray(v) || (o && typeof o === 'object' && 'traceEvents' in o))
    throw new MoeError('E_FORMAT', `${path} is a profiler trace (Chrome trace events), not a moe-inspect run: use "MoE: Import Profiler Trace…" for it`);
  if (!o || typeof o !== 'object' || o.version !== 1)
    throw new MoeError('E_FORMAT', `${path}: not a moe-inspect trace (expected an object with "version": 1, got ${o && typeof o === 'object' ? `version ${JSON.stringify(o.version)}` : typeof v}); write one with moe-inspect run --trace FILE`);
  try {
    return checkTrace(v, 'trace');
  } catch (e) {
    throw new MoeError('E_FORMAT', `${path}: not a trace this panel can draw: ${(e as Error).message}`);
  }
}

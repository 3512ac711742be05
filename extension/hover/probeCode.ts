/**
 * Wraps the Python probe (probe.py) for the two places it runs, and reads back what it answered.
 * - Debug sessions: the debug adapter's `evaluate` takes one expression, so the probe is exec'd into a fresh dict
 *   inside a lambda and called with the paused frame's globals()/locals(); the adapter answers with the repr of the
 *   returned str.
 * - Notebooks: the same lambda, but the answer is written as one marked line on stdout, which the Jupyter kernel API
 *   returns to us (it is never shown in a cell). The statement evaluates to None, so IPython's display hook stores
 *   nothing (`_`, `Out`) and the user's namespace is left exactly as it was.
 * The expression is embedded as a string literal and evaluated by the probe itself, inside its try/except.
 */
import { MoeError } from '../../kernels/errors';
import type { ProbeWire, ProbedTensor, TensorSample } from './types';
import { decodeSample } from './sample';

/** A JSON string literal is also a valid Python str literal (same escapes: \" \\ \n \t \uXXXX ...). */
export const pythonStr = (s: string): string => JSON.stringify(s);

export function debugProbeExpression(probeSource: string, expression: string): string {
  return `(lambda n, g, l: (exec(${pythonStr(probeSource)}, n), n['_p'](${pythonStr(expression)}, g, l))[1])({}, globals(), locals())`;
}

export function notebookProbeCode(probeSource: string, expression: string): string {
  return `(lambda n, g, l: (exec(${pythonStr(probeSource)}, n), n['_emit'](n['_p'](${pythonStr(expression)}, g, l)))[1])({}, globals(), locals())`;
}

export const PROBE_MARKER = '\u001eMOE-PROBE ';

/** The JSON text of the marked line in the kernel's stdout, or undefined when there is none. */
export function findMarkedLine(stdout: string): string | undefined {
  const at = stdout.lastIndexOf(PROBE_MARKER);
  if (at < 0) return undefined;
  const rest = stdout.slice(at + PROBE_MARKER.length);
  const nl = rest.indexOf('\n');
  return nl < 0 ? rest : rest.slice(0, nl);
}

/**
 * Inverse of Python's repr() for a str: the debug adapter answers `evaluate` with the repr of the value.
 * Returns undefined for anything that is not a complete quoted literal (e.g. a truncated one).
 */
export function parsePythonStrRepr(repr: string): string | undefined {
  const q = repr[0];
  if ((q !== "'" && q !== '"') || repr.length < 2 || repr[repr.length - 1] !== q) return undefined;
  let out = '';
  for (let i = 1; i < repr.length - 1; i++) {
    const c = repr[i]!;
    if (c === q) return undefined;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const e = repr[++i];
    const hex = (n: number): number | undefined => {
      const h = repr.slice(i + 1, i + 1 + n);
      if (h.length !== n || !/^[0-9a-fA-F]+$/.test(h)) return undefined;
      i += n;
      return parseInt(h, 16);
    };
    let code: number | undefined;
    switch (e) {
      case '\\': out += '\\'; break;
      case "'": out += "'"; break;
      case '"': out += '"'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'x': code = hex(2); break;
      case 'u': code = hex(4); break;
      case 'U': code = hex(8); break;
      default: return undefined;
    }
    if (e === 'x' || e === 'u' || e === 'U') {
      if (code === undefined || code > 0x10ffff) return undefined;
      out += String.fromCodePoint(code);
    }
  }
  return out;
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);
const isIntArray = (v: unknown, max = 64): v is number[] => Array.isArray(v) && v.length <= max && v.every(isInt);
const isBoolOrNull = (v: unknown): v is boolean | null => v === null || typeof v === 'boolean';

function bad(what: string, got: unknown): never {
  const shown = typeof got === 'string' ? JSON.stringify(got.slice(0, 40)) : JSON.stringify(got)?.slice(0, 60) ?? String(got);
  throw new MoeError('E_FORMAT', `hover probe output: expected ${what}, got ${shown}`, 'probe');
}

/** Checks the probe's JSON field by field; null means "not a tensor". Throws E_FORMAT on anything malformed. */
export function parseProbeJson(text: string): ProbeWire | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    bad('JSON text', text);
  }
  if (v === null) return null;
  if (typeof v !== 'object' || Array.isArray(v)) bad('a JSON object or null', v);
  const o = v as Record<string, unknown>;
  if (o.library !== 'torch' && o.library !== 'numpy') bad("library 'torch' or 'numpy'", o.library);
  for (const k of ['type', 'dtype', 'device'] as const) if (typeof o[k] !== 'string') bad(`${k} as a string`, o[k]);
  if (!isInt(o.item_bytes) || o.item_bytes < 0) bad('item_bytes as a non-negative integer', o.item_bytes);
  if (!isIntArray(o.shape) || o.shape.some((d) => d < 0)) bad('shape as a list of non-negative integers', o.shape);
  if (o.strides !== null && (!isIntArray(o.strides) || o.strides.length !== o.shape.length)) bad(`strides as ${o.shape.length} integers or null`, o.strides);
  if (!isIntArray(o.strides_bytes) || o.strides_bytes.length !== o.shape.length) bad(`strides_bytes as ${o.shape.length} integers`, o.strides_bytes);
  const st = o.storage as Record<string, unknown> | null;
  if (st !== null && (typeof st !== 'object' || !isInt(st.bytes) || !isInt(st.offset_bytes) || st.bytes < 0)) bad('storage as {bytes, offset_bytes} or null', st);
  if (typeof o.requires_grad !== 'boolean') bad('requires_grad as a boolean', o.requires_grad);
  for (const k of ['c_contiguous', 'f_contiguous', 'tma_aligned'] as const) if (!isBoolOrNull(o[k])) bad(`${k} as a boolean or null`, o[k]);
  if (o.major !== null && o.major !== 'K' && o.major !== 'MN' && o.major !== 'both') bad("major 'K', 'MN', 'both' or null", o.major);
  if (o.sample_error !== null && typeof o.sample_error !== 'string') bad('sample_error as a string or null', o.sample_error);
  const s = o.sample as Record<string, unknown> | null;
  if (s !== null) {
    if (typeof s !== 'object' || !isIntArray(s.lead) || !isInt(s.rows) || !isInt(s.cols) || typeof s.hex !== 'string') bad('sample as {lead, rows, cols, hex} or null', s);
    if (s.rows < 0 || s.cols < 0 || s.rows * s.cols > 4096) bad('a sample of at most 4096 values', `${s.rows}x${s.cols}`);
  }
  return o as unknown as ProbeWire;
}

/** The checked wire form → what the extension works with (sample decoded; storage in elements). */
export function toProbedTensor(w: ProbeWire, expression: string, origin: ProbedTensor['origin']): ProbedTensor {
  const item = w.item_bytes;
  let sample: TensorSample | null = null;
  let sampleNote = w.sample_error;
  if (w.sample) {
    const count = w.sample.rows * w.sample.cols;
    const values = decodeSample(w.dtype, item, w.sample.hex, count);
    if (values) sample = { lead: w.sample.lead, rows: w.sample.rows, cols: w.sample.cols, values };
    else sampleNote = `sample of dtype ${w.dtype} not decodable (${w.sample.hex.length / 2} bytes for ${count} values)`;
  }
  const perItem = (bytes: number): number | null => (item > 0 && bytes % item === 0 ? bytes / item : null);
  return {
    expression,
    origin,
    library: w.library,
    typeName: w.type,
    dtype: w.dtype,
    itemBytes: item,
    shape: w.shape,
    strides: w.strides,
    stridesBytes: w.strides_bytes,
    storageOffset: w.storage ? perItem(w.storage.offset_bytes) : null,
    storageElems: w.storage && item > 0 ? Math.floor(w.storage.bytes / item) : null,
    storageBytes: w.storage ? w.storage.bytes : null,
    device: w.device,
    requiresGrad: w.requires_grad,
    cContiguous: w.c_contiguous,
    fContiguous: w.f_contiguous,
    major: w.major,
    tmaAligned: w.tma_aligned,
    sample,
    sampleNote,
  };
}

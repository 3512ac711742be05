/**
 * The hover's text: the layout facts the probe measured, the most likely role of the tensor (classify.ts), an
 * inline layout thumbnail and the "Open in MoE Layout Inspector" command link. Pure: returns a markdown string;
 * the vscode adapter wraps it in a MarkdownString trusted only for OPEN_PROBED_TENSOR_COMMAND.
 */
import { classifyTensor, tmaAlignedMN } from './classify';
import { layoutThumbnail, svgDataUri } from './thumbnail';
import type { ProbedTensor } from './types';

export const OPEN_PROBED_TENSOR_COMMAND = 'moeInspector.openProbedTensor';

/** Command arguments carried in the link: a key into the provider's cache (the sample is too large for a URI). */
export interface OpenProbedTensorArgs {
  id: string;
  expression: string;
}

export const commandUri = (args: OpenProbedTensorArgs): string =>
  `command:${OPEN_PROBED_TENSOR_COMMAND}?${encodeURIComponent(JSON.stringify([args]))}`;

/** Escapes markdown punctuation in text that came from the user's program (type names, device strings). */
export const escapeMd = (s: string): string => s.replace(/[\\`*_{}[\]()#+\-.!|<>~]/g, (c) => `\\${c}`);

const tuple = (v: readonly number[]): string => `(${v.join(', ')}${v.length === 1 ? ',' : ''})`;

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

function contiguity(t: ProbedTensor): string {
  if (t.cContiguous === null) return 'unknown';
  if (t.cContiguous && t.fContiguous) return 'contiguous (C and Fortran order)';
  if (t.cContiguous) return 'contiguous (row-major)';
  if (t.fContiguous) return 'Fortran-contiguous (column-major)';
  return 'not contiguous';
}

function majorness(t: ProbedTensor): string {
  if (t.shape.length < 2) return '—';
  const n = t.shape.length;
  switch (t.major) {
    case 'K':
      return 'K-major (last-dim stride 1)';
    case 'MN':
      return 'MN-major (second-to-last stride 1)';
    case 'both':
      return 'K- and MN-major (a dimension of extent 1)';
    default:
      return `neither (strides ${t.strides ? tuple(t.strides.slice(n - 2)) : 'unknown'})`;
  }
}

function tma(t: ProbedTensor): string {
  const n = t.shape.length;
  if (t.tmaAligned === null || n < 2 || !t.strides) return '—';
  const other = t.major === 'MN' ? t.strides[n - 1]! : t.major === 'K' ? t.strides[n - 2]! : t.shape[n - 1] !== 1 ? t.strides[n - 1]! : t.strides[n - 2]!;
  const bytes = Math.abs(other) * t.itemBytes;
  const text = `${t.tmaAligned ? 'aligned' : 'not aligned'}: outer stride ${other} × ${t.itemBytes} B = ${bytes} B ${t.tmaAligned ? 'is' : 'is not'} a multiple of 16 B`;
  if (t.major === 'MN') {
    const mn = t.shape[n - 2]!;
    const want = tmaAlignedMN(mn, t.itemBytes);
    return `${text}${other === want ? ` (= align(${mn}, ${16 / t.itemBytes}))` : ''}`;
  }
  return text;
}

function storage(t: ProbedTensor): string {
  if (t.storageElems === null || t.storageBytes === null) return 'unknown (memory not owned by an array)';
  const off = t.storageOffset === null ? '' : `, offset ${t.storageOffset}`;
  return `${t.storageElems} elements · ${formatBytes(t.storageBytes)}${off}`;
}

function sampleLine(t: ProbedTensor): string {
  if (!t.sample) return t.sampleNote ? `_no sample: ${escapeMd(t.sampleNote)}_` : '';
  const v = t.sample.values;
  if (v.length === 0) return '_empty_';
  let nan = 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (const x of v) {
    if (Number.isNaN(x)) nan++;
    else {
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
  }
  const fmt = (x: number): string => (Number.isInteger(x) ? String(x) : x.toPrecision(4));
  const where = t.sample.lead.length ? `[${t.sample.lead.join(', ')}, :${t.sample.rows}, :${t.sample.cols}]` : t.shape.length === 2 ? `[:${t.sample.rows}, :${t.sample.cols}]` : `[:${t.sample.cols}]`;
  const head = v.slice(0, 6).map(fmt).join(', ');
  const range = lo <= hi ? `min ${fmt(lo)}, max ${fmt(hi)}` : 'all NaN';
  return `sample ${t.shape.length ? where : ''} (${v.length} values): ${head}${v.length > 6 ? ', …' : ''} — ${range}${nan ? `, ${nan} NaN` : ''}`;
}

export interface HoverMarkdownOptions {
  /** the hovered leaf name (attribute or variable), used to guess the tensor's role */
  leafName: string;
  /** command link arguments; omitted → no link */
  link?: OpenProbedTensorArgs;
}

export function hoverMarkdown(t: ProbedTensor, opts: HoverMarkdownOptions): string {
  const lines: string[] = [];
  lines.push(`**\`${t.expression.replace(/`/g, "'")}\`** — ${escapeMd(t.typeName)} · **${escapeMd(t.dtype)}** · ${escapeMd(t.device)}${t.requiresGrad ? ' · requires grad' : ''}`);
  lines.push('');
  const c = classifyTensor({ ...t, name: opts.leafName });
  if (c) {
    const icon = c.verdict === 'ok' ? '$(pass)' : c.verdict === 'warn' ? '$(warning)' : '$(info)';
    lines.push(`${icon} **Likely ${c.what}:** ${c.consequence}`);
    lines.push('');
  }
  const strides = t.strides ? `${tuple(t.strides)} elements` : `${tuple(t.stridesBytes)} bytes`;
  lines.push('| | |', '|---|---|');
  lines.push(`| shape | ${tuple(t.shape)} |`);
  lines.push(`| strides | ${strides} |`);
  lines.push(`| storage | ${storage(t)} |`);
  lines.push(`| contiguity | ${contiguity(t)} |`);
  lines.push(`| major | ${majorness(t)} |`);
  lines.push(`| TMA | ${tma(t)} |`);
  lines.push('');
  const thumb = layoutThumbnail(t.shape, t.strides);
  if (thumb.cells > 0) {
    lines.push(`![storage order of ${t.shape.length >= 2 ? 'the last two dimensions' : 'the values'}](${svgDataUri(thumb.svg)})`);
    lines.push('');
  }
  const s = sampleLine(t);
  if (s) lines.push(s, '');
  if (opts.link) lines.push(`[Open in MoE Layout Inspector](${commandUri(opts.link)})`);
  return lines.join('\n');
}

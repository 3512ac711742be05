/**
 * The flat K-grouped wgrad buffers (docs/layouts-and-stages.md §8): for the LHS (grad_output, D = N) and the RHS (input, D = K),
 * the 1-D FP8 buffer as a bar split into each expert's block [s_e·D, (s_e + P_e)·D); one expert's block opened as the
 * row-major (D, P_e) matrix it is — features down, tokens across in 128-token blocks, padding tokens hatched, with
 * the offset rule s_e·D + d·P_e + m — and the (D, S/128) scale tensor whose columns are the experts' token blocks
 * (one float32 per feature and 128-token block), shaded by value when the trace carries it inline.
 */
import type { Trace } from '../../../trace';
import type { Theme } from '../../../../webview/theme';
import { addPatterns, createSvg, legendRow, type G, type PatternIds } from '../../../../webview/views/svgkit';
import { frame, type TrainingViewOptions } from './frame';
import { expertColor, scaleColumnsText, type TrainingModel } from './model';
import { kGroupedExtent } from '../groups';
import { TT } from '../tensors';

/** scale columns drawn one by one up to this many token blocks; above, one cell per expert */
export const SCALE_BLOCK_LIMIT = 256;

export interface KGroupedViewOptions extends TrainingViewOptions {
  /** the expert whose block is opened (default: the first with tokens) */
  expert?: number;
}

export function render(container: HTMLElement, trace: Trace, options: KGroupedViewOptions = {}): void {
  const f = frame(container, trace, 'kgrouped-view', options);
  if (!f) return;
  const { model: m, theme, width, prefix } = f;
  const open = options.expert ?? Math.max(0, Array.from(m.groups.sizes).findIndex((c) => c > 0));
  const panelH = 256;
  const svg = createSvg(container.ownerDocument, width, 40 + 2 * panelH + 30, theme, `K-grouped wgrad buffers, ${m.E} experts`);
  const pat = addPatterns(svg, theme, prefix);
  svg.append('text').attr('class', 'title').attr('x', 16).attr('y', 22).attr('font-weight', 'bold')
    .text(`wgrad operands of k_grouped_fp8_gemm_nt_contiguous: ks = [${Array.from(m.groups.padded).join(', ')}] (groups padded to 128)`);
  const operands = [
    { name: TT.wgrad_lhs, scale: TT.wgrad_lhs_scale, D: m.N, dn: 'N', what: 'grad_output' },
    { name: TT.wgrad_rhs, scale: TT.wgrad_rhs_scale, D: m.K, dn: 'K', what: 'input' },
  ];
  operands.forEach((op, i) => {
    const g = svg.append('g').attr('class', 'operand').attr('data-tensor', op.name).attr('transform', `translate(16, ${40 + i * panelH})`);
    drawOperand(g, m, op, open, width - 32, theme, pat, !!trace.tensors[op.name]);
    const inline = trace.tensors[op.scale]?.inline;
    drawScales(g, m, op, width - 32, theme, inline);
  });
  const legend = svg.append('g').attr('transform', `translate(16, ${40 + 2 * panelH})`);
  legendRow(
    legend,
    [
      ...Array.from({ length: Math.min(m.E, 4) }, (_, e) => ({ label: `expert ${e}`, fill: expertColor(e, theme.charts) })),
      { label: 'padding tokens (code 0)', fill: `url(#${pat.pad})` },
    ],
    theme,
    width - 32,
  );
  container.appendChild(svg.node()!);
}

interface OperandSpec {
  name: string;
  scale: string;
  D: number;
  dn: string;
  what: string;
}

function drawOperand(g: G, m: TrainingModel, op: OperandSpec, open: number, w: number, theme: Theme, pat: PatternIds, present: boolean): void {
  const gr = m.groups;
  const total = gr.paddedTokens * op.D;
  g.append('text').attr('class', 'operand-title').attr('y', 10).attr('font-weight', 'bold')
    .text(`${op.name}: flat FP8 buffer of Σ P_e·${op.dn} = ${gr.paddedTokens}·${op.D} = ${total} bytes (${op.what}, each expert's rows transposed)${present ? '' : ' — not computed yet'}`);
  const bar = g.append('g').attr('class', 'flat-bar').attr('transform', 'translate(0, 20)');
  const xb = (o: number): number => (total > 0 ? (o / total) * w : 0);
  for (let e = 0; e < m.E; e++) {
    const [b, end] = kGroupedExtent(gr, op.D, e);
    if (end === b) continue;
    bar.append('rect').attr('class', 'expert-block').attr('data-expert', e).attr('data-begin', b).attr('data-end', end)
      .attr('x', xb(b)).attr('width', Math.max(0.5, xb(end) - xb(b))).attr('height', 22)
      .attr('fill', expertColor(e, theme.charts)).attr('fill-opacity', e === open ? 1 : 0.55).attr('stroke', theme.border)
      .append('title').text(`expert ${e}: [${b}, ${end}) = (${op.D}, ${gr.padded[e]}) row-major, ${gr.sizes[e]} tokens + ${gr.padded[e]! - gr.sizes[e]!} padding`);
    bar.append('text').attr('class', 'offset').attr('data-expert', e).attr('x', xb(b) + 2).attr('y', 36).attr('font-size', 10).attr('fill', theme.muted).text(`[${b}, ${end})`);
  }
  if (gr.paddedTokens === 0) bar.append('text').attr('class', 'empty').attr('y', 14).attr('fill', theme.muted).text('no tokens: the buffer is empty');

  // the opened block: (D, P_e) matrix, rows = features, columns = tokens
  const P = gr.padded[open] ?? 0;
  if (P === 0) return;
  const c = gr.sizes[open]!;
  const mg = g.append('g').attr('class', 'expert-matrix').attr('data-expert', open).attr('transform', 'translate(0, 68)');
  const mw = matrixWidth(w);
  const mh = 110;
  const xm = (t: number): number => (t / P) * mw;
  mg.append('rect').attr('class', 'tokens').attr('width', xm(c)).attr('height', mh).attr('fill', expertColor(open, theme.charts)).attr('stroke', theme.border);
  if (P > c) mg.append('rect').attr('class', 'pad-tokens').attr('x', xm(c)).attr('width', xm(P) - xm(c)).attr('height', mh).attr('fill', `url(#${pat.pad})`).attr('stroke', theme.border);
  for (let j = 1; j < P / 128; j++) mg.append('line').attr('class', 'block-line').attr('x1', xm(j * 128)).attr('x2', xm(j * 128)).attr('y1', 0).attr('y2', mh).attr('stroke', theme.foreground).attr('stroke-dasharray', '3,2');
  // one row (feature d) drawn as a thin band: row-major means its P_e tokens are contiguous
  mg.append('rect').attr('class', 'feature-row').attr('y', mh * 0.3).attr('width', mw).attr('height', 4).attr('fill', theme.focus);
  const s = gr.starts[open]!;
  const lines = [
    `expert ${open}: (${op.D}, ${P}) row-major`,
    `${op.dn} features down, ${P} tokens across: ${P / 128} block${P > 128 ? 's' : ''} of 128 (${c} real, ${P - c} padding)`,
    `element (d, m) at ${s}·${op.D} + d·${P} + m = ${s * op.D} + d·${P} + m`,
    `one scale per (feature, 128-token block): ${op.scale}[:, ${s / 128}${P > 128 ? `…${s / 128 + P / 128 - 1}` : ''}]`,
  ];
  lines.forEach((t, i) => mg.append('text').attr('class', 'matrix-note').attr('x', mw + 14).attr('y', 14 + i * 16).attr('font-size', 11).text(t));
  mg.append('text').attr('x', 0).attr('y', mh + 14).attr('font-size', 10).attr('fill', theme.muted).text(`m = 0 … ${P - 1} →`);
  mg.append('text').attr('x', 3).attr('y', mh * 0.3 - 3).attr('font-size', 10).attr('fill', theme.background).text('row d');
}

function drawScales(g: G, m: TrainingModel, op: OperandSpec, w: number, theme: Theme, inline?: number[]): void {
  const gr = m.groups;
  const B = gr.blocks;
  const sg = g.append('g').attr('class', 'scales').attr('data-tensor', op.scale).attr('transform', `translate(${matrixWidth(w) + 14}, 162)`);
  const cols0 = scaleColumnsText(gr);
  sg.append('text').attr('class', 'scale-title').attr('y', -14).attr('font-size', 11).attr('font-weight', 'bold').text(`${op.scale} (${op.D}, ${B}) float32, one column per 128-token block:`);
  sg.append('text').attr('class', 'scale-columns').attr('y', 0).attr('font-size', 11)
    .text(cols0.length > 6 ? `${cols0.slice(0, 6).join(', ')}, … (${cols0.length} experts)` : cols0.join(', ') || 'no columns');
  if (B === 0) return;
  const avail = w - matrixWidth(w) - 40;
  // many token blocks (a DeepSeek-size batch): one cell per expert instead of one per block, few bands
  const perExpert = B > SCALE_BLOCK_LIMIT;
  const cols = perExpert ? Array.from({ length: m.E }, (_, e) => e).filter((e) => gr.padded[e]! > 0).map((e) => ({ J: gr.starts[e]! / 128, n: gr.padded[e]! / 128, e })) : Array.from({ length: B }, (_, J) => ({ J, n: 1, e: ownerOfBlock(gr.starts, gr.padded, J) }));
  const cw = avail / B;
  const bands = perExpert ? 1 : Math.min(op.D, Math.max(1, Math.floor(2048 / B)), 16);
  const bh = 50 / bands;
  // inline values: log2 shading per column band
  let lo = Infinity;
  let hi = -Infinity;
  if (inline)
    for (const v of inline)
      if (v > 0) {
        lo = Math.min(lo, Math.log2(v));
        hi = Math.max(hi, Math.log2(v));
      }
  for (const { J, n, e } of cols) {
    for (let b = 0; b < bands; b++) {
      const d0 = Math.floor((b * op.D) / bands);
      let opacity = 0.75;
      if (inline && hi > lo && !perExpert) {
        const v = inline[d0 * B + J]!;
        opacity = 0.25 + (0.75 * (Math.log2(v) - lo)) / (hi - lo);
      }
      sg.append('rect').attr('class', 'scale-cell').attr('data-block', J).attr('data-expert', e)
        .attr('x', J * cw).attr('y', 8 + b * bh).attr('width', Math.max(0.5, n * cw - (perExpert ? 0 : 1))).attr('height', bh).attr('fill', expertColor(e, theme.charts)).attr('fill-opacity', opacity)
        .append('title').text(perExpert ? `expert ${e}: columns ${J}–${J + n - 1}` : `${op.scale}[${d0}, ${J}]${inline ? ` = ${inline[d0 * B + J]}` : ''}: expert ${e}, token block ${J - gr.starts[e]! / 128}`);
    }
  }
  sg.append('text').attr('x', 0).attr('y', 72).attr('font-size', 10).attr('fill', theme.muted)
    .text(perExpert ? `${B} token blocks: one cell per expert` : inline ? 'shade: log2 of the scale' : 'values not inline (large tensor): structure only');
}

const matrixWidth = (w: number): number => Math.min(w * 0.42, 420);

function ownerOfBlock(starts: Int32Array, padded: Int32Array, J: number): number {
  for (let e = 0; e < starts.length; e++) if (J * 128 >= starts[e]! && J * 128 < starts[e]! + padded[e]!) return e;
  return -1;
}

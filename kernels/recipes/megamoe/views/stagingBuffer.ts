/**
 * The symmetric buffer's staging area (docs/layouts-and-stages.md §7.4): what vLLM copies in before each fp8_mega_moe call —
 * x (T_max, H) FP8, x_sf (T_max, H/128) float32 K-major, topk_idx (T_max, k) int64, topk_weights (T_max, k) float32 —
 * in buffer order with their sizes, which of the T_max rows this call fills, the K-major scale storage order, and
 * each staged token's experts (on this rank or another).
 */
import type { Trace } from '../../../trace';
import { createSvg, addPatterns, legendRow } from '../../../../webview/views/svgkit';
import { MG } from '../tensors';
import { fmtBytesShort, fmtShape, inlineOf, messageSvg, mount, tensorOf, themeOf, type MegamoeViewOptions } from './common';

export interface StagingRegion {
  name: string;
  label: string;
  shape: number[];
  dtype: string;
  bytes: number;
  layout: string;
}

export interface StagingModel {
  tMax: number;
  tokens: number;
  hidden: number;
  topk: number;
  regions: StagingRegion[];
  /** staged expert ids of the first tokens (T × k), when inline */
  ids?: number[];
  /** global expert → local id (−1 = another rank), when known */
  local?: (globalExpert: number) => boolean;
  /** x_sf of the first rows, when inline (T_max × H/128) */
  sf?: number[];
}

const DTYPE: Record<string, string> = { f8e4m3fn: 'fp8 e4m3', f32: 'float32', i64: 'int64', i32: 'int32', bf16: 'bf16' };

export function stagingModel(trace: Trace): StagingModel | string {
  const x = tensorOf(trace, MG.sym_x);
  const sf = tensorOf(trace, MG.sym_x_sf);
  const idx = tensorOf(trace, MG.sym_topk_idx);
  const w = tensorOf(trace, MG.sym_topk_weights);
  if (!x || !sf || !idx || !w) return `the trace has no symmetric-buffer tensors (${MG.sym_x}, ${MG.sym_x_sf}, ${MG.sym_topk_idx}, ${MG.sym_topk_weights}): run the megamoe-sm90 recipe up to its first stage`;
  const region = (name: string, label: string, t: typeof x, layout: string): StagingRegion => ({
    name,
    label,
    shape: t.shape,
    dtype: DTYPE[t.dtype] ?? t.dtype,
    bytes: t.shape.reduce((a, b) => a * b, 1) * t.layout.itemBytes,
    layout,
  });
  const [tMax, hidden] = x.shape as [number, number];
  const topk = idx.shape[1]!;
  const ep = trace.spec.expertParallel;
  const map = inlineOf(trace, 'expert_map');
  const perRank = ep && ep.size > 1 ? trace.spec.experts / ep.size : undefined;
  const local = map ? (g: number): boolean => (map[g] ?? -1) >= 0 : perRank && Number.isInteger(perRank) ? (g: number): boolean => Math.floor(g / perRank) === ep!.rank : undefined;
  const ids = inlineOf(trace, MG.sym_topk_idx);
  const sfv = inlineOf(trace, MG.sym_x_sf);
  return {
    tMax,
    tokens: trace.spec.tokens,
    hidden,
    topk,
    regions: [
      region('x', 'x', x, 'row-major'),
      region('x_sf', 'x_sf', sf, 'K-major (row-major)'),
      region('topk_idx', 'topk_idx', idx, 'row-major'),
      region('topk_weights', 'topk_weights', w, 'row-major'),
    ],
    ...(ids ? { ids } : {}),
    ...(local ? { local } : {}),
    ...(sfv ? { sf: sfv } : {}),
  };
}

export function render(container: HTMLElement, trace: Trace, options: MegamoeViewOptions = {}): void {
  const doc = container.ownerDocument;
  const theme = themeOf(options);
  const title = 'MegaMoE symmetric buffer: staging area';
  const m = stagingModel(trace);
  if (typeof m === 'string') return mount(container, messageSvg(doc, theme, title, m), 'megamoe-staging-view');
  const W = options.width ?? 900;
  const innerW = W - 28;
  const showTokens = Math.min(m.tokens, 32);
  const G = m.hidden / 128;
  const showG = Math.min(G, 32);
  const cell = 14;
  const regionsTop = 60, regionsH = 64;
  const rowsTop = regionsTop + regionsH + 46;
  const gridTop = rowsTop + 84;
  const H = gridTop + showTokens * cell + 90;
  const svg = createSvg(doc, W, H, theme, title);
  const ids = addPatterns(svg, theme, options.idPrefix ?? 'staging');
  svg.append('text').attr('class', 'title').attr('x', 14).attr('y', 22).attr('font-size', 14).attr('font-weight', 600).text(title);
  const total = m.regions.reduce((a, r) => a + r.bytes, 0);
  svg.append('text').attr('class', 'subtitle').attr('x', 14).attr('y', 40).attr('fill', theme.muted).attr('font-size', 11)
    .text(`T_max = ${m.tMax} rows per rank (num_max_tokens_per_rank), ${m.tokens} filled by this call · ${fmtBytesShort(total)} staged, copied in before each fp8_mega_moe call`);

  // ---- the four regions in buffer order; widths ∝ √bytes so the small ones stay visible
  const colours = [theme.charts.blue, theme.charts.purple, theme.charts.green, theme.charts.yellow];
  const weights = m.regions.map((r) => Math.sqrt(Math.max(1, r.bytes)));
  const sum = weights.reduce((a, b) => a + b, 0);
  let x0 = 14;
  const reg = svg.append('g').attr('class', 'regions');
  m.regions.forEach((r, i) => {
    const w = Math.max(110, (innerW - 330) * (weights[i]! / sum));
    const g = reg.append('g').attr('class', 'region').attr('data-region', r.name);
    g.append('rect').attr('x', x0).attr('y', regionsTop).attr('width', w - 4).attr('height', regionsH).attr('fill', colours[i]!).attr('opacity', 0.25).attr('stroke', colours[i]!);
    g.append('text').attr('x', x0 + 6).attr('y', regionsTop + 16).attr('font-weight', 600).attr('font-size', 12).text(r.label);
    g.append('text').attr('x', x0 + 6).attr('y', regionsTop + 32).attr('font-size', 10).text(`${fmtShape(r.shape)} ${r.dtype}`);
    g.append('text').attr('x', x0 + 6).attr('y', regionsTop + 46).attr('font-size', 10).attr('fill', theme.muted).text(r.layout);
    g.append('text').attr('x', x0 + 6).attr('y', regionsTop + 59).attr('font-size', 10).attr('fill', theme.muted).text(fmtBytesShort(r.bytes));
    g.append('title').text(`${r.label} ${fmtShape(r.shape)} ${r.dtype}, ${r.layout}, ${r.bytes} bytes`);
    x0 += w;
  });
  svg.append('text').attr('x', x0 + 4).attr('y', regionsTop + 36).attr('font-size', 10).attr('fill', theme.muted).text('→ L1/L2 pools, combine buffer');

  // ---- which of the T_max rows this call fills
  const rows = svg.append('g').attr('class', 'rows').attr('transform', `translate(14,${rowsTop})`);
  rows.append('text').attr('y', -8).attr('font-size', 11).attr('fill', theme.muted).text(`staged rows (every region has T_max = ${m.tMax} rows)`);
  const fill = innerW * (m.tokens / Math.max(1, m.tMax));
  rows.append('rect').attr('class', 'rows-filled').attr('width', fill).attr('height', 22).attr('fill', theme.charts.blue);
  rows.append('rect').attr('class', 'rows-unused').attr('x', fill).attr('width', innerW - fill).attr('height', 22).attr('fill', `url(#${ids.pad})`).attr('stroke', theme.border);
  rows.append('text').attr('x', 4).attr('y', 36).attr('font-size', 10).text(`rows 0…${m.tokens - 1}: this call's tokens`);
  rows.append('text').attr('x', innerW).attr('y', 36).attr('text-anchor', 'end').attr('font-size', 10).attr('fill', theme.muted)
    .text(`rows ${m.tokens}…${m.tMax - 1}: not written, not read (the kernel reads num_tokens rows)`);

  // ---- x_sf K-major (storage offset t·G + j) and topk_idx per token
  const grid = svg.append('g').attr('class', 'grids').attr('transform', `translate(14,${gridTop})`);
  grid.append('text').attr('y', -24).attr('font-size', 11).attr('fill', theme.muted).text('x_sf: one float32 per 128 columns of a token');
  grid.append('text').attr('y', -10).attr('font-size', 11).attr('fill', theme.muted)
    .text(`K-major: (t, j) at offset t·${G} + j${showTokens < m.tokens || showG < G ? ` (first ${showTokens} × ${showG})` : ''}`);
  if (m.sf) {
    const vals = m.sf.filter((v, i) => Math.floor(i / G) < showTokens && v > 0);
    const lo = Math.log(Math.min(...vals, 1)), hi = Math.log(Math.max(...vals, 1e-30));
    for (let t = 0; t < showTokens; t++)
      for (let j = 0; j < showG; j++) {
        const v = m.sf[t * G + j]!;
        const a = v > 0 && hi > lo ? 0.2 + (0.8 * (Math.log(v) - lo)) / (hi - lo) : 0.2;
        grid.append('rect').attr('class', 'sf-cell').attr('x', j * cell).attr('y', t * cell).attr('width', cell - 1).attr('height', cell - 1)
          .attr('fill', theme.charts.purple).attr('opacity', a).append('title').text(`x_sf[${t}, ${j}] = ${v.toPrecision(4)} at offset ${t * G + j}`);
      }
  } else grid.append('text').attr('y', 12).attr('font-size', 10).attr('fill', theme.muted).text('(x_sf is not inline in this trace)');
  const idsX = Math.max(showG * cell + 40, 470);
  grid.append('text').attr('x', idsX).attr('y', -24).attr('font-size', 11).attr('fill', theme.muted).text('topk_idx (int64): the expert of each (token, slot)');
  grid.append('text').attr('x', idsX).attr('y', -10).attr('font-size', 11).attr('fill', theme.muted).text(showTokens < m.tokens ? `first ${showTokens} of ${m.tokens} tokens` : `${m.tokens} tokens × top-${m.topk}`);
  if (m.ids) {
    const bw = 34;
    for (let t = 0; t < showTokens; t++)
      for (let s = 0; s < m.topk; s++) {
        const e = m.ids[t * m.topk + s]!;
        const here = m.local ? m.local(e) : true;
        const g = grid.append('g').attr('class', `id-cell ${here ? 'local' : 'remote'}`).attr('data-token', t).attr('data-slot', s);
        g.append('rect').attr('x', idsX + s * bw).attr('y', t * cell).attr('width', bw - 2).attr('height', cell - 1)
          .attr('fill', here ? theme.charts.green : theme.background).attr('stroke', here ? 'none' : theme.border).attr('opacity', here ? 0.8 : 1);
        g.append('text').attr('x', idsX + s * bw + 3).attr('y', t * cell + cell - 3).attr('font-size', 9).attr('fill', here ? theme.background : theme.muted).text(String(e));
      }
  }
  const legend = svg.append('g').attr('class', 'legend').attr('transform', `translate(14,${H - 30})`);
  legendRow(legend, [
    { label: 'expert on this rank (its row enters the L1 pool here)', fill: theme.charts.green },
    { label: "another rank's expert", fill: theme.background },
    { label: 'rows not filled this call', fill: `url(#${ids.pad})` },
  ], theme, innerW);
  mount(container, svg, 'megamoe-staging-view');
}

/**
 * MegaMoE's internal pools (docs/layouts-and-stages.md §7.4): the L1 pool (pool, H) FP8 with (pool_sf, H/128) float32 scales
 * and the L2 pool (pool, IH) FP8 with (pool_sf, IH/64) float32 scales, both MN-major (strides (1, pool_sf)).
 * Draws the group widths side by side at one scale (128 columns per L1 scale, 64 per L2 scale), the storage
 * offset of each scale (j·pool_sf + row), the first storage slots in memory order, and which (token, slot) and
 * expert each pool row holds.
 */
import type { Trace, TensorRef } from '../../../trace';
import { createSvg, addPatterns, legendRow, type G } from '../../../../webview/views/svgkit';
import type { Theme } from '../../../../webview/theme';
import { MG } from '../tensors';
import { fmtShape, inlineOf, messageSvg, mount, tensorOf, themeOf, type MegamoeViewOptions } from './common';

export interface PoolSide {
  label: 'L1' | 'L2';
  acts: TensorRef;
  sf: TensorRef;
  /** activation columns per scale */
  group: number;
  /** columns of a pool row (H or IH) */
  cols: number;
  /** scales per row */
  groups: number;
  /** MN stride of the scales: pool rows padded for TMA */
  poolSf: number;
}

export interface PoolsModel {
  rows: number;
  topk: number;
  experts?: number[];
  src?: number[];
  l1: PoolSide;
  l2: PoolSide;
}

function side(label: 'L1' | 'L2', acts: TensorRef, sf: TensorRef): PoolSide {
  const cols = acts.shape[1]!;
  const groups = sf.shape[1]!;
  const strides = sf.layout.strides;
  return { label, acts, sf, cols, groups, group: groups > 0 ? cols / groups : 0, poolSf: groups > 1 ? strides[1]! : sf.layout.paddedMN ?? sf.shape[0]! };
}

export function poolsModel(trace: Trace): PoolsModel | string {
  const a1 = tensorOf(trace, MG.l1_acts), s1 = tensorOf(trace, MG.l1_acts_sf);
  const a2 = tensorOf(trace, MG.l2_acts), s2 = tensorOf(trace, MG.l2_acts_sf);
  if (!a1 || !s1) return `the trace has no L1 pool (${MG.l1_acts}, ${MG.l1_acts_sf}): run the megamoe-sm90 recipe up to its dispatch stage`;
  if (!a2 || !s2) return `the trace has no L2 pool yet (${MG.l2_acts}, ${MG.l2_acts_sf}): step to the L2 quantization stage`;
  const experts = inlineOf(trace, MG.pool_expert);
  const src = inlineOf(trace, MG.pool_src);
  return {
    rows: a1.shape[0]!,
    topk: trace.spec.topk,
    ...(experts ? { experts } : {}),
    ...(src ? { src } : {}),
    l1: side('L1', a1, s1),
    l2: side('L2', a2, s2),
  };
}

const tone = (theme: Theme): string[] => [theme.charts.blue, theme.charts.green, theme.charts.purple, theme.charts.yellow];

function panel(g: G, m: PoolsModel, s: PoolSide, theme: Theme, padId: string, width: number, zoomCols: number, pxPerCol: number): number {
  const { poolSf, groups } = s;
  g.append('text').attr('class', 'panel-title').attr('font-weight', 600).attr('font-size', 12)
    .text(`${s.label} pool: ${s.acts.name} ${fmtShape(s.acts.shape)} fp8 + ${s.sf.name} ${fmtShape(s.sf.shape)} float32, MN-major, strides (1, ${poolSf})`);
  // one pool row's first columns, cut into its scale groups (both panels at the same px per column)
  const bar = g.append('g').attr('class', 'group-bar').attr('data-pool', s.label).attr('transform', 'translate(0,14)');
  const shownGroups = Math.ceil(zoomCols / s.group);
  for (let j = 0; j < shownGroups; j++) {
    bar.append('rect').attr('class', 'group').attr('x', j * s.group * pxPerCol).attr('width', s.group * pxPerCol - 1).attr('height', 16)
      .attr('fill', j % 2 ? theme.charts.blue : theme.charts.purple).attr('opacity', 0.7)
      .append('title').text(`columns ${j * s.group}…${(j + 1) * s.group - 1} share scale ${s.sf.name}[r, ${j}]`);
    bar.append('text').attr('x', j * s.group * pxPerCol + 3).attr('y', 12).attr('font-size', 9).attr('fill', theme.background).text(`sf ${j}`);
  }
  bar.append('text').attr('x', zoomCols * pxPerCol + 8).attr('y', 12).attr('font-size', 10).attr('fill', theme.muted)
    .text(`1 scale per ${s.group} columns · ${groups} per row (${s.cols} columns${zoomCols < s.cols ? `; first ${zoomCols} drawn` : ''})`);

  // scale storage: row r, group j at offset j·pool_sf + r; pad rows (TMA) hatched
  const top = 44;
  const cell = { w: 46, h: 13 };
  const showRows = Math.min(m.rows, 16);
  const showPad = Math.min(poolSf - m.rows, 3);
  const showCols = Math.min(groups, Math.max(1, Math.floor((width - 150) / cell.w) - 8), 8);
  const grid = g.append('g').attr('class', 'sf-grid').attr('data-pool', s.label).attr('transform', `translate(120,${top})`);
  g.append('text').attr('y', top - 4).attr('font-size', 10).attr('fill', theme.muted).text('pool row (t, slot) e');
  for (let j = 0; j < showCols; j++) grid.append('text').attr('x', j * cell.w + 2).attr('y', -4).attr('font-size', 9).attr('fill', theme.muted).text(`j=${j}`);
  const colours = tone(theme);
  for (let r = 0; r < showRows + showPad; r++) {
    const pad = r >= m.rows;
    const e = m.experts?.[r];
    if (!pad) {
      const p = m.src?.[r];
      g.append('text').attr('class', 'row-label').attr('y', top + r * cell.h + 10).attr('font-size', 9).attr('fill', theme.muted)
        .text(`${r}${p !== undefined ? ` (${Math.floor(p / m.topk)}, ${p % m.topk})` : ''}${e !== undefined ? ` e${e}` : ''}`);
    } else g.append('text').attr('y', top + r * cell.h + 10).attr('font-size', 9).attr('fill', theme.muted).text(`${r} TMA pad`);
    for (let j = 0; j < showCols; j++) {
      const c = grid.append('g').attr('class', pad ? 'sf-slot pad' : 'sf-slot').attr('data-row', r).attr('data-col', j);
      c.append('rect').attr('x', j * cell.w).attr('y', r * cell.h).attr('width', cell.w - 2).attr('height', cell.h - 1)
        .attr('fill', pad ? `url(#${padId})` : colours[(e ?? 0) % colours.length]!).attr('opacity', pad ? 1 : 0.55).attr('stroke', pad ? theme.border : 'none');
      c.append('text').attr('x', j * cell.w + 3).attr('y', r * cell.h + 10).attr('font-size', 9).attr('fill', theme.foreground).text(String(j * poolSf + r));
    }
  }
  const gridH = (showRows + showPad) * cell.h;
  if (showRows < m.rows || showCols < groups)
    g.append('text').attr('y', top + gridH + 12).attr('font-size', 10).attr('fill', theme.muted).text(`first ${showRows} of ${m.rows} rows, ${showCols} of ${groups} scale columns`);

  // memory order: the first slots of the scale buffer, as (row, j)
  const stripTop = top + gridH + 26;
  const slots = Math.min(poolSf * Math.min(groups, 2), 40);
  const sw = Math.min(22, (width - 10) / Math.max(1, slots));
  const strip = g.append('g').attr('class', 'storage-strip').attr('data-pool', s.label).attr('transform', `translate(0,${stripTop})`);
  strip.append('text').attr('y', -4).attr('font-size', 10).attr('fill', theme.muted).text(`memory order: offset 0, 1, 2, … holds (row, j) — column j of every pool row, then column j + 1 (pool_sf = ${poolSf} slots per column)`);
  for (let o = 0; o < slots; o++) {
    const r = o % poolSf, j = Math.floor(o / poolSf);
    const pad = r >= m.rows;
    const c = strip.append('g').attr('class', pad ? 'slot pad' : 'slot');
    c.append('rect').attr('x', o * sw).attr('y', 2).attr('width', sw - 1).attr('height', 14).attr('fill', pad ? `url(#${padId})` : j % 2 ? theme.charts.blue : theme.charts.purple).attr('opacity', pad ? 1 : 0.6);
    c.append('title').text(pad ? `offset ${o}: TMA padding (row ${r} ≥ ${m.rows})` : `offset ${o}: ${s.sf.name}[${r}, ${j}]`);
  }
  return stripTop + 26;
}

export function render(container: HTMLElement, trace: Trace, options: MegamoeViewOptions = {}): void {
  const doc = container.ownerDocument;
  const theme = themeOf(options);
  const title = 'MegaMoE pools: L1 (1×128 scales) and L2 (1×64 scales), MN-major';
  const m = poolsModel(trace);
  if (typeof m === 'string') return mount(container, messageSvg(doc, theme, title, m), 'megamoe-pools-view');
  const W = options.width ?? 900;
  const innerW = W - 28;
  const zoomCols = Math.min(512, m.l1.cols, m.l2.cols);
  const pxPerCol = Math.min(1.2, (innerW - 330) / Math.max(1, zoomCols));
  const panelH = 44 + (Math.min(m.rows, 16) + 3) * 13 + 60;
  const H = 60 + 2 * panelH + 40;
  const svg = createSvg(doc, W, H, theme, title);
  const ids = addPatterns(svg, theme, options.idPrefix ?? 'pools');
  svg.append('text').attr('class', 'title').attr('x', 14).attr('y', 22).attr('font-size', 14).attr('font-weight', 600).text(title);
  svg.append('text').attr('class', 'subtitle').attr('x', 14).attr('y', 40).attr('fill', theme.muted).attr('font-size', 11)
    .text(`${m.rows} pool rows on this rank · L1: ${m.l1.groups} scales per row (group ${m.l1.group}) · L2: ${m.l2.groups} scales per row (group ${m.l2.group}: twice as many per column as L1)`);
  let y = 62;
  for (const s of [m.l1, m.l2]) {
    const g = svg.append('g').attr('class', `pool pool-${s.label.toLowerCase()}`).attr('transform', `translate(14,${y + 10})`);
    y += panel(g, m, s, theme, ids.pad, innerW, zoomCols, pxPerCol) + 24;
  }
  svg.attr('height', Math.ceil(y + 40)).attr('viewBox', `0 0 ${W} ${Math.ceil(y + 40)}`);
  const legend = svg.append('g').attr('class', 'legend').attr('transform', `translate(14,${y + 6})`);
  legendRow(legend, [
    { label: 'scale slot (colour: expert of the row)', fill: theme.charts.blue },
    { label: 'TMA padding (pool_sf > rows)', fill: `url(#${ids.pad})` },
  ], theme, innerW);
  mount(container, svg, 'megamoe-pools-view');
}

/**
 * Small SVG helpers shared by the views: namespaced element creation that works in any Document (browser, jsdom),
 * the fill patterns that mark padding without relying on colour, and a legend row.
 */
import * as d3 from 'd3';
import type { Theme } from '../theme';

export const SVG_NS = 'http://www.w3.org/2000/svg';

export type Svg = d3.Selection<SVGSVGElement, unknown, null, undefined>;

/** Approximate advance of a label in px (no layout engine in jsdom or export): a system font at `fontSize`. */
export function labelWidth(text: string, fontSize = 12): number {
  return Math.ceil(text.length * fontSize * 0.6);
}
export type G = d3.Selection<SVGGElement, unknown, null, undefined>;

/** A standalone-ready <svg>: xmlns, explicit size, concrete font and background. */
export function createSvg(doc: Document, width: number, height: number, theme: Theme, label: string): Svg {
  const el = doc.createElementNS(SVG_NS, 'svg') as SVGSVGElement;
  const svg = d3.select(el);
  svg
    .attr('xmlns', SVG_NS)
    .attr('width', Math.ceil(width))
    .attr('height', Math.ceil(height))
    .attr('viewBox', `0 0 ${Math.ceil(width)} ${Math.ceil(height)}`)
    .attr('role', 'img')
    .attr('aria-label', label)
    .attr('font-family', theme.fontFamily)
    .attr('font-size', 12)
    .attr('fill', theme.foreground);
  svg.append('title').text(label);
  svg.append('rect').attr('class', 'bg').attr('width', '100%').attr('height', '100%').attr('fill', theme.background);
  return svg;
}

export interface PatternIds {
  pad: string;
  kpad: string;
  unalloc: string;
}

/** Hatching for TMA padding, dots for zero-padded K-block bytes, a cross-hatch for slots that are not allocated. */
export function addPatterns(svg: Svg, theme: Theme, prefix: string): PatternIds {
  const defs = svg.append('defs');
  const ids: PatternIds = { pad: `${prefix}-pad`, kpad: `${prefix}-kpad`, unalloc: `${prefix}-unalloc` };
  const pad = defs.append('pattern').attr('id', ids.pad).attr('patternUnits', 'userSpaceOnUse').attr('width', 6).attr('height', 6).attr('patternTransform', 'rotate(45)');
  pad.append('rect').attr('width', 6).attr('height', 6).attr('fill', theme.background);
  pad.append('line').attr('x1', 0).attr('y1', 0).attr('x2', 0).attr('y2', 6).attr('stroke', theme.hatch).attr('stroke-width', 2);
  const kpad = defs.append('pattern').attr('id', ids.kpad).attr('patternUnits', 'userSpaceOnUse').attr('width', 4).attr('height', 4);
  kpad.append('rect').attr('width', 4).attr('height', 4).attr('fill', theme.background);
  kpad.append('circle').attr('cx', 2).attr('cy', 2).attr('r', 0.9).attr('fill', theme.hatch);
  const un = defs.append('pattern').attr('id', ids.unalloc).attr('patternUnits', 'userSpaceOnUse').attr('width', 6).attr('height', 6);
  un.append('rect').attr('width', 6).attr('height', 6).attr('fill', 'none');
  un.append('path').attr('d', 'M0,0L6,6M6,0L0,6').attr('stroke', theme.border).attr('stroke-width', 0.7);
  return ids;
}

export interface LegendItem {
  label: string;
  fill: string;
  stroke?: string;
  dash?: string;
}

/** Swatches with labels, wrapped onto a new line past maxWidth; returns the width used. */
export function legendRow(g: G, items: LegendItem[], theme: Theme, maxWidth = Infinity): number {
  let x = 0;
  let y = 0;
  let widest = 0;
  for (const it of items) {
    const w = 19 + it.label.length * 6.6 + 18;
    if (x > 0 && x + w > maxWidth) {
      x = 0;
      y += 20;
    }
    const item = g.append('g').attr('class', 'legend-item').attr('transform', `translate(${x},${y})`);
    item.append('rect').attr('width', 14).attr('height', 14).attr('fill', it.fill).attr('stroke', it.stroke ?? theme.border)
      .attr('stroke-dasharray', it.dash ?? null);
    item.append('text').attr('x', 19).attr('y', 11).attr('fill', theme.foreground).text(it.label);
    x += w;
    widest = Math.max(widest, x);
  }
  return widest;
}

/** Numbers with units (DESIGN.md: numbers shown to a user carry units). */
export function fmtTime(ms: number): string {
  if (!Number.isFinite(ms)) return '—';
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 1) return `${ms.toFixed(2)} ms`;
  // below a microsecond in ns, so a tiny time or axis tick never prints as "0.00 µs"
  if (ms > 0 && ms < 1e-3) return `${+(ms * 1e6).toPrecision(ms * 1e6 >= 10 ? 3 : 2)} ns`;
  return `${(ms * 1000).toFixed(ms * 1000 >= 10 ? 1 : 2)} µs`;
}
/** A roofline fraction as a percentage, two significant digits below 1% ("0.0079", not "0.000"); no "%" sign. */
export const fmtPct = (f: number): string => (f > 0 ? `${+(f * 100).toPrecision(f >= 0.01 ? 3 : 2)}` : '0');

export function fmtBytes(b: number): string {
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (b >= 1000 && i < u.length - 1) {
    b /= 1000;
    i++;
  }
  return `${b.toFixed(b >= 100 || i === 0 ? 0 : 1)} ${u[i]}`;
}
export function fmtFlops(f: number): string {
  const u = ['FLOP', 'kFLOP', 'MFLOP', 'GFLOP', 'TFLOP', 'PFLOP'];
  let i = 0;
  while (f >= 1000 && i < u.length - 1) {
    f /= 1000;
    i++;
  }
  return `${f.toFixed(f >= 100 || i === 0 ? 0 : 1)} ${u[i]}`;
}

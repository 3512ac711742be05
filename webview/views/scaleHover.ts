/**
 * What the SVG and canvas pictures of the scale view share: the hover (which cells light up, the tooltip), cell
 * labels, colour conversion and d3-zoom's touch test.
 */
import * as d3 from 'd3';
import { describeLogical, describeStorage, logicalRect, storageRect, type HoverInfo, type PanelCell, type ScalePanels } from './scalePanels';

/** One drawn picture (SVG or canvas) of the scale view. */
export interface ScaleInner {
  mode: 'svg' | 'canvas';
  panels: ScalePanels;
  hover(cell: PanelCell | null, panel: 'logical' | 'storage'): HoverInfo | null;
  destroy(): void;
}

export function showTooltip(tip: HTMLElement, info: HoverInfo | null): void {
  const t = d3.select(tip);
  t.selectAll('*').remove();
  t.classed('visible', !!info);
  if (!info) return;
  t.append('div').attr('class', 'tip-title').text(info.title);
  t.selectAll('div.tip-line').data(info.lines).join('div').attr('class', 'tip-line').text((l) => l);
}

export function hoverInfo(P: ScalePanels, cell: PanelCell | null, panel: 'logical' | 'storage'): HoverInfo | null {
  if (!cell) return null;
  if (panel === 'logical') return cell.logical ? describeLogical(P, cell.logical) : null;
  return describeStorage(P, cell);
}

/** Highlight rectangles (units) in both panels for a hover. */
export function highlightRects(P: ScalePanels, info: HoverInfo | null): { logical: number[][]; storage: number[][] } {
  if (!info) return { logical: [], storage: [] };
  const logical = info.logical ? [logicalRect(P, info.logical)] : [];
  return { logical, storage: info.storage.slice(0, 256).map((r) => storageRect(P, r.slot, r.byte)) };
}

export function cellLabel(v: number): string {
  if (v > 0 && Number.isInteger(Math.log2(v))) return `2^${Math.log2(v)}`;
  return Number.isFinite(v) ? v.toPrecision(2) : String(v);
}

/** A CSS colour as 0xAABBGGRR for ImageData; opaque black when it does not parse. */
export function toRgbaSafe(c: string): number {
  const r = d3.rgb(c);
  if (Number.isNaN(r.r)) return 0xff000000;
  return ((255 << 24) | (Math.round(r.b) << 16) | (Math.round(r.g) << 8) | Math.round(r.r)) >>> 0;
}

/** d3-zoom's default reads the global `navigator`, which Node (headless export, tests) does not have before v21. */
export function notTouch(this: Element): boolean {
  return 'ontouchstart' in this;
}

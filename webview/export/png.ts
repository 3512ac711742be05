/** SVG → PNG with resvg (a maintained Rust renderer; no browser needed). Node only. */
import { Resvg } from '@resvg/resvg-js';

export function svgToPng(svg: string, scale = 1): Buffer {
  if (!(scale > 0) || !Number.isFinite(scale) || scale > 16) throw new RangeError(`svgToPng: scale must be in (0, 16], got ${scale}`);
  const r = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: scale },
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  });
  return r.render().asPng();
}

/** Width and height from a PNG's IHDR chunk (bytes 16–23), for checks. */
export function pngSize(png: Uint8Array): { width: number; height: number } {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (png.length < 24 || sig.some((b, i) => png[i] !== b)) throw new Error('pngSize: not a PNG (bad signature)');
  const dv = new DataView(png.buffer, png.byteOffset, png.byteLength);
  return { width: dv.getUint32(16), height: dv.getUint32(20) };
}

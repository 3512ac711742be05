/** moe-inspect export: renders a view headless (the same D3 code as the panel) to SVG, PNG or TikZ. */
import { writeFileAtomic } from '../../../kernels/io/atomicWrite';
import { runLayer } from '../../../kernels/pipeline';
import { oneOf, parseFlags, required } from '../args';
import { layerFlags, layerFromFlags } from '../layerArgs';
import { checkFileFlags } from '../paths';
import { guardRunSize } from '../sizeGuard';

export async function exportCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const flags = parseFlags(argv, { ...layerFlags(), view: { type: 'string' }, format: { type: 'string' }, out: { type: 'string' } }, 'export');
  checkFileFlags(flags, { inputs: ['layer'], outputs: ['out'] });
  const view = oneOf(flags, 'view', ['scales', 'permutation', 'timing'] as const, 'scales');
  const format = oneOf(flags, 'format', ['svg', 'png', 'tikz'] as const, 'svg');
  const outPath = required(flags, 'out', 'export');
  const choice = layerFromFlags(flags, 'export');
  // refuse what cannot fit before any input is generated; show the estimate of a long run
  guardRunSize(choice.spec, out, 'export');
  const result = await runLayer(choice.spec, { backend: choice.backend, gpuModel: choice.gpuModel, ...(choice.inputs ? { inputs: choice.inputs } : {}) });
  // loaded on demand: headless rendering pulls in jsdom and resvg, which `run`/`check` must not need
  const { exportView } = await import('../../../webview/export/index');
  const data = exportView(view, format, result.trace);
  writeFileAtomic(outPath, data, { what: '--out' });
  out.write(`wrote ${view} view as ${format.toUpperCase()} (${data.length} bytes) to ${outPath}\n`);
  return 0;
}

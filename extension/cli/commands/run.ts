/** moe-inspect run: the whole layer, a per-stage table, optional stage tensors (--out) and Trace JSON (--trace). */
import { runLayer } from '../../../kernels/pipeline';
import { probeCuda } from '../../../kernels/backend/probe';
import { writeSafetensors } from '../../../kernels/io/safetensors';
import { writeFileAtomic } from '../../../kernels/io/atomicWrite';
import type { Tensor } from '../../../kernels/tensor';
import { fmtPercent } from '../../../kernels/format';
import { parseFlags, str } from '../args';
import { layerFlags, layerFromFlags } from '../layerArgs';
import { CHECKPOINT_FLAGS, checkpointFromFlags } from '../checkpointArgs';
import { ProgressBar } from '../progress';
import { stageTable } from '../table';
import { checkFileFlags } from '../paths';
import { guardRunSize, heldExperts } from '../sizeGuard';

export async function runCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const flags = parseFlags(argv, { ...layerFlags(), ...CHECKPOINT_FLAGS, out: { type: 'string' }, trace: { type: 'string' } }, 'run');
  checkFileFlags(flags, { inputs: ['layer', 'inputs'], outputs: ['out', 'trace'] });
  // the driver probe (a child process) runs while the inputs are read below; runLayer awaits its cached answer
  if (str(flags, 'backend') !== 'cpu') void probeCuda();
  const fromCheckpoint = str(flags, 'checkpoint') !== undefined ? checkpointFromFlags(flags, 'run') : undefined;
  const choice = fromCheckpoint ?? layerFromFlags(flags, 'run');
  for (const n of fromCheckpoint?.notes ?? []) out.write(`note: ${n}\n`);
  // refuse what cannot fit before any input is generated; show the estimate of a long run
  guardRunSize(choice.spec, out, 'run', {}, { ...heldExperts(choice.inputs), backend: choice.backend });
  const outPath = str(flags, 'out');
  const tracePath = str(flags, 'trace');
  const bar = new ProgressBar();
  const result = await runLayer(choice.spec, {
    backend: choice.backend,
    gpuModel: choice.gpuModel,
    // one layer per process: the addon runs the tensors read here, not a GPU worker that reads them again
    cudaInProcess: true,
    // the table needs the times alone: stage tensors stay on the GPU unless written out
    stageTensors: outPath !== undefined || tracePath !== undefined,
    ...(choice.inputs ? { inputs: choice.inputs } : {}),
    onProgress: (_stage, fraction, message) => bar.update(fraction, message),
  });
  bar.done();
  const { trace } = result;
  const s = trace.spec;
  out.write(
    `${s.name}: M=${s.tokens} K=${s.hidden} N=${s.intermediate} E=${s.experts} top-${s.topk}` +
      `${s.expertParallel ? ` EP${s.expertParallel.size} rank ${s.expertParallel.rank}` : ''} ${s.arch} ${s.recipe.scaleFormat}/${s.recipe.quant}\n`,
  );
  out.write(`recipe: ${trace.recipe.label}; GEMM: ${trace.gemm.ran} (production: ${trace.gemm.production})${trace.gemm.caveat ? ` — ${trace.gemm.caveat}` : ''}\n`);
  out.write(`backend: ${trace.backend.name} on ${trace.backend.device} (${trace.backend.reason}); roofline: ${trace.rooflineModel.label}${trace.backend.name === 'cpu' ? `, GPU floors on ${trace.gpuModel}` : ''}\n`);
  const p = trace.permutation;
  out.write(`permutation: ${p.routedRows} routed rows, M_sum ${p.mSum}, ${p.activeExperts} active experts, padding waste ${fmtPercent(p.paddingWaste)}\n\n`);
  out.write(stageTable(trace) + '\n');
  for (const c of trace.checks.filter((c) => c.level !== 'pass')) out.write(`${c.level.toUpperCase().padEnd(4)} ${c.message}\n`);

  if (outPath) {
    const tensors: Record<string, Tensor> = {};
    for (const [name, t] of result.tensors) tensors[name] = t;
    writeSafetensors(outPath, tensors, { producer: 'moe-inspect', spec: JSON.stringify(trace.spec), backend: trace.backend.name });
    out.write(`wrote ${Object.keys(tensors).length} tensors to ${outPath}\n`);
  }
  if (tracePath) {
    writeFileAtomic(tracePath, JSON.stringify(trace, null, 1), { what: '--trace' });
    out.write(`wrote trace to ${tracePath}\n`);
  }
  return trace.checks.some((c) => c.level === 'fail') ? 1 : 0;
}

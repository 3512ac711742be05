/**
 * moe-inspect grad: one FP8 training step of torchao's blockwise MoE grouped GEMM with the DeepGEMM backend
 * (docs/layouts-and-stages.md §8) on a layer file — input (M, K), grad_output (M, N), weight (E, N, K), group_sizes (E,) — written
 * as output, grad_input, grad_weight (BF16), grouped_layout and the flat K-grouped wgrad operands with their scales.
 * The file is written atomically (a temporary file in the same folder, then a rename) and never over the input.
 */
import { existsSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { SafetensorsFile, writeSafetensors } from '../../../kernels/io/safetensors';
import { MoeError } from '../../../kernels/errors';
import type { Tensor } from '../../../kernels/tensor';
import { ARCH_IDS } from '../../../kernels/arch/index';
import { groupsOf, TORCHAO_INPUT_NAMES, torchaoInputsFromTensors, torchaoSpecFromInputs, type TorchaoInputs } from '../../../kernels/recipes/torchao-fp8-training/inputs';
import type { GroupPlan } from '../../../kernels/recipes/torchao-fp8-training/groups';
import { runLayer } from '../../../kernels/pipeline';
import { GRAD_FILE_TENSORS } from '../../../kernels/recipes/torchao-fp8-training/tensors';
import { computeTrainingStep } from '../../../kernels/recipes/torchao-fp8-training/step';
import { int, oneOf, parseFlags, required } from '../args';

/** the same file under another name (a hard link or symlink) counts as the same file */
function sameFile(a: string, b: string): boolean {
  if (resolve(a) === resolve(b)) return true;
  if (!existsSync(a) || !existsSync(b)) return false;
  const sa = statSync(a);
  const sb = statSync(b);
  return sa.dev === sb.dev && sa.ino === sb.ino;
}

/** writes into a temporary file beside `path`, then renames it over `path`: a reader never sees half a file */
function writeSafetensorsAtomic(path: string, tensors: Record<string, Tensor>, metadata: Record<string, string>): void {
  const tmp = join(dirname(resolve(path)), `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  try {
    writeSafetensors(tmp, tensors, metadata);
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // nothing was written
    }
    if (e instanceof MoeError) throw new MoeError(e.code, e.message.replace(tmp, path), e.tensor);
    throw new MoeError('E_IO', `${path}: cannot write (${(e as Error).message})`);
  }
}

/**
 * The step on the chosen backend: the CPU runs the recipe's stages directly (computeTrainingStep); otherwise the
 * pipeline picks the backend as `run` does (auto: the GPU when the addon runs the recipe there, else the CPU, saying why).
 */
async function trainingStepOn(
  backend: 'auto' | 'cpu' | 'cuda',
  inputs: TorchaoInputs,
  path: string,
  arch: (typeof ARCH_IDS)[number],
  threads: number | undefined,
): Promise<{ tensors: Map<string, Tensor>; groups: GroupPlan; backend: string; backendNote?: string }> {
  if (backend === 'cpu') {
    const step = await computeTrainingStep(inputs, { arch, ...(threads ? { threads } : {}) });
    return { tensors: step.tensors, groups: step.groups, backend: 'cpu' };
  }
  const spec = torchaoSpecFromInputs(inputs, { arch, source: { kind: 'file', path } });
  const r = await runLayer(spec, { backend, inputs: inputs as unknown as Record<string, Tensor> });
  return { tensors: r.tensors, groups: groupsOf(inputs), backend: r.trace.backend.name, backendNote: r.trace.backend.reason };
}

export async function gradCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const flags = parseFlags(argv, { layer: { type: 'string' }, out: { type: 'string' }, arch: { type: 'string' }, threads: { type: 'string' }, backend: { type: 'string' } }, 'grad');
  const layerPath = required(flags, 'layer', 'grad');
  const outPath = required(flags, 'out', 'grad');
  if (sameFile(layerPath, outPath)) throw new MoeError('E_SPEC', `grad: --out ${outPath} is the input layer file; write the gradients to another file`);
  const arch = oneOf(flags, 'arch', ARCH_IDS, ARCH_IDS[0]!);
  const threads = int(flags, 'threads', undefined, 1);
  // the same choice as `run --backend`: auto takes the GPU when the addon can run the recipe there, else the CPU
  const backend = oneOf(flags, 'backend', ['auto', 'cpu', 'cuda'] as const, 'auto');
  const file = SafetensorsFile.open(layerPath);
  const raw: Record<string, Tensor | undefined> = {};
  try {
    for (const n of TORCHAO_INPUT_NAMES) if (file.has(n)) raw[n] = file.read(n).withName(n);
    const missing = TORCHAO_INPUT_NAMES.filter((n) => !raw[n]);
    if (missing.length)
      throw new MoeError('E_FORMAT', `${layerPath}: missing ${missing.join(', ')} (a grad layer holds ${TORCHAO_INPUT_NAMES.join(', ')}); it has: ${file.names().join(', ') || 'no tensors'}`, missing[0]);
  } finally {
    file.close();
  }
  const inputs = torchaoInputsFromTensors(raw);
  const step = await trainingStepOn(backend, inputs, layerPath, arch, threads);
  const tensors: Record<string, Tensor> = {};
  for (const n of GRAD_FILE_TENSORS) tensors[n] = step.tensors.get(n)!.withName(n);
  const g = step.groups;
  writeSafetensorsAtomic(outPath, tensors, {
    producer: 'moe-inspect grad',
    backend: step.backend,
    recipe: 'torchao-fp8-training',
    source: layerPath,
    group_sizes: JSON.stringify(Array.from(g.sizes)),
    padded_group_sizes: JSON.stringify(Array.from(g.padded)),
    padded_group_starts: JSON.stringify(Array.from(g.starts)),
    quantization: 'torchao blockwise FP8 E4M3: amax ≥ fl32(1e-12), q = fp8(clamp(fl32(x·fl32(448/amax)))), scale = fl32(1/fl32(448/amax))',
  });
  const [M, K] = inputs.input.shape;
  const [E, N] = inputs.weight.shape;
  out.write(`backend: ${step.backend}${step.backendNote ? ` (${step.backendNote})` : ''}\n`);
  out.write(`torchao FP8 training step: M=${M} K=${K} N=${N} E=${E}; groups [${Array.from(g.sizes).join(', ')}] padded to [${Array.from(g.padded).join(', ')}], buffer ${g.bufferRows} rows\n`);
  for (const n of GRAD_FILE_TENSORS) {
    const t = tensors[n]!;
    out.write(`  ${n.padEnd(16)} ${t.dtype.padEnd(9)} [${t.shape.join(', ')}]\n`);
  }
  out.write(`wrote ${GRAD_FILE_TENSORS.length} tensors to ${outPath}\n`);
  return 0;
}

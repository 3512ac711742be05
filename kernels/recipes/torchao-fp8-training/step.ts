/**
 * One training step of the op without a Trace (`moe-inspect grad`): the recipe's own stages run in order on the CPU,
 * so the file a user gets holds exactly what `run --recipe torchao-fp8-training` shows.
 */
import { availableParallelism } from 'node:os';
import type { Tensor } from '../../tensor';
import type { CpuStageContext } from '../types';
import type { LayerSpec } from '../../spec';
import { MoeError } from '../../errors';
import { planTorchao } from './stages';
import { groupsOf, torchaoSpecFromInputs, type TorchaoInputs } from './inputs';
import type { GroupPlan } from './groups';

export interface TrainingStep {
  tensors: Map<string, Tensor>;
  groups: GroupPlan;
  spec: LayerSpec;
}

export async function computeTrainingStep(inputs: TorchaoInputs, opts: { arch?: string; threads?: number; signal?: AbortSignal } = {}): Promise<TrainingStep> {
  const spec = torchaoSpecFromInputs(inputs, { arch: opts.arch ?? 'sm90' });
  const plan = planTorchao(spec, inputs);
  const tensors = new Map<string, Tensor>(Object.entries(inputs));
  const ctx: CpuStageContext = { tensors, notes: [], threads: Math.max(1, opts.threads ?? availableParallelism()), ...(opts.signal ? { signal: opts.signal } : {}) };
  for (const s of plan.stages) {
    if (opts.signal?.aborted) throw new MoeError('E_CANCELLED', `training step cancelled before stage '${s.id}'`);
    await s.runCpu(ctx);
  }
  return { tensors, groups: groupsOf(inputs), spec };
}

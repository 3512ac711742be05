/**
 * The panel's run path applies the same size estimate as the CLI (kernels/estimate.ts through
 * extension/cli/sizeGuard.ts): a run that cannot fit in this machine's memory is refused before anything is
 * generated, with the numbers and what to change in the quick picks' words; a large run that fits shows its estimate
 * in the progress notification, so a long wait is not a surprise.
 */
import type { BackendChoice, LayerSpec } from '../kernels/spec';
import { assessRunSize, gib, secs, type SizeAdvice } from './cli/sizeGuard';

/** Advice in the words of the Inspect MoE Layer quick picks ("expert-parallel shard size/rank"), not CLI flags. */
export const PANEL_ADVICE: SizeAdvice = {
  epNow: (size) => ` on an expert-parallel shard of ${size}`,
  useEp: "an expert-parallel shard (e.g. 8/0 in the \"expert-parallel shard size/rank\" pick computes one rank's experts: an eighth of the expert-side tensors)",
  largerEp: 'no token count fits here at this expert-parallel size; pick a larger shard size',
};

export interface PanelRunSize {
  /** the estimate in one line, for a large run (shown as the notification's first message and logged) */
  notice?: string;
  /** a short form for the notification's title: "~9.1 GiB, roughly 4 min" */
  short?: string;
}

/** Throws a MoeError (E_SPEC) with the numbers when the run cannot fit; else the estimate of a large run, if it is. */
export function panelRunSize(spec: LayerSpec, machine: { totalBytes?: number; cores?: number } = {}, held: { localExperts?: number; backend?: BackendChoice } = {}): PanelRunSize {
  const verdict = assessRunSize(spec, 'Inspect MoE Layer', machine, PANEL_ADVICE, held);
  if (!verdict?.notice) return {};
  const e = verdict.estimate;
  return { notice: verdict.notice, short: `~${gib(e.peakBytes)}, roughly ${secs(e.cpuSeconds)} on the CPU` };
}

/**
 * Imported kernel timings (docs/profiles.md): a PyTorch profiler Chrome trace (.json / .json.gz) or an Nsight Compute
 * CSV export, mapped onto the pipeline's stages.
 */
import { MoeError } from '../errors';
import { parseChromeTrace } from './chromeTrace';
import { parseNcuCsv } from './ncuCsv';
import { readProfileText } from './records';
import { classifyKernels, summarizeStages, type ClassifiedKernel, type StageSummary, type UnmatchedKernel } from './summary';

export type { KernelRecord, NcuMetrics } from './records';
export type { ClassifiedKernel, StageSummary, UnmatchedKernel } from './summary';
export { KERNEL_STAGE_RULES, PROFILE_STAGE_ORDER, matchRule, resolveStage, type ProfileStage, type StageRule } from './stages';
export { parseChromeTrace } from './chromeTrace';
export { parseNcuCsv, parseCsv, ncuNumber } from './ncuCsv';
export { classifyKernels, summarizeStages } from './summary';

export interface ProfileImport {
  path: string;
  format: 'chrome-trace' | 'ncu-details' | 'ncu-raw';
  kernels: ClassifiedKernel[];
  stages: StageSummary[];
  unmatched: UnmatchedKernel[];
}

/** Reads a trace or ncu CSV (format by content, gzip allowed) and maps its kernels onto stages. */
export function importProfile(path: string): ProfileImport {
  const text = readProfileText(path);
  const start = text.trimStart();
  let format: ProfileImport['format'];
  let records;
  if (start.startsWith('{') || start.startsWith('[')) {
    records = parseChromeTrace(text, path);
    format = 'chrome-trace';
  } else if (/"?ID"?\s*,/.test(text.slice(0, 1 << 20)) && text.includes('Kernel Name')) {
    const r = parseNcuCsv(text, path);
    records = r.records;
    format = r.page === 'details' ? 'ncu-details' : 'ncu-raw';
  } else {
    // neither: say what was expected, with the file's first characters
    records = parseChromeTrace(text, path);
    format = 'chrome-trace';
  }
  if (!records.length)
    throw new MoeError('E_FORMAT', `${path}: no GPU kernels in this ${format === 'chrome-trace' ? 'trace (profile with activities=[ProfilerActivity.CUDA])' : 'ncu export'}`);
  const kernels = classifyKernels(records);
  return { path, format, kernels, ...summarizeStages(kernels) };
}
export { timingsOnStages, IMPORTED_LIST_CAP, IMPORTED_NAME_CAP, type ImportedTimings, type ImportedStage, type ImportedKernel } from './onStages';

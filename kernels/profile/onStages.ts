/**
 * An imported profile (kernels/profile, docs/profiles.md) mapped onto one run's stages, in the shape the panel's
 * timing view shows and the host sends it (kernels/protocol.ts 'profile'): per stage of the run's recipe the launches,
 * the measured total and wall time and which kernels make it up; the kernels of stages the recipe does not have
 * (router, DeepEP dispatch/combine, `other`) apart; and every unmatched kernel by name — never dropped, only capped
 * in number for the message (the count of the rest is said). No Node imports: the webview bundle reads the types.
 */
import type { ClassifiedKernel, StageSummary } from './summary';

/** kernel names per stage and unmatched names sent at most (the rest counted in `omitted`) */
export const IMPORTED_LIST_CAP = 64;
/** a C++ template kernel name can run to thousands of characters: cut for the panel, full in `import-trace` */
export const IMPORTED_NAME_CAP = 400;

export interface ImportedKernel {
  name: string;
  count: number;
  totalUs: number;
  /** the mapping rule's note ("DeepGEMM grouped GEMM …"); absent for an unmatched kernel */
  rule?: string;
}

export interface ImportedStage {
  /** a stage id of the run's recipe (`stages`) or a profile stage outside it (`outside`: router, dispatch, combine, other) */
  stage: string;
  count: number;
  totalUs: number;
  /** union of the launches' intervals (Chrome traces): less than totalUs when launches overlap */
  wallUs?: number;
  /** the kernels mapped to this stage, most time first */
  kernels: ImportedKernel[];
  /** Nsight Compute figures (duration-weighted %), when the import is an ncu export */
  ncu?: { dramPct?: number; smPct?: number; occupancyPct?: number };
}

export interface ImportedTimings {
  /** the file's name (not its folder) */
  file: string;
  format: 'chrome-trace' | 'ncu-details' | 'ncu-raw';
  /** GPU launches in the file */
  launches: number;
  /** the run's stages the profile has kernels for, in the run's order */
  stages: ImportedStage[];
  /** kernels of stages this recipe does not have */
  outside: ImportedStage[];
  /** kernels no rule matched, most time first */
  unmatched: ImportedKernel[];
  /** kernel names left out of the lists above by IMPORTED_LIST_CAP */
  omitted: number;
}

const cut = (name: string): string => (name.length > IMPORTED_NAME_CAP ? `${name.slice(0, IMPORTED_NAME_CAP - 1)}…` : name);
const dur = (k: ClassifiedKernel): number => (Number.isFinite(k.durUs) ? k.durUs : 0);

/** Maps a profile's classified kernels and stage summaries onto the stages `stageIds` of a run (in that order). */
export function timingsOnStages(
  p: { path: string; format: ImportedTimings['format']; kernels: readonly ClassifiedKernel[]; stages: readonly StageSummary[]; unmatched: readonly { name: string; count: number; totalUs: number }[] },
  stageIds: readonly string[],
): ImportedTimings {
  let omitted = 0;
  const capped = <T>(list: T[]): T[] => {
    if (list.length <= IMPORTED_LIST_CAP) return list;
    omitted += list.length - IMPORTED_LIST_CAP;
    return list.slice(0, IMPORTED_LIST_CAP);
  };
  const kernelsOf = (stage: string): ImportedKernel[] => {
    const by = new Map<string, ImportedKernel>();
    for (const k of p.kernels) {
      if (k.stage !== stage) continue;
      const e = by.get(k.name) ?? { name: cut(k.name), count: 0, totalUs: 0, ...(k.rule ? { rule: k.rule } : {}) };
      e.count++;
      e.totalUs += dur(k);
      by.set(k.name, e);
    }
    return capped([...by.values()].sort((a, b) => b.totalUs - a.totalUs || a.name.localeCompare(b.name)));
  };
  const toStage = (s: StageSummary): ImportedStage => {
    const out: ImportedStage = { stage: s.stage, count: s.count, totalUs: s.totalUs, kernels: kernelsOf(s.stage) };
    if (s.wallUs !== undefined) out.wallUs = s.wallUs;
    if (s.ncu) {
      const n: NonNullable<ImportedStage['ncu']> = {};
      if (s.ncu.dramPct !== undefined) n.dramPct = s.ncu.dramPct;
      if (s.ncu.smPct !== undefined) n.smPct = s.ncu.smPct;
      if (s.ncu.occupancyPct !== undefined) n.occupancyPct = s.ncu.occupancyPct;
      out.ncu = n;
    }
    return out;
  };
  const inRun = new Set(stageIds);
  const byId = new Map(p.stages.map((s) => [s.stage as string, s]));
  const file = p.path.split(/[\\/]/).pop() || p.path;
  return {
    file: cut(file),
    format: p.format,
    launches: p.kernels.length,
    stages: stageIds.filter((id) => byId.has(id)).map((id) => toStage(byId.get(id)!)),
    outside: p.stages.filter((s) => !inRun.has(s.stage)).map(toStage),
    unmatched: capped(p.unmatched.map((u) => ({ name: cut(u.name), count: u.count, totalUs: u.totalUs }))),
    omitted,
  };
}

/**
 * Kernel records → stages → one row per stage. Kernels are classified in launch order per device (the positional
 * GEMM1/GEMM2 and quantize/requantize rules need the order); nothing is dropped: unmatched kernels are listed by
 * name, and overlapping launches on one stream are all counted (`wallUs` is the union of their intervals, so
 * total > wall shows overlap).
 */
import { matchRule, PROFILE_STAGE_ORDER, resolveStage, type ProfileStage } from './stages';
import type { KernelRecord } from './records';

export interface ClassifiedKernel extends KernelRecord {
  /** undefined = no rule matched */
  stage?: ProfileStage;
  /** the matching rule's note */
  rule?: string;
}

export interface StageSummary {
  stage: ProfileStage;
  count: number;
  totalUs: number;
  meanUs: number;
  minUs: number;
  maxUs: number;
  /** union of the launches' intervals (Chrome traces only): less than totalUs when they overlap */
  wallUs?: number;
  /** distinct kernel names, most time first */
  kernels: string[];
  /** Nsight Compute figures: percentages duration-weighted means; registers min–max; shared memory max */
  ncu?: {
    dramPct?: number;
    smPct?: number;
    memPct?: number;
    occupancyPct?: number;
    registers?: [number, number];
    sharedBytes?: number;
  };
}

export interface UnmatchedKernel {
  name: string;
  count: number;
  totalUs: number;
}

export function classifyKernels(records: readonly KernelRecord[]): ClassifiedKernel[] {
  const order = [...records].sort((a, b) => (a.startUs ?? 0) - (b.startUs ?? 0) || a.seq - b.seq);
  const last = new Map<string, ProfileStage>();
  const out = new Map<KernelRecord, ClassifiedKernel>();
  for (const r of order) {
    const m = matchRule(r.name, r.ops);
    if (!m) {
      out.set(r, { ...r });
      continue;
    }
    const stage = resolveStage(m.rule.stage, last.get(r.device));
    if (stage !== 'other' && stage !== 'router' && !m.rule.setup) last.set(r.device, stage);
    out.set(r, { ...r, stage, rule: m.rule.note });
  }
  return records.map((r) => out.get(r)!);
}

function unionUs(intervals: Array<[number, number]>): number {
  intervals.sort((a, b) => a[0] - b[0]);
  let total = 0;
  let curStart = -Infinity;
  let curEnd = -Infinity;
  for (const [s, e] of intervals) {
    if (s > curEnd) {
      if (curEnd > curStart) total += curEnd - curStart;
      curStart = s;
      curEnd = e;
    } else if (e > curEnd) curEnd = e;
  }
  if (curEnd > curStart) total += curEnd - curStart;
  return total;
}

function weighted(ks: ClassifiedKernel[], pick: (k: ClassifiedKernel) => number | undefined): number | undefined {
  let num = 0;
  let den = 0;
  for (const k of ks) {
    const v = pick(k);
    if (v === undefined) continue;
    const w = Number.isFinite(k.durUs) && k.durUs > 0 ? k.durUs : 1;
    num += v * w;
    den += w;
  }
  return den > 0 ? num / den : undefined;
}

export function summarizeStages(kernels: readonly ClassifiedKernel[]): { stages: StageSummary[]; unmatched: UnmatchedKernel[] } {
  const by = new Map<ProfileStage, ClassifiedKernel[]>();
  const un = new Map<string, UnmatchedKernel>();
  for (const k of kernels) {
    if (k.stage === undefined) {
      const u = un.get(k.name) ?? { name: k.name, count: 0, totalUs: 0 };
      u.count++;
      if (Number.isFinite(k.durUs)) u.totalUs += k.durUs;
      un.set(k.name, u);
      continue;
    }
    const list = by.get(k.stage) ?? [];
    list.push(k);
    by.set(k.stage, list);
  }
  const stages: StageSummary[] = [];
  for (const stage of PROFILE_STAGE_ORDER) {
    const ks = by.get(stage);
    if (!ks) continue;
    const durs = ks.map((k) => k.durUs).filter((d) => Number.isFinite(d));
    const total = durs.reduce((a, b) => a + b, 0);
    const time = new Map<string, number>();
    for (const k of ks) time.set(k.name, (time.get(k.name) ?? 0) + (Number.isFinite(k.durUs) ? k.durUs : 0));
    const s: StageSummary = {
      stage,
      count: ks.length,
      totalUs: total,
      meanUs: durs.length ? total / durs.length : NaN,
      minUs: durs.length ? Math.min(...durs) : NaN,
      maxUs: durs.length ? Math.max(...durs) : NaN,
      kernels: [...time.entries()].sort((a, b) => b[1] - a[1]).map(([n]) => n),
    };
    const timed = ks.filter((k) => k.startUs !== undefined && Number.isFinite(k.durUs));
    if (timed.length) s.wallUs = unionUs(timed.map((k) => [k.startUs!, k.startUs! + k.durUs]));
    if (ks.some((k) => k.metrics)) {
      const regs = ks.map((k) => k.metrics?.registers).filter((v): v is number => v !== undefined);
      const smem = ks.map((k) => k.metrics?.sharedBytes).filter((v): v is number => v !== undefined);
      const n: NonNullable<StageSummary['ncu']> = {};
      const dram = weighted(ks, (k) => k.metrics?.dramPct);
      const sm = weighted(ks, (k) => k.metrics?.smPct);
      const mem = weighted(ks, (k) => k.metrics?.memPct);
      const occ = weighted(ks, (k) => k.metrics?.occupancyPct);
      if (dram !== undefined) n.dramPct = dram;
      if (sm !== undefined) n.smPct = sm;
      if (mem !== undefined) n.memPct = mem;
      if (occ !== undefined) n.occupancyPct = occ;
      if (regs.length) n.registers = [Math.min(...regs), Math.max(...regs)];
      if (smem.length) n.sharedBytes = Math.max(...smem);
      s.ncu = n;
    }
    stages.push(s);
  }
  return { stages, unmatched: [...un.values()].sort((a, b) => b.totalUs - a.totalUs || a.name.localeCompare(b.name)) };
}

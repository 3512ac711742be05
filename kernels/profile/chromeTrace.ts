/**
 * PyTorch profiler (Kineto) Chrome trace JSON → kernel records.
 * Format: {"traceEvents": [...]} or a bare array of events. GPU work is complete events (ph "X", ts and dur in µs)
 * with cat "kernel" ("Kernel" in older PyTorch), "gpu_memcpy" or "gpu_memset"; their args carry "device", "stream"
 * and "correlation". The launch is a cat "cuda_runtime" (or "cuda_driver") event with the same args.correlation on the
 * CPU thread; the cat "cpu_op" events around it (aten::_scaled_grouped_mm, …) say which op launched the kernel.
 * Every GPU event is kept, overlapping or nested ones on one stream included (some viewers drop those).
 */
import { MoeError } from '../errors';
import type { KernelRecord } from './records';

interface TraceEvent {
  ph?: unknown;
  cat?: unknown;
  name?: unknown;
  ts?: unknown;
  dur?: unknown;
  pid?: unknown;
  tid?: unknown;
  args?: Record<string, unknown>;
}

const GPU_CATS: Readonly<Record<string, KernelRecord['kind']>> = { kernel: 'kernel', gpu_memcpy: 'memcpy', gpu_memset: 'memset' };
const OP_CATS = new Set(['cpu_op', 'operator', 'user_annotation', 'python_function']);
const LAUNCH_CATS = new Set(['cuda_runtime', 'cuda_driver']);
const MAX_OP_DEPTH = 8;

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : undefined);

export function parseChromeTrace(text: string, path: string): KernelRecord[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    const head = JSON.stringify(text.slice(0, 24));
    throw new MoeError('E_FORMAT', `${path}: not a Chrome trace JSON (${(e as Error).message.split('\n')[0]}; starts with ${head}); import a torch.profiler trace (.json or .json.gz) or an ncu --csv export`);
  }
  const events = Array.isArray(json) ? json : (json as { traceEvents?: unknown } | null)?.traceEvents;
  if (!Array.isArray(events))
    throw new MoeError('E_FORMAT', `${path}: JSON without a "traceEvents" list: not a Chrome trace (torch.profiler's export_chrome_trace writes one)`);

  // CPU side: ops per thread (for the launching-op chain) and launches by correlation id
  const opsByThread = new Map<string, { start: number; end: number; name: string }[]>();
  const launches = new Map<number, { thread: string; ts: number }>();
  for (const ev of events as TraceEvent[]) {
    if (typeof ev !== 'object' || ev === null || ev.ph !== 'X' || typeof ev.cat !== 'string') continue;
    const ts = num(ev.ts);
    if (ts === undefined) continue;
    const thread = `${String(ev.pid)}/${String(ev.tid)}`;
    if (OP_CATS.has(ev.cat) && typeof ev.name === 'string') {
      const list = opsByThread.get(thread) ?? [];
      list.push({ start: ts, end: ts + (num(ev.dur) ?? 0), name: ev.name });
      opsByThread.set(thread, list);
    } else if (LAUNCH_CATS.has(ev.cat)) {
      const c = num(ev.args?.correlation);
      if (c !== undefined) launches.set(c, { thread, ts });
    }
  }
  for (const list of opsByThread.values()) list.sort((a, b) => a.start - b.start || b.end - a.end);

  const out: KernelRecord[] = [];
  for (const ev of events as TraceEvent[]) {
    if (typeof ev !== 'object' || ev === null || ev.ph !== 'X' || typeof ev.cat !== 'string') continue;
    const kind = GPU_CATS[ev.cat.toLowerCase()];
    if (!kind) continue;
    const ts = num(ev.ts);
    const dur = num(ev.dur);
    if (ts === undefined || dur === undefined) continue;
    const a = ev.args ?? {};
    const rec: KernelRecord = {
      name: typeof ev.name === 'string' ? ev.name : String(ev.name),
      seq: 0,
      startUs: ts,
      durUs: dur,
      device: String(a.device ?? ev.pid ?? '?'),
      stream: String(a.stream ?? ev.tid ?? '?'),
      kind,
    };
    const c = num(a.correlation);
    const launch = c === undefined ? undefined : launches.get(c);
    if (launch) {
      const ops = enclosingOps(opsByThread.get(launch.thread), launch.ts);
      if (ops.length) rec.ops = ops;
    }
    const regs = num(a['registers per thread']);
    const smem = num(a['shared memory']);
    const occ = num(a['est. achieved occupancy %']);
    if (regs !== undefined || smem !== undefined || occ !== undefined)
      rec.metrics = { ...(regs !== undefined ? { registers: regs } : {}), ...(smem !== undefined ? { sharedBytes: smem } : {}), ...(occ !== undefined ? { occupancyPct: occ } : {}) };
    out.push(rec);
  }
  out.sort((x, y) => x.startUs! - y.startUs!);
  out.forEach((r, i) => (r.seq = i));
  return out;
}

/** names of the ops containing time t on one thread, innermost (latest start) first */
function enclosingOps(list: { start: number; end: number; name: string }[] | undefined, t: number): string[] {
  if (!list) return [];
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid]!.start <= t) lo = mid + 1;
    else hi = mid;
  }
  const out: string[] = [];
  // ops that start at or before t, newest first; an op that ended before t does not enclose it
  for (let i = lo - 1; i >= 0 && out.length < MAX_OP_DEPTH && lo - i <= 4096; i--) if (list[i]!.end >= t) out.push(list[i]!.name);
  return out;
}

/**
 * Nsight Compute CSV exports (`ncu --csv …`, or `ncu --import X.ncu-rep --csv --page details|raw`) → kernel records.
 *   details page: one row per (kernel launch, metric):
 *     "ID","Process ID","Process Name","Host Name","Kernel Name","Context","Stream","Block Size","Grid Size","Device",
 *     "CC","Section Name","Metric Name","Metric Unit","Metric Value"[,"Rule Name","Rule Type","Rule Description",
 *     "Estimated Speedup Type","Estimated Speedup"]   (older versions lack some launch columns; all are found by name)
 *   raw page: one row per kernel launch, one column per metric (gpu__time_duration.sum, …), usually followed by a
 *     row of units right under the header.
 * ncu writes numbers with thousands separators ("2,848") and auto-scaled units (nsecond/usecond/msecond, byte/Kbyte);
 * both are normalised here. Lines before the header (==PROF== messages, the program's output) are skipped.
 * Profiled with --nvtx, the export has the NVTX push/pop ranges of each launch (a column "thread Domain:Push/Pop_Range
 * …"); ranges named "moe::<stage>" (torch.cuda.nvtx.range_push) are taken as the launching ops, as in traces.
 */
import { MoeError } from '../errors';
import type { KernelRecord, NcuMetrics } from './records';

/** RFC 4180 CSV: quoted fields may hold commas, doubled quotes and newlines */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += ch;
  }
  if (field !== '' || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

/** "2,848" → 2848, "n/a" → undefined */
export function ncuNumber(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const s = v.trim().replace(/,/g, '');
  if (s === '' || !/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) return undefined;
  return Number(s);
}

const TIME_TO_US: Readonly<Record<string, number>> = { ns: 1e-3, nsecond: 1e-3, us: 1, usecond: 1, 'µs': 1, ms: 1e3, msecond: 1e3, s: 1e6, second: 1e6 };
const BYTES: Readonly<Record<string, number>> = { byte: 1, kbyte: 1e3, mbyte: 1e6, gbyte: 1e9, kib: 1024, mib: 1024 ** 2, b: 1, kb: 1e3 };

function toUs(value: number, unit: string, fallbackUnit: string): number | undefined {
  const f = TIME_TO_US[(unit || fallbackUnit).trim()];
  return f === undefined ? undefined : value * f;
}

function toBytes(value: number, unit: string): number | undefined {
  const u = unit.trim().toLowerCase().replace(/\/block$/, '');
  const f = u === '' ? 1 : BYTES[u];
  return f === undefined ? undefined : value * f;
}

type Field = 'duration' | keyof NcuMetrics | 'smemStatic' | 'smemDynamic';

/** metric names (details page) and metric identifiers (raw page, or --metrics) → what they measure */
const METRIC_FIELDS: ReadonlyArray<{ match: RegExp; field: Field; percent?: boolean }> = [
  { match: /^(Duration|gpu__time_duration\.sum)$/, field: 'duration' },
  { match: /^(DRAM Throughput|gpu__dram_throughput\.avg\.pct_of_peak_sustained_elapsed|dram__throughput\.avg\.pct_of_peak_sustained_elapsed)$/, field: 'dramPct', percent: true },
  { match: /^(Compute \(SM\) Throughput|Compute \(SM\) \[%\]|SM \[%\]|sm__throughput\.avg\.pct_of_peak_sustained_elapsed)$/, field: 'smPct', percent: true },
  { match: /^(Memory Throughput|Memory \[%\]|gpu__compute_memory_throughput\.avg\.pct_of_peak_sustained_elapsed)$/, field: 'memPct', percent: true },
  { match: /^(Achieved Occupancy|sm__warps_active\.avg\.pct_of_peak_sustained_active)$/, field: 'occupancyPct', percent: true },
  { match: /^(Registers Per Thread|launch__registers_per_thread)$/, field: 'registers' },
  { match: /^(Static Shared Memory Per Block|launch__shared_mem_per_block_static)$/, field: 'smemStatic' },
  { match: /^(Dynamic Shared Memory Per Block|launch__shared_mem_per_block_dynamic)$/, field: 'smemDynamic' },
];

interface Acc {
  rec: KernelRecord;
  durUs?: number;
  durFromSol: boolean;
  smemStatic?: number;
  smemDynamic?: number;
}

function apply(acc: Acc, metric: string, unit: string, raw: string, section: string, path: string): void {
  const rule = METRIC_FIELDS.find((m) => m.match.test(metric.trim()));
  if (!rule) return;
  const v = ncuNumber(raw);
  if (v === undefined) return;
  // the same name can appear in several sections with other units (Memory Throughput in byte/s): percentages only
  if (rule.percent && unit.trim() !== '%' && unit.trim() !== '') return;
  const m = (acc.rec.metrics ??= {});
  switch (rule.field) {
    case 'duration': {
      const us = toUs(v, unit, 'nsecond');
      if (us === undefined) throw new MoeError('E_FORMAT', `${path}: kernel ${acc.rec.seq} '${acc.rec.name.slice(0, 60)}': duration unit '${unit}' is not a time unit`);
      const sol = /speed of light/i.test(section);
      // the Speed-Of-Light section's Duration wins over others of the same launch
      if (acc.durUs === undefined || (sol && !acc.durFromSol)) {
        acc.durUs = us;
        acc.durFromSol = sol;
      }
      break;
    }
    case 'smemStatic':
      acc.smemStatic = toBytes(v, unit);
      break;
    case 'smemDynamic':
      acc.smemDynamic = toBytes(v, unit);
      break;
    default:
      m[rule.field] = v;
  }
}

function finish(acc: Acc): KernelRecord {
  const r = acc.rec;
  r.durUs = acc.durUs ?? NaN;
  if (acc.smemStatic !== undefined || acc.smemDynamic !== undefined) (r.metrics ??= {}).sharedBytes = (acc.smemStatic ?? 0) + (acc.smemDynamic ?? 0);
  if (r.metrics && Object.keys(r.metrics).length === 0) delete r.metrics;
  return r;
}

export interface NcuParse {
  page: 'details' | 'raw';
  records: KernelRecord[];
}

export function parseNcuCsv(text: string, path: string): NcuParse {
  const rows = parseCsv(text);
  const h = rows.findIndex((r) => r.includes('ID') && r.includes('Kernel Name'));
  if (h < 0)
    throw new MoeError('E_FORMAT', `${path}: no Nsight Compute CSV header ("ID",…,"Kernel Name",…); export with ncu --csv (details or raw page)`);
  const head = rows[h]!;
  const col = (n: string): number => head.indexOf(n);
  const cId = col('ID');
  const cName = col('Kernel Name');
  const cStream = col('Stream');
  const cDevice = col('Device');
  // with --nvtx, ncu adds the thread's push/pop range stack: record_function-style "moe::<stage>" ranges become ops
  const cNvtx = head.findIndex((h) => h.startsWith('thread Domain:Push/Pop_Range'));
  const cell = (r: string[], c: number): string => (c >= 0 ? (r[c] ?? '') : '');
  const data = rows.slice(h + 1).filter((r) => r.length > 1 || (r[0] ?? '').trim() !== '');
  const byId = new Map<string, Acc>();
  const accFor = (r: string[]): Acc => {
    const id = cell(r, cId);
    let acc = byId.get(id);
    if (!acc) {
      acc = {
        rec: { name: cell(r, cName), seq: byId.size, durUs: NaN, device: cell(r, cDevice) || '0', stream: cell(r, cStream) || '?', kind: 'kernel' },
        durFromSol: false,
      };
      const ranges = [...cell(r, cNvtx).matchAll(/moe::[A-Za-z_]+/g)].map((m) => m[0]).reverse();
      if (ranges.length) acc.rec.ops = ranges;
      byId.set(id, acc);
    }
    return acc;
  };

  const cMetric = col('Metric Name');
  const cValue = col('Metric Value');
  if (cMetric >= 0 && cValue >= 0) {
    const cUnit = col('Metric Unit');
    const cSection = col('Section Name');
    for (const r of data) {
      if (cell(r, cId) === '' || cell(r, cMetric) === '') continue;
      apply(accFor(r), cell(r, cMetric), cell(r, cUnit), cell(r, cValue), cell(r, cSection), path);
    }
    return { page: 'details', records: [...byId.values()].map(finish) };
  }

  // raw page: a units row right under the header has an empty ID
  let units: string[] = [];
  let body = data;
  if (data.length && cell(data[0]!, cId) === '') {
    units = data[0]!;
    body = data.slice(1);
  }
  const metricCols = head.map((name, c) => ({ name, c })).filter(({ name }) => METRIC_FIELDS.some((m) => m.match.test(name)));
  for (const r of body) {
    if (cell(r, cId) === '') continue;
    const acc = accFor(r);
    for (const { name, c } of metricCols) apply(acc, name, units[c] ?? '', cell(r, c), 'raw', path);
  }
  return { page: 'raw', records: [...byId.values()].map(finish) };
}

/**
 * moe-inspect import-trace FILE [--json]: a PyTorch profiler trace (.json/.json.gz) or an Nsight Compute CSV mapped
 * onto the layer's stages, as a table (docs/profiles.md). Unmatched kernels are listed, never dropped.
 */
import { parseArgs } from 'node:util';
import { MoeError } from '../../../kernels/errors';
import { importProfile, type ProfileImport } from '../../../kernels/profile';
import { fmtBytes, fmtTime } from '../../../kernels/format';
import { renderTable } from '../table';

const NAME_WIDTH = 90;

const us = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '—' : fmtTime(v / 1000));
const pct = (v: number | undefined): string => (v === undefined ? '—' : `${v.toFixed(1)} %`);
const short = (name: string): string => (name.length > NAME_WIDTH ? `${name.slice(0, NAME_WIDTH - 1)}…` : name);

export function profileTable(p: ProfileImport): string {
  const ncu = p.format !== 'chrome-trace';
  const total = p.stages.reduce((a, s) => a + s.totalUs, 0) + p.unmatched.reduce((a, u) => a + u.totalUs, 0);
  let head: string[];
  let rows: string[][];
  if (ncu) {
    head = ['stage', 'launches', 'duration', 'mean', 'DRAM thr.', 'SM thr.', 'occupancy', 'regs/thread', 'smem/block', 'kernels'];
    rows = p.stages.map((s) => {
      const n = s.ncu ?? {};
      const regs = n.registers ? (n.registers[0] === n.registers[1] ? String(n.registers[0]) : `${n.registers[0]}–${n.registers[1]}`) : '—';
      return [s.stage, String(s.count), us(s.totalUs), us(s.meanUs), pct(n.dramPct), pct(n.smPct), pct(n.occupancyPct), regs, n.sharedBytes === undefined ? '—' : fmtBytes(n.sharedBytes), short(s.kernels.join(', '))];
    });
  } else {
    head = ['stage', 'launches', 'total', 'mean', 'wall', 'share', 'kernels'];
    rows = p.stages.map((s) => [s.stage, String(s.count), us(s.totalUs), us(s.meanUs), us(s.wallUs), total > 0 ? `${((100 * s.totalUs) / total).toFixed(1)} %` : '—', short(s.kernels.join(', '))]);
  }
  const right = head.map((h) => !['stage', 'kernels'].includes(h));
  let text = renderTable(head, rows, right);
  if (p.unmatched.length) {
    const un = p.unmatched.map((u) => [short(u.name), String(u.count), us(u.totalUs)]);
    text += `\n\nunmatched kernels (${p.unmatched.reduce((a, u) => a + u.count, 0)} launches, not mapped to a stage):\n${renderTable(['kernel', 'launches', 'total'], un, [false, true, true])}`;
  }
  return text;
}

export function importTraceCommand(argv: string[], out: NodeJS.WritableStream): number {
  let values: { json?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options: { json: { type: 'boolean' } }, allowPositionals: true, strict: true }));
  } catch (e) {
    throw new MoeError('E_SPEC', `import-trace: ${(e as Error).message.split('\n')[0]}`);
  }
  if (positionals.length !== 1) throw new MoeError('E_SPEC', `import-trace: give one file (a torch.profiler trace .json/.json.gz or an ncu --csv export), got ${positionals.length}`);
  const p = importProfile(positionals[0]!);
  if (values.json) {
    out.write(JSON.stringify(p, null, 1) + '\n');
    return 0;
  }
  const launches = p.kernels.length;
  out.write(`${p.path}: ${p.format}, ${launches} GPU launches on ${new Set(p.kernels.map((k) => `${k.device}/${k.stream}`)).size} device streams\n\n`);
  out.write(profileTable(p) + '\n');
  return 0;
}

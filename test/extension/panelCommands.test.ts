/** MoE: Import Profiler Trace… and MoE: Compare With… against a fake VS Code (the dialogs and the panel as plain objects). */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareCommand, importProfileCommand, PROFILE_FILTERS, type CommandPanel, type CommandUi } from '../../extension/panelCommands';
import { importProfile, timingsOnStages, type ProfileImport } from '../../kernels/profile';
import { readTraceFile } from '../../kernels/io/traceFile';
import { MoeError } from '../../kernels/errors';
import type { Trace } from '../../kernels/trace';
import { smallTrace } from '../webview/fixtures';
import { PANEL_COMMAND_IDS } from '../../extension/manifest';
import { PANEL_COMMANDS } from '../../kernels/protocol';

const FIXTURE = join(__dirname, '..', 'kernels', 'profile', 'fixtures', 'h200-torch-scaled-grouped-mm.trace.json.gz');
const dir = mkdtempSync(join(tmpdir(), 'moe-cmds-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Fake {
  ui: CommandUi;
  said: string[];
  errors: { doing: string; message: string }[];
  pickedTitles: string[];
  items: string[][];
  shown: { profile?: ReturnType<typeof timingsOnStages>; compare?: Trace | undefined; variants: unknown[] };
}

function fake(o: { panel?: 'none' | 'running' | 'done'; file?: string; pick?: (labels: string[]) => number | undefined; variant?: Trace; comparing?: Trace } = {}): Fake {
  const f: Fake = { said: [], errors: [], pickedTitles: [], items: [], shown: { variants: [] }, ui: undefined as unknown as CommandUi };
  const trace = smallTrace('cpu');
  const panel: CommandPanel = {
    trace: () => (o.panel === 'running' ? undefined : trace),
    showProfile: (p: ProfileImport) => {
      f.shown.profile = timingsOnStages(p, trace.stages.map((s) => s.id));
      return { onStages: 1, outside: 2, unmatched: 3 };
    },
    showCompare: (t) => void (f.shown.compare = t),
    comparing: () => o.comparing,
    runVariant: async (change) => {
      f.shown.variants.push(change);
      return o.variant;
    },
    archs: [{ id: 'sm90', label: 'SM90 (Hopper)' }, { id: 'sm100', label: 'SM100 (Blackwell)' }],
  };
  f.ui = {
    panel: () => (o.panel === 'none' ? undefined : panel),
    pickFile: async (title, filters) => {
      f.pickedTitles.push(`${title} ${JSON.stringify(filters)}`);
      return o.file;
    },
    pick: async (title, items) => {
      f.pickedTitles.push(title);
      f.items.push(items.map((i) => i.label));
      const i = o.pick?.(items.map((x) => x.label));
      return i === undefined ? undefined : items[i]!.value;
    },
    info: (m) => void f.said.push(`info: ${m}`),
    warn: (m) => void f.said.push(`warn: ${m}`),
    error: (doing, e) => void f.errors.push({ doing, message: e instanceof Error ? e.message : String(e) }),
  };
  return f;
}

test('Import Profiler Trace: no panel, or a run still going, is said; cancelling the picker does nothing', async () => {
  const none = fake({ panel: 'none' });
  await importProfileCommand(none.ui, importProfile);
  assert.deepEqual(none.said, ['warn: Import Profiler Trace: no MoE Layout Inspector panel is open. Run "Inspect MoE Layer" first.']);
  const running = fake({ panel: 'running' });
  await importProfileCommand(running.ui, importProfile);
  assert.match(running.said[0]!, /has not finished yet/);
  const cancelled = fake({ panel: 'done' });
  await importProfileCommand(cancelled.ui, importProfile);
  assert.deepEqual([cancelled.said, cancelled.errors, cancelled.shown.profile], [[], [], undefined]);
});

test('Import Profiler Trace: a torch.profiler trace (.json.gz) maps onto the panel\'s stages; a file that is not a trace is one error naming it', async () => {
  const f = fake({ panel: 'done', file: FIXTURE });
  await importProfileCommand(f.ui, importProfile);
  assert.match(f.pickedTitles[0]!, /"json","gz"/, 'the picker offers .json and .json.gz');
  assert.deepEqual(PROFILE_FILTERS['Nsight Compute CSV (ncu --csv)'], ['csv']);
  assert.equal(f.shown.profile!.launches, 47);
  assert.ok(f.shown.profile!.stages.some((s) => s.stage === 'gemm1'));
  assert.match(f.said[0]!, /^info: Import Profiler Trace: 47 GPU launches from .*trace\.json\.gz: 1 on this run's stages, 2 on stages this recipe does not have, 3 unmatched/);
  const notJson = join(dir, 'notes.json');
  writeFileSync(notJson, 'hello');
  const bad = fake({ panel: 'done', file: notJson });
  await importProfileCommand(bad.ui, importProfile);
  assert.equal(bad.errors.length, 1);
  assert.equal(bad.errors[0]!.doing, `Importing ${notJson}`);
  assert.match(bad.errors[0]!.message, /notes\.json/);
  assert.equal(bad.shown.profile, undefined);
});

test('Compare With: offers a saved run, the other architectures and backend, and stopping; a saved run is read and shown', async () => {
  const saved = join(dir, 'cuda-run.json');
  writeFileSync(saved, JSON.stringify(smallTrace('cuda')));
  const f = fake({ panel: 'done', file: saved, pick: () => 0, comparing: smallTrace('cuda') });
  await compareCommand(f.ui, readTraceFile);
  assert.deepEqual(f.items[0], ['A saved run…', 'This layer on SM100 (Blackwell)', 'This layer on the CUDA backend', 'Stop comparing']);
  assert.equal(f.shown.compare!.backend.name, 'cuda');
  assert.deepEqual(f.errors, []);
  // a profiler trace picked here by mistake: told where it belongs
  const g = fake({ panel: 'done', file: FIXTURE, pick: () => 0 });
  await compareCommand(g.ui, readTraceFile);
  assert.match(g.errors[0]!.message, /is a profiler trace .*MoE: Import Profiler Trace/);
  assert.equal(g.shown.compare, undefined);
});

test('Compare With: this layer on another architecture or backend runs aside; cancelled runs and "stop" behave', async () => {
  const sm100 = { ...smallTrace('cpu', 'ue8m0', 'sm100') };
  const f = fake({ panel: 'done', pick: (l) => l.indexOf('This layer on SM100 (Blackwell)'), variant: sm100 });
  await compareCommand(f.ui, readTraceFile);
  assert.deepEqual(f.shown.variants, [{ arch: 'sm100' }]);
  assert.equal(f.shown.compare, sm100);
  const cuda = fake({ panel: 'done', pick: (l) => l.indexOf('This layer on the CUDA backend'), variant: undefined });
  await compareCommand(cuda.ui, readTraceFile);
  assert.deepEqual(cuda.shown.variants, [{ backend: 'cuda' }]);
  assert.ok(!('compare' in cuda.shown), 'a cancelled or failed run changes nothing (the runner reported it)');
  const stop = fake({ panel: 'done', pick: (l) => l.indexOf('Stop comparing'), comparing: sm100 });
  await compareCommand(stop.ui, readTraceFile);
  assert.ok('compare' in stop.shown && stop.shown.compare === undefined);
  const failing = fake({ panel: 'done', pick: () => 1 });
  failing.ui.panel()!.runVariant = async () => {
    throw new MoeError('E_SPEC', 'Inspect MoE Layer: too big');
  };
  await compareCommand(failing.ui, readTraceFile);
  assert.deepEqual(failing.errors, [{ doing: 'Compare With', message: 'Inspect MoE Layer: too big' }]);
  const none = fake({ panel: 'none' });
  await compareCommand(none.ui, readTraceFile);
  assert.match(none.said[0]!, /Compare With: no MoE Layout Inspector panel is open/);
});

test('the commands are contributed in package.json, registered in extension.ts, and behind the panel\'s buttons', () => {
  const root = join(__dirname, '..', '..');
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { contributes: { commands: { command: string; title: string }[] } };
  const titles = Object.fromEntries(pkg.contributes.commands.map((c) => [c.command, c.title]));
  assert.equal(titles['moeInspector.importProfile'], 'Import Profiler Trace…');
  assert.equal(titles['moeInspector.compare'], 'Compare With…');
  const registered = [...readFileSync(join(root, 'extension', 'extension.ts'), 'utf8').matchAll(/registerCommand\('([^']+)'/g)].map((m) => m[1]);
  for (const id of ['moeInspector.importProfile', 'moeInspector.compare']) assert.ok(registered.includes(id), `${id} registered`);
  // the webview's buttons (PANEL_COMMANDS) map onto these ids (extension/manifest.ts), and panel.ts runs them through that map
  assert.deepEqual(PANEL_COMMAND_IDS, { importProfile: 'moeInspector.importProfile', compare: 'moeInspector.compare' });
  assert.deepEqual(Object.keys(PANEL_COMMAND_IDS).sort(), [...PANEL_COMMANDS].sort());
  const panel = readFileSync(join(root, 'extension', 'panel.ts'), 'utf8');
  assert.match(panel, /executeCommand\(PANEL_COMMAND_IDS\[c\]\)/);
});

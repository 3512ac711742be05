/**
 * MoE: Import Profiler Trace… and MoE: Compare With…, free of 'vscode' (extension.ts binds the dialogs and the
 * panel; the unit tests bind fakes). Import: a PyTorch profiler trace (.json / .json.gz; an Nsight Compute CSV too)
 * mapped by kernels/profile onto the open panel's stages and drawn in its timing view beside the run's own times.
 * Compare: a second run beside the panel's — a saved trace (`moe-inspect run --trace`), or this layer run again on
 * another architecture or backend — drawn side by side in the timing and Compare views (issue 12).
 */
import type { ProfileImport } from '../kernels/profile/index';
import type { Trace } from '../kernels/trace';
import type { ArchChoice } from '../kernels/protocol';
import type { BackendChoice } from '../kernels/spec';

/** What a command needs of the open panel. */
export interface CommandPanel {
  /** the finished run shown (undefined while the first run is still going) */
  trace(): Trace | undefined;
  /** maps an imported profile onto the run's stages and draws it; returns how many of its kernels landed on a stage */
  showProfile(p: ProfileImport): { onStages: number; outside: number; unmatched: number };
  showCompare(trace: Trace | undefined): void;
  comparing(): Trace | undefined;
  /** this panel's layer run again with one change, for comparison (its progress in a notification; undefined: cancelled or failed, already reported) */
  runVariant(change: { arch?: string; backend?: BackendChoice }): Promise<Trace | undefined>;
  archs: readonly ArchChoice[];
}

export interface CommandUi {
  panel(): CommandPanel | undefined;
  /** a file picker; the filters are name → extensions without the dot */
  pickFile(title: string, filters: Record<string, string[]>): Promise<string | undefined>;
  pick<T>(title: string, items: { label: string; description?: string; value: T }[]): Promise<T | undefined>;
  info(message: string): void;
  warn(message: string): void;
  /** a failure the user can act on: `doing` failed because of `message` */
  error(doing: string, e: unknown): void;
}

export const NO_PANEL = (command: string): string => `${command}: no MoE Layout Inspector panel is open. Run "Inspect MoE Layer" first.`;

export const PROFILE_FILTERS: Record<string, string[]> = {
  'PyTorch profiler trace (.json, .json.gz)': ['json', 'gz'],
  'Nsight Compute CSV (ncu --csv)': ['csv'],
};

/** MoE: Import Profiler Trace… */
export async function importProfileCommand(ui: CommandUi, load: (path: string) => ProfileImport): Promise<void> {
  const command = 'Import Profiler Trace';
  const panel = ui.panel();
  if (!panel) return ui.warn(NO_PANEL(command));
  if (!panel.trace()) return ui.warn(`${command}: the panel's run has not finished yet; import the trace once it has.`);
  const path = await ui.pickFile('Import a profiler trace onto the panel\'s stages', PROFILE_FILTERS);
  if (!path) return;
  let p: ProfileImport;
  try {
    p = load(path);
  } catch (e) {
    return ui.error(`Importing ${path}`, e);
  }
  const n = panel.showProfile(p);
  const parts = [`${n.onStages} on this run's stages`];
  if (n.outside) parts.push(`${n.outside} on stages this recipe does not have`);
  if (n.unmatched) parts.push(`${n.unmatched} unmatched (listed in the timing view)`);
  ui.info(`${command}: ${p.kernels.length} GPU launches from ${path}: ${parts.join(', ')}.`);
}

type CompareChoice = { kind: 'file' } | { kind: 'stop' } | { kind: 'arch'; arch: string } | { kind: 'backend'; backend: BackendChoice };

/** MoE: Compare With… */
export async function compareCommand(ui: CommandUi, readTrace: (path: string) => Trace): Promise<void> {
  const command = 'Compare With';
  const panel = ui.panel();
  if (!panel) return ui.warn(NO_PANEL(command));
  const trace = panel.trace();
  if (!trace) return ui.warn(`${command}: the panel's run has not finished yet; compare once it has.`);
  const items: { label: string; description?: string; value: CompareChoice }[] = [
    { label: 'A saved run…', description: 'the JSON of moe-inspect run --trace FILE', value: { kind: 'file' } },
    ...panel.archs.filter((a) => a.id !== trace.spec.arch).map((a) => ({ label: `This layer on ${a.label}`, description: 'runs it again: scale layouts, stages and times side by side', value: { kind: 'arch', arch: a.id } as CompareChoice })),
    ...(['cpu', 'cuda'] as const).filter((b) => b !== trace.backend.name).map((b) => ({ label: `This layer on the ${b.toUpperCase()} backend`, description: 'runs it again: per-stage times side by side', value: { kind: 'backend', backend: b } as CompareChoice })),
    ...(panel.comparing() ? [{ label: 'Stop comparing', value: { kind: 'stop' } as CompareChoice }] : []),
  ];
  const choice = await ui.pick(`${command}: a second run beside ${trace.spec.name}`, items);
  if (!choice) return;
  if (choice.kind === 'stop') return panel.showCompare(undefined);
  let other: Trace | undefined;
  if (choice.kind === 'file') {
    const path = await ui.pickFile('Compare with a saved run', { 'moe-inspect trace (run --trace)': ['json', 'gz'] });
    if (!path) return;
    try {
      other = readTrace(path);
    } catch (e) {
      return ui.error(`Comparing with ${path}`, e);
    }
  } else {
    try {
      other = await panel.runVariant(choice.kind === 'arch' ? { arch: choice.arch } : { backend: choice.backend });
    } catch (e) {
      return ui.error(`${command}`, e);
    }
    if (!other) return;
  }
  panel.showCompare(other);
}

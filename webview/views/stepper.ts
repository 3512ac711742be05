/**
 * The stepper: the run's stages in the recipe's order (trace.stages, then a partial trace's trace.pending — any
 * number), each with its time and roofline fraction; next / previous / play, keyboard shortcuts (←/→, space,
 * Home/End) and, for the current stage, what it reads and writes as tensor chips (shape, dtype, layout summary).
 * State lives in the returned handle, not in module globals. (Number keys switch views: app/keyboard.ts.)
 */
import * as d3 from 'd3';
import type { Trace, StageId, StageRecord, TensorRef, PendingStage } from '../../kernels/trace';
import type { Theme } from '../theme';
import { fmtTime, fmtBytes, fmtFlops, fmtPct } from './svgkit';

export interface StepperData {
  trace: Trace;
}

export interface StepperOptions {
  theme: Theme;
  stage?: StageId;
  onStage?: (id: StageId) => void;
  onTensor?: (name: string) => void;
  /** where keyboard shortcuts are listened for (default: the container) */
  keyTarget?: HTMLElement | Document;
  playIntervalMs?: number;
}

export interface StepperHandle {
  readonly stage: StageId;
  readonly playing: boolean;
  select(id: StageId): void;
  next(): void;
  prev(): void;
  play(): void;
  pause(): void;
  destroy(): void;
}

export function chipText(t: TensorRef): string {
  return `${t.name} ${t.dtype}[${t.shape.join('×')}]`;
}

/** One row of the stepper: a finished stage (`record`) or one a partial trace has not computed yet. */
interface StepEntry {
  id: StageId;
  title: string;
  record?: StageRecord;
  pending?: PendingStage;
}

/** The finished stages, then the pending ones of a partial trace. */
export function stepEntries(trace: Trace): StepEntry[] {
  return [
    ...trace.stages.map((s): StepEntry => ({ id: s.id, title: s.title, record: s })),
    ...(trace.pending ?? []).filter((p) => !trace.stages.some((s) => s.id === p.id)).map((p): StepEntry => ({ id: p.id, title: p.title, pending: p })),
  ];
}

/**
 * The detail line of a finished stage. Memory-only stages (no FLOPs) say "—" rather than "0 FLOP · 0.0 FLOP/B",
 * which reads like a measurement.
 */
export function metricsText(s: StageRecord): string {
  const base = `${fmtTime(s.timeMs)} on ${s.backend.toUpperCase()} (${s.device}) · floor ${fmtTime(s.roofline.floorMs)} · ${fmtBytes(s.bytes)}`;
  if (!(s.flops > 0)) return `${base} · FLOPs — (memory only)`;
  return `${base} · ${fmtFlops(s.flops)} (${fmtFlops(s.usefulFlops)} useful) · ${s.roofline.intensity.toFixed(1)} FLOP/B`;
}

export function render(container: HTMLElement, data: StepperData, options: StepperOptions): StepperHandle {
  const stages = stepEntries(data.trace);
  if (stages.length === 0) throw new Error('stepper: the trace has no stages');
  const firstPending = stages.findIndex((s) => s.pending);
  const root = d3.select(container);
  root.selectAll('*').remove();
  root.classed('moe-view stepper', true);
  let index = Math.max(0, stages.findIndex((s) => s.id === options.stage));
  let timer: number | undefined;
  const win = container.ownerDocument.defaultView;

  const controls = root.append('div').attr('class', 'stepper-controls').attr('role', 'toolbar').attr('aria-label', 'Stage navigation');
  const prevBtn = controls.append('button').attr('type', 'button').attr('class', 'icon-button').attr('aria-label', 'Previous stage (←)').attr('title', 'Previous stage (←)').text('‹');
  const playBtn = controls.append('button').attr('type', 'button').attr('class', 'icon-button play').attr('aria-label', 'Play stages (space)').attr('title', 'Play (space)').text('▶');
  const nextBtn = controls.append('button').attr('type', 'button').attr('class', 'icon-button').attr('aria-label', 'Next stage (→)').attr('title', 'Next stage (→)').text('›');
  const counter = controls.append('span').attr('class', 'counter muted');

  const list = root.append('ol').attr('class', 'stage-list').attr('role', 'listbox').attr('aria-label', 'Pipeline stages').attr('tabindex', 0);
  const items = list.selectAll<HTMLLIElement, StepEntry>('li').data(stages).join('li')
    .attr('role', 'option').attr('class', (s) => `stage-item${s.pending ? ' pending' : ''}`).attr('data-stage', (s) => s.id).attr('id', (s) => `stage-${s.id}`)
    .attr('aria-disabled', (s) => (s.pending ? 'true' : null));
  const head = items.append('div').attr('class', 'stage-head');
  head.append('span').attr('class', 'stage-num').text((_s, i) => `${i + 1}`);
  head.append('span').attr('class', 'stage-title').text((s) => s.title);
  const time = head.append('span').attr('class', 'stage-time');
  time.filter((s) => !!s.record).text((s) => fmtTime(s.record!.timeMs));
  // the stage running now gets a spinner; later ones just wait
  time.filter((s) => !!s.pending).append('span').attr('class', (s) => `spinner${stages.indexOf(s) === firstPending ? ' running' : ''}`).attr('aria-hidden', 'true');
  time.filter((s) => !!s.pending).append('span').attr('class', 'pending-label').text((s) => (stages.indexOf(s) === firstPending ? 'running' : 'pending'));
  const done = items.filter((s) => !!s.record);
  const meter = done.append('div').attr('class', 'roofline-meter')
    .attr('role', 'meter').attr('aria-valuemin', 0).attr('aria-valuemax', 100)
    .attr('aria-valuenow', (s) => Math.round(s.record!.roofline.fraction * 100))
    .attr('aria-label', (s) => `${s.title}: ${(s.record!.roofline.fraction * 100).toFixed(1)}% of roofline`);
  meter.append('div').attr('class', 'fill').style('width', (s) => `${Math.max(1, Math.min(100, s.record!.roofline.fraction * 100))}%`);
  done.append('div').attr('class', 'stage-sub muted').text((s) => `${fmtPct(s.record!.roofline.fraction)}% of roofline · ${s.record!.roofline.bound}-bound`);
  const waiting = items.filter((s) => !!s.pending);
  waiting.append('div').attr('class', 'roofline-meter pending').append('div').attr('class', 'fill indeterminate');
  waiting.append('div').attr('class', 'stage-sub muted').text('not computed yet');

  const detail = root.append('section').attr('class', 'stage-detail').attr('aria-live', 'polite');

  const chip = (sel: d3.Selection<HTMLDivElement, unknown, null, undefined>, names: string[], role: 'read' | 'write'): void => {
    const chips = sel.selectAll<HTMLButtonElement, string>('button.chip').data(names).join('button').attr('type', 'button')
      .attr('class', `chip chip-${role}`).attr('data-tensor', (n) => n)
      .attr('aria-label', (n) => `${role === 'read' ? 'reads' : 'writes'} ${n}`);
    chips.append('span').attr('class', 'chip-name').text((n) => n);
    chips.classed('chip-pending', (n) => !data.trace.tensors[n]);
    chips.append('span').attr('class', 'chip-meta').text((n) => {
      const t = data.trace.tensors[n];
      return t ? `${t.dtype} [${t.shape.join('×')}]` : data.trace.pending ? 'not computed yet' : 'not in trace';
    });
    chips.append('span').attr('class', 'chip-layout').text((n) => data.trace.tensors[n]?.layout.summary ?? '');
    chips.on('click', (_e, n) => options.onTensor?.(n));
  };

  const update = (): void => {
    const s = stages[index]!;
    items.classed('current', (_d, i) => i === index).attr('aria-selected', (_d, i) => String(i === index));
    list.attr('aria-activedescendant', `stage-${s.id}`);
    counter.text(`${index + 1} / ${stages.length}`);
    prevBtn.property('disabled', index === 0);
    nextBtn.property('disabled', index === stages.length - 1);
    detail.selectAll('*').remove();
    detail.append('h3').text(`${index + 1}. ${s.title}`);
    if (!s.record) {
      detail.append('div').attr('class', 'metrics pending').text(index === firstPending ? 'Running now: not computed yet.' : 'Not computed yet: waiting for the stages before it.');
      detail.append('div').attr('class', 'io-label').text('Will write');
      chip(detail.append('div').attr('class', 'chips writes'), s.pending?.outputs ?? [], 'write');
      options.onStage?.(s.id);
      return;
    }
    const rec = s.record;
    detail.append('div').attr('class', 'metrics').text(metricsText(rec));
    detail.append('div').attr('class', 'io-label').text('Reads');
    chip(detail.append('div').attr('class', 'chips reads'), rec.inputs, 'read');
    detail.append('div').attr('class', 'io-label').text('Writes');
    chip(detail.append('div').attr('class', 'chips writes'), rec.outputs, 'write');
    const names = new Set([...rec.inputs, ...rec.outputs]);
    const checks = data.trace.checks.filter((c) => c.tensor && names.has(c.tensor));
    if (rec.notes?.length || checks.length) {
      const ul = detail.append('ul').attr('class', 'notes');
      for (const n of rec.notes ?? []) ul.append('li').text(n);
      for (const c of checks) ul.append('li').attr('class', `check check-${c.level}`).text(`${c.level}: ${c.message}`);
    }
    options.onStage?.(s.id);
  };

  const go = (i: number): void => {
    const j = Math.max(0, Math.min(stages.length - 1, i));
    if (j === index) return;
    index = j;
    update();
  };
  const pause = (): void => {
    if (timer !== undefined) win?.clearTimeout(timer);
    timer = undefined;
    playBtn.text('▶').attr('aria-label', 'Play stages (space)').attr('aria-pressed', 'false');
  };
  const tick = (): void => {
    if (index >= stages.length - 1) return pause();
    go(index + 1);
    timer = win?.setTimeout(tick, options.playIntervalMs ?? 1200);
  };
  const play = (): void => {
    if (timer !== undefined) return;
    if (index >= stages.length - 1) go(0);
    playBtn.text('❚❚').attr('aria-label', 'Pause (space)').attr('aria-pressed', 'true');
    timer = win?.setTimeout(tick, options.playIntervalMs ?? 1200);
  };

  prevBtn.on('click', () => go(index - 1));
  nextBtn.on('click', () => go(index + 1));
  playBtn.on('click', () => (timer === undefined ? play() : pause()));
  items.on('click', (_e, s) => go(stages.indexOf(s)));

  const keyTarget = options.keyTarget ?? container;
  const onKey = (ev: Event): void => {
    const e = ev as KeyboardEvent;
    const tag = (e.target as HTMLElement | null)?.tagName;
    if (tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA' || e.altKey || e.ctrlKey || e.metaKey) return;
    let handled = true;
    if (e.key === 'ArrowRight') go(index + 1);
    else if (e.key === 'ArrowLeft') go(index - 1);
    else if (e.key === 'Home') go(0);
    else if (e.key === 'End') go(stages.length - 1);
    else if (e.key === ' ' || e.key === 'Spacebar') timer === undefined ? play() : pause();
    else handled = false;
    if (handled) e.preventDefault();
  };
  keyTarget.addEventListener('keydown', onKey);
  update();
  return {
    get stage() {
      return stages[index]!.id;
    },
    get playing() {
      return timer !== undefined;
    },
    select: (id) => go(stages.findIndex((s) => s.id === id)),
    next: () => go(index + 1),
    prev: () => go(index - 1),
    play,
    pause,
    destroy: () => {
      pause();
      keyTarget.removeEventListener('keydown', onKey);
      root.selectAll('*').remove();
    },
  };
}

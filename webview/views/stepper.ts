/**
 * The stepper: the run's stages in the recipe's order (trace.stages, then a partial trace's trace.pending — any
 * number), each with its time and roofline fraction; next / previous / play, keyboard shortcuts (←/→, space,
 * Home/End) and, for the current stage, what it reads and writes as tensor chips (shape, dtype, layout summary).
 * State lives in the returned handle, not in module globals. (Number keys switch views: app/keyboard.ts.)
 */
import * as d3 from 'd3';
import type { Trace, StageId, StageRecord, PendingStage } from '../../kernels/trace';
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
  /** the next (partial or final) trace of the same run: the list and detail are redrawn, the controls kept */
  setTrace(trace: Trace): void;
  next(): void;
  prev(): void;
  play(): void;
  pause(): void;
  destroy(): void;
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

/** One row of the list: number, title, time or spinner, roofline meter (rebuilt when the trace changes). */
function drawItem(li: d3.Selection<HTMLLIElement, StepEntry, null, undefined>, s: StepEntry, i: number, running: boolean): void {
  li.selectAll('*').remove();
  li.attr('role', 'option').attr('class', `stage-item${s.pending ? ' pending' : ''}`).attr('data-stage', s.id).attr('id', `stage-${s.id}`)
    .attr('aria-disabled', s.pending ? 'true' : null);
  const head = li.append('div').attr('class', 'stage-head');
  head.append('span').attr('class', 'stage-num').text(`${i + 1}`);
  head.append('span').attr('class', 'stage-title').text(s.title);
  const time = head.append('span').attr('class', 'stage-time');
  if (s.record) {
    const r = s.record;
    time.text(fmtTime(r.timeMs));
    const meter = li.append('div').attr('class', 'roofline-meter')
      .attr('role', 'meter').attr('aria-valuemin', 0).attr('aria-valuemax', 100)
      .attr('aria-valuenow', Math.round(r.roofline.fraction * 100))
      .attr('aria-label', `${s.title}: ${(r.roofline.fraction * 100).toFixed(1)}% of roofline`);
    meter.append('div').attr('class', 'fill').style('width', `${Math.max(1, Math.min(100, r.roofline.fraction * 100))}%`);
    li.append('div').attr('class', 'stage-sub muted').text(`${fmtPct(r.roofline.fraction)}% of roofline · ${r.roofline.bound}-bound`);
    return;
  }
  // the stage running now gets a spinner; later ones just wait
  time.append('span').attr('class', `spinner${running ? ' running' : ''}`).attr('aria-hidden', 'true');
  time.append('span').attr('class', 'pending-label').text(running ? 'running' : 'pending');
  li.append('div').attr('class', 'roofline-meter pending').append('div').attr('class', 'fill indeterminate');
  li.append('div').attr('class', 'stage-sub muted').text('not computed yet');
}

export function render(container: HTMLElement, data: StepperData, options: StepperOptions): StepperHandle {
  let trace = data.trace;
  let stages = stepEntries(trace);
  if (stages.length === 0) throw new Error('stepper: the trace has no stages');
  const root = d3.select(container);
  root.selectAll('*').remove();
  root.classed('moe-view stepper', true);
  let index = Math.max(0, stages.findIndex((s) => s.id === options.stage));
  let timer: number | undefined;
  const win = container.ownerDocument.defaultView;

  // the controls are built once: a new partial trace of the run updates the list and the detail, never the
  // buttons under the user's pointer
  const controls = root.append('div').attr('class', 'stepper-controls').attr('role', 'toolbar').attr('aria-label', 'Stage navigation');
  const prevBtn = controls.append('button').attr('type', 'button').attr('class', 'icon-button').attr('aria-label', 'Previous stage (←)').attr('title', 'Previous stage (←)').text('‹');
  const playBtn = controls.append('button').attr('type', 'button').attr('class', 'icon-button play').attr('aria-label', 'Play stages (space)').attr('title', 'Play (space)').text('▶');
  const nextBtn = controls.append('button').attr('type', 'button').attr('class', 'icon-button').attr('aria-label', 'Next stage (→)').attr('title', 'Next stage (→)').text('›');
  const counter = controls.append('span').attr('class', 'counter muted');

  const list = root.append('ol').attr('class', 'stage-list').attr('role', 'listbox').attr('aria-label', 'Pipeline stages').attr('tabindex', 0);
  let items = list.selectAll<HTMLLIElement, StepEntry>('li');
  const drawList = (): void => {
    const firstPending = stages.findIndex((s) => s.pending);
    items = list.selectAll<HTMLLIElement, StepEntry>('li').data(stages, (s) => s.id).join('li');
    items.each(function (s, i) {
      drawItem(d3.select(this), s, i, i === firstPending);
    });
    items.on('click', (_e, s) => go(stages.indexOf(s)));
  };

  const detail = root.append('section').attr('class', 'stage-detail').attr('aria-live', 'polite');

  const chip = (sel: d3.Selection<HTMLDivElement, unknown, null, undefined>, names: string[], role: 'read' | 'write'): void => {
    const chips = sel.selectAll<HTMLButtonElement, string>('button.chip').data(names).join('button').attr('type', 'button')
      .attr('class', `chip chip-${role}`).attr('data-tensor', (n) => n)
      .attr('aria-label', (n) => `${role === 'read' ? 'reads' : 'writes'} ${n}`);
    chips.append('span').attr('class', 'chip-name').text((n) => n);
    chips.classed('chip-pending', (n) => !trace.tensors[n]);
    chips.append('span').attr('class', 'chip-meta').text((n) => {
      const t = trace.tensors[n];
      return t ? `${t.dtype} [${t.shape.join('×')}]` : trace.pending ? 'not computed yet' : 'not in trace';
    });
    chips.append('span').attr('class', 'chip-layout').text((n) => trace.tensors[n]?.layout.summary ?? '');
    chips.on('click', (_e, n) => options.onTensor?.(n));
  };

  const update = (): void => {
    const s = stages[index]!;
    const firstPending = stages.findIndex((x) => x.pending);
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
    const checks = trace.checks.filter((c) => c.tensor && names.has(c.tensor));
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
    else if (e.key === ' ' || e.key === 'Spacebar') {
      if (timer === undefined) play();
      else pause();
    }
    else handled = false;
    if (handled) e.preventDefault();
  };
  keyTarget.addEventListener('keydown', onKey);
  drawList();
  update();
  return {
    get stage() {
      return stages[index]!.id;
    },
    get playing() {
      return timer !== undefined;
    },
    select: (id) => go(stages.findIndex((s) => s.id === id)),
    setTrace: (t) => {
      const entries = stepEntries(t);
      if (entries.length === 0) throw new Error('stepper: the trace has no stages');
      const id = stages[index]!.id;
      trace = t;
      stages = entries;
      index = Math.max(0, stages.findIndex((s) => s.id === id));
      drawList();
      update();
    },
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

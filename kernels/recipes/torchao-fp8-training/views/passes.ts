/**
 * The three passes of torchao's FP8 MoE grouped GEMM (docs/layouts-and-stages.md §8) as three lanes — forward, dgrad, wgrad —
 * each: the BF16 operands, what they are quantized into (with the quantization granularity and the scale layout),
 * the DeepGEMM call, and the BF16 result. Shapes come from the trace's tensors once their stage ran (dashed boxes with
 * the shapes the spec implies until then); each stage shows its time or "pending", so a partial trace reads as the
 * run's progress.
 */
import type { Trace } from '../../../trace';
import type { Theme } from '../../../../webview/theme';
import { createSvg, fmtTime, type G } from '../../../../webview/views/svgkit';
import { frame, type TrainingViewOptions } from './frame';
import type { PassId, TrainingModel } from './model';
import { TT } from '../tensors';

interface Box {
  tensor: string;
  label: string;
  /** shape the spec implies (drawn until the tensor exists) */
  shape: (m: TrainingModel) => number[];
  dtype: string;
  note: string;
}

interface Lane {
  pass: PassId;
  title: string;
  /** stage ids in this lane, in order */
  stages: string[];
  inputs: Box[];
  quantized: Box[];
  call: string;
  result: Box;
}

const LANES: readonly Lane[] = [
  {
    pass: 'forward',
    title: 'Forward  output = input · weight[e]ᵀ',
    stages: ['pad', 'fwd_quantize', 'fwd_gemm'],
    inputs: [
      { tensor: TT.input, label: 'input', shape: (m) => [m.M, m.K], dtype: 'bf16', note: 'tokens grouped by expert' },
      { tensor: TT.weight, label: 'weight', shape: (m) => [m.E, m.N, m.K], dtype: 'bf16', note: '' },
    ],
    quantized: [
      { tensor: TT.input_fp8, label: 'input_fp8 + input_scale', shape: (m) => [m.groups.bufferRows, m.K], dtype: 'f8e4m3fn', note: '1×128 along K · scales col-major' },
      { tensor: TT.weight_fp8, label: 'weight_fp8 + weight_scale', shape: (m) => [m.E, m.N, m.K], dtype: 'f8e4m3fn', note: '128×128 blocks · K-major' },
    ],
    call: 'm_grouped_fp8_gemm_nt_contiguous · grouped_layout',
    result: { tensor: TT.output, label: 'output', shape: (m) => [m.M, m.N], dtype: 'bf16', note: 'unpadded' },
  },
  {
    pass: 'dgrad',
    title: 'Dgrad  grad_input = grad_output · weight[e]',
    stages: ['dgrad_quantize', 'dgrad_gemm'],
    inputs: [
      { tensor: TT.grad_output, label: 'grad_output', shape: (m) => [m.M, m.N], dtype: 'bf16', note: 'padded like input' },
      { tensor: TT.weight, label: 'weight', shape: (m) => [m.E, m.N, m.K], dtype: 'bf16', note: '' },
    ],
    quantized: [
      { tensor: TT.grad_output_fp8, label: 'grad_output_fp8 + scale', shape: (m) => [m.groups.bufferRows, m.N], dtype: 'f8e4m3fn', note: '1×128 along N · scales col-major' },
      { tensor: TT.weight_t_fp8, label: 'weight_t_fp8 + weight_t_scale', shape: (m) => [m.E, m.K, m.N], dtype: 'f8e4m3fn', note: '128×128 blocks, written transposed' },
    ],
    call: 'm_grouped_fp8_gemm_nt_contiguous · same grouped_layout',
    result: { tensor: TT.grad_input, label: 'grad_input', shape: (m) => [m.M, m.K], dtype: 'bf16', note: 'unpadded' },
  },
  {
    pass: 'wgrad',
    title: 'Wgrad  grad_weight[e] = grad_outputₑᵀ · inputₑ',
    stages: ['wgrad_quantize', 'wgrad_gemm'],
    inputs: [
      { tensor: TT.grad_output_padded, label: 'grad_output_padded', shape: (m) => [m.groups.bufferRows, m.N], dtype: 'bf16', note: 'first S rows' },
      { tensor: TT.input_padded, label: 'input_padded', shape: (m) => [m.groups.bufferRows, m.K], dtype: 'bf16', note: 'first S rows' },
    ],
    quantized: [
      { tensor: TT.wgrad_lhs, label: 'wgrad_lhs + scale (N, S/128)', shape: (m) => [m.groups.paddedTokens * m.N], dtype: 'f8e4m3fn', note: '128 tokens × 1 · flat (N, P_e) blocks' },
      { tensor: TT.wgrad_rhs, label: 'wgrad_rhs + scale (K, S/128)', shape: (m) => [m.groups.paddedTokens * m.K], dtype: 'f8e4m3fn', note: '128 tokens × 1 · flat (K, P_e) blocks' },
    ],
    call: 'k_grouped_fp8_gemm_nt_contiguous · ks = padded sizes · float32 D',
    result: { tensor: TT.grad_weight, label: 'grad_weight', shape: (m) => [m.E, m.N, m.K], dtype: 'bf16', note: 'float32 D → BF16' },
  },
];

const shapeText = (s: readonly number[]): string => `(${s.join(', ')})`;

export function render(container: HTMLElement, trace: Trace, options: TrainingViewOptions = {}): void {
  const f = frame(container, trace, 'passes-view', options);
  if (!f) return;
  const { model: m, theme, width } = f;
  const laneH = 150;
  const svg = createSvg(container.ownerDocument, width, 44 + LANES.length * laneH, theme, 'torchao FP8 training: forward, dgrad and wgrad');
  svg.append('text').attr('class', 'title').attr('x', 16).attr('y', 22).attr('font-weight', 'bold')
    .text(`torchao FP8 blockwise MoE grouped GEMM, DeepGEMM backend — M=${m.M} K=${m.K} N=${m.N} E=${m.E}, groups padded to 128 (S = ${m.groups.paddedTokens})`);
  LANES.forEach((lane, i) => {
    const g = svg.append('g').attr('class', 'pass').attr('data-pass', lane.pass).attr('transform', `translate(16, ${40 + i * laneH})`);
    drawLane(g, lane, m, trace, theme, width - 32, laneH - 14);
  });
  container.appendChild(svg.node()!);
}

function drawLane(g: G, lane: Lane, m: TrainingModel, trace: Trace, theme: Theme, w: number, h: number): void {
  const stages = lane.stages.map((id) => m.stages.find((s) => s.id === id)).filter((s) => s !== undefined);
  const done = stages.length > 0 && stages.every((s) => s.done);
  g.append('rect').attr('class', `lane ${done ? 'done' : 'pending'}`).attr('width', w).attr('height', h).attr('fill', 'none').attr('stroke', theme.border).attr('rx', 4);
  g.append('text').attr('class', 'lane-title').attr('x', 8).attr('y', 16).attr('font-weight', 'bold').text(lane.title);
  // stage status line
  const status = stages.map((s) => `${s.title.replace(/^[^·]*· /, '')}: ${s.done ? fmtTime(s.timeMs ?? 0) : 'pending'}`).join('   ·   ');
  g.append('text').attr('class', 'lane-status').attr('x', 8).attr('y', h - 8).attr('font-size', 10).attr('fill', theme.muted).text(status);
  for (const s of stages) g.append('g').attr('class', `stage ${s.done ? 'done' : 'pending'}`).attr('data-stage', s.id);

  const colW = (w - 40) / 4;
  const boxH = 40;
  const col = (c: number): number => 8 + c * (colW + 8);
  const drawBox = (b: Box, c: number, row: number, accent: string): void => {
    const ref = trace.tensors[b.tensor];
    const shape = ref ? ref.shape : b.shape(m);
    const x = col(c);
    const y = 26 + row * (boxH + 6);
    const bg = g.append('g').attr('class', `operand ${ref ? 'present' : 'missing'}`).attr('data-tensor', b.tensor).attr('transform', `translate(${x}, ${y})`);
    bg.append('rect').attr('width', colW).attr('height', boxH).attr('rx', 3).attr('fill', 'none').attr('stroke', accent).attr('stroke-dasharray', ref ? null : '4,3');
    bg.append('text').attr('x', 6).attr('y', 14).attr('font-size', 11).attr('font-weight', 'bold').text(b.label);
    bg.append('text').attr('class', 'shape').attr('x', 6).attr('y', 27).attr('font-size', 10).text(`${shapeText(shape)} ${ref ? ref.dtype : b.dtype}`);
    if (b.note) bg.append('text').attr('x', 6).attr('y', 37).attr('font-size', 9).attr('fill', theme.muted).text(b.note);
  };
  lane.inputs.forEach((b, r) => drawBox(b, 0, r, theme.foreground));
  lane.quantized.forEach((b, r) => drawBox(b, 1, r, theme.charts.blue));
  // the call
  const cx = col(2);
  const call = g.append('g').attr('class', 'call').attr('transform', `translate(${cx}, 26)`);
  call.append('rect').attr('width', colW).attr('height', 2 * boxH + 6).attr('rx', 3).attr('fill', 'none').attr('stroke', theme.charts.orange);
  call.append('text').attr('x', 6).attr('y', 16).attr('font-size', 11).attr('font-weight', 'bold').text('DeepGEMM');
  const words = lane.call.split(' · ');
  words.forEach((t, i) => call.append('text').attr('x', 6).attr('y', 32 + i * 13).attr('font-size', 10).text(t));
  drawBox(lane.result, 3, 0, theme.charts.green);
  // arrows between the columns
  for (let c = 0; c < 3; c++)
    g.append('path').attr('class', 'arrow').attr('d', `M${col(c) + colW + 1},${26 + boxH} l6,0 m-3,-3 l3,3 l-3,3`).attr('stroke', theme.muted).attr('fill', 'none');
}

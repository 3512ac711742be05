/**
 * Guards of the W4AFP8 recipe (docs/layouts-and-stages.md §9): the sizes SGLang's W4AFp8MoEMethod and its CUTLASS grouped GEMM
 * need, the TP/EP rule of PR #8118, the interleave factor each weight gets, and what static activation scales cost.
 * 'fail' = SGLang would refuse it (blocking ones: the layer cannot be computed at all); 'warn'/'info' = what a user
 * should know about this run.
 */
import type { LayerSpec } from '../../spec';
import type { CheckResult } from '../../trace';
import { expertMapCheck, pass } from '../../checks';
import { archById } from '../../arch/index';
import { shapeStr } from '../../errors';
import { fround } from '../../dtypes/float32';
import type { W4Inputs } from './inputs';
import { tpOf } from './options';
import { parallelLayout, runParallelism } from './parallel';
import { staticScales } from './scales';

export const W4_BLOCKING: ReadonlySet<string> = new Set([
  'spec.sizes',
  'routing.topk',
  'shape.hidden-multiple-128',
  'shape.intermediate-multiple-128',
  'w4afp8.tp',
  'w4afp8.tp-and-ep',
  'inputs.shapes',
  'inputs.expert-map',
]);

const fmtShape = (s: readonly number[]): string => `(${s.join(', ')})`;

export function w4Checks(spec: LayerSpec, inputs?: W4Inputs): CheckResult[] {
  const out: CheckResult[] = [];
  const { tokens: M, hidden: H, intermediate: I, experts: E, topk } = spec;
  const tp = tpOf(spec);
  const sizesOk = [M >= 0, H > 0, I > 0, E > 0, topk > 0, tp >= 1].every(Boolean) && [M, H, I, E, topk, tp].every(Number.isInteger);
  out.push(
    sizesOk
      ? pass('spec.sizes', `sizes: M=${M}, H=${H}, I=${I}, E=${E}, top-${topk}${tp > 1 ? `, TP${tp}` : ''}`)
      : { id: 'spec.sizes', level: 'fail', message: `sizes must be integers (tokens ≥ 0, the rest ≥ 1): got M=${M}, H=${H}, I=${I}, E=${E}, top-k=${topk}, tp=${tp}` },
  );
  if (!sizesOk) return out;
  out.push(
    topk <= E
      ? pass('routing.topk', `top-${topk} of ${E} experts`)
      : { id: 'routing.topk', level: 'fail', tensor: 'topk_ids', message: `top-k = ${topk} must not exceed the number of experts (${E}): each token picks distinct experts` },
  );

  // ---- parallelism (PR #8118): TP slices I, EP splits the experts; SGLang's W4AFP8 path does one or the other
  const ep = spec.expertParallel && spec.expertParallel.size > 1 ? spec.expertParallel.size : 1;
  if (tp > 1 && ep > 1)
    out.push({
      id: 'w4afp8.tp-and-ep',
      level: 'fail',
      message: `--tp ${tp} with --ep ${ep}: SGLang's W4AFP8 MoE runs either tensor parallel (all experts, I/tp each) or expert parallel (enable_ep_moe: E/ep experts, full I), not both; drop one`,
    });
  if (I % tp !== 0)
    out.push({ id: 'w4afp8.tp', level: 'fail', tensor: 'w2_weight', message: `I = ${I} does not split into ${tp} equal tensor-parallel slices; pick a tp that divides it` });
  else if (tp > 1) out.push(pass('w4afp8.tp', `TP${tp}: every GPU holds all ${E} experts and I_p = ${I}/${tp} = ${I / tp} of the intermediate size; the partial outputs are summed by an all-reduce (not part of this layer)`));
  const Ip = I / tp;

  out.push(
    H % 128 === 0
      ? pass('shape.hidden-multiple-128', `H = ${H} is a multiple of 128 (w13's int4 scale groups run along H)`)
      : { id: 'shape.hidden-multiple-128', level: 'fail', tensor: 'w13_weight_scale_inv', message: `H = ${H} is not a multiple of 128: w13's int4 group scales (group size 128 along H) need it; SGLang allocates hidden_size // 128 of them` },
  );
  out.push(
    Number.isInteger(Ip) && Ip % 128 === 0
      ? pass('shape.intermediate-multiple-128', `I_p = ${Ip} is a multiple of 128 (w2's int4 scale groups run along I_p)`)
      : {
          id: 'shape.intermediate-multiple-128',
          level: 'fail',
          tensor: 'w2_weight_scale_inv',
          message: `I_p = ${Ip}${tp > 1 ? ` (I = ${I} / TP${tp})` : ''} is not a multiple of 128: w2's int4 group scales (group size 128 along I_p) need it${tp > 1 ? '; use a smaller --tp or --ep instead' : ''}`,
        },
  );

  const arch = archById(spec.arch);
  if (arch.computeCapability < 90)
    out.push({ id: 'w4afp8.arch', level: 'fail', message: `${arch.label}: W4AFp8Config needs compute capability ≥ 90 (get_min_capability), got ${arch.computeCapability / 10}` });
  else if (arch.computeCapability >= 100)
    out.push({
      id: 'w4afp8.arch',
      level: 'warn',
      message: `${arch.label}: SGLang's cutlass_w4a8_moe_mm is a Hopper (SM90, wgmma) kernel; newer SGLang picks the MoE method per GPU and may route W4AFP8 elsewhere (e.g. a Marlin W4A16 method) — ✖ unverified which on ${arch.label}. The CPU computation here is the SM90 kernel's`,
    });
  else out.push(pass('w4afp8.arch', `${arch.label}: SGLang's CUTLASS W4A8 grouped GEMM (int4 → FP8 in registers, then wgmma)`));

  if (H % 128 === 0 && Number.isInteger(Ip) && Ip % 128 === 0) {
    const { mode, size } = runParallelism(spec, tp);
    const p = parallelLayout(mode, size, { experts: E, hidden: H, intermediate: I }, spec.expertParallel?.strategy);
    const a = (g: number, al: number): string => (al === 4 ? `${g} K-groups → α = 4` : `${g} K-group${g === 1 ? '' : 's'}, not a multiple of 4 → α = 1 (a plain transpose)`);
    out.push({
      id: 'w4afp8.interleave',
      level: 'info',
      message: `scale interleave at load: w13 ${a(p.groups13, p.alpha13)}: ${fmtShape(p.shapes.w13_weight_scale_inv)} → ${fmtShape(p.shapes.w13_scale_interleaved)}; w2 ${a(p.groups2, p.alpha2)}: ${fmtShape(p.shapes.w2_weight_scale_inv)} → ${fmtShape(p.shapes.w2_scale_interleaved)} (BF16)`,
    });
    if (mode === 'ep' && p.problem)
      out.push({ id: 'w4afp8.ep-divisible', level: 'fail', tensor: 'w13_weight', message: `EP${size}: ${p.problem}; choose an EP size that divides ${E}` });
  }

  if (spec.activation.kind !== 'silu')
    out.push({ id: 'w4afp8.activation', level: 'warn', message: `the preset asks for ${spec.activation.kind}, but SGLang's cutlass_w4a8_moe applies silu_and_mul only: SiLU-and-mul is what this recipe computes` });
  if (spec.routerWeight !== 'reduce')
    out.push({
      id: 'w4afp8.router-weight',
      level: 'warn',
      message: `the preset places the routing weight at the ${spec.routerWeight}; this recipe applies it where cutlass_w4a8_moe does by default, in the post-reorder weighted reduce (apply_router_weight_on_input exists only for top-1)`,
    });
  if (spec.recipe.scaleFormat !== 'f32')
    out.push({ id: 'w4afp8.act-scale', level: 'info', message: `--act-scale ${spec.recipe.scaleFormat} does not apply: W4AFP8 activations use one static float32 scale per tensor (the max of the checkpoint's input scales)` });
  out.push({
    id: 'w4afp8.static-scales',
    level: 'info',
    message: 'activations are quantized with static per-tensor scales fixed at load (the max of w13_input_scale over all experts, and of w2_input_scale): values beyond 448 × scale are clamped, small ones lose resolution — unlike the 1×128 dynamic groups of the FP8 recipes',
  });

  if (!inputs) {
    const fromSpec = expertMapCheck(spec, null, 0);
    if (fromSpec) out.push(fromSpec);
    return out;
  }

  // ---- the actual tensors against the spec
  const problems: string[] = [];
  const x = inputs.hidden_states;
  if (x.shape[0] !== M || x.shape[1] !== H) problems.push(`hidden_states ${shapeStr(x.shape)} ≠ [${M}, ${H}] of the spec`);
  if (inputs.topk_ids.shape[0] !== M || inputs.topk_ids.shape[1] !== topk) problems.push(`topk_ids ${shapeStr(inputs.topk_ids.shape)} ≠ [${M}, ${topk}]`);
  const El = inputs.w13_weight.shape[0]!;
  if (inputs.w13_weight.shape[1] !== 2 * Ip || inputs.w13_weight.shape[2] !== H / 2) problems.push(`w13_weight ${shapeStr(inputs.w13_weight.shape)} ≠ [E_l, ${2 * Ip}, ${H / 2}] (I_p = ${Ip})`);
  if (inputs.w2_weight.shape[0] !== El || inputs.w2_weight.shape[1] !== H || inputs.w2_weight.shape[2] !== Ip / 2) problems.push(`w2_weight ${shapeStr(inputs.w2_weight.shape)} ≠ [${El}, ${H}, ${Ip / 2}]`);
  out.push(
    problems.length
      ? { id: 'inputs.shapes', level: 'fail', message: `input shapes disagree with the spec / with each other: ${problems.join('; ')}` }
      : pass('inputs.shapes', 'weights, group scales and input scales have consistent shapes (int4 packed two per byte along K, one scale per row and 128 K-elements)'),
  );

  const mapCheck = expertMapCheck(spec, inputs.expert_map, El);
  if (mapCheck) out.push(mapCheck);

  // what the static GEMM1 scale does to these activations
  const { a1 } = staticScales(inputs);
  const lim = 448 * a1;
  const xv = x.toFloat32();
  let clipped = 0;
  let amax = 0;
  for (const v of xv) {
    const av = Math.abs(v);
    if (av > amax) amax = av;
    if (Math.abs(fround(v / a1)) > 448) clipped++;
  }
  out.push(
    clipped
      ? {
          id: 'w4afp8.a1-clip',
          level: 'warn',
          tensor: 'hidden_states',
          message: `${clipped} of ${xv.length} activations (${((100 * clipped) / Math.max(1, xv.length)).toFixed(3)}%) exceed 448 × a1_scale = ${lim.toPrecision(4)} (max |x| = ${amax.toPrecision(4)}) and are clamped to ±448: the calibrated w13_input_scale is too small for this batch`,
        }
      : pass('w4afp8.a1-clip', `max |hidden_states| = ${amax.toPrecision(4)} fits the static range 448 × a1_scale = ${lim.toPrecision(4)}${amax > 0 ? ` (uses ${((100 * amax) / lim).toFixed(1)}% of it)` : ''}`),
  );
  return out;
}

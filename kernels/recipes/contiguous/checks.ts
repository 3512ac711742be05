/**
 * The contiguous recipe's guards (docs/layouts-and-stages.md §7, docs/layouts-and-stages.md §7): what DeepGEMM's contiguous grouped GEMM and vLLM's
 * DeepGemmExperts check or fall back on. Architecture guards (scale formats, packable weight scales) come from
 * kernels/arch/ and are added by kernels/checks.ts. 'fail' = DeepGEMM would refuse or compute garbage;
 * 'warn'/'info' = vLLM would take another path, or a cost.
 */
import type { LayerSpec } from '../../spec';
import type { CheckResult } from '../../trace';
import type { LayerInputs } from '../../backend/types';
import { shapeStr } from '../../errors';
import { expertMapCheck, pass, sizeChecks } from '../../checks';
import { archById } from '../../arch/index';

/** Checks whose failure makes the layer impossible to compute at all (the pipeline refuses to run). */
export const CONTIGUOUS_BLOCKING: ReadonlySet<string> = new Set([
  'shape.hidden-multiple-128',
  'shape.intermediate-multiple-128',
  'routing.topk',
  'inputs.shapes',
  'inputs.expert-map',
  'router.weight-on-input',
  'spec.sizes',
]);

export function contiguousChecks(spec: LayerSpec, inputs?: LayerInputs): CheckResult[] {
  const out: CheckResult[] = [];
  const { tokens: M, hidden: K, intermediate: N, experts: E, topk } = spec;

  out.push(...sizeChecks(spec));
  out.push(
    topk >= 1 && topk <= E
      ? pass('routing.topk', `top-${topk} of ${E} experts`)
      : { id: 'routing.topk', level: 'fail', tensor: 'topk_ids', message: `top-k = ${topk} must be between 1 and the number of experts (${E}): each token picks distinct experts` },
  );

  if (M === 0) out.push({ id: 'tokens.empty', level: 'info', message: 'no tokens: every stage is empty (DeepGEMM returns at once for m = 0) and the output is a [0, K] tensor' });
  else if (M < 128)
    out.push({ id: 'tokens.deepgemm-min', level: 'warn', message: `${M} tokens < 128: vLLM's DeepGemmExperts falls back to the Triton fused-MoE kernel below 128 tokens per call; DeepGEMM timings here describe a path vLLM would not take` });
  else out.push(pass('tokens.deepgemm-min', `${M} tokens ≥ 128: vLLM uses DeepGEMM`));

  out.push(
    N <= 512
      ? { id: 'intermediate.deepgemm-min', level: 'info', message: `intermediate size per partition ${N} ≤ 512: vLLM falls back from DeepGEMM to Triton (e.g. Qwen3-30B-A3B at TP2); lower the tensor parallelism or use expert parallelism to keep DeepGEMM` }
      : pass('intermediate.deepgemm-min', `intermediate size per partition ${N} > 512: DeepGEMM eligible`),
  );

  out.push({
    id: 'scales.act-relayout',
    level: 'info',
    tensor: 'a1q_scale',
    message: `${archById(spec.arch).label}: GEMM1's activation scales come out of the permutation row-major, so DeepGEMM re-lays them out (${archById(spec.arch).scaleLayoutName}) on every call (vLLM does this too); GEMM2's are produced in the kernel layout by the fused activation+quant kernel and used as they are`,
  });

  if (spec.activation.kind === 'swiglu' && spec.activation.clampLimit === undefined)
    out.push({ id: 'activation.clamp', level: 'info', message: 'SwiGLU without a clamp limit is plain SiLU-and-mul; DeepSeek-V4 uses swiglu_limit 10' });

  if (spec.routerWeight === 'input' && topk !== 1)
    out.push({ id: 'router.weight-on-input', level: 'fail', tensor: 'topk_weights', message: `router weight on the input needs top-1 routing (vLLM allows apply_router_weight_on_input only for k = 1), got top-${topk}; weight at the reduce instead` });

  if (!inputs) {
    const fromSpec = expertMapCheck(spec, null, 0);
    if (fromSpec) out.push(fromSpec);
    return out;
  }

  // ---- checks on the actual tensors
  const problems: string[] = [];
  const x = inputs.hidden_states;
  if (x.shape[0] !== M || x.shape[1] !== K) problems.push(`hidden_states ${shapeStr(x.shape)} ≠ [${M}, ${K}] of the spec`);
  if (inputs.topk_ids.shape[0] !== M || inputs.topk_ids.shape[1] !== topk) problems.push(`topk_ids ${shapeStr(inputs.topk_ids.shape)} ≠ [${M}, ${topk}]`);
  const El = inputs.w13_weight.shape[0]!;
  if (inputs.w13_weight.shape[1] !== 2 * N || inputs.w13_weight.shape[2] !== K) problems.push(`w13_weight ${shapeStr(inputs.w13_weight.shape)} ≠ [E_l, ${2 * N}, ${K}]`);
  if (inputs.w2_weight.shape[0] !== El || inputs.w2_weight.shape[1] !== K || inputs.w2_weight.shape[2] !== N) problems.push(`w2_weight ${shapeStr(inputs.w2_weight.shape)} ≠ [${El}, ${K}, ${N}]`);
  const s13 = [El, Math.ceil((2 * N) / 128), Math.ceil(K / 128)];
  const s2 = [El, Math.ceil(K / 128), Math.ceil(N / 128)];
  if (shapeStr(inputs.w13_weight_scale_inv.shape) !== shapeStr(s13)) problems.push(`w13_weight_scale_inv ${shapeStr(inputs.w13_weight_scale_inv.shape)} ≠ ${shapeStr(s13)}`);
  if (shapeStr(inputs.w2_weight_scale_inv.shape) !== shapeStr(s2)) problems.push(`w2_weight_scale_inv ${shapeStr(inputs.w2_weight_scale_inv.shape)} ≠ ${shapeStr(s2)}`);
  out.push(
    problems.length
      ? { id: 'inputs.shapes', level: 'fail', message: `input shapes disagree with the spec / with each other: ${problems.join('; ')}` }
      : pass('inputs.shapes', 'data and scale shapes are consistent (scales: one per 128×128 weight block)'),
  );

  const fp8 = inputs.w13_weight.dtype === 'f8e4m3fn' && inputs.w2_weight.dtype === 'f8e4m3fn';
  out.push(fp8 ? pass('inputs.fp8', 'weights are FP8 E4M3FN') : { id: 'inputs.fp8', level: 'fail', tensor: 'w13_weight', message: `weights must be FP8 E4M3FN for the FP8 grouped GEMM (vLLM falls back otherwise), got ${inputs.w13_weight.dtype} / ${inputs.w2_weight.dtype}` });

  const nonContig = (['hidden_states', 'w13_weight', 'w2_weight'] as const).filter((n) => !inputs[n].isContiguous());
  out.push(
    nonContig.length
      ? { id: 'inputs.contiguous', level: 'warn', tensor: nonContig[0], message: `${nonContig.join(', ')} not contiguous: vLLM's DeepGEMM path requires contiguous tensors and falls back to Triton; call .contiguous() before dumping` }
      : pass('inputs.contiguous', 'hidden_states and weights are contiguous (K-major)'),
  );

  out.push(duplicateExpertCheck(inputs));

  const mapCheck = expertMapCheck(spec, inputs.expert_map, El);
  if (mapCheck) out.push(mapCheck);
  return out;
}

/**
 * A router picks k DISTINCT experts per token. A repeated id in one token's row is legal input to the kernels (the
 * token is simply computed twice for that expert and both copies are added in the reduce, doubling that expert's
 * share), so it is a warning, not a failure: it usually means a top-k implemented with replacement or a corrupt
 * dump. −1 slots (no expert) are not compared. Names the first such token and counts them all.
 */
export function duplicateExpertCheck(inputs: Pick<LayerInputs, 'topk_ids'>): CheckResult {
  const ids = inputs.topk_ids.contiguous();
  const [M, k] = ids.shape as [number, number];
  const st = ids.storage;
  const row: number[] = new Array<number>(k);
  let first = -1;
  let firstExpert = -1;
  let count = 0;
  for (let t = 0; t < M; t++) {
    for (let s = 0; s < k; s++) row[s] = Number(st[ids.offset + t * k + s]!);
    let dup: number | undefined;
    for (let a = 0; a < k && dup === undefined; a++) {
      if (row[a] === -1) continue;
      for (let b = a + 1; b < k; b++)
        if (row[b] === row[a]) {
          dup = row[a]!;
          break;
        }
    }
    if (dup !== undefined) {
      if (first < 0) {
        first = t;
        firstExpert = dup;
      }
      count++;
    }
  }
  if (first < 0) return pass('routing.distinct-experts', `every token's top-${k} experts are distinct`);
  const shown = Array.from({ length: Math.min(k, 16) }, (_, s) => Number(st[ids.offset + first * k + s]!));
  return {
    id: 'routing.distinct-experts',
    level: 'warn',
    tensor: 'topk_ids',
    message:
      `token ${first} picks expert ${firstExpert} more than once (topk_ids[${first}] = [${shown.join(', ')}${k > 16 ? ', …' : ''}])` +
      `${count > 1 ? `, and ${count - 1} more token${count > 2 ? 's' : ''} repeat an expert` : ''}: that expert's output is added twice in the reduce; a router picks k distinct experts (top-k without replacement)`,
  };
}

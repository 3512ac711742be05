/**
 * The CUDA addon's arguments for one run of the W4AFP8 plan (kernels/native/layer_w4afp8.cu): the validated inputs
 * under SGLang's names as flat row-major arrays, the sizes, and the TP/EP plan tensor (a picture computed from the
 * spec, which the addon's load_scales hands back as given). The addon's kernels need H and I_p multiples of 128
 * (whole 128-row weight tiles); the CPU path takes I_p multiples of 64 too — a run the addon cannot take is refused
 * here with that reason.
 */
import type { LayerSpec } from '../../spec';
import type { StageId } from '../../trace';
import type { Tensor } from '../../tensor';
import type { NativeLayerTensors, NativeW4afp8Config } from '../../native/addon';
import { MoeError, shapeStr } from '../../errors';
import { archById } from '../../arch/index';
import { T } from '../tensors';
import { WT } from './tensors';
import { w4InputsFromTensors } from './inputs';
import { parallelPlanTensor, runParallelism } from './parallel';
import { tpOf } from './options';

/** row-major storage of exactly numel elements */
function flat<S extends ArrayBufferView>(t: Tensor): S {
  const c = t.contiguous();
  const s = c.storage as unknown as { subarray(a: number, b: number): S; length: number };
  return (c.offset === 0 && s.length === c.numel ? c.storage : s.subarray(c.offset, c.offset + c.numel)) as unknown as S;
}

export function w4NativeArgs(raw: Record<string, Tensor | undefined>, spec: LayerSpec, stages: readonly StageId[], repeats: number): { cfg: NativeW4afp8Config; tensors: NativeLayerTensors; notes: string[] } {
  const inputs = w4InputsFromTensors(raw);
  const [M, H] = inputs.hidden_states.shape as [number, number];
  const [E, twoIp] = inputs.w13_weight.shape as [number, number, number];
  const Ip = twoIp / 2;
  const k = inputs.topk_ids.shape[1]!;
  if (H % 128 !== 0 || Ip % 128 !== 0)
    throw new MoeError(
      'E_SHAPE',
      `${T.w13_weight}: the CUDA W4AFP8 kernel needs H and I_p multiples of 128 (128-row weight tiles), got H = ${H}, I_p = ${Ip} from ${shapeStr(inputs.w13_weight.shape)}; run it with --backend cpu`,
      T.w13_weight,
    );
  const tp = tpOf(spec);
  const par = runParallelism(spec, tp);
  const plan = parallelPlanTensor(par.size, { experts: spec.experts, hidden: H, intermediate: Ip * tp }, spec.expertParallel?.strategy);
  const map = inputs.expert_map;
  const cfg: NativeW4afp8Config = {
    recipe: 'w4afp8',
    stages,
    arch: archById(spec.arch).computeCapability,
    M,
    H,
    Ip,
    E,
    eGlobal: map ? map.numel : E,
    topk: k,
    planRows: plan.shape[0]!,
    planCols: plan.shape[1]!,
    repeats,
  };
  const tensors: NativeLayerTensors = {
    [T.hidden_states]: flat<Uint16Array | Float32Array>(inputs.hidden_states),
    [T.topk_ids]: flat<Int32Array | BigInt64Array>(inputs.topk_ids),
    [T.topk_weights]: flat<Float32Array>(inputs.topk_weights),
    [T.w13_weight]: flat<Uint8Array>(inputs.w13_weight),
    [T.w13_weight_scale_inv]: flat<Float32Array>(inputs.w13_weight_scale_inv),
    [T.w2_weight]: flat<Uint8Array>(inputs.w2_weight),
    [T.w2_weight_scale_inv]: flat<Float32Array>(inputs.w2_weight_scale_inv),
    [WT.w13_input_scale]: flat<Uint16Array>(inputs.w13_input_scale),
    [WT.w2_input_scale]: flat<Uint16Array>(inputs.w2_input_scale),
    [WT.parallel_plan]: flat<Int32Array>(plan),
    ...(map ? { [T.expert_map]: flat<Int32Array>(map) } : {}),
  };
  return { cfg, tensors, notes: [`${WT.parallel_plan}: computed from the spec on the host (a picture, not a kernel output); the addon hands it back with load_scales`] };
}

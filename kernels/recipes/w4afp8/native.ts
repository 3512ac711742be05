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
    [T.hidden_states]: inputs.hidden_states.contiguous().storage as Uint16Array | Float32Array,
    [T.topk_ids]: inputs.topk_ids.contiguous().storage as Int32Array | BigInt64Array,
    [T.topk_weights]: inputs.topk_weights.contiguous().storage as Float32Array,
    [T.w13_weight]: inputs.w13_weight.contiguous().storage as Uint8Array,
    [T.w13_weight_scale_inv]: inputs.w13_weight_scale_inv.contiguous().storage as Float32Array,
    [T.w2_weight]: inputs.w2_weight.contiguous().storage as Uint8Array,
    [T.w2_weight_scale_inv]: inputs.w2_weight_scale_inv.contiguous().storage as Float32Array,
    [WT.w13_input_scale]: inputs.w13_input_scale.contiguous().storage as Uint16Array,
    [WT.w2_input_scale]: inputs.w2_input_scale.contiguous().storage as Uint16Array,
    [WT.parallel_plan]: plan.contiguous().storage as Int32Array,
    ...(map ? { [T.expert_map]: map.contiguous().storage as Int32Array } : {}),
  };
  return { cfg, tensors, notes: [`${WT.parallel_plan}: computed from the spec on the host (a picture, not a kernel output); the addon hands it back with load_scales`] };
}

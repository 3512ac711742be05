/**
 * The CUDA addon's arguments for one run of the torchao training plan (kernels/native/layer_torchao.cu): the three
 * float tensors as flat row-major arrays, and the index maps that follow from group_sizes alone (groups.ts): the
 * padded buffer's grouped_layout, each padded row's token (−1 on padding), each token's padded row, the padded group
 * sizes and starts. torchao computes these on the device; they are a few integers per row and are computed here once,
 * so the pad and unpad kernels are plain gathers.
 */
import type { LayerSpec } from '../../spec';
import type { StageId } from '../../trace';
import type { Tensor } from '../../tensor';
import type { NativeLayerTensors, NativeTorchaoConfig } from '../../native/addon';
import { archById } from '../../arch/index';
import { TT } from './tensors';
import { groupsOf, torchaoInputsFromTensors } from './inputs';
import { groupedLayout } from './groups';

export function torchaoNativeArgs(raw: Record<string, Tensor | undefined>, spec: LayerSpec, stages: readonly StageId[], repeats: number): { cfg: NativeTorchaoConfig; tensors: NativeLayerTensors; notes: string[] } {
  const inputs = torchaoInputsFromTensors(raw);
  const g = groupsOf(inputs);
  const [M, K] = inputs.input.shape as [number, number];
  const [E, N] = inputs.weight.shape as [number, number, number];
  const rowSource = new Int32Array(g.bufferRows).fill(-1);
  const tokenRow = new Int32Array(M);
  for (let e = 0; e < E; e++)
    for (let i = 0; i < g.sizes[e]!; i++) {
      rowSource[g.starts[e]! + i] = g.srcStarts[e]! + i;
      tokenRow[g.srcStarts[e]! + i] = g.starts[e]! + i;
    }
  const cfg: NativeTorchaoConfig = { recipe: 'torchao-fp8-training', stages, M, K, N, E, Mbuf: g.bufferRows, S: g.paddedTokens, arch: archById(spec.arch).computeCapability, repeats };
  const tensors: NativeLayerTensors = {
    [TT.input]: inputs.input.contiguous().storage as Uint16Array | Float32Array,
    [TT.grad_output]: inputs.grad_output.contiguous().storage as Uint16Array | Float32Array,
    [TT.weight]: inputs.weight.contiguous().storage as Uint16Array | Float32Array,
    [TT.grouped_layout]: groupedLayout(g),
    row_source: rowSource,
    token_row: tokenRow,
    [TT.padded_group_sizes]: g.padded,
    [TT.padded_group_starts]: g.starts,
  };
  return { cfg, tensors, notes: ['grouped_layout, padded group sizes and starts: computed from group_sizes on the host (torchao computes them on the device); the GPU pads and unpads by gathering rows'] };
}

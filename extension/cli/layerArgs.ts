/** The flags shared by `run` and `export`: where the layer comes from and how it is computed. */
import { MoeError } from '../../kernels/errors';
import type { BackendChoice, GpuModel, LayerSpec } from '../../kernels/spec';
import type { LayerInputs } from '../../kernels/backend/types';
import { PRESETS, makeSpec } from '../../kernels/presets';
import { loadLayerFile, specFromInputs } from '../../kernels/inputs';
import { type Flags, type FlagSpec, int, num, oneOf, str } from './args';

export const LAYER_FLAGS: FlagSpec = {
  layer: { type: 'string' },
  preset: { type: 'string' },
  tokens: { type: 'string' },
  seed: { type: 'string' },
  skew: { type: 'string' },
  ep: { type: 'string' },
  rank: { type: 'string' },
  arch: { type: 'string' },
  'act-scale': { type: 'string' },
  quant: { type: 'string' },
  backend: { type: 'string' },
  gpu: { type: 'string' },
};

export interface LayerChoice {
  spec: LayerSpec;
  inputs?: LayerInputs;
  backend: BackendChoice;
  gpuModel: GpuModel;
}

export function layerFromFlags(flags: Flags, command: string): LayerChoice {
  const layer = str(flags, 'layer');
  const preset = str(flags, 'preset');
  if (!layer === !preset) throw new MoeError('E_SPEC', `${command}: give exactly one of --layer FILE.safetensors or --preset NAME (presets: ${PRESETS.map((p) => p.id).join(', ')})`);
  const arch = oneOf(flags, 'arch', ['sm90', 'sm100'] as const, 'sm90');
  const scaleFormat = oneOf(flags, 'act-scale', ['f32', 'ue8m0'] as const, arch === 'sm100' ? 'ue8m0' : 'f32');
  const quant = oneOf(flags, 'quant', ['vllm', 'deepgemm'] as const, 'vllm');
  const backend = oneOf(flags, 'backend', ['auto', 'cpu', 'cuda'] as const, 'auto');
  const gpuModel = oneOf(flags, 'gpu', ['H100', 'H200', 'B200', 'H100-measured', 'H200-measured'] as const, 'H100');
  const recipe = { actGroup: 128 as const, weightBlock: 128 as const, scaleFormat, quant };
  const epSize = int(flags, 'ep', undefined, 1);
  const expertParallel = epSize && epSize > 1 ? { size: epSize, rank: int(flags, 'rank', 0, 0)!, strategy: 'linear' as const } : undefined;
  if (expertParallel && expertParallel.rank >= expertParallel.size)
    throw new MoeError('E_SPEC', `--rank ${expertParallel.rank} must be below --ep ${expertParallel.size}`);

  if (layer) {
    const inputs = loadLayerFile(layer);
    const spec = specFromInputs(inputs, { name: layer, arch, recipe, source: { kind: 'file', path: layer } });
    return { spec, inputs, backend, gpuModel };
  }
  const tokens = int(flags, 'tokens', undefined, 1);
  if (tokens === undefined) throw new MoeError('E_SPEC', `${command}: --preset needs --tokens M`);
  const spec = makeSpec(preset!, {
    tokens,
    arch,
    recipe,
    ...(expertParallel ? { expertParallel } : {}),
    source: { kind: 'synthetic', seed: int(flags, 'seed', 0, 0)!, skew: num(flags, 'skew', 0) },
  });
  return { spec, backend, gpuModel };
}

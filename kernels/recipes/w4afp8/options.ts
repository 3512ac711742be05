/** The W4AFP8 recipe's option: tensor parallelism of the experts (`--tp N`). */
import type { RecipeOption } from '../types';
import type { LayerSpec } from '../../spec';
import { optionValue } from '../types';

export const tpOption: RecipeOption = {
  id: 'tp',
  flag: 'tp',
  label: 'tensor parallelism (GPUs splitting I)',
  description: 'SGLang W4AFP8 without enable_ep_moe: every GPU holds all experts and I/tp of the intermediate size (its outputs are summed by an all-reduce); with --ep instead, each GPU holds E/ep experts with the full I',
  min: 1,
  defaultFor: () => 1,
};

/** tp of a spec (1 unless set) */
export const tpOf = (spec: LayerSpec): number => optionValue(spec, tpOption);

/** intermediate size per GPU, I_p = I / tp (spec.intermediate is the model's full I) */
export const intermediatePerGpu = (spec: LayerSpec): number => spec.intermediate / tpOf(spec);

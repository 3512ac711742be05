/** The masked recipe's option: rows per expert buffer. */
import type { RecipeOption } from '../types';
import { archById } from '../../arch/index';

export const maxMOption: RecipeOption = {
  id: 'maxM',
  flag: 'max-m',
  label: 'max_m (rows per expert buffer)',
  description: "rows of each local expert's DeepEP receive buffer (num_max_dispatch_tokens_per_rank × ranks); a multiple of the masked kernel's row block",
  min: 1,
  // DeepEP sizes the buffer for the worst case: every token of every rank to one expert (tokens are distinct per expert)
  defaultFor: (spec) => {
    const block = archById(spec.arch).maskedRowBlock;
    return Math.max(block, Math.ceil(spec.tokens / block) * block);
  },
};

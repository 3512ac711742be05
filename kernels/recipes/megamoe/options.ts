/** The MegaMoE recipe's option: the staging rows of the symmetric buffer (docs/layouts-and-stages.md §7.4). */
import type { RecipeOption } from '../types';
import { alignUp } from '../../layout/tma';
import { TOKEN_ALIGNMENT } from './limits';

export const maxTokensOption: RecipeOption = {
  id: 'maxTokens',
  flag: 'max-tokens',
  label: 'T_max (num_max_tokens_per_rank)',
  description: "rows of the symmetric buffer's staging area per rank (num_max_tokens_per_rank): at least the tokens of a call, a multiple of 128",
  min: 1,
  // DeepGEMM's get_symm_buffer_for_mega_moe aligns the requested count up to the kernel's token alignment
  defaultFor: (spec) => Math.max(TOKEN_ALIGNMENT, alignUp(spec.tokens, TOKEN_ALIGNMENT)),
};

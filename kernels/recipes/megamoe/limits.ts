/**
 * The numbers of the Hopper MegaMoE kernel (docs/layouts-and-stages.md §7.4): its recipe, the L2 activation group, and the size
 * limits of its two API versions. One place, shared by the guards, the transform notes and the stages.
 */

/** recipe (128, 128, 128): 128×128 weight blocks, per-token 1×128 activation groups at L1 */
export const MEGAMOE_BLOCK = 128;
/** the post-SwiGLU (L2) activations are quantized per 64 columns, not 128 */
export const L2_ACT_GROUP = 64;
/** older API and vLLM's class: one bit per 64-column L1 block in a uint64 mask → IH / 64 ≤ 64 */
export const MAX_INTERMEDIATE = 64 * 64;
/** newer API: num_max_tokens_per_rank % 128 == 0 (the Python wrapper aligns it up) */
export const TOKEN_ALIGNMENT = 128;
/** newer API: H % 256 == 0 (combine vectorization) */
export const NEWER_HIDDEN_ALIGNMENT = 256;

/** what the SM90 kernel asserts on H and IH in both versions (and the older IH limit), in words; empty = fine */
export function kernelSizeProblems(H: number, IH: number): string[] {
  const out: string[] = [];
  if (H % MEGAMOE_BLOCK !== 0) out.push(`H = ${H} is not a multiple of ${MEGAMOE_BLOCK}`);
  if (IH % MEGAMOE_BLOCK !== 0) out.push(`IH = ${IH} is not a multiple of ${MEGAMOE_BLOCK}`);
  if (IH > MAX_INTERMEDIATE) out.push(`IH = ${IH} exceeds ${MAX_INTERMEDIATE} (IH / 64 ≤ 64)`);
  return out;
}

/** Tensor ids of the masked recipe beyond the shared ones (kernels/recipes/tensors.ts). */
export const MT = {
  /** (E_local,) i32: valid rows of each expert's buffer (DeepEP's packed_recv_count) */
  masked_m: 'masked_m',
} as const;

/**
 * Guards of the masked recipe (docs/layouts-and-stages.md §6): max_m against the masked kernel's row block (DeepGEMM has no host
 * check, and an unaligned max_m made its SM90 kernel write one expert's last tile over the next expert's rows), the
 * counts against max_m, and what vLLM's BatchedDeepGemmExperts supports.
 */
import type { LayerSpec } from '../../spec';
import type { CheckResult } from '../../trace';
import { archById } from '../../arch/index';
import { pass, sizeChecks } from '../../checks';
import { optionValue } from '../types';
import type { MaskedInputs } from './inputs';
import { maxMOption } from './options';

export const MASKED_BLOCKING: ReadonlySet<string> = new Set(['spec.sizes', 'shape.hidden-multiple-128', 'shape.intermediate-multiple-128', 'masked.max-m', 'masked.counts']);

export function maskedChecks(spec: LayerSpec, inputs?: MaskedInputs): CheckResult[] {
  const out = sizeChecks(spec);
  const arch = archById(spec.arch);
  const maxM = inputs ? inputs.hidden_states.shape[1]! : optionValue(spec, maxMOption);
  const block = arch.maskedRowBlock;
  if (!Number.isSafeInteger(maxM) || maxM < 1) out.push({ id: 'masked.max-m', level: 'fail', message: `max_m must be a positive integer, got ${maxM}` });
  else if (maxM % block !== 0)
    out.push({
      id: 'masked.max-m-block',
      level: 'fail',
      tensor: 'hidden_states',
      message: `max_m = ${maxM} is not a multiple of the ${arch.label} masked kernel's ${block}-row block: DeepGEMM's m_grouped_fp8_gemm_nt_masked has no host check for it, and on an H200 its last tile of one expert was written over the first rows of the next expert's output. Allocate the DeepEP buffer with max_m = ${Math.ceil(maxM / block) * block}`,
    });
  else out.push(pass('masked.max-m-block', `max_m = ${maxM} is a multiple of the ${block}-row block of the ${arch.label} masked kernel`));
  if (spec.routerWeight !== 'reduce')
    out.push({ id: 'masked.router-weight', level: 'info', message: `the routing weight is applied by DeepEP's combine (outside this layer), not at the '${spec.routerWeight}' placement the preset names` });
  if (spec.activation.kind !== 'silu')
    out.push({ id: 'masked.activation', level: 'info', message: "vLLM's BatchedDeepGemmExperts supports SiLU only: a clamped SwiGLU here is what a custom kernel would compute" });
  if (inputs) {
    const m = inputs.masked_m.contiguous().storage;
    let total = 0;
    for (const c of m) total += c;
    out.push(pass('masked.counts', `masked_m: ${total} valid rows in ${m.length} expert buffers of ${maxM} (${((100 * total) / Math.max(1, m.length * maxM)).toFixed(1)}% filled)`));
  }
  return out;
}

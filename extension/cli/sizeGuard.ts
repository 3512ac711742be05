/**
 * Before `run` / `export` start: the estimate of kernels/estimate.ts against this machine. A run that cannot fit
 * (past total memory / MEMORY_SAFETY, or a tensor past one typed array's 2^32 elements) is refused at once with the
 * numbers and what to change; a large run that fits prints its estimate first, so a long wait is not a surprise.
 */
import { availableParallelism, totalmem } from 'node:os';
import { MoeError } from '../../kernels/errors';
import { maxTokens, type RunEstimate } from '../../kernels/estimate';
import { recipeById } from '../../kernels/recipes/index';
import type { BackendChoice, LayerSpec } from '../../kernels/spec';

/** keep a third of the machine for the OS, the editor and the run's own garbage */
export const MEMORY_SAFETY = 1.5;
/** one typed array's element limit on Node 20 (the oldest Node we support) */
const MAX_TYPED_ELEMENTS = 2 ** 32;
/** runs above either figure print their estimate before starting */
const SHOW_BYTES = 4 * 2 ** 30;
const SHOW_SECONDS = 30;

export const gib = (b: number): string => (b >= 2 ** 40 ? `${(b / 2 ** 40).toFixed(1)} TiB` : `${(b / 2 ** 30).toFixed(1)} GiB`);
export const secs = (s: number): string => (s < 120 ? `${s.toFixed(0)} s` : s < 7200 ? `${(s / 60).toFixed(0)} min` : s < 172800 ? `${(s / 3600).toFixed(1)} h` : `${(s / 86400).toFixed(0)} days`);

function describe(e: RunEstimate): string {
  const top = e.tensors.slice(0, 2).map((t) => `${t.name} ${gib(t.bytes)}`).join(', ');
  return `~${gib(e.peakBytes)} at its peak (largest: ${top}; ${e.activeExperts} of ${e.localExperts} local experts get tokens, M_sum ≤ ${Math.ceil(e.mSum)})`;
}

/** How a caller names expert parallelism in its advice: the CLI's flags, or the panel's quick pick. */
export interface SizeAdvice {
  /** the EP shard setting now in effect, as the user wrote it (" --ep 8"), or '' */
  epNow(size: number): string;
  /** how to shard by expert parallelism */
  useEp: string;
  /** the advice when no token count fits even at the EP size in use */
  largerEp: string;
}

export const CLI_ADVICE: SizeAdvice = {
  epNow: (size) => ` --ep ${size}`,
  useEp: "expert parallelism (--ep 8 --rank R computes one rank's experts: an eighth of the expert-side tensors)",
  largerEp: 'no token count fits here at this --ep; use a larger --ep',
};

export interface SizeVerdict {
  estimate: RunEstimate;
  /** the estimate in one line, for a run past SHOW_BYTES or SHOW_SECONDS; undefined for a small run */
  notice?: string;
}

/**
 * The estimate of a run against this machine: throws a MoeError (E_SPEC) naming the numbers and what to change when
 * it cannot fit; otherwise the estimate, with a notice line when it is large. Undefined when the recipe has no
 * estimate. Writes nothing: the CLI prints the notice, the panel shows it in its progress notification.
 */
export function assessRunSize(
  spec: LayerSpec,
  command: string,
  machine: { totalBytes?: number; cores?: number } = {},
  words: SizeAdvice = CLI_ADVICE,
  run: { tensors?: ReadonlySet<string>; localExperts?: number; backend?: BackendChoice } = {},
): SizeVerdict | undefined {
  const recipe = recipeById(spec.recipe.id);
  if (!recipe.estimate) return undefined;
  const total = machine.totalBytes ?? totalmem();
  const cores = machine.cores ?? availableParallelism();
  const estimate = (s: LayerSpec): RunEstimate =>
    recipe.estimate!(s, { cores, ...(run.tensors ? { tensors: run.tensors } : {}), ...(run.localExperts !== undefined ? { localExperts: run.localExperts } : {}), ...(run.backend ? { backend: run.backend } : {}) });
  const est = estimate(spec);
  const limit = total / MEMORY_SAFETY;
  const ep = spec.expertParallel && spec.expertParallel.size > 1 ? words.epNow(spec.expertParallel.size) : '';
  const what = `${spec.name} with ${spec.tokens} tokens${ep}`;
  const fits = (e: RunEstimate): boolean => e.peakBytes <= limit && e.largest.elements <= MAX_TYPED_ELEMENTS;
  if (!fits(est)) {
    const fit = maxTokens(spec, fits, estimate);
    const advice =
      fit > 0 ? `use fewer tokens (up to ~${fit} fit here)${ep ? '' : ` or ${words.useEp}`}` : ep ? words.largerEp : `no token count fits on one rank: use ${words.useEp}`;
    if (est.peakBytes > limit)
      throw new MoeError('E_SPEC', `${command}: ${what} needs ${describe(est)}, more than the ${gib(limit)} this machine allows (${gib(total)} / ${MEMORY_SAFETY}); ${advice}`);
    throw new MoeError(
      'E_SPEC',
      `${command}: ${what}: ${est.largest.name} would hold ~${est.largest.elements.toExponential(2)} elements, more than one typed array's ${MAX_TYPED_ELEMENTS} (2^32); ${advice}`,
    );
  }
  if (est.peakBytes > SHOW_BYTES || est.cpuSeconds > SHOW_SECONDS)
    return { estimate: est, notice: `estimate: ${describe(est)}, roughly ${secs(est.cpuSeconds)} on the CPU backend (${cores} cores)` };
  return { estimate: est };
}

/** The local experts of weights already read (a layer file, a checkpoint layer), for the estimate; {} otherwise. */
export function heldExperts(inputs: Readonly<Record<string, { shape: readonly number[] } | undefined>> | undefined): { localExperts?: number } {
  const w13 = inputs?.w13_weight;
  return w13 && w13.shape.length === 3 ? { localExperts: w13.shape[0]! } : {};
}

/**
 * Refuses a run that cannot fit (its recipe's estimate), prints the estimate of a long one; undefined when the recipe
 * has none. `tensors`: the run makes only these (a run of some stages: `export --view`), so only they are counted.
 */
export function guardRunSize(
  spec: LayerSpec,
  out: NodeJS.WritableStream,
  command: string,
  machine: { totalBytes?: number; cores?: number } = {},
  run: { tensors?: ReadonlySet<string>; localExperts?: number; backend?: BackendChoice } = {},
): RunEstimate | undefined {
  const verdict = assessRunSize(spec, command, machine, CLI_ADVICE, run);
  if (verdict?.notice) out.write(`${verdict.notice}\n`);
  return verdict?.estimate;
}

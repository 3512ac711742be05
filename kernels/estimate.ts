/**
 * What a run will cost, from the spec alone (no allocation, microseconds): the bytes of every input and stage
 * tensor the CPU engine holds at once, the FP8 weights of the experts expected to receive tokens, the GEMM work
 * space, and a rough CPU time. A caller refuses a run that cannot fit before any memory is touched, and shows the
 * estimate for large runs that can.
 *
 * Routing is taken as uniform (the expected value; a skewed router moves rows between experts, not their total):
 * - routed local rows R = M · topk · E_local / E;
 * - experts with tokens ≈ E_local · (1 − (1 − topk/E)^M);
 * - M_sum ≤ R + active · (blockM − 1) (each active expert's segment is padded up to a multiple of 128 rows).
 * Tensor names and dtypes follow DESIGN.md's stage tensors (kernels/backend/types.ts).
 * The time is rough: the CPU GEMM's measured useful rate (BENCHMARKS.md: ~5 GFLOP/s on 2 cores, scaled by cores)
 * plus decoding each active expert's weights once per GEMM (~1 GB/s) and generating synthetic inputs.
 *
 * A run of only some stages (`tensors`: what they read and write, kernels/neededStages.ts) allocates only those
 * tensors; the layer's inputs are all made except the synthetic FP8 weights, which are made only when read
 * (kernels/synthetic.ts syntheticInputsLazy), and only a GEMM that runs costs its work space and time.
 */
import type { BackendChoice, LayerSpec } from './spec';
import { PAGING, syntheticWeightsPaged } from './expertPages';

export interface TensorEstimate {
  name: string;
  elements: number;
  bytes: number;
  /** made one expert at a time (kernels/expertPages.ts): never one array, `bytes` is what is resident at once */
  paged?: boolean;
}

export interface EstimateOptions {
  cores?: number;
  /** the run makes only these tensors (a run of some stages) */
  tensors?: ReadonlySet<string>;
  /**
   * experts the weights hold, when they were read already: a layer file of one expert-parallel rank has an expert_map
   * over all experts but weights for its own (32 of DeepSeek-V3's 256), and its spec carries no EP setting
   */
  localExperts?: number;
  /**
   * the backend the run asked for: on the CPU, large synthetic weights are made one GEMM batch at a time
   * (kernels/expertPages.ts syntheticWeightsPaged); 'cuda', 'auto' or absent count them whole (as the CUDA path holds
   * them: the larger figure, for a run whose backend is not chosen yet)
   */
  backend?: BackendChoice;
}

export interface RunEstimate {
  /** expected routed (token, expert) pairs on this rank */
  routedRows: number;
  /** upper bound of the padded row count M_sum */
  mSum: number;
  /** local experts, and how many are expected to receive tokens */
  localExperts: number;
  activeExperts: number;
  /** inputs and stage tensors, largest first */
  tensors: TensorEstimate[];
  /** FP8 weights resident for the active experts (synthetic) or all local experts (a file) */
  weightBytes: number;
  /** the GEMMs' temporary buffers (dense A rows and the output before it becomes a tensor) */
  workspaceBytes: number;
  /** everything above plus the runtime's own baseline */
  peakBytes: number;
  /** the largest single typed array the run allocates */
  largest: TensorEstimate;
  /** useful FLOPs of the two GEMMs */
  flops: number;
  /** rough wall time on the CPU backend */
  cpuSeconds: number;
}

/** Node and V8 themselves, the bundled code and the GEMM worker threads */
const BASELINE_BYTES = 300e6;
/** useful GEMM FLOP/s per core of the CPU backend (BENCHMARKS.md: 5.2–5.5 GFLOP/s on 2 cores) */
const GEMM_FLOPS_PER_CORE = 2.6e9;
/** FP8 weight bytes decoded per second per core inside the GEMM (BENCHMARKS.md: ~0.85 GB/s on 2 cores) */
const WEIGHT_DECODE_PER_CORE = 0.45e9;
/** synthetic hidden_states values per second (Box–Muller + BF16 encode) and FP8 weight codes per second */
const SYNTH_VALUES_PER_S = 3e7;
const SYNTH_CODES_PER_S = 4e8;

function localExperts(spec: LayerSpec): number {
  const ep = spec.expertParallel;
  if (!ep || ep.size <= 1) return spec.experts;
  if (ep.strategy === 'round_robin') return Math.max(0, Math.ceil((spec.experts - ep.rank) / ep.size));
  return Math.floor(spec.experts / ep.size) + (ep.rank < spec.experts % ep.size ? 1 : 0);
}

/** the inputs of the layer (always made, but for lazily made synthetic weights) */
const INPUTS = new Set(['hidden_states', 'topk_ids', 'topk_weights', 'w13_weight', 'w2_weight', 'w13_weight_scale_inv', 'w2_weight_scale_inv']);
const WEIGHTS = new Set(['w13_weight', 'w2_weight']);

export function estimateRun(spec: LayerSpec, opts: EstimateOptions = {}): RunEstimate {
  const { tokens: M, hidden: K, intermediate: N, experts: E, topk } = spec;
  const cores = Math.max(1, opts.cores ?? 2);
  // weights already read (a layer file or checkpoint with an expert_map) hold their own count of experts
  const El = opts.localExperts ?? localExperts(spec);
  const R = (M * topk * El) / E;
  // P(an expert gets no token) = (1 − topk/E)^M under uniform routing; computed in log space (M can be 1e12)
  const pIdle = topk >= E ? 0 : Math.exp(M * Math.log1p(-topk / E));
  const active = Math.min(El, Math.ceil(El * (1 - pIdle)), Math.ceil(R));
  const mSum = Math.ceil(R) + active * (spec.blockM - 1);
  const Kb = Math.ceil(K / 128);
  const Nb = Math.ceil(N / 128);
  const N2b = Math.ceil((2 * N) / 128);
  const fromFile = spec.source.kind === 'file';
  const weightExperts = fromFile ? El : active;
  // synthetic weights made per expert (past one array's extent, or large on the CPU): the GEMMs hold one batch of
  // experts at a time
  const paged = !fromFile && syntheticWeightsPaged(El, N, K, opts.backend === 'cpu' ? 'cpu' : 'cuda');
  const resident = (perExpert: number): number => (paged ? Math.min(weightExperts * perExpert, Math.max(1, Math.floor(PAGING.batchBytes / perExpert)) * perExpert) : weightExperts * perExpert);
  const t = (name: string, elements: number, itemBytes: number): TensorEstimate => ({ name, elements, bytes: elements * itemBytes });
  const all: TensorEstimate[] = [
    t('hidden_states', M * K, 2),
    t('topk_ids', M * topk, 4),
    t('topk_weights', M * topk, 4),
    // the whole (E_l, 2N, K) extent is one buffer; only active experts' pages are written (synthetic)
    { name: 'w13_weight', elements: El * 2 * N * K, bytes: resident(2 * N * K), ...(paged ? { paged } : {}) },
    { name: 'w2_weight', elements: El * K * N, bytes: resident(K * N), ...(paged ? { paged } : {}) },
    t('w13_weight_scale_inv', El * N2b * Kb, 4),
    t('w2_weight_scale_inv', El * Kb * Nb, 4),
    t('a1q', M * K, 1),
    t('a1q_scale', M * Kb, 4),
    t('a1q_scale_layout', M * Kb, 4),
    t('a1q_permuted', mSum * K, 1),
    t('a1q_scale_permuted', mSum * Kb, 4),
    t('m_indices', mSum, 4 + 4 /* and the row → pair map */),
    t('inv_perm', M * topk, 4 + 4 /* and the pair → expert map */),
    t('mm1_out', mSum * 2 * N, 2),
    t('act_out', mSum * N, 2),
    t('a2q', mSum * N, 1),
    t('a2q_scale', mSum * Nb, 4),
    t('a2q_scale_layout', mSum * Nb, 4),
    t('mm2_out', mSum * K, 2),
    t('output', M * K, 2),
  ];
  const only = opts.tensors;
  const made = (name: string): boolean => !only || only.has(name) || (INPUTS.has(name) && (fromFile || !WEIGHTS.has(name)));
  const tensors = all.filter((x) => made(x.name)).sort((a, b) => b.bytes - a.bytes);
  // paged: one batch buffer per GEMM; GEMM 1's may still be held (by the worker threads' last job, until the garbage
  // collector frees it) when GEMM 2 makes its own, so both are counted
  const weightBytes = paged
    ? (made('w13_weight') ? resident(2 * N * K) : 0) + (made('w2_weight') ? resident(K * N) : 0)
    : (made('w13_weight') ? weightExperts * 2 * N * K : 0) + (made('w2_weight') ? weightExperts * K * N : 0);
  // GEMM1 gathers the valid A rows densely and writes a shared output before it becomes mm1_out (GEMM2 likewise)
  const gemm1 = made('mm1_out');
  const gemm2 = made('mm2_out');
  const workspaceBytes = Math.max(gemm1 ? mSum * K + mSum * 2 * N * 2 : 0, gemm2 ? mSum * N + mSum * K * 2 : 0);
  const peakBytes = tensors.reduce((a, x) => a + (x.paged ? 0 : x.bytes), 0) + weightBytes * (paged ? 1 : 0) + workspaceBytes + BASELINE_BYTES;
  const arrays = tensors.filter((x) => !x.paged);
  const largest = arrays.reduce((a, x) => (x.elements > a.elements ? x : a), arrays[0]!);
  const flops = (gemm1 ? 4 * R * N * K : 0) + (gemm2 ? 2 * R * N * K : 0);
  // every active expert's codes are generated once, paged or not
  const generatedWeightBytes = (made('w13_weight') ? weightExperts * 2 * N * K : 0) + (made('w2_weight') ? weightExperts * K * N : 0);
  const cpuSeconds =
    flops / (GEMM_FLOPS_PER_CORE * cores) +
    (active * ((gemm1 ? 2 : 0) + (gemm2 ? 1 : 0)) * 2 * N * K) / (WEIGHT_DECODE_PER_CORE * cores) +
    (spec.source.kind === 'synthetic' ? (M * K) / SYNTH_VALUES_PER_S + generatedWeightBytes / SYNTH_CODES_PER_S : 0);
  return { routedRows: R, mSum, localExperts: El, activeExperts: active, tensors, weightBytes, workspaceBytes, peakBytes, largest, flops, cpuSeconds };
}

/** The most tokens (up to the spec's own, at its other settings) whose estimate `fits`; 0 when none does. */
export function maxTokens(spec: LayerSpec, fits: (e: RunEstimate) => boolean, estimate: (s: LayerSpec) => RunEstimate = estimateRun): number {
  if (fits(estimate(spec))) return spec.tokens;
  let lo = 0;
  let hi = spec.tokens;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (fits(estimate({ ...spec, tokens: mid }))) lo = mid;
    else hi = mid;
  }
  return lo;
}

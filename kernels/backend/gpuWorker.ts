/**
 * The GPU worker: a child process (forked by CudaBackend) that owns the CUDA addon and its context. It builds the
 * layer's inputs where that is cheapest — synthetic specs are regenerated here from the seed, files are read here —
 * runs the whole layer through the addon and sends the stage tensors back. A CUDA error is reported as E_BACKEND
 * with the CUDA text and marked fatal: after a device fault the context is unusable, so the parent stops this
 * worker and starts a fresh one for the next run. Bundled to dist/gpuWorker.js by esbuild.mjs.
 */
import { MoeError } from '../errors';
import type { LayerSpec } from '../spec';
import type { StageId } from '../trace';
import type { Tensor } from '../tensor';
import { DEV_EXPORTS_ENV, loadAddon, type NativeAddon, type NativeDevAddon } from '../native/addon';
import { tensorsFromWire, tensorsToWire, type WireTensor } from '../native/marshal';
import { recipeById } from '../recipes/index';
import { loadLayer } from '../layerFile';
import { addonDevice, runOnAddon } from './addonRun';

export type InputSource = { kind: 'synthetic' } | { kind: 'file'; path: string } | { kind: 'tensors'; tensors: Record<string, WireTensor> };

export type WorkerRequest =
  /** `stages`: the plan's stage ids, in order (the addon runs exactly these) */
  | { type: 'run'; id: number; spec: LayerSpec; source: InputSource; stages: StageId[]; repeats: number; fetch?: boolean }
  | { type: 'memInfo'; id: number }
  /** test hook, answered only when the worker runs with MOE_NATIVE_DEV=1: a trapping kernel (a contained device fault) */
  | { type: 'fault'; id: number };

export interface WorkerRunResult {
  tensors: Record<string, WireTensor>;
  timesMs: Record<StageId, number>;
  device: string;
  notes: string[];
  /** the grouped-GEMM kernel the addon really ran ('wgmma' or 'mma.sync') */
  gemmKernel: string;
}

export type WorkerResponse =
  | { id: number; ok: true; run?: WorkerRunResult; memInfo?: { free: number; total: number } }
  | { id: number; ok: false; error: { code: string; message: string; tensor?: string }; fatal: boolean };

const KNOWN_CODES: ReadonlySet<string> = new Set(['E_SHAPE', 'E_DTYPE', 'E_LAYOUT', 'E_RANGE', 'E_VALUE', 'E_FORMAT', 'E_IO', 'E_SPEC', 'E_BACKEND', 'E_CANCELLED']);

let addon: NativeAddon | undefined;
let device = '';

function ensureAddon(): NativeAddon {
  if (addon) return addon;
  const a = loadAddon();
  device = addonDevice(a);
  addon = a;
  return a;
}

/** the recipe's inputs: regenerated from the seed, read from the file, or as sent */
function inputsFor(spec: LayerSpec, source: InputSource): Record<string, Tensor> {
  const recipe = recipeById(spec.recipe.id);
  if (source.kind === 'synthetic') return recipe.synthetic(spec, { defer: false, backend: 'cuda' }).inputs;
  if (source.kind === 'file') return loadLayer(source.path, { recipe: recipe.id }).inputs;
  return tensorsFromWire(source.tensors);
}

function handle(req: WorkerRequest): WorkerResponse {
  const a = ensureAddon();
  if (req.type === 'memInfo') return { id: req.id, ok: true, memInfo: a.memInfo() };
  if (req.type === 'fault') {
    const dev = a as Partial<NativeDevAddon>;
    if (!dev.faultForTest) throw new MoeError('E_SPEC', `the fault hook is a test hook: start the worker with ${DEV_EXPORTS_ENV}=1`);
    dev.faultForTest();
    return { id: req.id, ok: true };
  }
  const r = runOnAddon(a, inputsFor(req.spec, req.source), req.spec, req.stages, req.repeats, req.fetch !== false);
  return { id: req.id, ok: true, run: { tensors: tensorsToWire(r.tensors), timesMs: r.timesMs, device, notes: r.notes, gemmKernel: r.gemmKernel } };
}

function send(msg: WorkerResponse): void {
  process.send?.(msg);
}

if (process.send) {
  process.on('message', (req: WorkerRequest) => {
    try {
      send(handle(req));
    } catch (e) {
      const raw = (e as { code?: unknown }).code;
      const code = typeof raw === 'string' && KNOWN_CODES.has(raw) ? raw : 'E_BACKEND';
      const message = e instanceof Error ? e.message : String(e);
      const tensor = e instanceof MoeError ? e.tensor : undefined;
      // CUDA faults (E_BACKEND from the addon) leave the context unusable: the parent stops this worker when it
      // reads `fatal` (exiting here could race the message) and starts a fresh one for the next run
      const fatal = raw === 'E_BACKEND';
      send({ id: req.id, ok: false, error: { code, message, ...(tensor ? { tensor } : {}) }, fatal });
    }
  });
  process.on('disconnect', () => process.exit(0));
}

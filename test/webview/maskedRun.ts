/**
 * A masked (DeepEP low-latency) run of the real engine for the webview tests: Qwen3's routing on a small layer
 * (16 tokens × top-2 over 8 experts, K = 256, N = 128) into 8 buffers of max_m = 64 rows, on the CPU. Run once per
 * process; callers must not mutate it.
 */
import { runLayer, type RunResult } from '../../kernels/pipeline';
import { makeSpec } from '../../kernels/presets';
import { DEFAULT_RECIPE, type LayerSpec } from '../../kernels/spec';

export const maskedSpec = (over: Partial<LayerSpec> = {}): LayerSpec =>
  makeSpec('qwen3-30b-a3b', {
    tokens: 16, hidden: 256, intermediate: 128, experts: 8, topk: 2,
    recipe: { ...DEFAULT_RECIPE, id: 'masked', options: { maxM: 64 } },
    source: { kind: 'synthetic', seed: 5, skew: 0.5 },
    ...over,
  });

let cached: Promise<RunResult> | undefined;
export const maskedRun = (): Promise<RunResult> => (cached ??= runLayer(maskedSpec(), { backend: 'cpu', inlineLimit: 1 << 16 }));

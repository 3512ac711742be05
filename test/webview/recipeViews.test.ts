/**
 * Each recipe's own views are registry entries: offered on that recipe's runs only, drawn from a real run's trace,
 * and exported as standalone SVG (what the panel's export button and `moe-inspect export --view` produce).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { runLayer } from '../../kernels/pipeline';
import { makeSpec } from '../../kernels/presets';
import { DEFAULT_RECIPE, type LayerSpec } from '../../kernels/spec';
import { shutdownGemmWorkers } from '../../kernels/ops/gemm';
import { VIEWS, viewsFor } from '../../webview/views/registry';
import { exportView } from '../../webview/export/index';

after(() => shutdownGemmWorkers());

const small = { hidden: 256, intermediate: 256, experts: 8, topk: 2, source: { kind: 'synthetic' as const, seed: 5, skew: 0 } };
const SPECS: Record<string, LayerSpec> = {
  'megamoe-sm90': makeSpec('deepseek-v4-flash', { ...small, tokens: 16, expertParallel: { size: 2, rank: 0, strategy: 'linear' }, recipe: { ...DEFAULT_RECIPE, id: 'megamoe-sm90' } }),
  w4afp8: makeSpec('deepseek-r1', { ...small, tokens: 8, recipe: { ...DEFAULT_RECIPE, id: 'w4afp8' } }),
  'torchao-fp8-training': makeSpec('qwen3-30b-a3b', { ...small, experts: 4, tokens: 64, recipe: { ...DEFAULT_RECIPE, id: 'torchao-fp8-training' } }),
};

for (const [recipe, spec] of Object.entries(SPECS)) {
  test(`${recipe}: its views apply to its runs only and export as SVG`, async () => {
    const r = await runLayer(spec, { backend: 'cpu' });
    const own = VIEWS.filter((v) => v.applies(r.trace) && v.id.toLowerCase().startsWith(recipe.split('-')[0]!.replace('fp8', '')));
    assert.ok(own.length > 0, `${recipe} has views`);
    for (const v of own) {
      const svg = exportView(v.id, 'svg', r.trace).toString();
      assert.match(svg, /<svg[\s\S]*<\/svg>\s*$/, `${v.id} exports an SVG`);
      assert.ok(svg.length > 500, `${v.id} draws something (${svg.length} bytes)`);
    }
    // and they are not offered on another recipe's run
    const other = await runLayer(makeSpec('qwen3-30b-a3b', { ...small, tokens: 8 }), { backend: 'cpu' });
    for (const v of own) assert.ok(!viewsFor(other.trace).includes(v), `${v.id} is not offered on a contiguous run`);
  });
}

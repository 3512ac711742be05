/**
 * Everything that lists views derives from the registry: its entries are well formed, the host's check of an export
 * request accepts exactly its ids, and `moe-inspect export --view` accepts every registered view (heatmap and
 * maskedBuffers included) — each with the formats its entry offers — and refuses the rest with the list.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VIEWS, VIEW_IDS } from '../../webview/views/registry';
import { EXPORT_FORMATS, checkWebviewEnvelope } from '../../kernels/protocol';
import { ARCH_IDS } from '../../kernels/arch/index';
import { cli } from '../extension/cliInProcess';
import { makeSpec } from '../../kernels/presets';
import { syntheticInputs } from '../../kernels/synthetic';
import { syntheticMasked } from '../../kernels/recipes/masked/synthetic';
import { writeSafetensors } from '../../kernels/io/safetensors';
import { shutdownGemmWorkers } from '../../kernels/ops/gemm';
import type { Tensor } from '../../kernels/tensor';
import { maskedSpec } from './maskedRun';

after(() => shutdownGemmWorkers());
const dir = mkdtempSync(join(tmpdir(), 'moe-views-'));

test('registry entries: unique ids, labels, formats from the protocol, a TikZ writer exactly where TikZ is offered', () => {
  // the shared views first, then each recipe's own (recipeView entries; exercised in recipeViews.test.ts)
  assert.deepEqual(VIEW_IDS.slice(0, 5), ['scales', 'permutation', 'maskedBuffers', 'timing', 'heatmap']);
  assert.equal(new Set(VIEW_IDS).size, VIEW_IDS.length);
  assert.equal(new Set(VIEW_IDS).size, VIEW_IDS.length);
  for (const v of VIEWS) {
    assert.ok(v.label.length > 0, v.id);
    assert.match(v.id, /^[A-Za-z][A-Za-z0-9]*$/, 'an id is safe in a file name');
    assert.ok(v.exportFormats.length > 0 && v.exportFormats.every((f) => (EXPORT_FORMATS as readonly string[]).includes(f)), v.id);
    assert.equal(v.exportFormats.includes('tikz'), !!v.tikz, `${v.id}: TikZ offered iff written`);
  }
  for (const view of VIEW_IDS) {
    const c = checkWebviewEnvelope({ id: 1, body: { type: 'export', view, format: 'svg', svg: '<svg/>' } }, { viewIds: VIEW_IDS, archIds: ARCH_IDS });
    assert.ok(c.ok, view);
  }
});

function write(name: string, tensors: Record<string, Tensor | undefined>): string {
  const t: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(tensors)) if (v) t[k] = v;
  const p = join(dir, name);
  writeSafetensors(p, t);
  return p;
}

/** a small contiguous layer file (M=12, K=256, N=256, E=4, top-2) */
const contiguousLayer = (): string => {
  const p = join(dir, 'layer.safetensors');
  return existsSync(p) ? p : write('layer.safetensors', syntheticInputs(makeSpec('qwen3-30b-a3b', { tokens: 12, hidden: 256, intermediate: 256, experts: 4, topk: 2 })));
};

test('moe-inspect export --view accepts every registered view, with the formats each offers', async () => {
  const contiguous = contiguousLayer();
  const spec = maskedSpec();
  const masked = write('masked.safetensors', syntheticMasked(spec, spec.recipe.options!.maxM!) as unknown as Record<string, Tensor>);
  // the recipes' own views need their recipe's runs: recipeViews.test.ts exports each of them
  for (const v of VIEWS.slice(0, 5)) {
    const layer = v.id === 'maskedBuffers' ? masked : contiguous;
    const format = v.exportFormats.includes('tikz') ? 'tikz' : 'svg';
    const out = join(dir, `${v.id}.${format}`);
    const r = await cli('export', '--layer', layer, '--backend', 'cpu', '--view', v.id, '--format', format, '--out', out);
    assert.equal(r.code, 0, `${v.id}: ${r.err}`);
    assert.ok(existsSync(out) && readFileSync(out).length > 100, v.id);
  }
  assert.match(readFileSync(join(dir, 'maskedBuffers.svg'), 'utf8'), /stale rows \(past masked_m\)/);
  // the scale layout of the masked run's (E, max_m, G) scales, values read from the run
  const ms = join(dir, 'masked-scales.svg');
  assert.equal((await cli('export', '--layer', masked, '--backend', 'cpu', '--view', 'scales', '--tensor', 'a1q_scale_layout', '--out', ms)).code, 0);
  assert.match(readFileSync(ms, 'utf8'), /a1q_scale_layout/);
});

test('moe-inspect export refuses an unknown view (listing the registry), a format the view lacks, a view that does not apply', async () => {
  const layer = contiguousLayer();
  const bad = await cli('export', '--layer', layer, '--backend', 'cpu', '--view', 'nope', '--out', join(dir, 'x.svg'));
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--view: expected one of scales \| permutation \| maskedBuffers \| timing \| heatmap \| megamoeInterleave .*, got 'nope'/);
  const fmt = await cli('export', '--layer', layer, '--backend', 'cpu', '--view', 'heatmap', '--format', 'tikz', '--out', join(dir, 'x.tex'));
  assert.equal(fmt.code, 2);
  assert.match(fmt.err, /--format tikz: the heatmap view exports as svg \| png/);
  const na = await cli('export', '--layer', layer, '--backend', 'cpu', '--view', 'maskedBuffers', '--out', join(dir, 'x.svg'));
  assert.equal(na.code, 2);
  assert.match(na.err, /--view maskedBuffers does not apply to this run \(Contiguous[^)]*\)\); views for it: scales, permutation, timing, heatmap/);
  const nt = await cli('export', '--layer', layer, '--backend', 'cpu', '--view', 'heatmap', '--tensor', 'bogus', '--out', join(dir, 'x.svg'));
  assert.equal(nt.code, 2);
  assert.match(nt.err, /--tensor bogus: no such tensor in this run/);
});

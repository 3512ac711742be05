import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MoeError } from '../../kernels/errors';
import type { Trace } from '../../kernels/trace';
import { defaultExportName, exportBytes, setConverters } from '../../extension/exportFormats';

const trace = { spec: { name: 'Qwen3-30B-A3B', arch: 'sm100' } } as unknown as Trace;
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

test('file names say model, view and architecture', () => {
  assert.equal(defaultExportName('scales', 'svg', trace), 'moe-Qwen3-30B-A3B-scales-sm100.svg');
  assert.equal(defaultExportName('timing', 'tikz', undefined), 'moe-layer-timing-sm90.tex');
});

test('the default name is a file name, never a path, whatever the view, model or arch say', () => {
  const evil = { spec: { name: '../../.ssh/authorized_keys', arch: '../x' } } as unknown as Trace;
  const name = defaultExportName('../../etc/passwd', 'svg', evil);
  assert.ok(!name.includes('/') && !name.includes('..'), name);
  assert.equal(name, 'moe-ssh-authorized_keys-etc-passwd-x.svg');
});

test('svg is written as rendered, with the SVG namespace added when missing', async () => {
  assert.equal(dec(await exportBytes('scales', 'svg', '<svg xmlns="http://www.w3.org/2000/svg"><g/></svg>', trace)), '<svg xmlns="http://www.w3.org/2000/svg"><g/></svg>');
  assert.match(dec(await exportBytes('scales', 'svg', '<svg width="2"></svg>', trace)), /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="2">/);
});

test('refusals: no markup, not SVG, no run, unknown format', async () => {
  await assert.rejects(exportBytes('scales', 'svg', undefined, trace), (e: unknown) => e instanceof MoeError && /expected SVG markup/.test(e.message));
  await assert.rejects(exportBytes('scales', 'svg', '<html></html>', trace), (e: unknown) => e instanceof MoeError && e.code === 'E_FORMAT');
  await assert.rejects(exportBytes('scales', 'tikz', undefined, undefined), /no run is loaded/);
  await assert.rejects(exportBytes('scales', 'gif' as 'svg', '<svg/>', trace), /format must be svg, png or tikz, got gif/);
});

test('png and tikz go through the converters', async () => {
  setConverters({ svgToPng: (svg) => new Uint8Array([0x89, svg.length]), toTikz: (view, t, tensor) => `% ${view} ${t.spec.name}${tensor ? ` ${tensor}` : ''}` });
  const png = await exportBytes('scales', 'png', '<svg/>', trace);
  assert.equal(png[0], 0x89);
  assert.equal(png.length, 2);
  assert.equal(dec(await exportBytes('permutation', 'tikz', undefined, trace)), '% permutation Qwen3-30B-A3B');
  assert.equal(dec(await exportBytes('scales', 'tikz', undefined, trace, 'a2q_scale_layout')), '% scales Qwen3-30B-A3B a2q_scale_layout');
});

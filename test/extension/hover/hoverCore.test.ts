/**
 * The hover end to end without VS Code: the line and cursor → expression → probe in a fake kernel / debug session
 * backed by a real Python → markdown with the layout facts, the likely role, a thumbnail (decoded from its data URI
 * and parsed as SVG) and the command link whose id finds the probed tensor again.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { JSDOM } from 'jsdom';
import { findPythons, PythonSession, PROBE_SOURCE } from './python';
import { PythonDebugSession, PythonKernel, SilentKernel } from './fakes';
import { computeHover, ProbeCache } from '../../../extension/hover/hoverCore';
import { probeInDebugSession, probeInKernel, type KernelLike } from '../../../extension/hover/runners';
import { OPEN_PROBED_TENSOR_COMMAND } from '../../../extension/hover/markdown';

const SETUP = String.raw`
import numpy as np
from types import SimpleNamespace
layer = SimpleNamespace(w13_weight_scale_inv=np.ones((8, 32, 56), np.float32))
a1q_scale = np.lib.stride_tricks.as_strided(np.linspace(1, 13, 13, dtype=np.float32), (5, 2), (4, 32))
row_scale = np.ones((5, 2), np.float32)
padded = np.zeros((4, 8), np.float32)[:, :5]
d = {'a1q_scale': a1q_scale}
nums = [1, 2]
`;

/** the SVG behind the first markdown image with a data: URI, checked to be well-formed */
function thumbnail(md: string): { cells: number; pads: number; svg: string } {
  const m = /!\[[^\]]*\]\(data:image\/svg\+xml;base64,([A-Za-z0-9+/=]+)\)/.exec(md);
  assert.ok(m, 'no data-URI image in the hover');
  const svg = Buffer.from(m[1]!, 'base64').toString('utf8');
  const { window } = new JSDOM('');
  const doc = new window.DOMParser().parseFromString(svg, 'image/svg+xml');
  assert.equal(doc.getElementsByTagName('parsererror').length, 0, `not well-formed SVG: ${svg.slice(0, 200)}`);
  assert.equal(doc.documentElement.tagName, 'svg');
  assert.equal(doc.documentElement.getAttribute('xmlns'), 'http://www.w3.org/2000/svg');
  return { cells: doc.querySelectorAll('rect.cell').length, pads: doc.querySelectorAll('rect.pad').length, svg };
}

function commandArgs(md: string): { id: string; expression: string } {
  const m = new RegExp(`\\[Open in MoE Layout Inspector\\]\\(command:${OPEN_PROBED_TENSOR_COMMAND.replace('.', '\\.')}\\?([^)]+)\\)`).exec(md);
  assert.ok(m, 'no command link');
  const args = JSON.parse(decodeURIComponent(m[1]!)) as [{ id: string; expression: string }];
  return args[0];
}

const python = findPythons()[0];

describe('hover core with a fake kernel running a real Python', { skip: python ? false : 'no python3 with numpy' }, () => {
  let py: PythonSession;
  let kernel: PythonKernel;
  const cache = new ProbeCache(4);
  before(async () => {
    py = new PythonSession(python!);
    await py.exec(SETUP);
    kernel = new PythonKernel(py);
  });
  after(() => py.close());

  const viaKernel = (k: KernelLike, timeoutMs = 10000) => (e: string) => probeInKernel(k, PROBE_SOURCE, e, { timeoutMs });

  it('weight scales: facts, likely role, thumbnail and link', async () => {
    const line = 's = layer.w13_weight_scale_inv.sum()';
    const h = await computeHover(line, line.indexOf('w13'), viaKernel(kernel), cache);
    assert.ok(h);
    assert.equal(line.slice(h.start, h.end), 'layer.w13_weight_scale_inv');
    const md = h.markdown;
    assert.match(md, /^\*\*`layer\.w13_weight_scale_inv`\*\* — numpy\\\.ndarray · \*\*float32\*\* · cpu/);
    assert.match(md, /Likely weight scales 128×128 blocks \(8×32×56, one per 128×128 block\), FP32, row-major:\*\* DeepGEMM uses these as they are on SM90 but will broadcast and pack them on SM100/);
    assert.match(md, /\| shape \| \(8, 32, 56\) \|/);
    assert.match(md, /\| strides \| \(1792, 56, 1\) elements \|/);
    assert.match(md, /\| storage \| 14336 elements · 56\.0 KiB, offset 0 \|/);
    assert.match(md, /\| contiguity \| contiguous \(row-major\) \|/);
    assert.match(md, /\| major \| K-major \(last-dim stride 1\) \|/);
    assert.match(md, /\| TMA \| aligned: outer stride 56 × 4 B = 224 B is a multiple of 16 B \|/);
    assert.match(md, /sample \[0, :32, :56\] \(1792 values\): 1, 1, 1, 1, 1, 1, … — min 1, max 1/);
    const th = thumbnail(md);
    assert.equal(th.cells, 12 * 16, 'clipped to 12 rows × 16 columns');
    assert.equal(th.pads, 0);
    const args = commandArgs(md);
    assert.equal(args.expression, 'layer.w13_weight_scale_inv');
    assert.equal(cache.get(args.id), h.tensor);
    assert.equal(h.tensor.origin, 'notebook');
    assert.equal(h.tensor.sample?.values.length, 32 * 56);
  });

  it('SM90 activation scales: MN-major with the TMA padding drawn', async () => {
    const h = await computeHover('a1q_scale', 2, viaKernel(kernel), cache);
    assert.ok(h);
    assert.match(h.markdown, /Likely activation scales, FP32, MN-major, TMA-aligned:\*\* ready for DeepGEMM on SM90/);
    assert.match(h.markdown, /\| strides \| \(1, 8\) elements \|/);
    assert.match(h.markdown, /\| storage \| 13 elements · 52 B, offset 0 \|/);
    assert.match(h.markdown, /\| major \| MN-major \(second-to-last stride 1\) \|/);
    assert.match(h.markdown, /\| TMA \| aligned: outer stride 8 × 4 B = 32 B is a multiple of 16 B \(= align\(5, 4\)\) \|/);
    const th = thumbnail(h.markdown);
    assert.equal(th.cells, 10);
    assert.equal(th.pads, 3 * 2, '3 padding rows (5 → 8) under each of the 2 columns');
    // element (m, j) lives at storage m + 8j, storage holds 1…13
    assert.deepEqual(h.tensor.sample?.values, [1, 9, 2, 10, 3, 11, 4, 12, 5, 13]);
  });

  it('row-major activation scales and a K-major view with padded rows', async () => {
    const r = await computeHover('x = row_scale', 'x = row'.length, viaKernel(kernel), cache);
    assert.ok(r);
    assert.match(r.markdown, /activation scales row-major:\*\* DeepGEMM will transpose these on every call/);
    assert.equal(thumbnail(r.markdown).cells, 10);
    const p = await computeHover('padded', 0, viaKernel(kernel), cache);
    assert.ok(p);
    assert.match(p.markdown, /\| contiguity \| not contiguous \|/);
    assert.match(p.markdown, /\| storage \| 32 elements · 128 B, offset 0 \|/);
    const th = thumbnail(p.markdown);
    assert.equal(th.cells, 4 * 5);
    assert.equal(th.pads, 4 * 3, '3 skipped slots after each of the 4 rows');
  });

  it('no hover for non-tensors, unsafe expressions, busy or foreign kernels', async () => {
    assert.equal(await computeHover('nums', 1, viaKernel(kernel), cache), undefined);
    const before = kernel.executed.length;
    assert.equal(await computeHover('f(a1q_scale).x', 14, viaKernel(kernel), cache), undefined);
    assert.equal(kernel.executed.length, before, 'nothing sent to the kernel for a refused expression');
    const busy = new PythonKernel(py);
    busy.status = 'busy';
    assert.equal(await computeHover('a1q_scale', 1, viaKernel(busy), cache), undefined);
    assert.equal(busy.executed.length, 0, 'a busy kernel would queue the probe behind the running cell');
    const r = new PythonKernel(py);
    r.language = 'r';
    assert.equal(await computeHover('a1q_scale', 1, viaKernel(r), cache), undefined);
    assert.equal(r.executed.length, 0);
  });

  it('gives up on a kernel that does not answer and cancels its execution', async () => {
    const silent = new SilentKernel();
    const logs: string[] = [];
    const t = await probeInKernel(silent, PROBE_SOURCE, 'a1q_scale', { timeoutMs: 30, log: (m) => logs.push(m) });
    assert.equal(t, undefined);
    assert.equal(silent.cancelled, true);
    assert.match(logs.join('\n'), /no answer from the kernel within 30 ms/);
  });

  it('debug session: evaluate in the paused frame with context hover', async () => {
    const session = new PythonDebugSession(py);
    const line = 'print(d["a1q_scale"])';
    const h = await computeHover(line, line.indexOf('a1q'), (e) => probeInDebugSession(session, 7, PROBE_SOURCE, e, { timeoutMs: 10000 }), cache);
    assert.ok(h);
    assert.equal(h.tensor.origin, 'debug');
    assert.equal(h.tensor.expression, 'd["a1q_scale"]');
    assert.match(h.markdown, /ready for DeepGEMM on SM90/);
    const req = session.requests.at(-1)!;
    assert.equal(req.command, 'evaluate');
    assert.equal(req.args.frameId, 7);
    assert.equal(req.args.context, 'hover');
  });

  it('the cache keeps only the last few tensors', () => {
    assert.ok(cache.size <= 4);
  });
});

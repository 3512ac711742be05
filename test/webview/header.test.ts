import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeDom } from './dom';
import { buildPage, parallelismOf, renderHeader } from '../../webview/app/page';
import { smallTrace } from './fixtures';
import type { Trace } from '../../kernels/trace';

const headerText = (trace: Trace): string => {
  const { document } = makeDom();
  const page = buildPage(document);
  renderHeader(page, { trace, partial: false, archs: [] }, () => undefined);
  return page.header.select('span.spec').text();
};

test('the header names the expert-parallel size and rank, and TP, when the run used them', () => {
  const t = smallTrace();
  assert.doesNotMatch(headerText(t), /EP|TP/, 'one GPU: nothing said');
  const ep: Trace = { ...t, spec: { ...t.spec, expertParallel: { size: 8, rank: 3, strategy: 'linear' } } };
  assert.match(headerText(ep), / · EP 8 rank 3 · /);
  const rr: Trace = { ...t, spec: { ...t.spec, expertParallel: { size: 4, rank: 1, strategy: 'round_robin' } } };
  assert.match(headerText(rr), /EP 4 rank 1 \(round-robin\)/);
  const tp: Trace = { ...t, spec: { ...t.spec, recipe: { ...t.spec.recipe, options: { tp: 4 } } } };
  assert.match(headerText(tp), / · TP 4 · /);
  assert.equal(parallelismOf({ ...t.spec, expertParallel: { size: 1, rank: 0, strategy: 'linear' }, recipe: { ...t.spec.recipe, options: { tp: 1 } } }), '');
});

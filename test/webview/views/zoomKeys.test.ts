import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as d3 from 'd3';
import { makeDom } from '../dom';
import { render as renderScales } from '../../../webview/views/scales';
import { render as renderHeatmap } from '../../../webview/views/heatmap';
import { PAN_STEP_PX, ZOOM_STEP } from '../../../webview/views/zoomKeys';
import { THEMES } from '../../../webview/theme';
import { scaleTensorsOf } from '../../../webview/model/traceData';
import { deepseekV3Trace, ref } from '../fixtures';

type Win = ReturnType<typeof makeDom>['window'];
const press = (win: Win, el: Element, key: string): boolean => el.dispatchEvent(new win.KeyboardEvent('keydown', { key, bubbles: true, cancelable: true }));
const close = (a: number, b: number): boolean => Math.abs(a - b) < 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));

test('scale canvas: arrow keys pan, + and − zoom about the centre, 0 resets; handled keys stop there', () => {
  const { window, document, container } = makeDom();
  const tensors = scaleTensorsOf(deepseekV3Trace());
  const zooms: { k: number; x: number; y: number }[] = [];
  renderScales(container, { tensors }, { theme: THEMES.dark, tensor: 'w13_weight_scale_inv', width: 1200, height: 800, onZoom: (p, z) => p === 'logical' && zooms.push(z) });
  const canvas = container.querySelector('.panel.logical canvas.cells')!;
  assert.equal(canvas.getAttribute('tabindex'), '0', 'focusable, so the focus ring shows');
  assert.match(canvas.getAttribute('aria-label')!, /scroll to zoom, drag to pan; arrow keys pan, plus and minus zoom, 0 resets/);
  let reachedDocument = 0;
  document.addEventListener('keydown', () => reachedDocument++);
  const fitted = d3.zoomTransform(canvas);
  assert.equal(press(window, canvas, 'ArrowRight'), false, 'default prevented');
  let t = d3.zoomTransform(canvas);
  assert.ok(close(t.x, fitted.x - PAN_STEP_PX) && close(t.y, fitted.y) && t.k === fitted.k, `ArrowRight: ${t} from ${fitted}`);
  press(window, canvas, 'ArrowDown');
  t = d3.zoomTransform(canvas);
  assert.ok(close(t.y, fitted.y - PAN_STEP_PX));
  press(window, canvas, 'ArrowLeft');
  press(window, canvas, 'ArrowUp');
  t = d3.zoomTransform(canvas);
  assert.ok(close(t.x, fitted.x) && close(t.y, fitted.y));
  press(window, canvas, '+');
  t = d3.zoomTransform(canvas);
  assert.ok(close(t.k, fitted.k * ZOOM_STEP));
  // about the centre of the canvas: the picture point under it stays put
  const cx = parseFloat((canvas as HTMLElement).style.width) / 2;
  assert.ok(Math.abs(fitted.invertX(cx) - t.invertX(cx)) < 1e-6, `centre moved: ${fitted.invertX(cx)} → ${t.invertX(cx)}`);
  press(window, canvas, '-');
  assert.ok(close(d3.zoomTransform(canvas).k, fitted.k));
  press(window, canvas, '+');
  press(window, canvas, 'ArrowRight');
  press(window, canvas, '0');
  t = d3.zoomTransform(canvas);
  assert.deepEqual([t.k, t.x, t.y], [fitted.k, fitted.x, fitted.y], '0 returns to the fitted picture');
  assert.equal(reachedDocument, 0, 'the stepper never sees a handled key');
  assert.ok(zooms.length >= 8, 'the zoom listeners ran (redraw, saved zoom)');
  // other keys (the views' 1…9) pass through
  assert.equal(press(window, canvas, '2'), true);
  assert.equal(reachedDocument, 1);
  // a modified key is the editor's, not the canvas's
  assert.equal(canvas.dispatchEvent(new window.KeyboardEvent('keydown', { key: '+', ctrlKey: true, bubbles: true, cancelable: true })), true);
});

test('heatmap canvas: the same keys; 0 returns to the start view', () => {
  const { window, container } = makeDom();
  renderHeatmap(container, { tensor: ref('topk_weights', 'f32', [64, 64], Array.from({ length: 64 * 64 }, (_, i) => i)), mode: 'value' }, { theme: THEMES.dark, requestTile: async () => { throw new Error('inline'); } });
  const canvas = container.querySelector('canvas.heatmap-canvas')!;
  assert.match(canvas.getAttribute('aria-label')!, /arrow keys pan/);
  const start = d3.zoomTransform(canvas);
  press(window, canvas, '=');
  press(window, canvas, 'ArrowLeft');
  const moved = d3.zoomTransform(canvas);
  assert.ok(moved.k > start.k);
  press(window, canvas, '0');
  const back = d3.zoomTransform(canvas);
  assert.deepEqual([back.k, back.x, back.y], [start.k, start.x, start.y]);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isWebviewMessage, PROTOCOL_VERSION, type HostMessage, type WebviewMessage, type WebviewState } from '../../webview/protocol';
import { smallTrace } from './fixtures';

// postMessage between host and webview is a structured clone of JSON-like data: everything must survive it
const roundTrip = <T>(m: T): T => structuredClone(JSON.parse(JSON.stringify(m)) as T);

test('host messages survive the trip, trace included', () => {
  const trace = smallTrace('cpu');
  const msgs: HostMessage[] = [
    { type: 'trace', version: PROTOCOL_VERSION, trace, compare: smallTrace('cuda') },
    { type: 'progress', stage: 'gemm1', fraction: 0.5, message: 'GEMM 1' },
    { type: 'tile', requestId: 3, tile: { tensor: 'mm1_out', mode: 'error', rows: [0, 2], cols: [0, 1], values: [0.5, 1.5], shape2d: [512, 1024] } },
    { type: 'tileError', requestId: 4, message: 'mm1_out: rows [0, 99999) outside [0, 512)' },
    { type: 'exportDone', requestId: 5, path: '/tmp/x.svg' },
    { type: 'selectView', view: 'timing', stage: 'gemm2' },
  ];
  for (const m of msgs) assert.deepEqual(roundTrip(m), m);
  const back = roundTrip(msgs[0]!) as Extract<HostMessage, { type: 'trace' }>;
  assert.deepEqual(back.trace.tensors['a1q_scale']!.inline, trace.tensors['a1q_scale']!.inline);
});

test('webview messages and saved state survive the trip and are recognised', () => {
  const msgs: WebviewMessage[] = [
    { type: 'ready', version: PROTOCOL_VERSION },
    { type: 'tile', requestId: 1, tensor: 'act_out', mode: 'value', rows: [0, 64], cols: [64, 128] },
    { type: 'export', requestId: 2, view: 'scales', format: 'svg', svg: '<svg xmlns="http://www.w3.org/2000/svg"/>' },
    { type: 'export', requestId: 3, view: 'permutation', format: 'tikz', arch: 'sm100' },
    { type: 'stage', stage: 'permute' },
  ];
  for (const m of msgs) {
    assert.deepEqual(roundTrip(m), m);
    assert.ok(isWebviewMessage(roundTrip(m)));
  }
  assert.equal(isWebviewMessage(null), false);
  assert.equal(isWebviewMessage({ kind: 'ready' }), false);
  const state: WebviewState = { version: PROTOCOL_VERSION, view: 'heatmap', stage: 'gemm1', arch: 'sm100', heatmapTensor: 'mm1_out', scaleTensor: 'a2q_scale', zoom: { k: 2, x: -10, y: 5 }, spec: smallTrace().spec };
  assert.deepEqual(roundTrip(state), state);
});

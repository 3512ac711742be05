import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readSettings, DEFAULT_SETTINGS } from '../../extension/settings';
import pkg from '../../package.json';

test('defaults when nothing is set', () => {
  assert.deepEqual(readSettings(() => undefined), DEFAULT_SETTINGS);
});

test('valid values are read, invalid ones fall back to the default', () => {
  const good: Record<string, unknown> = { backend: 'cpu', architecture: 'sm100', recipe: 'masked', gpuModel: 'B200', maxInlineElements: 1000, defaultPreset: 'DeepSeek-V3', defaultTokens: 16 };
  assert.deepEqual(readSettings((k) => good[k]), { backend: 'cpu', arch: 'sm100', recipe: 'masked', gpuModel: 'B200', inlineLimit: 1000, preset: 'DeepSeek-V3', tokens: 16 });
  const bad: Record<string, unknown> = { backend: 'tpu', architecture: 90, recipe: 'nope', gpuModel: 'A100', maxInlineElements: -1, defaultPreset: '', defaultTokens: 2.5 };
  assert.deepEqual(readSettings((k) => bad[k]), DEFAULT_SETTINGS);
});

test('package.json contributes every setting readSettings reads, with the same defaults', () => {
  const props = (pkg.contributes.configuration as { properties: Record<string, { default: unknown; enum?: unknown[] }> }).properties;
  const read: Record<string, unknown> = {};
  readSettings((k) => {
    read[k] = props[`moeInspector.${k}`]?.default;
    return read[k];
  });
  for (const [k, v] of Object.entries(read)) assert.notEqual(v, undefined, `moeInspector.${k} missing from package.json`);
  assert.deepEqual(readSettings((k) => props[`moeInspector.${k}`]?.default), DEFAULT_SETTINGS);
  assert.deepEqual(props['moeInspector.gpuModel']!.enum, ['auto', 'H100', 'H200', 'H200-measured', 'H100-measured', 'B200']);
});

test('package.json: commands, explorer menu on .safetensors, activation', () => {
  const ids = pkg.contributes.commands.map((c) => c.command);
  for (const id of ['moeInspector.inspectLayer', 'moeInspector.inspectFile', 'moeInspector.exportDiagram']) assert.ok(ids.includes(id), id);
  const explorer = (pkg.contributes as { menus: Record<string, { command: string; when?: string }[]> }).menus['explorer/context']!;
  assert.ok(explorer.some((m) => m.command === 'moeInspector.inspectFile' && m.when === 'resourceExtname == .safetensors'));
  assert.ok(pkg.activationEvents.includes('onWebviewPanel:moeInspector.panel'));
  // VS Code's guidelines: wake on the extension's own commands (implicit since 1.74), its webview, and where hover
  // applies (Python files and Jupyter notebooks) — not in every window at start-up
  assert.ok(!pkg.activationEvents.includes('onStartupFinished') && !pkg.activationEvents.includes('*'));
  assert.ok(pkg.activationEvents.includes('onLanguage:python') && pkg.activationEvents.includes('onNotebook:jupyter-notebook'));
});

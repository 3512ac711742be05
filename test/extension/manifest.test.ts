/** package.json's settings enums are the registries' (npm run sync-manifest writes them). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PANEL_COMMAND_IDS, PANEL_OPEN_CONTEXT, panelCommandPalette, settingsEnums } from '../../extension/manifest';

test('package.json settings enums match the architecture, GPU and recipe registries', () => {
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { contributes: { configuration: { properties: Record<string, { enum?: string[]; enumDescriptions?: string[] }> } } };
  for (const [key, e] of Object.entries(settingsEnums())) {
    const p = pkg.contributes.configuration.properties[key];
    assert.ok(p, `package.json lacks ${key}`);
    assert.deepEqual(p.enum, e.enum, `${key}: run npm run sync-manifest`);
    assert.deepEqual(p.enumDescriptions, e.enumDescriptions, `${key}: run npm run sync-manifest`);
  }
});

test('Import Profiler Trace and Compare With are in the palette only while an inspector panel is open', () => {
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
    contributes: { commands: { command: string }[]; menus: { commandPalette: { command: string; when?: string }[] } };
  };
  const palette = pkg.contributes.menus.commandPalette;
  const wanted = panelCommandPalette();
  assert.deepEqual(wanted.map((e) => e.command).sort(), Object.values(PANEL_COMMAND_IDS).sort());
  for (const e of wanted) {
    assert.ok(pkg.contributes.commands.some((c) => c.command === e.command), `${e.command} is a contributed command`);
    const entries = palette.filter((m) => m.command === e.command);
    assert.deepEqual(entries, [{ command: e.command, when: PANEL_OPEN_CONTEXT }], `${e.command}: run npm run sync-manifest`);
  }
  // the panel sets the context key it is gated on
  const panelSource = readFileSync(join(__dirname, '..', '..', 'extension', 'panel.ts'), 'utf8');
  assert.match(panelSource, /executeCommand\('setContext', PANEL_OPEN_CONTEXT/);
});

/** package.json's settings enums are the registries' (npm run sync-manifest writes them). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { settingsEnums } from '../../extension/manifest';

test('package.json settings enums match the architecture, GPU and recipe registries', () => {
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { contributes: { configuration: { properties: Record<string, { enum?: string[]; enumDescriptions?: string[] }> } } };
  for (const [key, e] of Object.entries(settingsEnums())) {
    const p = pkg.contributes.configuration.properties[key];
    assert.ok(p, `package.json lacks ${key}`);
    assert.deepEqual(p.enum, e.enum, `${key}: run npm run sync-manifest`);
    assert.deepEqual(p.enumDescriptions, e.enumDescriptions, `${key}: run npm run sync-manifest`);
  }
});

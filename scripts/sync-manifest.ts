/** Writes the registry-derived settings enums into package.json (see extension/manifest.ts). */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { settingsEnums } from '../extension/manifest';

const path = join(__dirname, '..', 'package.json');
const pkg = JSON.parse(readFileSync(path, 'utf8')) as { contributes: { configuration: { properties: Record<string, Record<string, unknown>> } } };
const props = pkg.contributes.configuration.properties;
for (const [key, e] of Object.entries(settingsEnums())) {
  if (!props[key]) throw new Error(`package.json has no setting ${key}: add it (type, default, description) first`);
  props[key] = { ...props[key], enum: e.enum, enumDescriptions: e.enumDescriptions };
}
const tmp = `${path}.tmp-${process.pid}`;
writeFileSync(tmp, `${JSON.stringify(pkg, null, 2)}\n`);
renameSync(tmp, path);
console.log('package.json settings enums synced with the registries');

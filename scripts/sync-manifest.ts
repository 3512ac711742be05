/** Writes the registry-derived settings enums and the panel commands' palette `when` clauses into package.json (see extension/manifest.ts). */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { panelCommandPalette, settingsEnums } from '../extension/manifest';

const path = join(__dirname, '..', 'package.json');
const pkg = JSON.parse(readFileSync(path, 'utf8')) as {
  contributes: { configuration: { properties: Record<string, Record<string, unknown>> }; menus: { commandPalette?: { command: string; when?: string }[] } };
};
const props = pkg.contributes.configuration.properties;
for (const [key, e] of Object.entries(settingsEnums())) {
  if (!props[key]) throw new Error(`package.json has no setting ${key}: add it (type, default, description) first`);
  props[key] = { ...props[key], enum: e.enum, enumDescriptions: e.enumDescriptions };
}
// the panel commands' entries replace any earlier ones for the same commands; other entries keep their place
const palette = panelCommandPalette();
const others = (pkg.contributes.menus.commandPalette ?? []).filter((m) => !palette.some((p) => p.command === m.command));
pkg.contributes.menus.commandPalette = [...others, ...palette];
const tmp = `${path}.tmp-${process.pid}`;
writeFileSync(tmp, `${JSON.stringify(pkg, null, 2)}\n`);
renameSync(tmp, path);
console.log('package.json settings enums and panel command palette entries synced');

// Runs every *.test.ts under test/ with Node's own test runner (TypeScript through tsx).
// Node 20's --test does not expand globs itself, so the files are listed here.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function find(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) find(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}
const filter = process.argv.slice(2);
let files = find('test').sort();
if (filter.length) files = files.filter((f) => filter.some((s) => f.includes(s)));
// GPU test files share one device, and one of them checks that free device memory stays flat over repeated runs:
// they run one at a time, after the rest (elsewhere they skip in milliseconds)
const gpu = files.filter((f) => f.endsWith('.gpu.test.ts'));
const rest = files.filter((f) => !f.endsWith('.gpu.test.ts'));
let status = 0;
for (const [group, concurrency] of [[rest, 2], [gpu, 1]]) {
  if (!group.length) continue;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...group], { stdio: 'inherit' });
  status ||= r.status ?? 1;
}
process.exit(status);

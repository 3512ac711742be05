/** Saved runs for MoE: Compare With… (kernels/io/traceFile.ts): a trace reads back; anything else is one line naming the file. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { readTraceFile } from '../../../kernels/io/traceFile';
import { MoeError } from '../../../kernels/errors';
import { smallTrace } from '../../webview/fixtures';

const dir = mkdtempSync(join(tmpdir(), 'moe-tracefile-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string | Buffer): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const refused = (path: string, code: string, re: RegExp): void => {
  assert.throws(() => readTraceFile(path), (e: unknown) => e instanceof MoeError && e.code === code && re.test(e.message) && !e.message.includes('\n'), path);
};

test('a saved trace (as run --trace writes it, or gzipped) reads back as the same Trace', () => {
  const t = smallTrace('cuda');
  assert.deepEqual(readTraceFile(file('run.json', JSON.stringify(t, null, 1))), JSON.parse(JSON.stringify(t)));
  assert.equal(readTraceFile(file('run.json.gz', gzipSync(JSON.stringify(t)))).backend.name, 'cuda');
});

test('not a trace: a directory, a missing file, not JSON, a profiler trace, another version, a missing field, deep nesting', () => {
  mkdirSync(join(dir, 'folder'));
  refused(join(dir, 'folder'), 'E_IO', /folder is a directory, not a trace file/);
  refused(join(dir, 'missing.json'), 'E_IO', /missing\.json: cannot read/);
  refused(file('text.json', 'hello'), 'E_FORMAT', /text\.json is not JSON/);
  refused(file('kineto.json', JSON.stringify({ traceEvents: [] })), 'E_FORMAT', /kineto\.json is a profiler trace .*MoE: Import Profiler Trace/);
  refused(file('v2.json', JSON.stringify({ ...smallTrace(), version: 2 })), 'E_FORMAT', /v2\.json: not a moe-inspect trace \(expected an object with "version": 1, got version 2\)/);
  const { stages: _s, ...noStages } = smallTrace();
  refused(file('nostages.json', JSON.stringify(noStages)), 'E_FORMAT', /nostages\.json: not a trace this panel can draw: trace\.stages must be an array/);
  refused(file('deep.json', `{"version":1,"x":${'['.repeat(100000)}${']'.repeat(100000)}}`), 'E_FORMAT', /deep\.json: JSON nested 33 deep/);
});

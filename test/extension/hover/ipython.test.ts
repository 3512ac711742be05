/**
 * The notebook form of the probe in a real IPython shell (what a Jupyter kernel runs), executed the way the Jupyter
 * extension's kernel API executes code (store_history=False): the answer arrives as the one marked stdout line, and
 * IPython's own state (`_`, Out, In, the execution count, the user namespace, sys.modules) is left as it was.
 * Skipped when no interpreter has IPython and NumPy.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { PROBE_SOURCE } from './python';
import { findMarkedLine, notebookProbeCode, parseProbeJson } from '../../../extension/hover/probeCode';

const DRIVER = String.raw`
import sys, io, json
from IPython.core.interactiveshell import InteractiveShell
sh = InteractiveShell.instance()
sh.run_cell("import numpy as np\nclass Evil:\n    def __repr__(self): raise RuntimeError('repr')\nevil = Evil()\nsf = np.lib.stride_tricks.as_strided(np.zeros(13, np.float32), (5, 2), (4, 32))\n6 * 7", store_history=True)
def state():
    return (sorted(sh.user_ns), id(sh.user_ns.get('_')), repr(sh.user_ns.get('_')), dict(sh.user_ns['Out']), list(sh.user_ns['In']),
            sh.execution_count, sorted(sys.modules))
answers = []
for code in json.loads(sys.stdin.read()):
    before = state()
    buf = io.StringIO()
    old = sys.stdout
    sys.stdout = buf
    try:
        res = sh.run_cell(code, store_history=False, silent=False)
    finally:
        sys.stdout = old
    after = state()
    answers.append({'stdout': buf.getvalue(), 'ok': bool(res.success), 'unchanged': [a == b for a, b in zip(before, after)]})
print(json.dumps(answers))
`;

/** the ASCII record separator the probe puts before its one marked line */
const RS = String.fromCharCode(0x1e);

function ipythonInterpreter(): string | undefined {
  for (const c of [process.env.MOE_TEST_PYTHON, 'python3', '/usr/bin/python3'].filter((x): x is string => !!x))
    if (spawnSync(c, ['-c', 'import IPython, numpy'], { timeout: 30000 }).status === 0) return c;
  return undefined;
}

const python = ipythonInterpreter();

describe('notebook probe in a real IPython shell', { skip: python ? false : 'no python3 with IPython and numpy' }, () => {
  it('answers on stdout and leaves _, Out, In, the count, the namespace and sys.modules alone', () => {
    const exprs = ['sf', 'evil', 'missing_name', 'np'];
    const r = spawnSync(python!, ['-c', DRIVER], { input: JSON.stringify(exprs.map((e) => notebookProbeCode(PROBE_SOURCE, e))), encoding: 'utf8', timeout: 60000 });
    assert.equal(r.status, 0, r.stderr);
    const answers = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { stdout: string; ok: boolean; unchanged: boolean[] }[];
    assert.equal(answers.length, exprs.length);
    answers.forEach((a, i) => {
      assert.ok(a.ok, `${exprs[i]} raised in IPython`);
      assert.match(a.stdout, new RegExp(`^${RS}MOE-PROBE [^\n]*\n$`), `${exprs[i]}: exactly one marked line, no Out[] echo`);
      assert.deepEqual(a.unchanged, [true, true, true, true, true, true, true], `${exprs[i]}: [ns, _ id, _ repr, Out, In, count, modules]`);
    });
    const sf = parseProbeJson(findMarkedLine(answers[0]!.stdout)!);
    assert.deepEqual(sf?.strides, [1, 8]);
    assert.equal(sf?.major, 'MN');
    for (const a of answers.slice(1)) assert.equal(findMarkedLine(a.stdout), 'null');
  });
});

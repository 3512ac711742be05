/**
 * moe-inspect through main() in this process: the exit code and what it wrote to stdout and stderr. Quicker than
 * a child process (test/extension/cliProcess.ts), which the tests use where the process itself matters.
 */
import { Writable } from 'node:stream';
import { main } from '../../extension/cli';

export interface InProcessResult {
  code: number;
  out: string;
  err: string;
}

function collector(): { stream: Writable; text: () => string } {
  let s = '';
  return { stream: new Writable({ write: (c, _e, cb) => ((s += String(c)), cb()) }), text: () => s };
}

export async function cli(...argv: string[]): Promise<InProcessResult> {
  const o = collector();
  const e = collector();
  const code = await main(argv, o.stream, e.stream);
  return { code, out: o.text(), err: e.text() };
}

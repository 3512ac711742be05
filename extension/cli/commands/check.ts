/** moe-inspect check: the kernel guards for a layer file; exits non-zero when a guard fails. */
import { loadLayerFile, specFromInputs } from '../../../kernels/inputs';
import { runChecks } from '../../../kernels/checks';
import { oneOf, parseFlags, required } from '../args';
import { checkFileFlags } from '../paths';

export function checkCommand(argv: string[], out: NodeJS.WritableStream): number {
  const flags = parseFlags(argv, { layer: { type: 'string' }, arch: { type: 'string' }, 'act-scale': { type: 'string' } }, 'check');
  const path = required(flags, 'layer', 'check');
  checkFileFlags(flags, { inputs: ['layer'] });
  const arch = oneOf(flags, 'arch', ['sm90', 'sm100'] as const, 'sm90');
  const scaleFormat = oneOf(flags, 'act-scale', ['f32', 'ue8m0'] as const, arch === 'sm100' ? 'ue8m0' : 'f32');
  const inputs = loadLayerFile(path);
  const spec = specFromInputs(inputs, { name: path, arch, recipe: { actGroup: 128, weightBlock: 128, scaleFormat, quant: 'vllm' }, source: { kind: 'file', path } });
  const checks = runChecks(spec, inputs);
  const mark = { pass: 'PASS', info: 'INFO', warn: 'WARN', fail: 'FAIL' } as const;
  for (const c of checks) out.write(`${mark[c.level]}  ${c.message}\n`);
  const failed = checks.filter((c) => c.level === 'fail').length;
  out.write(`\n${checks.length} checks: ${failed} failed, ${checks.filter((c) => c.level === 'warn').length} warnings\n`);
  return failed ? 1 : 0;
}

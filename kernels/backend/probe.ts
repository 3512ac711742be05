/**
 * Is the CUDA backend usable here, and if not, why (in words a user can act on)? The addon is loaded in a short-lived
 * child process: a broken driver or a crashing addon takes the child down, never the extension host or the CLI.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { CudaProbe } from './types';
import { addonPath, missingAddonReason, type NativeProbe } from '../native/addon';

/** The kernels use FP8 mma.sync (sm_89+); the addon carries SASS for sm_90a/sm_100a and PTX for compute_89/90. */
export const MIN_COMPUTE_CAPABILITY = 8.9;

// Loads the addon and prints its probe as JSON; runs as plain JavaScript so it needs neither tsx nor a bundle.
const CHILD_SCRIPT = `
let out;
try {
  const addon = require(process.env.MOE_PROBE_ADDON);
  out = { probe: addon.probe() };
} catch (e) {
  out = { loadError: String(e && e.message || e) };
}
process.stdout.write(JSON.stringify(out));
`;

interface ChildAnswer {
  probe?: NativeProbe;
  loadError?: string;
}

/** Turns the addon's answer into a CudaProbe (exported for tests: the wording is part of the UI). */
export function interpretProbe(p: NativeProbe): CudaProbe {
  if (p.errorCode !== 0) {
    const detail = `cudaGetDeviceCount error ${p.errorCode}: ${p.errorString}`;
    if (p.errorCode === 35) return { ok: false, reason: `CUDA unavailable: no usable driver (${detail})` };
    if (p.errorCode === 100) return { ok: false, reason: `CUDA unavailable: no CUDA device (${detail})` };
    return { ok: false, reason: `CUDA unavailable: ${detail}` };
  }
  const d = p.devices[0];
  if (p.count === 0 || !d) return { ok: false, reason: 'CUDA unavailable: no CUDA device (cudaGetDeviceCount returned 0)' };
  const device = `${d.name} (sm_${d.major}${d.minor}, ${d.sms} SMs)`;
  if (d.major + d.minor / 10 < MIN_COMPUTE_CAPABILITY)
    return { ok: false, reason: `CUDA unavailable: ${device} is older than sm_89; the FP8 tensor-core kernels need compute capability 8.9 or newer`, device };
  // the device is reported separately (selectBackend appends it to the reason)
  return { ok: true, reason: 'CUDA available', device };
}

function runChild(path: string, timeoutMs: number): Promise<CudaProbe> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['-e', CHILD_SCRIPT],
      // ELECTRON_RUN_AS_NODE: inside VS Code process.execPath is Electron, which must act as plain Node here
      { env: { ...process.env, MOE_PROBE_ADDON: path, ELECTRON_RUN_AS_NODE: '1' }, timeout: timeoutMs, maxBuffer: 1 << 20 },
      (err, stdout) => {
        let answer: ChildAnswer | undefined;
        try {
          answer = JSON.parse(stdout) as ChildAnswer;
        } catch {
          answer = undefined;
        }
        if (answer?.probe) return resolve(interpretProbe(answer.probe));
        if (answer?.loadError) return resolve({ ok: false, reason: `CUDA unavailable: the addon failed to load (${answer.loadError})` });
        const e = err as (Error & { killed?: boolean; signal?: string | null; code?: number | string }) | null;
        if (e?.killed) return resolve({ ok: false, reason: `CUDA unavailable: probing the driver took longer than ${timeoutMs / 1000} s` });
        const how = e?.signal ? `signal ${e.signal}` : `exit code ${String(e?.code ?? 'unknown')}`;
        resolve({ ok: false, reason: `CUDA unavailable: the addon crashed while probing the driver (${how})` });
      },
    );
  });
}

let cached: Promise<CudaProbe> | undefined;

export interface ProbeOptions {
  /** probe again instead of reusing this process's earlier answer */
  fresh?: boolean;
  /** addon file (default: $MOE_NATIVE_ADDON or build/Release/moe_native.node) */
  addon?: string;
  timeoutMs?: number;
}

export async function probeCuda(opts: ProbeOptions = {}): Promise<CudaProbe> {
  const path = opts.addon ?? addonPath();
  const run = async (): Promise<CudaProbe> => {
    if (!existsSync(path)) return { ok: false, reason: `CUDA unavailable: ${missingAddonReason(path)}` };
    return runChild(path, opts.timeoutMs ?? 30_000);
  };
  if (opts.fresh || opts.addon) return run();
  cached ??= run();
  return cached;
}

/**
 * Where the golden tensors are: $MOE_GOLDEN_DIR, else ../shared/golden beside the repository (as on CI and the
 * developers' machines). Missing files fail loudly: a golden test must never pass by not running.
 */
import { existsSync } from 'node:fs';
import { resolve, join } from 'node:path';

export const REPO_ROOT = resolve(__dirname, '..');
export const GOLDEN_DIR = process.env.MOE_GOLDEN_DIR ?? resolve(REPO_ROOT, '..', 'shared', 'golden');

export function goldenFile(name: string): string {
  const p = join(GOLDEN_DIR, name);
  if (!existsSync(p)) throw new Error(`golden file ${name} not found in ${GOLDEN_DIR} (set MOE_GOLDEN_DIR)`);
  return p;
}

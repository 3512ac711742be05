/**
 * The row maps of MegaMoE's weight re-layouts (docs/layouts-and-stages.md §7.5) as pure functions: the granularity-8 gate/up
 * interleave of w13 and the UTCCP transpose of SM100 packed scales. No Node or tensor dependencies, so the views can
 * draw them too; interleave.ts applies them to tensors.
 */
import { MoeError } from '../../errors';

/** rows of gate (then up) that travel together */
export const INTERLEAVE_GRAN = 8;
/** rows per UTCCP chunk */
export const UTCCP_ROWS = 128;

/** §7.5: the source row (natural gate-then-up order) of output row r of the interleaved w13 with IH gate rows */
export function interleaveSourceRow(r: number, ih: number): number {
  const b = Math.floor(r / (2 * INTERLEAVE_GRAN));
  const w = r % (2 * INTERLEAVE_GRAN);
  return w < INTERLEAVE_GRAN ? INTERLEAVE_GRAN * b + w : ih + INTERLEAVE_GRAN * b + (w - INTERLEAVE_GRAN);
}

/** which half a row of the interleaved w13 came from */
export const isGateRow = (r: number): boolean => r % (2 * INTERLEAVE_GRAN) < INTERLEAVE_GRAN;

/** throws unless rows = 2·IH split into whole groups of 8 gate and 8 up rows */
export function checkIh(ih: number, what: string): void {
  if (!Number.isInteger(ih) || ih <= 0 || ih % INTERLEAVE_GRAN !== 0)
    throw new MoeError(
      'E_SHAPE',
      `${what}: the granularity-8 gate/up interleave (docs/layouts-and-stages.md §7.5) needs IH = rows/2 to be a positive multiple of ${INTERLEAVE_GRAN}, got IH = ${ih} (${2 * ih} rows); the gate and up halves must split into whole groups of 8 rows`,
      what,
    );
}

/** (2·IH,) output row → source row */
export function interleaveMap(ih: number): Int32Array {
  checkIh(ih, 'w13_weight');
  const m = new Int32Array(2 * ih);
  for (let r = 0; r < m.length; r++) m[r] = interleaveSourceRow(r, ih);
  return m;
}

/** §7.5 UTCCP: source row of new row r (chunks of 128 rows, 4 × 32 transposed to 32 × 4) */
export function utccpSourceRow(r: number): number {
  const c = Math.floor(r / UTCCP_ROWS);
  const within = r % UTCCP_ROWS;
  const b = Math.floor(within / 4);
  const a = within % 4;
  return UTCCP_ROWS * c + 32 * a + b;
}

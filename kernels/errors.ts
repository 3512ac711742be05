/**
 * Every error the engine raises is a MoeError: a stable code (for tests and the UI) and a message that names
 * the tensor, what was expected and what was found, so a user can act on it without reading the source.
 */
export type ErrorCode =
  | 'E_SHAPE'
  | 'E_DTYPE'
  | 'E_LAYOUT'
  | 'E_RANGE'
  | 'E_VALUE'
  | 'E_FORMAT'
  | 'E_IO'
  | 'E_SPEC'
  | 'E_BACKEND'
  | 'E_CANCELLED';

export class MoeError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly tensor?: string,
  ) {
    super(message);
    this.name = 'MoeError';
  }
}

export const shapeStr = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

/** Throws E_SHAPE unless `actual` equals `expected` (−1 in expected matches any extent). */
export function expectShape(tensor: string, actual: readonly number[], expected: readonly number[], what = ''): void {
  const ok = actual.length === expected.length && expected.every((e, i) => e < 0 || e === actual[i]);
  if (!ok) {
    const exp = expected.map((e) => (e < 0 ? '*' : String(e))).join(', ');
    throw new MoeError('E_SHAPE', `${tensor}: expected shape [${exp}]${what ? ` (${what})` : ''}, got ${shapeStr(actual)}`, tensor);
  }
}

/**
 * A list of names for an error message, capped: the first `max` names then "… and N more". A file may hold 100 000
 * tensors (or one name a megabyte long); an error must stay one readable line. Each name is cut at 80 characters.
 */
export function listNames(names: readonly string[], max = 20): string {
  if (names.length === 0) return 'none';
  const shown = names.slice(0, max).map((n) => briefName(n));
  return names.length > max ? `${shown.join(', ')}, … and ${names.length - max} more` : shown.join(', ');
}

/** a name cut to `max` characters (with "…") so one hostile name cannot make a megabyte-long message */
export function briefName(name: string, max = 80): string {
  return name.length > max ? `${name.slice(0, max)}…` : name;
}

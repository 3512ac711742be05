/**
 * Validation of what the user types into the Inspect MoE Layer input boxes. Kept free of 'vscode' so it is unit
 * tested directly; every function returns undefined when the text is fine, or a message saying what is expected
 * (VS Code shows it under the input box and refuses Enter), which is the InputBox `validateInput` contract.
 */

/** Largest value accepted for any extent: keeps typed numbers inside what the CPU path can allocate. */
export const MAX_EXTENT = 1 << 20;

export function parsePositiveInt(text: string): number | undefined {
  const t = text.trim();
  if (!/^\d+$/.test(t)) return undefined;
  const v = Number(t);
  return Number.isSafeInteger(v) && v > 0 ? v : undefined;
}

export function validatePositiveInt(what: string, text: string, max = MAX_EXTENT): string | undefined {
  const v = parsePositiveInt(text);
  if (v === undefined) return `${what} must be a positive integer, got "${text.trim()}"`;
  if (v > max) return `${what} must be at most ${max}, got ${v}`;
  return undefined;
}

/** N and K must be multiples of 128: DeepGEMM's block size and the 128×128 weight-scale blocks. */
export function validateMultipleOf128(what: string, text: string): string | undefined {
  const err = validatePositiveInt(what, text);
  if (err) return err;
  const v = parsePositiveInt(text)!;
  return v % 128 === 0 ? undefined : `${what} must be a multiple of 128 (DeepGEMM block size), got ${v}`;
}

export function validateTopk(text: string, experts: number): string | undefined {
  const err = validatePositiveInt('top-k', text);
  if (err) return err;
  const v = parsePositiveInt(text)!;
  return v <= experts ? undefined : `top-k must be at most the number of experts (${experts}), got ${v}`;
}

/** "size/rank", e.g. "8/0"; the size must divide the experts so each rank holds the same number. */
export function parseExpertParallel(text: string): { size: number; rank: number } | undefined {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (!m) return undefined;
  return { size: Number(m[1]), rank: Number(m[2]) };
}

export function validateExpertParallel(text: string, experts: number): string | undefined {
  const ep = parseExpertParallel(text);
  if (!ep) return `expert parallel must be "size/rank", e.g. "8/0" (use "1/0" for none), got "${text.trim()}"`;
  if (ep.size < 1) return `expert-parallel size must be at least 1, got ${ep.size}`;
  if (experts % ep.size !== 0) return `expert-parallel size must divide the ${experts} experts, got ${ep.size}`;
  if (ep.rank >= ep.size) return `expert-parallel rank must be in 0…${ep.size - 1}, got ${ep.rank}`;
  return undefined;
}

export function validateSkew(text: string): string | undefined {
  const t = text.trim();
  const v = Number(t);
  if (t === '' || !Number.isFinite(v)) return `router skew must be a number (Zipf exponent, 0 = uniform), got "${t}"`;
  if (v < 0 || v > 4) return `router skew must be between 0 and 4, got ${v}`;
  return undefined;
}

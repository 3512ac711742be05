/**
 * Finds the Python expression under the cursor, from the line's text alone, and accepts only what is safe to
 * evaluate in somebody's live kernel or paused program: a name, an attribute chain and subscripts whose keys are
 * integer or plain string literals (or a bare name), e.g. `x`, `layer.w13_weight_scale_inv`, `d["k"]`, `w[0, -1]`.
 * Calls, operators, slices, f-strings and anything else are refused (undefined), so nothing the hover evaluates can
 * invoke user code beyond attribute/item lookup.
 */

export interface HoveredExpression {
  /** canonical text (no whitespace) to evaluate */
  text: string;
  /** the identifier the expression ends with (the attribute or variable name), or the last subscript key when it is a string */
  leafName: string;
  /** character range of the expression in the line, [start, end) */
  start: number;
  end: number;
}

type TokKind = 'ident' | 'num' | 'str' | 'punct' | 'other';
interface Tok {
  kind: TokKind;
  text: string;
  start: number;
  end: number;
}

const MAX_EXPRESSION_CHARS = 200;
const MAX_PARTS = 32;

/** Python keywords: never a variable (`if`, `lambda`, ...); soft keywords like `match` are ordinary names. */
const KEYWORDS = new Set([
  'False', 'None', 'True', 'and', 'as', 'assert', 'async', 'await', 'break', 'class', 'continue', 'def', 'del', 'elif',
  'else', 'except', 'finally', 'for', 'from', 'global', 'if', 'import', 'in', 'is', 'lambda', 'nonlocal', 'not', 'or',
  'pass', 'raise', 'return', 'try', 'while', 'with', 'yield',
]);

const isIdentStart = (c: string): boolean => /[A-Za-z_]/.test(c) || c > '\u007f';
const isIdentPart = (c: string): boolean => /[A-Za-z0-9_]/.test(c) || c > '\u007f';

/** Splits a line into the few token kinds the grammar needs; stops at a comment. */
function tokenize(line: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  while (i < line.length) {
    const c = line[i]!;
    if (c === ' ' || c === '\t') {
      i++;
    } else if (c === '#') {
      break;
    } else if (isIdentStart(c)) {
      let j = i + 1;
      while (j < line.length && isIdentPart(line[j]!)) j++;
      toks.push({ kind: 'ident', text: line.slice(i, j), start: i, end: j });
      i = j;
    } else if (/[0-9]/.test(c)) {
      let j = i + 1;
      while (j < line.length && /[0-9A-Za-z_]/.test(line[j]!)) j++;
      const text = line.slice(i, j);
      // only plain decimal integers are keys we accept; 0x1, 1e3, 1_000 and the like become 'other'
      toks.push({ kind: /^(0|[1-9][0-9]*)$/.test(text) ? 'num' : 'other', text, start: i, end: j });
      i = j;
    } else if (c === '"' || c === "'") {
      let j = i + 1;
      let plain = true;
      while (j < line.length && line[j] !== c) {
        if (line[j] === '\\') plain = false;
        j++;
      }
      const closed = j < line.length;
      // a string literal with escapes, or unterminated, is not a key we accept
      toks.push({ kind: closed && plain ? 'str' : 'other', text: line.slice(i, closed ? j + 1 : j), start: i, end: closed ? j + 1 : j });
      i = closed ? j + 1 : j;
    } else if ('.[],-'.includes(c)) {
      toks.push({ kind: 'punct', text: c, start: i, end: i + 1 });
      i++;
    } else {
      toks.push({ kind: 'other', text: c, start: i, end: i + 1 });
      i++;
    }
  }
  return toks;
}

/** A subscript's inside: key (',' key)*, key = ['-'] int | plain string | name. Returns canonical text or undefined. */
function subscriptKeys(toks: Tok[]): string | undefined {
  if (toks.length === 0) return undefined;
  const keys: string[] = [];
  let i = 0;
  while (i < toks.length) {
    let neg = false;
    if (toks[i]!.text === '-' && toks[i]!.kind === 'punct') {
      neg = true;
      i++;
    }
    const t = toks[i];
    if (!t) return undefined;
    if (t.kind === 'num') keys.push((neg ? '-' : '') + t.text);
    else if (!neg && t.kind === 'str') keys.push(t.text);
    else if (!neg && t.kind === 'ident' && !KEYWORDS.has(t.text)) keys.push(t.text);
    else return undefined;
    i++;
    if (i < toks.length) {
      if (toks[i]!.text !== ',' || i === toks.length - 1) return undefined;
      i++;
    }
  }
  return keys.join(', ');
}

/** Index of the '[' matching the ']' at `close`, or -1. */
function matchingOpen(toks: Tok[], close: number): number {
  let depth = 0;
  for (let i = close; i >= 0; i--) {
    if (toks[i]!.text === ']' && toks[i]!.kind === 'punct') depth++;
    else if (toks[i]!.text === '[' && toks[i]!.kind === 'punct') {
      depth--;
      if (depth === 0) return i;
    }
  }
  return -1;
}

/** Index of the ']' closing the innermost '[' that encloses token `at`, or -1. */
function enclosingClose(toks: Tok[], at: number): number {
  let depth = 0;
  for (let i = at; i < toks.length; i++) {
    const t = toks[i]!;
    if (t.kind !== 'punct') continue;
    if (t.text === '[') depth++;
    else if (t.text === ']') {
      if (depth === 0) return i;
      depth--;
    }
  }
  return -1;
}

/**
 * The expression whose last part is under `character` (0-based column), or undefined when there is none or it is
 * not in the safe grammar. On an identifier the expression ends there (hovering `layer` in `layer.w` gives
 * `layer`); on a subscript's key or bracket it ends at the closing bracket (hovering `0` in `x[0]` gives `x[0]`).
 */
export function extractExpression(line: string, character: number): HoveredExpression | undefined {
  const toks = tokenize(line);
  let at = toks.findIndex((t) => t.start <= character && character < t.end);
  // the position just after an identifier (cursor at a word's end) still means that word
  if (at < 0) at = toks.findIndex((t) => t.kind === 'ident' && t.end === character);
  if (at < 0) return undefined;
  const hit = toks[at]!;

  let end: number;
  if (hit.kind === 'ident') {
    if (KEYWORDS.has(hit.text)) return undefined;
    end = at;
  } else if (hit.kind === 'punct' && hit.text === ']') {
    end = at;
  } else if (hit.kind === 'num' || hit.kind === 'str' || (hit.kind === 'punct' && (hit.text === '[' || hit.text === ',' || hit.text === '-'))) {
    end = enclosingClose(toks, hit.text === '[' ? at + 1 : at);
    if (end < 0) return undefined;
  } else {
    return undefined;
  }

  // walk back from `end` over  ident ( '.' ident | '[' keys ']' )*
  const parts: string[] = [];
  let leafName: string | undefined;
  let i = end;
  for (;;) {
    if (parts.length >= MAX_PARTS) return undefined;
    const t = toks[i]!;
    if (t.kind === 'punct' && t.text === ']') {
      const open = matchingOpen(toks, i);
      if (open <= 0) return undefined;
      const keys = subscriptKeys(toks.slice(open + 1, i));
      if (keys === undefined) return undefined;
      parts.unshift(`[${keys}]`);
      if (leafName === undefined) {
        const last = toks[i - 1]!;
        leafName = last.kind === 'str' ? last.text.slice(1, -1) : '';
      }
      i = open - 1;
      const before = toks[i]!;
      // what is subscripted must itself be a name or another subscript (x[0][1]); never a call or a literal
      if (!(before.kind === 'ident' || (before.kind === 'punct' && before.text === ']'))) return undefined;
      continue;
    }
    if (t.kind !== 'ident' || KEYWORDS.has(t.text)) return undefined;
    parts.unshift(t.text);
    if (leafName === undefined) leafName = t.text;
    const dot = toks[i - 1];
    if (dot && dot.kind === 'punct' && dot.text === '.') {
      const owner = toks[i - 2];
      // `f().x`, `"s".x`, `1 .real`: the chain does not start at a plain name
      if (!owner || !(owner.kind === 'ident' || (owner.kind === 'punct' && owner.text === ']'))) return undefined;
      parts.unshift('.');
      i -= 2;
      continue;
    }
    break;
  }
  const start = toks[i]!.start;
  const text = parts.join('');
  if (text.length > MAX_EXPRESSION_CHARS) return undefined;
  return { text, leafName: leafName ?? '', start, end: toks[end]!.end };
}

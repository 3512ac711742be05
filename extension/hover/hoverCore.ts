/**
 * The part of the hover that does not depend on where the tensor lives: take the expression under the cursor,
 * run the given probe on it, keep the answer for the "Open in MoE Layout Inspector" link and build the markdown.
 * vscode-free, so it is tested with a fake kernel running a real Python.
 */
import { extractExpression } from './expression';
import { hoverMarkdown } from './markdown';
import type { ProbedTensor } from './types';

export interface CoreHover {
  markdown: string;
  /** [start, end) columns of the hovered expression in its line */
  start: number;
  end: number;
  tensor: ProbedTensor;
  /** cache key the command link carries */
  id: string;
}

/** The last probed tensors, so the command link can carry a short id instead of the whole sample. */
export class ProbeCache {
  private readonly entries = new Map<string, ProbedTensor>();
  private next = 1;
  constructor(private readonly capacity = 16) {}

  put(t: ProbedTensor): string {
    const id = `t${this.next++}`;
    this.entries.set(id, t);
    while (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as string);
    return id;
  }

  get(id: string): ProbedTensor | undefined {
    return this.entries.get(id);
  }

  get size(): number {
    return this.entries.size;
  }
}

/** undefined when the cursor is not on a safe expression or the probe finds no tensor there */
export async function computeHover(
  line: string,
  character: number,
  probe: (expression: string) => Promise<ProbedTensor | undefined>,
  cache: ProbeCache,
): Promise<CoreHover | undefined> {
  const expr = extractExpression(line, character);
  if (!expr) return undefined;
  const tensor = await probe(expr.text);
  if (!tensor) return undefined;
  const id = cache.put(tensor);
  const markdown = hoverMarkdown(tensor, { leafName: expr.leafName, link: { id, expression: expr.text } });
  return { markdown, start: expr.start, end: expr.end, tensor, id };
}

/**
 * A recipe's own picture (kernels/recipes/<id>/views/*.ts: `render(container, trace, options)`, drawing from the
 * Trace only) as a registry entry: live in the panel, standalone for SVG/PNG export, offered on that recipe's runs.
 */
import type { Trace } from '../../kernels/trace';
import type { Theme } from '../theme';
import type { ViewEntry } from './context';

export type RecipeRender = (container: HTMLElement, trace: Trace, options: { theme: Theme; width: number; idPrefix: string }) => void;

export function recipeView(o: { id: string; label: string; recipes: readonly string[]; render: RecipeRender }): ViewEntry {
  return {
    id: o.id,
    label: o.label,
    exportFormats: ['svg', 'png'],
    applies: (trace) => o.recipes.includes(trace.recipe?.id),
    dataKey: (trace) => Object.keys(trace.tensors).sort().join(','),
    render(el, ctx) {
      el.classList.add('moe-view');
      o.render(el, ctx.trace, { theme: ctx.theme, width: ctx.width, idPrefix: `live-${o.id}` });
      ctx.notePicture();
      return { destroy: () => el.replaceChildren() };
    },
    svg(doc, input, options) {
      const holder = doc.createElement('div');
      o.render(holder, input.trace, { theme: options.theme, width: options.width, idPrefix: `x-${o.id}` });
      const svg = holder.querySelector('svg');
      if (!svg) throw new Error(`the ${o.label} view drew no SVG for this trace`);
      return svg as SVGSVGElement;
    },
  };
}

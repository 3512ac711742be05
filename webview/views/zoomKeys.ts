/**
 * The keyboard path to a pan-and-zoom canvas (issue 12: canvas views pan and zoom from the keyboard too): with the
 * canvas focused, the arrow keys pan, + / = and − zoom about the centre, 0 goes back to the fitted picture. Handled
 * keys stop there, so the stepper's ←/→ and the views' number keys do not also act. Everything goes through the
 * canvas's d3-zoom behaviour, so its scale limits and its 'zoom'/'end' listeners (redraw, tile loads) apply.
 */
import * as d3 from 'd3';

/** screen pixels an arrow key pans by */
export const PAN_STEP_PX = 48;
/** the factor one + or − zooms by */
export const ZOOM_STEP = 1.25;
/** for the canvas's aria-label, after "scroll to zoom, drag to pan" */
export const ZOOM_KEYS_HINT = 'arrow keys pan, plus and minus zoom, 0 resets';

/** Binds the keys on `el` (which must be focusable: tabindex 0); `fitted` is the transform 0 returns to. Returns the remover. */
export function bindZoomKeys<E extends Element>(el: E, zoom: d3.ZoomBehavior<E, unknown>, fitted: () => d3.ZoomTransform): () => void {
  const sel = d3.select(el);
  const onKey = (ev: Event): void => {
    const e = ev as KeyboardEvent;
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    const k = d3.zoomTransform(el).k;
    // translateBy works in the picture's units: divide by the scale so a press moves PAN_STEP_PX on screen
    const pan = (dx: number, dy: number): void => zoom.translateBy(sel, dx / k, dy / k);
    switch (e.key) {
      case 'ArrowLeft':
        pan(PAN_STEP_PX, 0);
        break;
      case 'ArrowRight':
        pan(-PAN_STEP_PX, 0);
        break;
      case 'ArrowUp':
        pan(0, PAN_STEP_PX);
        break;
      case 'ArrowDown':
        pan(0, -PAN_STEP_PX);
        break;
      case '+':
      case '=':
        zoom.scaleBy(sel, ZOOM_STEP);
        break;
      case '-':
      case '_':
        zoom.scaleBy(sel, 1 / ZOOM_STEP);
        break;
      case '0':
        zoom.transform(sel, fitted());
        break;
      default:
        return;
    }
    e.preventDefault();
    e.stopPropagation();
  };
  el.addEventListener('keydown', onKey);
  return () => el.removeEventListener('keydown', onKey);
}

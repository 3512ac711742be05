/**
 * What a view gets from the app shell besides the state: tiles and whole-tensor values from the host (refused
 * while the run goes on: the host cuts tiles from the finished run only), the first-picture and frame marks, and
 * the host's log for a view that fails.
 */
import { as2d, scaleRefsOf } from '../model/traceData';
import type { Theme } from '../theme';
import type { Connection } from './messages';
import type { Marks } from './instrument';
import type { AppState } from './state';
import type { ViewServices } from './viewHost';

export function viewServices(state: AppState, conn: Connection, mark: Marks, theme: () => Theme): () => ViewServices {
  return () => ({
    theme: theme(),
    requestTile: (tensor, rows, cols, mode) =>
      state.partial ? Promise.reject(new Error('values load when the run finishes (tiles come from the finished run)')) : conn.tile(tensor, rows, cols, mode),
    loadValues: async (name) => {
      const ref = state.trace?.tensors[name];
      if (!ref || state.partial) throw new Error(`the values of ${name} load when the run finishes`);
      if (!scaleRefsOf(state.trace!).some((r) => r.name === name)) throw new Error(`${name} is not a scale tensor this panel loads whole`);
      state.setValues(name, await conn.wholeTensor(name, as2d(ref.shape)));
    },
    onFrame: mark.frame,
    notePicture: mark.picture,
    failed: (view, message) => conn.notify({ type: 'log', level: 'error', message: `${view} view: ${message}` }),
  });
}

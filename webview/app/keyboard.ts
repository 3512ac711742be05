/**
 * The panel's view keys: 1…N switch among the views that apply to the trace shown (the tabs' numbers), and ←/→ move
 * between tabs while the tab bar has focus (the WAI-ARIA tabs pattern; elsewhere ←/→ step the stages).
 */
export interface ViewKeys {
  /** ids of the views in tab order */
  views(): readonly string[];
  current(): string;
  select(id: string, focus: boolean): void;
}

const typing = (t: EventTarget | null): boolean => {
  const tag = (t as HTMLElement | null)?.tagName;
  return tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA';
};

/** Listens on `target` (the document) for 1…9; returns the listener's remover. */
export function bindViewKeys(target: Document | HTMLElement, keys: ViewKeys): () => void {
  const onKey = (ev: Event): void => {
    const e = ev as KeyboardEvent;
    if (typing(e.target) || e.altKey || e.ctrlKey || e.metaKey || !/^[1-9]$/.test(e.key)) return;
    const id = keys.views()[+e.key - 1];
    if (!id) return;
    e.preventDefault();
    keys.select(id, true);
  };
  target.addEventListener('keydown', onKey);
  return () => target.removeEventListener('keydown', onKey);
}

/** ←/→ on the tab bar move between tabs (and stop there, so the stepper does not also step). */
export function bindTabArrows(tabs: HTMLElement, keys: ViewKeys): void {
  tabs.addEventListener('keydown', (e: KeyboardEvent) => {
    if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
    const ids = keys.views();
    if (!ids.length) return;
    e.stopPropagation();
    e.preventDefault();
    const i = Math.max(0, ids.indexOf(keys.current()));
    keys.select(ids[(i + (e.key === 'ArrowRight' ? 1 : ids.length - 1)) % ids.length]!, true);
  });
}

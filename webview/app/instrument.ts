/**
 * Performance marks of the panel, read by the webview benchmark (scripts/bench-webview.ts, README "Benchmark"):
 * when the trace arrived and when the first picture was on screen (document.body data attributes), and a
 * `moe-frame` event per canvas frame with its draw time.
 */
export interface Marks {
  traceReceived(): void;
  picture(): void;
  frame(ms: number): void;
}

export function marks(doc: Document): Marks {
  let firstPictureAt = 0;
  const picture = (): void => {
    if (firstPictureAt) return;
    firstPictureAt = performance.now();
    doc.body.dataset.firstPictureMs = firstPictureAt.toFixed(1);
    doc.dispatchEvent(new CustomEvent('moe-first-picture', { detail: firstPictureAt }));
  };
  return {
    traceReceived: () => void (doc.body.dataset.traceReceivedMs ??= performance.now().toFixed(1)),
    picture,
    frame: (ms) => {
      picture();
      doc.dispatchEvent(new CustomEvent('moe-frame', { detail: ms }));
    },
  };
}

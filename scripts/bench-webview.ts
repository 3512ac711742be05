/**
 * Webview benchmark in headless Chromium (playwright-core, /usr/bin/chromium). Builds a static harness page —
 * dist/webview.js, media/webview.css, VS Code dark-theme variables, the panel's CSP, a stub acquireVsCodeApi that
 * answers 'ready' with a DeepSeek-V3 trace fixture and 'tile' requests with synthetic values — serves it on
 * 127.0.0.1, and measures:
 *   - first picture: navigation start → first view drawn (target < 2 s)
 *   - frame rate while panning and zooming the DeepSeek-V3 w13 weight-scale layout (256 × 32 × 56 blocks) and the
 *     activation scales in the kernel layout (4096 × 56: float32 MN-major on SM90, 14 packed UE8M0 words on
 *     SM100 with --arch sm100) (target ≥ 30 fps)
 * The stub host speaks the protocol of kernels/protocol.ts (envelopes, binary tiles).
 * Usage: node --import tsx scripts/bench-webview.ts [--screenshots DIR] [--theme dark|light|high-contrast] [--arch sm90|sm100] [--small]
 */
import { mkdtempSync, writeFileSync, readFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve, extname } from 'node:path';
import * as esbuild from 'esbuild';
import { chromium, type Page } from 'playwright-core';
import { deepseekV3Trace, smallTrace } from '../test/webview/fixtures';
import { PROTOCOL_VERSION } from '../kernels/protocol';

const ROOT = resolve(__dirname, '..');
const args = process.argv.slice(2);
const shotDir = args.includes('--screenshots') ? args[args.indexOf('--screenshots') + 1]! : undefined;
const themeKind = args.includes('--theme') ? args[args.indexOf('--theme') + 1]! : 'dark';
const which = args.includes('--small') ? 'small' : 'deepseek';
const arch = args.includes('--arch') && args[args.indexOf('--arch') + 1] === 'sm100' ? 'sm100' : 'sm90';

const THEME_VARS: Record<string, string> = {
  dark: `--vscode-foreground:#cccccc;--vscode-editor-background:#1f1f1f;--vscode-descriptionForeground:#9d9d9d;--vscode-panel-border:#2b2b2b;
    --vscode-focusBorder:#0078d4;--vscode-font-family:DejaVu Sans,sans-serif;--vscode-font-size:13px;--vscode-editor-font-family:DejaVu Sans Mono,monospace;
    --vscode-charts-red:#f14c4c;--vscode-charts-blue:#3794ff;--vscode-charts-yellow:#cca700;--vscode-charts-orange:#d18616;--vscode-charts-green:#89d185;--vscode-charts-purple:#b180d7;
    --vscode-button-background:#0078d4;--vscode-button-foreground:#ffffff;--vscode-button-secondaryBackground:#313131;--vscode-button-secondaryForeground:#cccccc;--vscode-button-secondaryHoverBackground:#3c3c3c;
    --vscode-badge-background:#616161;--vscode-badge-foreground:#f8f8f8;--vscode-sideBar-background:#181818;--vscode-list-hoverBackground:#2a2d2e;
    --vscode-list-activeSelectionBackground:#04395e;--vscode-list-activeSelectionForeground:#ffffff;--vscode-dropdown-background:#313131;--vscode-dropdown-foreground:#cccccc;--vscode-dropdown-border:#3c3c3c;
    --vscode-editorWidget-background:#202020;--vscode-editorHoverWidget-background:#202020;--vscode-editorHoverWidget-border:#454545;--vscode-editorWarning-foreground:#cca700;
    --vscode-keybindingLabel-border:#33333399;--vscode-widget-shadow:#0000005c;--vscode-progressBar-background:#0078d4`,
  light: `--vscode-foreground:#3b3b3b;--vscode-editor-background:#ffffff;--vscode-descriptionForeground:#717171;--vscode-panel-border:#e5e5e5;
    --vscode-focusBorder:#005fb8;--vscode-font-family:DejaVu Sans,sans-serif;--vscode-font-size:13px;--vscode-editor-font-family:DejaVu Sans Mono,monospace;
    --vscode-charts-red:#e51400;--vscode-charts-blue:#1a85ff;--vscode-charts-yellow:#bf8803;--vscode-charts-orange:#d18616;--vscode-charts-green:#388a34;--vscode-charts-purple:#652d90;
    --vscode-button-background:#005fb8;--vscode-button-foreground:#ffffff;--vscode-button-secondaryBackground:#e5e5e5;--vscode-button-secondaryForeground:#3b3b3b;
    --vscode-badge-background:#cccccc;--vscode-badge-foreground:#3b3b3b;--vscode-sideBar-background:#f8f8f8;--vscode-list-hoverBackground:#f2f2f2;
    --vscode-list-activeSelectionBackground:#e8e8e8;--vscode-dropdown-background:#ffffff;--vscode-dropdown-border:#cecece;--vscode-editorHoverWidget-background:#f8f8f8;--vscode-editorHoverWidget-border:#c8c8c8`,
  'high-contrast': `--vscode-foreground:#ffffff;--vscode-editor-background:#000000;--vscode-descriptionForeground:#ffffff;--vscode-panel-border:#6fc3df;--vscode-contrastBorder:#6fc3df;
    --vscode-focusBorder:#f38518;--vscode-font-family:DejaVu Sans,sans-serif;--vscode-editor-font-family:DejaVu Sans Mono,monospace;
    --vscode-charts-red:#f48771;--vscode-charts-blue:#75beff;--vscode-charts-yellow:#ffd700;--vscode-charts-orange:#ffa500;--vscode-charts-green:#89d185;--vscode-charts-purple:#b180d7;
    --vscode-button-background:#000000;--vscode-button-border:#6fc3df;--vscode-button-foreground:#ffffff;--vscode-button-secondaryBackground:#000000;--vscode-button-secondaryForeground:#ffffff`,
};

async function buildHarness(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'moe-webview-bench-'));
  await esbuild.build({ entryPoints: [join(ROOT, 'webview/main.ts')], outfile: join(dir, 'webview.js'), bundle: true, platform: 'browser', format: 'iife', target: 'es2022', minify: true, logLevel: 'warning' });
  mkdirSync(join(dir, 'media'));
  writeFileSync(join(dir, 'media/webview.css'), readFileSync(join(ROOT, 'media/webview.css')));
  const trace = which === 'small' ? smallTrace('cpu', 'ue8m0', arch) : deepseekV3Trace('cpu', arch);
  const compare = which === 'small' ? smallTrace('cuda', 'ue8m0', arch) : deepseekV3Trace('cuda', arch);
  // a JSON.parse of a string literal parses much faster than the same object literal (the host's postMessage
  // hands the webview a structured clone, which is cheaper still)
  writeFileSync(join(dir, 'trace.js'), `window.__HARNESS_TRACE=JSON.parse(${JSON.stringify(JSON.stringify({ trace, compare }))});`);
  writeFileSync(join(dir, 'host.js'), `
    (function(){
      var state = JSON.parse(sessionStorage.getItem('state') || 'null') || undefined;
      var nextId = 1;
      window.acquireVsCodeApi = function(){ return {
        getState: function(){ return state; },
        setState: function(s){ state = s; sessionStorage.setItem('state', JSON.stringify(s)); },
        postMessage: function(e){
          var m = e.body;
          window.__posted = (window.__posted||[]).concat([{type:m.type, format:m.format, bytes:m.svg?m.svg.length:0}]);
          var send = function(msg){ window.postMessage(msg, '*'); };
          if (m.type === 'ready') setTimeout(function(){ var d = window.__HARNESS_TRACE; send({id: nextId++, body: {type:'trace', version:${PROTOCOL_VERSION}, trace:d.trace, compare:d.compare}}); }, 0);
          if (m.type === 'tile') setTimeout(function(){
            var shape = window.__HARNESS_TRACE.trace.tensors[m.tensor].shape, C0 = shape[shape.length-1], R0 = shape.reduce(function(a,b){return a*b;},1)/C0;
            var R=m.rows[1]-m.rows[0], C=m.cols[1]-m.cols[0], v=new Float32Array(R*C);
            for (var i=0;i<R*C;i++){ var r=m.rows[0]+Math.floor(i/C), c=m.cols[0]+i%C; v[i]=Math.sin(r*0.05)*Math.cos(c*0.03)*(m.mode==='error'?0.01:3); }
            send({id: nextId++, inReplyTo: e.id, body: {type:'tile', tile:{tensor:m.tensor, mode:m.mode, rows:m.rows, cols:m.cols, values:v, shape2d:[R0, C0]}}});
          }, 5);
          if (m.type === 'export') setTimeout(function(){ send({id: nextId++, inReplyTo: e.id, body: {type:'exported', path: null}}); }, 5);
        } }; };
    })();`);
  const csp = `default-src 'none'; img-src 'self' data:; style-src 'self'; font-src 'self'; script-src 'self'`;
  writeFileSync(join(dir, 'index.html'), `<!DOCTYPE html><html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<link rel="icon" href="data:,"><link rel="stylesheet" href="theme.css"><link rel="stylesheet" href="media/webview.css"><title>MoE Layout Inspector</title></head>
<body class="vscode-${themeKind === 'high-contrast' ? 'high-contrast' : themeKind}"><div id="app" role="application" aria-label="MoE Layout Inspector"><p>Running the layer…</p></div>
<script src="host.js"></script><script src="trace.js"></script><script src="webview.js"></script></body></html>`);
  writeFileSync(join(dir, 'theme.css'), `html{${THEME_VARS[themeKind] ?? THEME_VARS.dark}}`);
  return dir;
}

function serve(dir: string): Promise<{ url: string; close: () => void }> {
  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };
  const server = createServer((req, res) => {
    const p = join(dir, decodeURIComponent((req.url ?? '/').split('?')[0]!.replace(/^\/$/, '/index.html')));
    try {
      const body = readFileSync(p);
      res.writeHead(200, { 'content-type': types[extname(p)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    ok({ url: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/`, close: () => server.close() });
  }));
}

/** Pans and zooms a canvas with real mouse input for `ms`, counting animation frames and redraws in the page. */
async function interact(page: Page, selector: string, ms: number): Promise<{ fps: number; redraws: number; drawMean: number; drawP95: number }> {
  const box = (await page.locator(selector).first().boundingBox())!;
  // plain strings: tsx would wrap arrow functions in helpers that do not exist in the page
  await page.evaluate(`(() => {
    window.__frames = 0; window.__draws = []; window.__run = true;
    const loop = () => { if (!window.__run) return; window.__frames++; requestAnimationFrame(loop); };
    requestAnimationFrame(loop);
    if (!window.__listening) { window.__listening = true; document.addEventListener('moe-frame', (e) => window.__draws.push(e.detail)); }
  })()`);
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  const t0 = Date.now();
  await page.mouse.move(cx, cy);
  let i = 0;
  while (Date.now() - t0 < ms) {
    const phase = i % 40;
    if (phase < 10) await page.mouse.wheel(0, -120); // zoom in
    else if (phase < 20) {
      await page.mouse.down();
      await page.mouse.move(cx + 40 * Math.sin(i), cy + 30 * Math.cos(i), { steps: 4 });
      await page.mouse.up();
    } else if (phase < 30) await page.mouse.wheel(0, 120); // zoom out
    else await page.mouse.move(cx + 100 * Math.sin(i / 3), cy + 80 * Math.cos(i / 5), { steps: 3 });
    i++;
  }
  const elapsed = (Date.now() - t0) / 1000;
  const r = (await page.evaluate(`(() => { window.__run = false; return { frames: window.__frames, draws: window.__draws }; })()`)) as { frames: number; draws: number[] };
  const sorted = [...r.draws].sort((a, b) => a - b);
  return {
    fps: r.frames / elapsed,
    redraws: r.draws.length,
    drawMean: sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length),
    drawP95: sorted[Math.floor(sorted.length * 0.95)] ?? 0,
  };
}

async function main(): Promise<void> {
  const dir = await buildHarness();
  const { url, close } = await serve(dir);
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await page.goto(url);
    await page.waitForFunction(() => document.body.dataset.firstPictureMs !== undefined, null, { timeout: 20000 });
    const firstPicture = Number(await page.evaluate(() => document.body.dataset.firstPictureMs));
    console.log(`harness: ${dir} (${which} trace, ${themeKind} theme)`);
    const received = Number(await page.evaluate('document.body.dataset.traceReceivedMs'));
    const traceMB = readFileSync(join(dir, 'trace.js')).length / 1e6;
    console.log(`first picture: ${firstPicture.toFixed(0)} ms after navigation start (target < 2000 ms); trace (${traceMB.toFixed(1)} MB of JSON for CPU + CUDA traces) received at ${received.toFixed(0)} ms, drawn ${(firstPicture - received).toFixed(0)} ms later`);
    if (shotDir) await page.screenshot({ path: join(shotDir, `webview-first-${themeKind}.png`) });

    if (which === 'small') {
      // SVG mode (small tensors): hover a cell of the kernel layout and show the cross-highlight, no frame-rate run
      await page.selectOption('.scales-view select', 'a1q_scale_layout');
      await page.hover('.scales-view rect.logical-cell[data-r="3"][data-j="2"]');
      if (shotDir) await page.screenshot({ path: join(shotDir, `webview-small-${arch}-hover-${themeKind}.png`) });
    }
    for (const tensor of ['w13_weight_scale_inv', 'a1q_scale_layout']) {
      await page.selectOption('.scales-view select', tensor);
      if (which === 'small') {
        if (shotDir) await page.screenshot({ path: join(shotDir, `webview-small-${tensor}-${themeKind}.png`) });
        continue;
      }
      await page.waitForSelector('.scales-view canvas.cells');
      await page.waitForTimeout(300);
      for (const panel of ['logical', 'storage'] as const) {
        const r = await interact(page, `.scales-view .panel.${panel} canvas`, 3000);
        console.log(`${tensor} ${arch} ${panel}: ${r.fps.toFixed(1)} fps while panning/zooming (${r.redraws} redraws, draw mean ${r.drawMean.toFixed(1)} ms, p95 ${r.drawP95.toFixed(1)} ms)`);
      }
      if (shotDir) {
        await page.mouse.move(400, 500);
        await page.screenshot({ path: join(shotDir, `webview-scales-${tensor}-${arch}-${themeKind}.png`) });
      }
    }
    if (shotDir) {
      for (const [key, name] of [['2', 'permutation'], ['3', 'timing'], ['4', 'heatmap']] as const) {
        await page.locator('.stage-list').focus();
        await page.keyboard.press(key);
        await page.waitForTimeout(400);
        await page.screenshot({ path: join(shotDir, `webview-${name}-${themeKind}.png`) });
      }
    }
    if (errors.length) console.log(`page errors:\n  ${errors.join('\n  ')}`);
  } finally {
    await browser.close();
    close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

import { mkdtempSync, writeFileSync, readFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve, extname } from 'node:path';
import * as esbuild from 'esbuild';
import { chromium } from 'playwright-core';
import { smallTrace } from '../test/webview/fixtures';
const ROOT = resolve(__dirname, '..');
async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'repro-'));
  await esbuild.build({ entryPoints: [join(ROOT, 'webview/main.ts')], outfile: join(dir, 'webview.js'), bundle: true, platform: 'browser', format: 'iife', target: 'es2022', logLevel: 'warning' });
  mkdirSync(join(dir, 'media'));
  writeFileSync(join(dir, 'media/webview.css'), readFileSync(join(ROOT, 'media/webview.css')));
  writeFileSync(join(dir, 'trace.js'), `window.__T=${JSON.stringify(smallTrace('cpu'))};`);
  writeFileSync(join(dir, 'host.js'), `window.__posted=[];var nid=1;window.acquireVsCodeApi=function(){return {getState:function(){return undefined},setState:function(s){window.__state=s},postMessage:function(e){window.__posted.push(e.body.type); if(e.body.type==='ready') setTimeout(function(){window.postMessage({id:nid++,body:{type:'trace',version:2,trace:window.__T}},'*')},0);}}};`);
  writeFileSync(join(dir, 'index.html'), `<!DOCTYPE html><html><head><link rel="stylesheet" href="media/webview.css"></head><body class="vscode-dark"><div id="app"></div><script src="host.js"></script><script src="trace.js"></script><script src="webview.js"></script></body></html>`);
  const server = createServer((req, res) => { try { const p = join(dir, (req.url ?? '/').split('?')[0]!.replace(/^\/$/, '/index.html')); const body = readFileSync(p); res.writeHead(200, { 'content-type': extname(p) === '.html' ? 'text/html' : extname(p) === '.css' ? 'text/css' : 'text/javascript' }); res.end(body); } catch { res.writeHead(404).end(); } });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  const port = (server.address() as { port: number }).port;
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox'] });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on('console', (m) => console.log('console', m.text()));
  page.on('pageerror', (e) => console.log('pageerror', e.message));
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.waitForSelector('.stage-item');
  await page.evaluate(`(() => { window.__mut = 0; new MutationObserver((ms) => { for (const m of ms) for (const n of m.removedNodes) if (n.nodeType === 1 && (n.matches('.stepper-controls') || n.querySelector?.('.stepper-controls'))) window.__mut++; }).observe(document.body, { childList: true, subtree: true }); })()`);
  const next = page.getByRole('button', { name: 'Next stage (→)' });
  for (let i = 1; i < 8; i++) { await next.click({ timeout: 5000 }); console.log(i, await page.locator('.stepper-controls .counter').innerText(), await page.evaluate('window.__mut'), await page.evaluate('window.__posted.join(",")')); }
  await browser.close(); server.close();
}
main().catch((e) => { console.error(e); process.exit(1); });

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JSDOM } from 'jsdom';
import { contentSecurityPolicy, makeNonce, panelHtml } from '../../extension/panelHtml';

const input = { cspSource: 'https://file+.vscode-resource.vscode-cdn.net', scriptUri: 'https://x/dist/webview.js', styleUri: 'https://x/media/webview.css' };

test('CSP: nothing by default, styles and images from the extension, scripts by nonce only', () => {
  const csp = contentSecurityPolicy(input.cspSource, 'abc123');
  const parts = Object.fromEntries(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k, v]));
  assert.deepEqual(parts['default-src'], ["'none'"]);
  assert.deepEqual(parts['img-src'], [input.cspSource, 'data:']);
  assert.deepEqual(parts['style-src'], [input.cspSource]);
  assert.deepEqual(parts['script-src'], ["'nonce-abc123'"]);
  assert.ok(!csp.includes('unsafe'), 'no unsafe-inline / unsafe-eval');
});

test('the page: one script carrying the nonce, the stylesheet, the CSP meta', () => {
  const html = panelHtml({ ...input, nonce: 'N0nce' });
  const doc = new JSDOM(html).window.document;
  const meta = doc.querySelector('meta[http-equiv="Content-Security-Policy"]');
  assert.ok(meta);
  assert.match(meta.getAttribute('content')!, /script-src 'nonce-N0nce'/);
  const scripts = [...doc.querySelectorAll('script')];
  assert.equal(scripts.length, 1);
  assert.equal(scripts[0]!.getAttribute('nonce'), 'N0nce');
  assert.equal(scripts[0]!.getAttribute('src'), input.scriptUri);
  assert.equal(doc.querySelector('link[rel=stylesheet]')!.getAttribute('href'), input.styleUri);
  assert.ok(doc.getElementById('app'));
  assert.equal(doc.querySelectorAll('[style]').length, 0, 'inline styles would be blocked by the CSP');
});

test('nonces are fresh and URI text is escaped', () => {
  const a = makeNonce();
  assert.match(a, /^[A-Za-z0-9]{16,}$/);
  assert.notEqual(a, makeNonce());
  const html = panelHtml({ ...input, scriptUri: 'https://x/a"><script>alert(1)</script>', nonce: 'n' });
  assert.equal(new JSDOM(html).window.document.querySelectorAll('script').length, 1);
});

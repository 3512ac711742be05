/**
 * The webview's HTML shell with a strict Content-Security-Policy: nothing loads unless it comes from the
 * extension's own dist/ and media/ folders (webview.cspSource) or is the one script carrying this page's nonce.
 * No 'vscode' import: the URIs and cspSource are passed in, so the CSP is unit tested as a string.
 */
import { randomBytes } from 'node:crypto';

export interface PanelHtmlInput {
  /** webview.cspSource */
  cspSource: string;
  /** webview URI of dist/webview.js */
  scriptUri: string;
  /** webview URI of media/webview.css */
  styleUri: string;
  /** fresh per page; a nonce that is reused is no nonce */
  nonce?: string;
  title?: string;
}

export function makeNonce(): string {
  return randomBytes(18).toString('base64').replace(/[^A-Za-z0-9]/g, '').padEnd(16, '0');
}

export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    `default-src 'none'`,
    `img-src ${cspSource} data:`,
    `style-src ${cspSource}`,
    `font-src ${cspSource}`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
}

const escapeAttr = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function panelHtml(input: PanelHtmlInput): string {
  const nonce = input.nonce ?? makeNonce();
  const title = escapeAttr(input.title ?? 'MoE Layout Inspector');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeAttr(contentSecurityPolicy(input.cspSource, nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${escapeAttr(input.styleUri)}">
<title>${title}</title>
</head>
<body>
<div id="app" role="application" aria-label="${title}"><p class="moe-loading">Running the layer…</p></div>
<script nonce="${nonce}" src="${escapeAttr(input.scriptUri)}"></script>
</body>
</html>`;
}

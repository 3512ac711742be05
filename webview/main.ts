/**
 * The webview's entry point (bundled to dist/webview.js as an IIFE): starts the app shell (app/app.ts) with the
 * VS Code API. Node-only modules (export/headless.ts) are never imported here.
 */
import { startApp } from './app/app';
import type { VsCodeApi } from './app/state';

declare function acquireVsCodeApi(): VsCodeApi;

startApp(acquireVsCodeApi(), document);

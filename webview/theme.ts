/**
 * Colours for the views. Inside VS Code they come from the theme's CSS variables (read once per render, so a
 * theme switch only needs a re-render); outside (export, tests) one of the fixed themes below is used. Views always
 * receive concrete colour strings: canvas cannot use CSS variables and an exported SVG must stand alone.
 */
export interface Theme {
  kind: 'dark' | 'light' | 'high-contrast';
  foreground: string;
  background: string;
  /** secondary text (axis labels, addresses) */
  muted: string;
  border: string;
  /** focus ring / hover highlight */
  focus: string;
  /** pattern ink for padding slots */
  hatch: string;
  fontFamily: string;
  monoFamily: string;
  charts: { red: string; blue: string; yellow: string; orange: string; green: string; purple: string; foreground: string; lines: string };
}

export const THEMES: Readonly<Record<Theme['kind'], Theme>> = {
  dark: {
    kind: 'dark',
    foreground: '#cccccc',
    background: '#1f1f1f',
    muted: '#9d9d9d',
    border: '#454545',
    focus: '#0078d4',
    hatch: '#8a8a8a',
    fontFamily: 'DejaVu Sans, Segoe UI, Helvetica, Arial, sans-serif',
    monoFamily: 'DejaVu Sans Mono, Consolas, Menlo, monospace',
    charts: { red: '#f14c4c', blue: '#3794ff', yellow: '#cca700', orange: '#d18616', green: '#89d185', purple: '#b180d7', foreground: '#cccccc', lines: '#cccccc80' },
  },
  light: {
    kind: 'light',
    foreground: '#3b3b3b',
    background: '#ffffff',
    muted: '#6f6f6f',
    border: '#d0d0d0',
    focus: '#005fb8',
    hatch: '#808080',
    fontFamily: 'DejaVu Sans, Segoe UI, Helvetica, Arial, sans-serif',
    monoFamily: 'DejaVu Sans Mono, Consolas, Menlo, monospace',
    charts: { red: '#e51400', blue: '#1a85ff', yellow: '#bf8803', orange: '#d18616', green: '#388a34', purple: '#652d90', foreground: '#616161', lines: '#61616180' },
  },
  'high-contrast': {
    kind: 'high-contrast',
    foreground: '#ffffff',
    background: '#000000',
    muted: '#ffffff',
    border: '#6fc3df',
    focus: '#f38518',
    hatch: '#ffffff',
    fontFamily: 'DejaVu Sans, Segoe UI, Helvetica, Arial, sans-serif',
    monoFamily: 'DejaVu Sans Mono, Consolas, Menlo, monospace',
    charts: { red: '#f48771', blue: '#75beff', yellow: '#ffd700', orange: '#ffa500', green: '#89d185', purple: '#b180d7', foreground: '#ffffff', lines: '#ffffff' },
  },
};

/** The VS Code variables each theme field is read from (first non-empty wins). */
const VARS: Record<Exclude<keyof Theme, 'kind' | 'charts'>, string[]> = {
  foreground: ['--vscode-foreground', '--vscode-editor-foreground'],
  background: ['--vscode-editor-background', '--vscode-panel-background'],
  muted: ['--vscode-descriptionForeground'],
  border: ['--vscode-panel-border', '--vscode-widget-border', '--vscode-contrastBorder'],
  focus: ['--vscode-focusBorder'],
  hatch: ['--vscode-descriptionForeground', '--vscode-foreground'],
  fontFamily: ['--vscode-font-family'],
  monoFamily: ['--vscode-editor-font-family'],
};
const CHART_VARS: Record<keyof Theme['charts'], string> = {
  red: '--vscode-charts-red',
  blue: '--vscode-charts-blue',
  yellow: '--vscode-charts-yellow',
  orange: '--vscode-charts-orange',
  green: '--vscode-charts-green',
  purple: '--vscode-charts-purple',
  foreground: '--vscode-charts-foreground',
  lines: '--vscode-charts-lines',
};

/**
 * Builds a Theme from a variable reader (e.g. getComputedStyle(document.documentElement).getPropertyValue).
 * VS Code marks the theme kind with a body class; missing variables fall back to that kind's fixed theme.
 */
export function themeFromVariables(read: (name: string) => string, kind: Theme['kind']): Theme {
  const base = THEMES[kind];
  const pick = (names: string[], fallback: string): string => {
    for (const n of names) {
      const v = read(n).trim();
      if (v) return v;
    }
    return fallback;
  };
  const charts = { ...base.charts };
  for (const k of Object.keys(CHART_VARS) as (keyof Theme['charts'])[]) charts[k] = pick([CHART_VARS[k]], base.charts[k]);
  const t: Theme = { ...base, charts };
  for (const k of Object.keys(VARS) as (keyof typeof VARS)[]) t[k] = pick(VARS[k], base[k]);
  return t;
}

/** Theme of a live document: VS Code puts the variables on <html> and the kind as a class on <body>. */
export function themeFromDocument(doc: Document): Theme {
  const cls = doc.body?.classList;
  const kind: Theme['kind'] = cls?.contains('vscode-high-contrast') || cls?.contains('vscode-high-contrast-light')
    ? 'high-contrast'
    : cls?.contains('vscode-light')
      ? 'light'
      : 'dark';
  const view = doc.defaultView;
  const rootStyle = view ? view.getComputedStyle(doc.documentElement) : undefined;
  const bodyStyle = view && doc.body ? view.getComputedStyle(doc.body) : undefined;
  return themeFromVariables((n) => rootStyle?.getPropertyValue(n) || bodyStyle?.getPropertyValue(n) || '', kind);
}

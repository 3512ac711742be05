/**
 * A minimal stand-in for the 'vscode' module: just what extension/hover/index.ts touches, with the state a test
 * sets (configuration, open notebooks, extensions, the debug session) in `stub`. loaders.ts makes
 * `require('vscode')` resolve to this file.
 */
export interface Disposable {
  dispose(): void;
}

export const stub = {
  config: new Map<string, unknown>(),
  notebookDocuments: [] as { uri: { toString(): string }; getCells(): { document: unknown }[] }[],
  extensions: new Map<string, { isActive: boolean; exports: unknown }>(),
  activeDebugSession: undefined as { id: string; type: string; customRequest(c: string, a?: unknown): Thenable<unknown> } | undefined,
  activeStackItem: undefined as unknown,
  hoverProviders: [] as { selector: unknown; provider: { provideHover(doc: unknown, pos: unknown, token: unknown): Promise<unknown> } }[],
  commands: new Map<string, (...args: unknown[]) => unknown>(),
  messages: [] as string[],
  logs: [] as string[],
  reset(): void {
    this.config.clear();
    this.notebookDocuments = [];
    this.extensions.clear();
    this.activeDebugSession = undefined;
    this.activeStackItem = undefined;
    this.hoverProviders = [];
    this.commands.clear();
    this.messages = [];
    this.logs = [];
  },
};

export class MarkdownString {
  isTrusted?: boolean | { enabledCommands: string[] };
  supportHtml?: boolean;
  constructor(
    public value = '',
    public supportThemeIcons = false,
  ) {}
}

export class Range {
  constructor(
    readonly startLine: number,
    readonly startCharacter: number,
    readonly endLine: number,
    readonly endCharacter: number,
  ) {}
}

export class Hover {
  constructor(
    readonly contents: MarkdownString,
    readonly range?: Range,
  ) {}
}

export class DebugThread {
  constructor(
    readonly session: unknown,
    readonly threadId: number,
  ) {}
}

export class DebugStackFrame {
  constructor(
    readonly session: unknown,
    readonly threadId: number,
    readonly frameId: number,
  ) {}
}

const disposable = (fn: () => void = () => undefined): Disposable => ({ dispose: fn });

export const workspace = {
  getConfiguration: (section: string) => ({
    get: <T>(key: string, fallback: T): T => (stub.config.has(`${section}.${key}`) ? (stub.config.get(`${section}.${key}`) as T) : fallback),
  }),
  get notebookDocuments() {
    return stub.notebookDocuments;
  },
};

export const extensions = {
  getExtension: (id: string) => stub.extensions.get(id),
};

export const debug = {
  get activeDebugSession() {
    return stub.activeDebugSession;
  },
  get activeStackItem() {
    return stub.activeStackItem;
  },
};

export const languages = {
  registerHoverProvider(selector: unknown, provider: (typeof stub.hoverProviders)[number]['provider']): Disposable {
    stub.hoverProviders.push({ selector, provider });
    return disposable();
  },
};

export const commands = {
  registerCommand(id: string, fn: (...args: unknown[]) => unknown): Disposable {
    stub.commands.set(id, fn);
    return disposable(() => stub.commands.delete(id));
  },
};

export const window = {
  createOutputChannel: (_name: string, _opts?: unknown) => ({
    debug: (m: string) => stub.logs.push(m),
    dispose: () => undefined,
  }),
  showInformationMessage: async (m: string) => {
    stub.messages.push(m);
    return undefined;
  },
};

/**
 * How drivers talk back to the program that drives them (Chef Provisioning's ActionHandler).
 *
 * Rules kept from Chef: every substantive change goes through `performAction(description, fn)`;
 * in why-run `fn` is NOT run, the handler reports "would <description>" and the call resolves to
 * `undefined` (callers must handle that). Changes from Chef: progress reports never count as
 * updates (Chef's `converge_by` marked them so, CP TODO / CPA#15), and `updated` is an explicit flag.
 */

export type Description = string | readonly string[];

/** Where streamed command output goes. */
export interface OutputStream {
  write(chunk: string): void;
}

export interface ActionHandler {
  /** False in why-run: `performAction` reports what it would do and runs nothing. */
  readonly shouldPerformActions: boolean;
  /** True once any action was actually performed through this handler. */
  readonly isUpdated: boolean;
  performAction<T>(description: Description, fn: () => Promise<T> | T): Promise<T | undefined>;
  /** Reports a change made (or, in why-run, one that would be made). */
  performedAction(description: Description): void;
  /** Reports progress (long waits, "nothing to do"); never marks the handler updated. */
  reportProgress(description: Description): void;
  updated(): void;
  /** A stream for live command output of one machine or step. */
  openStream(name: string): OutputStream;
}

function lines(description: Description): string[] {
  return typeof description === 'string' ? [description] : [...description];
}

/** Shared behaviour: subclasses decide where the words go. */
export abstract class BaseActionHandler implements ActionHandler {
  readonly shouldPerformActions: boolean;
  #updated = false;

  constructor(options: { whyRun?: boolean } = {}) {
    this.shouldPerformActions = !options.whyRun;
  }

  get isUpdated(): boolean {
    return this.#updated;
  }

  async performAction<T>(description: Description, fn: () => Promise<T> | T): Promise<T | undefined> {
    if (!this.shouldPerformActions) {
      this.emit('would', lines(description).map((l) => `would ${l}`));
      return undefined;
    }
    const result = await fn();
    this.updated();
    this.performedAction(description);
    return result;
  }

  performedAction(description: Description): void {
    this.emit('action', lines(description));
  }

  reportProgress(description: Description): void {
    this.emit('progress', lines(description));
  }

  updated(): void {
    this.#updated = true;
  }

  abstract openStream(name: string): OutputStream;
  protected abstract emit(kind: ReportKind, text: string[]): void;
}

export type ReportKind = 'action' | 'would' | 'progress';

/**
 * Prints to a line sink (the CLI passes its stdout). Actions are prefixed "- ", planned ones "~ ",
 * progress "  "; long waits show up as repeated progress lines ("web1: waiting for SSH 42 s / 600 s").
 */
export class ConsoleActionHandler extends BaseActionHandler {
  readonly #write: (line: string) => void;

  constructor(write: (line: string) => void, options: { whyRun?: boolean } = {}) {
    super(options);
    this.#write = write;
  }

  protected emit(kind: ReportKind, text: string[]): void {
    const mark = kind === 'action' ? '- ' : kind === 'would' ? '~ ' : '  ';
    for (const line of text) this.#write(mark + line);
  }

  openStream(name: string): OutputStream {
    let pending = '';
    return {
      write: (chunk: string) => {
        pending += chunk;
        const parts = pending.split('\n');
        pending = parts.pop() ?? '';
        for (const part of parts) this.#write(`  ${name}| ${part}`);
      },
    };
  }
}

export interface RecordedReport {
  kind: ReportKind;
  text: string;
}

/** Prints nothing and remembers everything: for tests and for programs that render their own output. */
export class RecordingActionHandler extends BaseActionHandler {
  readonly reports: RecordedReport[] = [];
  readonly streams: Record<string, string> = {};

  protected emit(kind: ReportKind, text: string[]): void {
    for (const line of text) this.reports.push({ kind, text: line });
  }

  openStream(name: string): OutputStream {
    return {
      write: (chunk: string) => {
        this.streams[name] = (this.streams[name] ?? '') + chunk;
      },
    };
  }

  texts(kind?: ReportKind): string[] {
    return this.reports.filter((r) => kind === undefined || r.kind === kind).map((r) => r.text);
  }
}

/**
 * Prefixes every description with e.g. "web1: " and delegates (Chef's AddPrefixActionHandler).
 * `locallyUpdated` tells a batch which of its machines changed.
 */
export class PrefixActionHandler implements ActionHandler {
  readonly #inner: ActionHandler;
  readonly prefix: string;
  #locallyUpdated = false;

  constructor(inner: ActionHandler, prefix: string) {
    this.#inner = inner;
    this.prefix = prefix;
  }

  get shouldPerformActions(): boolean {
    return this.#inner.shouldPerformActions;
  }

  get isUpdated(): boolean {
    return this.#inner.isUpdated;
  }

  get locallyUpdated(): boolean {
    return this.#locallyUpdated;
  }

  #prefixed(description: Description): string[] {
    return lines(description).map((l) => this.prefix + l);
  }

  async performAction<T>(description: Description, fn: () => Promise<T> | T): Promise<T | undefined> {
    return this.#inner.performAction(this.#prefixed(description), async () => {
      const result = await fn();
      this.#locallyUpdated = true;
      return result;
    });
  }

  performedAction(description: Description): void {
    this.#inner.performedAction(this.#prefixed(description));
  }

  reportProgress(description: Description): void {
    this.#inner.reportProgress(this.#prefixed(description));
  }

  updated(): void {
    this.#locallyUpdated = true;
    this.#inner.updated();
  }

  openStream(name: string): OutputStream {
    return this.#inner.openStream(name);
  }
}

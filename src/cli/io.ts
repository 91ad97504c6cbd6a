import { BootrackError, isBootrackError } from '../common/errors.js';

/** What a command needs from the outside world; tests pass their own. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
}

export const processIo: CliIo = {
  out: (text) => process.stdout.write(text.endsWith('\n') ? text : text + '\n'),
  err: (text) => process.stderr.write(text.endsWith('\n') ? text : text + '\n'),
  env: process.env,
};

/** A command returns its exit code. */
export type Command = (argv: string[], io: CliIo) => Promise<number>;

/** Prints an error the way every command does: code first, so scripts can match it. */
export function reportError(err: unknown, io: CliIo, json = false): number {
  const e = isBootrackError(err) ? err : new BootrackError('INTERNAL', (err as Error)?.message ?? String(err));
  if (json) io.err(JSON.stringify({ error: e.toJSON() }));
  else {
    io.err(`error ${e.code}: ${e.message}`);
    const issues = e.details.issues;
    if (Array.isArray(issues)) for (const issue of issues as Array<{ path: string; message: string }>) io.err(`  ${issue.path}: ${issue.message}`);
  }
  return e.code === 'INTERNAL' ? 70 : 1;
}

/** Renders rows as a plain aligned table for humans. */
export function table(rows: Array<Record<string, unknown>>, columns: string[]): string {
  const cells = rows.map((row) => columns.map((c) => formatCell(row[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]): string => values.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...cells.map(line)].join('\n');
}

function formatCell(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (Array.isArray(value)) return value.join(',') || '-';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/**
 * The narrow logging port every module takes. pino satisfies it; tests pass a recording logger.
 * Fields go in the first argument so logs stay machine-readable.
 */
export interface Logger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
  child(bindings: object): Logger;
}

export interface LogRecord {
  level: 'debug' | 'info' | 'warn' | 'error';
  fields: object;
  message: string;
}

/** A logger that keeps records in memory, for tests and for commands that print their own output. */
export function memoryLogger(records: LogRecord[] = [], bindings: object = {}): Logger & { records: LogRecord[] } {
  const at =
    (level: LogRecord['level']) =>
    (fields: object, message: string): void => {
      records.push({ level, fields: { ...bindings, ...fields }, message });
    };
  return {
    records,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more: object) => memoryLogger(records, { ...bindings, ...more }),
  };
}

export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
};

/** Injected clock so tests can control time. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

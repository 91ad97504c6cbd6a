import type { NextFunction, Request, Response } from 'express';
import type { z } from 'zod';
import { BootrackError, isBootrackError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';

export interface Issue {
  path: string;
  message: string;
}

/**
 * A zod failure as one BootrackError: INVALID_MAC when a MAC field is malformed (the code operators
 * and the pxe: driver match on), VALIDATION_FAILED otherwise. Unknown fields are named by their full
 * path (`constraints.colour`), so a typo is obvious from the answer alone.
 */
export function fromZodError(error: z.ZodError, where: 'body' | 'query'): BootrackError {
  const issues: Issue[] = [];
  let badMac: Issue | null = null;
  for (const issue of error.issues) {
    const base = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) issues.push({ path: [...base, key].join('.'), message: 'unknown field' });
      continue;
    }
    const entry = { path: base.length ? base.join('.') : '(root)', message: issue.message };
    issues.push(entry);
    if (issue.code === 'custom' && (issue.params as { code?: unknown } | undefined)?.code === 'INVALID_MAC') badMac ??= entry;
  }
  if (badMac) return new BootrackError('INVALID_MAC', `invalid MAC address at ${where}.${badMac.path}`, { in: where, issues });
  const summary = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
  return new BootrackError('VALIDATION_FAILED', `invalid ${where}: ${summary}`, { in: where, issues });
}

interface BodyParserError {
  type?: string;
  status?: number;
  limit?: number;
}

/** Maps whatever a handler threw to {code, message, details}; stacks go to the log, never to the client. */
export function toBootrackError(err: unknown): BootrackError {
  if (isBootrackError(err)) return err;
  const parser = err as BodyParserError;
  if (parser && typeof parser === 'object') {
    if (parser.type === 'entity.too.large') return new BootrackError('BODY_TOO_LARGE', `the request body exceeds ${parser.limit ?? 'the limit'} bytes`, { limit: parser.limit ?? null });
    if (parser.type === 'entity.parse.failed') return new BootrackError('VALIDATION_FAILED', 'the request body is not valid JSON', { in: 'body', issues: [{ path: '(root)', message: 'malformed JSON' }] });
    if (parser.type === 'encoding.unsupported' || parser.type === 'charset.unsupported') return new BootrackError('VALIDATION_FAILED', 'unsupported request body encoding', { in: 'body' });
    if (parser.type === 'request.aborted') return new BootrackError('VALIDATION_FAILED', 'the request body was cut short', { in: 'body' });
  }
  return new BootrackError('INTERNAL', 'internal error');
}

export function errorMiddleware(logger: Logger) {
  return (err: unknown, req: Request, res: Response, next: NextFunction): void => {
    const e = toBootrackError(err);
    if (e.code === 'INTERNAL') logger.error({ err, method: req.method, path: req.path }, 'request failed');
    else logger.debug({ code: e.code, method: req.method, path: req.path }, 'request refused');
    if (res.headersSent) return next(err);
    res.status(e.httpStatus).json(e.toJSON());
  };
}

export function notFound(req: Request): never {
  throw new BootrackError('ROUTE_NOT_FOUND', `no route ${req.method} ${req.path}`, { method: req.method, path: req.path });
}

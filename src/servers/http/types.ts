import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * The one handler shape of the boot HTTP side: Connect/Express compatible, framework free, so policy
 * (netboot/) and the API's agent router plug in without servers/ importing either. A handler either
 * answers, or calls `next()` to pass, or `next(err)` to have the error rendered from the catalog.
 */
export type HttpHandler = {
  // Method syntax makes the parameters bivariant, so an Express Router (typed for Express's request
  // and response subclasses, which is what the service hands it at run time) is an HttpHandler too.
  handle(req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): void;
}['handle'];

export interface HttpRoute {
  /** Label for metrics and logs; bounded (never the raw path). */
  name: string;
  /** URL prefix the handler is mounted under; the handler sees req.url relative to it. */
  prefix: string;
  handler: HttpHandler;
}

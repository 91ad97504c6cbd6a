import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * TEST DOUBLE of the appliance's agent endpoints (POST /api/v1/agent/facts and /status). The real
 * API is written concurrently by another engineer; this double only records what the discovery
 * agent sends and checks its bearer token, so the agent's side of the contract can be tested against
 * a real VM. Listens on 127.0.0.1 only.
 */
export interface AgentPost {
  at: number;
  path: string;
  authorization: string | undefined;
  contentType: string | undefined;
  body: unknown;
  raw: string;
}

export interface AgentReceiver {
  port: number;
  posts: AgentPost[];
  /** Paths of the served GETs, in order. */
  gets: string[];
  rejected: Array<{ path: string; reason: string }>;
  /** Resolves with the first post matching `pred`, or rejects after `timeoutMs`. */
  waitFor(pred: (p: AgentPost) => boolean, timeoutMs: number, describe: string): Promise<AgentPost>;
  close(): Promise<void>;
}

/** `files`: extra GET paths the double serves (bearer-checked), e.g. an authorized_keys URL. */
export async function startAgentReceiver(token: string, files: Record<string, string> = {}): Promise<AgentReceiver> {
  const posts: AgentPost[] = [];
  const rejected: Array<{ path: string; reason: string }> = [];
  const gets: string[] = [];
  const waiters = new Set<() => void>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= 1024 * 1024) chunks.push(c);
    });
    req.on('end', () => {
      const path = req.url ?? '';
      const reply = (status: number, body: object): void => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      };
      if (req.method === 'GET' && files[path] !== undefined) {
        if (req.headers.authorization !== `Bearer ${token}`) {
          rejected.push({ path, reason: `bad authorization ${String(req.headers.authorization)}` });
          return reply(401, { code: 'UNAUTHENTICATED', message: 'a valid bearer token is required', details: {} });
        }
        gets.push(path);
        res.writeHead(200, { 'content-type': 'text/plain' }).end(files[path]);
        return;
      }
      if (req.method !== 'POST' || !['/api/v1/agent/facts', '/api/v1/agent/status'].includes(path)) {
        rejected.push({ path, reason: `${req.method} not routed` });
        return reply(404, { code: 'ROUTE_NOT_FOUND', message: 'no such route', details: {} });
      }
      if (req.headers.authorization !== `Bearer ${token}`) {
        rejected.push({ path, reason: `bad authorization ${String(req.headers.authorization)}` });
        return reply(401, { code: 'UNAUTHENTICATED', message: 'a valid bearer token is required', details: {} });
      }
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = JSON.parse(raw);
      } catch (err) {
        rejected.push({ path, reason: `invalid JSON: ${(err as Error).message}: ${raw.slice(0, 300)}` });
        return reply(400, { code: 'VALIDATION_FAILED', message: 'body is not JSON', details: {} });
      }
      posts.push({ at: Date.now(), path, authorization: req.headers.authorization, contentType: req.headers['content-type'], body, raw });
      for (const w of [...waiters]) w();
      reply(200, { ok: true });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    posts,
    gets,
    rejected,
    waitFor(pred, timeoutMs, describe) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const hit = posts.find(pred);
          if (!hit) return false;
          clearTimeout(timer);
          waiters.delete(onPost);
          resolve(hit);
          return true;
        };
        const onPost = (): void => void check();
        const timer = setTimeout(() => {
          waiters.delete(onPost);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${describe}; got ${posts.map((p) => p.path).join(', ') || 'no posts'}; rejected ${JSON.stringify(rejected)}`));
        }, timeoutMs);
        waiters.add(onPost);
        check();
      });
    },
    close() {
      return new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}

/**
 * TEST DOUBLE of the appliance REST API: the few /api/v1 routes the pxe: driver uses, in-process
 * on 127.0.0.1, coded against the brief's contract (the real API is being written in parallel).
 * It simulates a boot after `power cycle|on` while deploying: timeline events, then (boot mode
 * "ssh-ready") the agent's ssh_ready with a host key and an IP — pointing at the test's real sshd.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';

export interface DoubleMachine {
  id: string;
  name: string;
  state: string;
  arch: string;
  tags: string[];
  owner: string | null;
  allocationKey: string | null;
  allocatedAt: string | null;
  sshHostKey: string | null;
  interfaces: Array<{ mac: string; name: string | null; boot: boolean }>;
  ipAddresses: string[];
  power: 'on' | 'off';
  bootDevice: string | null;
  deployedKeys: string[];
}

export interface DoubleEvent {
  id: number;
  at: string;
  machineId: string;
  kind: string;
  type: string;
  data: Record<string, unknown>;
}

export interface PxeApiDouble {
  url: string;
  machines: Map<string, DoubleMachine>;
  events: DoubleEvent[];
  /** "METHOD /path" of every request, in order. */
  requests: string[];
  /** What a boot does: report SSH ready (host key + IP), or stay silent forever. */
  boot: 'ssh-ready' | 'silent';
  addMachine(id: string, mac: string, extra?: Partial<DoubleMachine>): DoubleMachine;
  close(): Promise<void>;
}

const OWNER = 'driver:test';

export async function startPxeApiDouble(options: { token: string; sshHostKey: string; ipAddress: string; bootDelayMs?: number; tls?: { key: string; cert: string } }): Promise<PxeApiDouble> {
  const machines = new Map<string, DoubleMachine>();
  const events: DoubleEvent[] = [];
  const requests: string[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let nextEvent = 1;
  const event = (m: DoubleMachine, kind: string, type: string, data: Record<string, unknown> = {}): void => {
    events.push({ id: nextEvent++, at: new Date().toISOString(), machineId: m.id, kind, type, data });
  };
  const view = (m: DoubleMachine): Omit<DoubleMachine, 'deployedKeys' | 'power' | 'bootDevice'> => {
    const { deployedKeys: _k, power: _p, bootDevice: _b, ...rest } = m;
    return rest;
  };
  const double: PxeApiDouble = {
    url: '',
    machines,
    events,
    requests,
    boot: 'ssh-ready',
    addMachine(id, mac, extra = {}) {
      const m: DoubleMachine = { id, name: id, state: 'ready', arch: 'x86_64', tags: [], owner: null, allocationKey: null, allocatedAt: null, sshHostKey: null, interfaces: [{ mac, name: 'eth0', boot: true }], ipAddresses: [], power: 'off', bootDevice: null, deployedKeys: [], ...extra };
      machines.set(id, m);
      return m;
    },
    close: async () => {
      for (const t of timers) clearTimeout(t);
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const simulateBoot = (m: DoubleMachine): void => {
    const t = setTimeout(() => {
      timers.delete(t);
      if ((m.state !== 'deploying' && m.state !== 'deployed') || m.power !== 'on') return;
      event(m, 'dhcp', 'DHCPACK', { ip: options.ipAddress });
      event(m, 'http', 'ipxe-script');
      event(m, 'agent', 'booted', { status: 'booted' });
      if (double.boot !== 'ssh-ready') return;
      m.sshHostKey = options.sshHostKey;
      m.ipAddresses = [options.ipAddress];
      m.state = 'deployed';
      event(m, 'agent', 'ssh_ready', { status: 'ssh_ready' });
    }, options.bootDelayMs ?? 30);
    timers.add(t);
  };

  const handle = (method: string, path: string, body: Record<string, unknown>, query: Record<string, string>): [number, unknown] => {
    const notFound: [number, unknown] = [404, { code: 'MACHINE_NOT_FOUND', message: `no machine ${path}`, details: {} }];
    let m: RegExpExecArray | null;
    if (method === 'POST' && path === '/api/v1/allocations') {
      const key = typeof body.requestKey === 'string' ? body.requestKey : null;
      const held = [...machines.values()].find((x) => x.owner === OWNER && key !== null && x.allocationKey === key);
      if (held) return [200, { machine: view(held), created: false }];
      const c = (body.constraints ?? {}) as { arch?: string; tags?: string[] };
      const pick = [...machines.values()].find((x) => x.state === 'ready' && (!c.arch || c.arch === x.arch) && (c.tags ?? []).every((t) => x.tags.includes(t)));
      if (!pick) return [409, { code: 'NO_MATCHING_MACHINE', message: 'no ready machine matches', details: { constraints: c } }];
      Object.assign(pick, { state: 'allocated', owner: OWNER, allocationKey: key, allocatedAt: new Date().toISOString() });
      event(pick, 'state', 'allocated');
      return [201, { machine: view(pick), created: true }];
    }
    if ((m = /^\/api\/v1\/allocations\/([^/]+)$/.exec(path)) && method === 'DELETE') {
      const x = machines.get(decodeURIComponent(m[1]!));
      if (!x) return notFound;
      Object.assign(x, { state: 'ready', owner: null, allocationKey: null, allocatedAt: null, sshHostKey: null, ipAddresses: [] });
      event(x, 'state', 'released');
      return [200, view(x)];
    }
    if (!(m = /^\/api\/v1\/machines\/([^/]+)(\/[a-z-]+)?$/.exec(path))) return [404, { code: 'ROUTE_NOT_FOUND', message: path, details: {} }];
    const x = machines.get(decodeURIComponent(m[1]!));
    if (!x) return notFound;
    const sub = m[2] ?? '';
    if (method === 'GET' && sub === '') return [200, view(x)];
    if (method === 'GET' && sub === '/events') {
      let mine = events.filter((e) => e.machineId === x.id && (query.since === undefined || e.id > Number(query.since)));
      if (query.limit !== undefined) mine = mine.slice(-Number(query.limit));
      return [200, { items: mine }];
    }
    if (method === 'GET' && sub === '/timeline') {
      // The real shape (src/api/schemas.ts timelineBody), reduced: one boot per power-on, verdict = furthest step.
      const mine = events.filter((e) => e.machineId === x.id);
      const starts = mine.map((e, i) => (e.kind === 'power' && e.type !== 'off' ? i : -1)).filter((i) => i >= 0);
      const boots = starts.map((from, n) => {
        const steps = mine.slice(from, starts[n + 1] ?? mine.length);
        const reached = steps.at(-1)!.type;
        return { startedAt: steps[0]!.at, endedAt: steps.at(-1)!.at, reached, stalledAt: reached === 'ssh_ready' ? null : 'next', verdict: reached === 'ssh_ready' ? 'complete: agent reported ssh_ready' : `reached ${reached}`, inProgress: true, steps };
      });
      return [200, { machine: { id: x.id, name: x.name, macs: x.interfaces.map((i) => i.mac) }, boots, before: [] }];
    }
    if (method === 'POST' && sub === '/deploy') {
      if (!['allocated', 'deployed', 'failed_deployment'].includes(x.state)) return [409, { code: 'ILLEGAL_TRANSITION', message: `cannot deploy from ${x.state}`, details: {} }];
      x.deployedKeys = body.sshPublicKeys as string[];
      Object.assign(x, { state: 'deploying', sshHostKey: null });
      event(x, 'state', 'deploying');
      return [200, view(x)];
    }
    if (method === 'PUT' && sub === '/boot-device') {
      x.bootDevice = String(body.device);
      return [200, {}];
    }
    if (method === 'GET' && sub === '/power') return [200, { state: x.power }];
    if (method === 'POST' && sub === '/power') {
      const action = String(body.action);
      x.power = action === 'off' || action === 'soft_off' ? 'off' : 'on';
      event(x, 'power', action);
      if (x.power === 'on') simulateBoot(x);
      return [200, { state: x.power }];
    }
    return [404, { code: 'ROUTE_NOT_FOUND', message: `${method} ${path}`, details: {} }];
  };

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const parsedUrl = new URL(req.url ?? '/', 'http://x');
      const path = parsedUrl.pathname;
      const query = Object.fromEntries(parsedUrl.searchParams);
      requests.push(`${req.method} ${path}`);
      let status: number;
      let payload: unknown;
      if (req.headers.authorization !== `Bearer ${options.token}`) [status, payload] = [401, { code: 'UNAUTHENTICATED', message: 'a valid bearer token is required', details: {} }];
      else {
        let body: Record<string, unknown> | undefined;
        try {
          body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>) : {};
        } catch {
          body = undefined;
        }
        [status, payload] = body === undefined ? [400, { code: 'VALIDATION_FAILED', message: 'bad JSON', details: {} }] : handle(req.method ?? 'GET', path, body, query);
      }
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(payload));
    });
  };
  const server = options.tls ? createHttpsServer(options.tls, listener) : createServer(listener);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  double.url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as { port: number }).port}`;
  return double;
}

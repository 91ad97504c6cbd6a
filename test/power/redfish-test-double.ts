import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * TEST DOUBLE — a small Redfish service. No Redfish emulator can be installed here (sushy-tools and
 * the DMTF Redfish-Mockup-Server are pip-only and PyPI is unreachable; lab README "Redfish"), so
 * this serves the resource shapes of the DMTF public mockup "public-rack" (DSP2043): the service
 * root, the Systems collection with member 437XR1138R2, ComputerSystem.Reset with
 * ResetType@Redfish.AllowableValues, Boot.BootSourceOverride*, and SessionService sessions with
 * X-Auth-Token + Location. It keeps power state in memory and records every request, so tests can
 * check logouts, auth and what was asked.
 */
export interface RedfishDoubleOptions {
  cert: string;
  key: string;
  username: string;
  password: string;
  /** Answer this many requests with 503 first (a busy BMC). */
  busyFirst?: number;
  /** Allowable ResetType values (DMTF mockup default list without PowerCycle when omitted). */
  resetTypes?: string[];
}

export interface RedfishDouble {
  port: number;
  system: { PowerState: 'On' | 'Off'; Boot: { BootSourceOverrideTarget: string; BootSourceOverrideEnabled: string } };
  resets: string[];
  requests: Array<{ method: string; path: string; auth: 'session' | 'basic' | 'none' }>;
  openSessions(): number;
  sessionsCreated(): number;
  close(): Promise<void>;
}

const SYSTEM = '/redfish/v1/Systems/437XR1138R2';

export async function startRedfishDouble(opts: RedfishDoubleOptions): Promise<RedfishDouble> {
  const sessions = new Map<string, string>();
  let created = 0;
  let busy = opts.busyFirst ?? 0;
  const state: RedfishDouble = {
    port: 0,
    system: { PowerState: 'Off', Boot: { BootSourceOverrideTarget: 'None', BootSourceOverrideEnabled: 'Disabled' } },
    resets: [],
    requests: [],
    openSessions: () => sessions.size,
    sessionsCreated: () => created,
    close: async () => undefined,
  };
  const allowed = opts.resetTypes ?? ['On', 'ForceOff', 'GracefulShutdown', 'GracefulRestart', 'ForceRestart', 'Nmi', 'ForceOn', 'PushPowerButton', 'PowerCycle'];

  const send = (res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void => {
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'OData-Version': '4.0', ...headers });
    res.end(text);
  };
  const error = (res: ServerResponse, status: number, message: string): void =>
    send(res, status, { error: { code: 'Base.1.0.GeneralError', message, '@Message.ExtendedInfo': [] } });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
    const path = (req.url ?? '/').split('?')[0]!.replace(/\/$/, '') || '/';
    const token = req.headers['x-auth-token'];
    const basic = req.headers.authorization;
    const auth: 'session' | 'basic' | 'none' = typeof token === 'string' ? 'session' : typeof basic === 'string' ? 'basic' : 'none';
    state.requests.push({ method: req.method ?? '', path, auth });
    if (busy > 0) {
      busy--;
      return error(res, 503, 'The service is temporarily unavailable');
    }
    if (req.method === 'POST' && path === '/redfish/v1/SessionService/Sessions') {
      if (body.UserName !== opts.username || body.Password !== opts.password) return error(res, 401, 'Invalid credentials');
      const id = String(++created);
      const t = randomBytes(16).toString('hex');
      sessions.set(t, id);
      return send(res, 201, { '@odata.id': `/redfish/v1/SessionService/Sessions/${id}`, Id: id, UserName: opts.username }, { 'X-Auth-Token': t, Location: `/redfish/v1/SessionService/Sessions/${id}` });
    }
    if (path === '/redfish/v1') {
      return send(res, 200, { '@odata.id': '/redfish/v1', '@odata.type': '#ServiceRoot.v1_5_0.ServiceRoot', Id: 'RootService', RedfishVersion: '1.6.0', Systems: { '@odata.id': '/redfish/v1/Systems' }, SessionService: { '@odata.id': '/redfish/v1/SessionService' }, Links: { Sessions: { '@odata.id': '/redfish/v1/SessionService/Sessions' } } });
    }
    const okSession = typeof token === 'string' && sessions.has(token);
    const okBasic = typeof basic === 'string' && basic === `Basic ${Buffer.from(`${opts.username}:${opts.password}`).toString('base64')}`;
    if (!okSession && !okBasic) return error(res, 401, 'Authentication required');
    const sessionMatch = /^\/redfish\/v1\/SessionService\/Sessions\/(\d+)$/.exec(path);
    if (req.method === 'DELETE' && sessionMatch) {
      for (const [t, id] of sessions) if (id === sessionMatch[1]) sessions.delete(t);
      return send(res, 204);
    }
    if (req.method === 'GET' && path === '/redfish/v1/Systems') {
      return send(res, 200, { '@odata.id': '/redfish/v1/Systems', '@odata.type': '#ComputerSystemCollection.ComputerSystemCollection', Name: 'Computer System Collection', 'Members@odata.count': 1, Members: [{ '@odata.id': SYSTEM }] });
    }
    if (req.method === 'GET' && path === SYSTEM) {
      return send(
        res,
        200,
        {
          '@odata.id': SYSTEM,
          '@odata.type': '#ComputerSystem.v1_5_0.ComputerSystem',
          Id: '437XR1138R2',
          Name: 'WebFrontEnd483',
          SystemType: 'Physical',
          Manufacturer: 'Contoso',
          PowerState: state.system.PowerState,
          Boot: { ...state.system.Boot, 'BootSourceOverrideTarget@Redfish.AllowableValues': ['None', 'Pxe', 'Cd', 'Usb', 'Hdd', 'BiosSetup', 'Utilities', 'Diags', 'SDCard', 'UefiTarget'] },
          Actions: { '#ComputerSystem.Reset': { target: `${SYSTEM}/Actions/ComputerSystem.Reset`, 'ResetType@Redfish.AllowableValues': allowed } },
        },
        { ETag: `W/"${state.resets.length}-${state.system.Boot.BootSourceOverrideTarget}"` },
      );
    }
    if (req.method === 'PATCH' && path === SYSTEM) {
      const boot = body.Boot as Record<string, string> | undefined;
      if (!boot || !['Pxe', 'Hdd', 'None'].includes(boot.BootSourceOverrideTarget ?? '') || !['Once', 'Continuous', 'Disabled'].includes(boot.BootSourceOverrideEnabled ?? '')) return error(res, 400, 'invalid Boot');
      state.system.Boot = { BootSourceOverrideTarget: boot.BootSourceOverrideTarget!, BootSourceOverrideEnabled: boot.BootSourceOverrideEnabled! };
      return send(res, 204);
    }
    if (req.method === 'POST' && path === `${SYSTEM}/Actions/ComputerSystem.Reset`) {
      const type = String(body.ResetType);
      if (!allowed.includes(type)) return error(res, 400, `ResetType ${type} not allowed`);
      state.resets.push(type);
      if (type === 'On' || type === 'ForceOn') state.system.PowerState = 'On';
      else if (type === 'ForceOff' || type === 'GracefulShutdown') state.system.PowerState = 'Off';
      else if (state.system.PowerState === 'Off') return error(res, 409, 'system is off');
      return send(res, 204);
    }
    return error(res, 404, `no resource ${path}`);
  };

  const server: Server = createServer({ cert: opts.cert, key: opts.key }, (req, res) => {
    handle(req, res).catch((err: unknown) => error(res, 500, (err as Error).message));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  state.port = (server.address() as AddressInfo).port;
  state.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return state;
}

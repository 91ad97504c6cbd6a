import { z } from 'zod';
import { BootrackError, type ErrorCode } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { PowerState } from '../../registry/index.js';
import type { BootDevice, PowerAction, PowerDriver, PowerTarget } from '../types.js';
import { redfishRequest, type HttpResponse, type RedfishEndpoint } from './http.js';

export const redfishOptionsSchema = z
  .object({
    port: z.number().int().min(1).max(65535).optional(),
    /** Pinned SHA-256 certificate fingerprint (BMCs ship self-signed certificates) ... */
    fingerprint256: z.string().optional(),
    /** ... or a PEM CA bundle that signed the BMC's certificate. */
    ca: z.string().optional(),
    /** session (default; always logged out) or basic (credentials on every request). */
    auth: z.enum(['session', 'basic']).optional(),
    /** The ComputerSystem path; discovered from /redfish/v1/Systems when absent (iLO /1, iDRAC System.Embedded.1, OpenBMC system). */
    systemPath: z.string().regex(/^\/redfish\/v1\/[A-Za-z0-9._/-]+$/).optional(),
  })
  .strict();

const RESET_TYPES: Record<PowerAction, string> = { on: 'On', off: 'ForceOff', soft_off: 'GracefulShutdown', reset: 'ForceRestart', cycle: 'PowerCycle' };

interface Session {
  headers: Record<string, string>;
  logout(): Promise<void>;
}

/**
 * Redfish (DSP0266): ComputerSystem.PowerState, ComputerSystem.Reset, Boot.BootSourceOverride*.
 * HTTPS only, with a pinned certificate or a CA. Session auth is always logged out in `finally`
 * (BMCs cap sessions, HPE and Supermicro warn to log out); Basic sends credentials per request.
 */
export class RedfishDriver implements PowerDriver {
  readonly type = 'redfish';
  readonly #timeoutMs: number;
  readonly #log: Logger;

  constructor(settings: { requestTimeoutMs: number }, logger: Logger) {
    this.#timeoutMs = settings.requestTimeoutMs;
    this.#log = logger.child({ driver: 'redfish' });
  }

  async status(target: PowerTarget): Promise<PowerState> {
    return this.#withSession(target, async (call, systemPath) => {
      const system = await call('GET', systemPath);
      return toPowerState(system.body);
    });
  }

  async act(target: PowerTarget, action: PowerAction): Promise<void> {
    await this.#withSession(target, async (call, systemPath) => {
      const system = (await call('GET', systemPath)).body as Record<string, unknown>;
      const state = toPowerState(system);
      // Contract: on when on / off when off succeed without effect; cycle/reset when off powers on.
      if ((action === 'on' && state === 'on') || ((action === 'off' || action === 'soft_off') && state === 'off')) return;
      let resetType = RESET_TYPES[action];
      if ((action === 'cycle' || action === 'reset') && state === 'off') resetType = 'On';
      const reset = (system.Actions as Record<string, { target?: string; 'ResetType@Redfish.AllowableValues'?: string[] }> | undefined)?.['#ComputerSystem.Reset'];
      if (!reset?.target) throw new BootrackError('BMC_UNSUPPORTED', 'the system has no ComputerSystem.Reset action', { system: systemPath });
      const allowed = reset['ResetType@Redfish.AllowableValues'];
      if (allowed && !allowed.includes(resetType)) {
        // PowerCycle is optional in the schema; ForceRestart is the nearest equivalent.
        if (resetType === 'PowerCycle' && allowed.includes('ForceRestart')) resetType = 'ForceRestart';
        else throw new BootrackError('BMC_UNSUPPORTED', `the BMC does not allow ResetType ${resetType}`, { resetType, allowed });
      }
      await call('POST', reset.target, { ResetType: resetType });
    });
  }

  async setNextBoot(target: PowerTarget, device: BootDevice, options: { persistent: boolean }): Promise<void> {
    await this.#withSession(target, async (call, systemPath) => {
      const current = await call('GET', systemPath);
      const etag = typeof current.headers.etag === 'string' ? current.headers.etag : undefined;
      const boot = { BootSourceOverrideTarget: device === 'pxe' ? 'Pxe' : 'Hdd', BootSourceOverrideEnabled: options.persistent ? 'Continuous' : 'Once' };
      // Some BMCs require If-Match with the resource's ETag on PATCH.
      await call('PATCH', systemPath, { Boot: boot }, etag ? { 'If-Match': etag } : {});
    });
  }

  async #withSession<T>(target: PowerTarget, fn: (call: (method: string, path: string, body?: unknown, extra?: Record<string, string>) => Promise<HttpResponse>, systemPath: string) => Promise<T>): Promise<T> {
    const parsed = redfishOptionsSchema.safeParse(target.options);
    if (!parsed.success) throw new BootrackError('VALIDATION_FAILED', 'invalid Redfish power options', { machine: target.machineId, issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) });
    const o = parsed.data;
    if (!target.address) throw new BootrackError('POWER_NOT_CONFIGURED', 'no Redfish address', { machine: target.machineId });
    if (!o.fingerprint256 && !o.ca) throw new BootrackError('VALIDATION_FAILED', 'Redfish needs a pinned certificate (fingerprint256) or a CA; certificate checks are never turned off', { machine: target.machineId });
    const ep: RedfishEndpoint = { host: target.address, port: o.port ?? 443, trust: o.fingerprint256 ? { fingerprint256: o.fingerprint256 } : { ca: o.ca! }, timeoutMs: this.#timeoutMs };
    const username = target.credentials?.username ?? '';
    const password = target.credentials?.password ?? '';
    const session: Session =
      (o.auth ?? 'session') === 'basic'
        ? { headers: { Authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` }, logout: async () => undefined }
        : await this.#login(ep, username, password);
    const call = async (method: string, path: string, body?: unknown, extra: Record<string, string> = {}): Promise<HttpResponse> => {
      const res = await redfishRequest(ep, method, path, { ...session.headers, ...extra }, body);
      if (res.status >= 400) throw httpError(res, method, path);
      return res;
    };
    try {
      const systemPath = o.systemPath ?? (await discoverSystem(call));
      return await fn(call, systemPath);
    } finally {
      await session.logout().catch((err: unknown) => this.#log.warn({ host: ep.host, err: (err as Error).message }, 'Redfish session logout failed'));
    }
  }

  async #login(ep: RedfishEndpoint, username: string, password: string): Promise<Session> {
    const res = await redfishRequest(ep, 'POST', '/redfish/v1/SessionService/Sessions', {}, { UserName: username, Password: password });
    if (res.status >= 400) throw httpError(res, 'POST', '/redfish/v1/SessionService/Sessions');
    const token = res.headers['x-auth-token'];
    const location = res.headers.location;
    if (typeof token !== 'string') throw new BootrackError('BMC_ERROR', 'the Redfish session response has no X-Auth-Token', { host: ep.host });
    const headers = { 'X-Auth-Token': token };
    return {
      headers,
      logout: async () => {
        if (typeof location !== 'string') return;
        const path = location.startsWith('http') ? new URL(location).pathname : location;
        await redfishRequest(ep, 'DELETE', path, headers);
      },
    };
  }
}

async function discoverSystem(call: (method: string, path: string) => Promise<HttpResponse>): Promise<string> {
  const systems = (await call('GET', '/redfish/v1/Systems')).body as { Members?: Array<{ '@odata.id'?: string }> } | null;
  const first = systems?.Members?.[0]?.['@odata.id'];
  if (!first) throw new BootrackError('BMC_UNSUPPORTED', 'the Redfish service lists no ComputerSystem');
  return first;
}

function toPowerState(body: unknown): PowerState {
  const state = (body as { PowerState?: unknown } | null)?.PowerState;
  if (state === 'On' || state === 'PoweringOn') return 'on';
  if (state === 'Off' || state === 'PoweringOff') return 'off';
  throw new BootrackError('BMC_ERROR', `unexpected Redfish PowerState ${JSON.stringify(state)}`);
}

function httpError(res: HttpResponse, method: string, path: string): BootrackError {
  const message = (res.body as { error?: { message?: string } } | null)?.error?.message ?? `HTTP ${res.status}`;
  let code: ErrorCode = 'BMC_ERROR';
  if (res.status === 401 || res.status === 403) code = 'BMC_AUTH_FAILED';
  else if (res.status === 503 || res.status === 429) code = 'BMC_BUSY';
  else if (res.status === 404 || res.status === 405 || res.status === 501) code = 'BMC_UNSUPPORTED';
  return new BootrackError(code, `Redfish ${method} ${path}: ${message}`, { status: res.status, method, path });
}

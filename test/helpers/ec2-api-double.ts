/**
 * EC2 Query API TEST DOUBLE. No EC2 service can run on this machine, so the ec2: driver's real
 * @aws-sdk/client-ec2 is pointed (custom endpoint) at this small HTTP server on 127.0.0.1. It
 * implements only the calls the driver makes (RunInstances with ClientToken idempotency,
 * DescribeInstances with filters, Start/Stop/TerminateInstances, CreateTags, DescribeKeyPairs,
 * GetConsoleOutput, DescribeSecurityGroups), answers in EC2's XML, verifies every request's SigV4
 * signature (unknown key or bad signature → 401 AuthFailure) and can inject
 * InsufficientInstanceCapacity and RequestLimitExceeded. Instances "boot" into whatever SSH
 * endpoint the test gives them (a real loopback sshd): their public IP is `publicIp`.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { verifySigV4 } from './ec2-sigv4.js';

type State = 'pending' | 'running' | 'shutting-down' | 'terminated' | 'stopping' | 'stopped';
const CODES: Record<State, number> = { pending: 0, running: 16, 'shutting-down': 32, terminated: 48, stopping: 64, stopped: 80 };
/** What a transient state settles into (snapshots compare intent, not timing). */
const SETTLED: Record<State, State> = { pending: 'running', running: 'running', 'shutting-down': 'terminated', terminated: 'terminated', stopping: 'stopped', stopped: 'stopped' };

export interface DoubleInstance {
  instanceId: string;
  reservationId: string;
  imageId: string;
  instanceType: string;
  keyName?: string;
  state: State;
  since: number;
  launchIndex: number;
  clientToken: string;
  privateIp: string;
  tags: Map<string, string>;
}

export interface Ec2DoubleOptions {
  accountId?: string;
  /** access key id → secret access key. */
  credentials?: Record<string, string>;
  keyPairs?: string[];
  /** Address instances "have" once running (the loopback sshd). */
  publicIp?: string;
  /** OpenSSH public key line(s) printed on the console between cloud-init's host key markers. */
  consoleHostKeys?: string[];
  /** pending → running, stopping → stopped, shutting-down → terminated after this long. */
  transitionMs?: number;
}

export interface CallRecord {
  action: string;
  /** The decoded Query parameters (for assertions on what the SDK sent). */
  params?: Record<string, string>;
  accessKeyId?: string;
  error?: string;
}

const esc = (s: string): string => s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
const NS = 'xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"';

class Ec2Error extends Error {
  constructor(readonly code: string, message: string, readonly status = 400) {
    super(message);
  }
}

export class Ec2ApiDouble {
  readonly accountId: string;
  readonly instances = new Map<string, DoubleInstance>();
  readonly tokens = new Map<string, { digest: string; ids: string[] }>();
  readonly calls: CallRecord[] = [];
  readonly keyPairs: Set<string>;
  readonly #secrets: Map<string, string>;
  readonly #faults: Array<{ action: string; code: string; times: number }> = [];
  readonly #options: Ec2DoubleOptions;
  #server: Server | undefined;
  #seq = 0;
  url = '';

  constructor(options: Ec2DoubleOptions = {}) {
    this.#options = options;
    this.accountId = options.accountId ?? '123456789012';
    this.#secrets = new Map(Object.entries(options.credentials ?? { AKIDBOOTRACKTEST: 'double-secret-key' }));
    this.keyPairs = new Set(options.keyPairs ?? ['bootstrap']);
  }

  async start(): Promise<string> {
    this.#server = createServer((req, res) => void this.#handle(req, res));
    await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as { port: number }).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The next `times` calls of `action` fail with `code` (InsufficientInstanceCapacity → 500, RequestLimitExceeded → 503). */
  inject(action: string, code: string, times = 1): void {
    this.#faults.push({ action, code, times });
  }

  clearFaults(): void {
    this.#faults.length = 0;
  }

  count(action: string): number {
    return this.calls.filter((c) => c.action === action && !c.error).length;
  }

  /** The instance's state now (transitions happen lazily, by elapsed time). */
  stateOf(id: string): State | undefined {
    const i = this.instances.get(id);
    return i ? this.#tick(i).state : undefined;
  }

  /** Someone terminated it behind the driver's back. */
  vanish(id: string): void {
    const i = this.instances.get(id);
    if (i) Object.assign(i, { state: 'terminated', since: Date.now() });
  }

  snapshot(): string {
    return JSON.stringify([...this.instances.values()].map((i) => [i.instanceId, SETTLED[i.state], [...i.tags.entries()].sort()]));
  }

  #tick(i: DoubleInstance): DoubleInstance {
    if (Date.now() - i.since >= (this.#options.transitionMs ?? 150) && SETTLED[i.state] !== i.state) Object.assign(i, { state: SETTLED[i.state], since: Date.now() });
    return i;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    let action = 'Unknown';
    let accessKeyId: string | undefined;
    try {
      for await (const c of req) chunks.push(c as Buffer);
      const body = Buffer.concat(chunks);
      const params = new URLSearchParams(req.method === 'POST' ? body.toString('utf8') : new URL(req.url ?? '/', 'http://x').search);
      action = params.get('Action') ?? 'Unknown';
      const auth = verifySigV4(req.method ?? 'GET', req.url ?? '/', req.headers, body, this.#secrets);
      if (!auth.ok) throw new Ec2Error(auth.code, auth.message, 401);
      accessKeyId = auth.accessKeyId;
      const fault = this.#faults.find((f) => f.action === action && f.times > 0);
      if (fault) {
        fault.times--;
        throw new Ec2Error(fault.code, `injected ${fault.code}`, fault.code === 'RequestLimitExceeded' ? 503 : fault.code.startsWith('Insufficient') ? 500 : 400);
      }
      const xml = this.#dispatch(action, params);
      this.calls.push({ action, accessKeyId, params: Object.fromEntries(params) });
      res.writeHead(200, { 'content-type': 'text/xml;charset=UTF-8' }).end(`<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response ${NS}><requestId>${randomBytes(8).toString('hex')}</requestId>${xml}</${action}Response>`);
    } catch (err) {
      const e = err instanceof Ec2Error ? err : new Ec2Error('InternalError', (err as Error).message, 500);
      this.calls.push({ action, error: e.code, ...(accessKeyId ? { accessKeyId } : {}) });
      res.writeHead(e.status, { 'content-type': 'text/xml;charset=UTF-8' }).end(`<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${esc(e.code)}</Code><Message>${esc(e.message)}</Message></Error></Errors><RequestID>${randomBytes(8).toString('hex')}</RequestID></Response>`);
    }
  }

  #dispatch(action: string, p: URLSearchParams): string {
    switch (action) {
      case 'RunInstances':
        return this.#run(p);
      case 'DescribeInstances':
        return `<reservationSet>${this.#describe(p)}</reservationSet>`;
      case 'StartInstances':
        return this.#transition(p, (s) => (s === 'stopped' ? 'pending' : s));
      case 'StopInstances':
        return this.#transition(p, (s) => (s === 'running' || s === 'pending' ? 'stopping' : s));
      case 'TerminateInstances':
        return this.#transition(p, (s) => (s === 'terminated' ? s : 'shutting-down'));
      case 'CreateTags': {
        const tags = this.#tags(p, 'Tag');
        for (const id of this.#list(p, 'ResourceId')) for (const [k, v] of tags) this.#get(id).tags.set(k, v);
        return '<return>true</return>';
      }
      case 'DescribeKeyPairs': {
        const names = this.#list(p, 'KeyName');
        for (const n of names) if (!this.keyPairs.has(n)) throw new Ec2Error('InvalidKeyPair.NotFound', `The key pair '${n}' does not exist`);
        return `<keySet>${(names.length ? names : [...this.keyPairs]).map((n) => `<item><keyPairId>key-${n}</keyPairId><keyName>${esc(n)}</keyName><keyFingerprint>00:11</keyFingerprint><keyType>ed25519</keyType></item>`).join('')}</keySet>`;
      }
      case 'GetConsoleOutput': {
        const i = this.#tick(this.#get(p.get('InstanceId') ?? ''));
        const keys = this.#options.consoleHostKeys ?? [];
        const text = i.state === 'running' && keys.length ? `cloud-init boot\n-----BEGIN SSH HOST KEY KEYS-----\n${keys.join('\n')}\n-----END SSH HOST KEY KEYS-----\n` : '';
        return `<instanceId>${i.instanceId}</instanceId><timestamp>${new Date().toISOString()}</timestamp>${text ? `<output>${Buffer.from(text).toString('base64')}</output>` : ''}`;
      }
      case 'DescribeSecurityGroups':
        return `<securityGroupInfo><item><ownerId>${this.accountId}</ownerId><groupId>sg-default</groupId><groupName>default</groupName><groupDescription>default</groupDescription></item></securityGroupInfo>`;
      default:
        throw new Ec2Error('InvalidAction', `The action ${action} is not valid for this web service (test double)`);
    }
  }

  /** `Prefix.1`, `Prefix.2`, … in order (EC2's list encoding). */
  #list(p: URLSearchParams, prefix: string): string[] {
    const out: string[] = [];
    for (let n = 1; n <= 1000 && p.has(`${prefix}.${n}`); n++) out.push(p.get(`${prefix}.${n}`)!);
    return out;
  }

  #tags(p: URLSearchParams, prefix: string): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    for (let n = 1; n <= 50 && p.has(`${prefix}.${n}.Key`); n++) out.push([p.get(`${prefix}.${n}.Key`)!, p.get(`${prefix}.${n}.Value`) ?? '']);
    return out;
  }

  #get(id: string): DoubleInstance {
    const i = this.instances.get(id);
    if (!i) throw new Ec2Error('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
    return i;
  }

  #run(p: URLSearchParams): string {
    const imageId = p.get('ImageId');
    const instanceType = p.get('InstanceType') ?? 'm1.small';
    const min = Number(p.get('MinCount'));
    const max = Number(p.get('MaxCount'));
    if (!imageId) throw new Ec2Error('MissingParameter', 'The request must contain the parameter ImageId');
    if (!(min >= 1 && max >= min && max <= 100)) throw new Ec2Error('InvalidParameterValue', `MinCount ${min} / MaxCount ${max}`);
    const keyName = p.get('KeyName') ?? undefined;
    if (keyName && !this.keyPairs.has(keyName)) throw new Ec2Error('InvalidKeyPair.NotFound', `The key pair '${keyName}' does not exist`);
    const tags: Array<[string, string]> = [];
    for (let s = 1; s <= 10 && p.has(`TagSpecification.${s}.ResourceType`); s++) if (p.get(`TagSpecification.${s}.ResourceType`) === 'instance') tags.push(...this.#tags(p, `TagSpecification.${s}.Tag`));
    const token = p.get('ClientToken') ?? randomBytes(8).toString('hex');
    const digest = JSON.stringify([imageId, instanceType, min, max, keyName, p.get('SubnetId'), this.#list(p, 'SecurityGroupId'), p.get('UserData')]);
    const seen = this.tokens.get(token);
    if (seen) {
      // EC2 idempotency: the same token answers the original launch, with the same instances.
      if (seen.digest !== digest) throw new Ec2Error('IdempotentParameterMismatch', `client token ${token} was used with other parameters`);
      const first = this.#get(seen.ids[0]!);
      return this.#reservation(first.reservationId, seen.ids.map((id) => this.#tick(this.#get(id))));
    }
    const reservationId = `r-${randomBytes(8).toString('hex')}`;
    const made: DoubleInstance[] = [];
    for (let n = 0; n < max; n++) {
      const i: DoubleInstance = { instanceId: `i-${randomBytes(8).toString('hex')}`, reservationId, imageId, instanceType, state: 'pending', since: Date.now(), launchIndex: n, clientToken: token, privateIp: `10.0.${(this.#seq >> 8) & 255}.${this.#seq++ & 255}`, tags: new Map(tags), ...(keyName ? { keyName } : {}) };
      this.instances.set(i.instanceId, i);
      made.push(i);
    }
    this.tokens.set(token, { digest, ids: made.map((i) => i.instanceId) });
    return this.#reservation(reservationId, made);
  }

  #reservation(reservationId: string, list: DoubleInstance[]): string {
    return `<reservationId>${reservationId}</reservationId><ownerId>${this.accountId}</ownerId><groupSet/><instancesSet>${list.map((i) => this.#item(i)).join('')}</instancesSet>`;
  }

  #item(i: DoubleInstance): string {
    const tagSet = [...i.tags.entries()].map(([k, v]) => `<item><key>${esc(k)}</key><value>${esc(v)}</value></item>`).join('');
    const ip = i.state === 'running' ? `<ipAddress>${esc(this.#options.publicIp ?? '127.0.0.1')}</ipAddress>` : '';
    return `<item><instanceId>${i.instanceId}</instanceId><imageId>${esc(i.imageId)}</imageId><instanceState><code>${CODES[i.state]}</code><name>${i.state}</name></instanceState>${i.keyName ? `<keyName>${esc(i.keyName)}</keyName>` : ''}<amiLaunchIndex>${i.launchIndex}</amiLaunchIndex><instanceType>${esc(i.instanceType)}</instanceType><privateIpAddress>${i.privateIp}</privateIpAddress>${ip}<clientToken>${esc(i.clientToken)}</clientToken><tagSet>${tagSet}</tagSet></item>`;
  }

  #describe(p: URLSearchParams): string {
    const ids = this.#list(p, 'InstanceId');
    let list = ids.length ? ids.map((id) => this.#get(id)) : [...this.instances.values()];
    list = list.map((i) => this.#tick(i));
    for (let f = 1; f <= 50 && p.has(`Filter.${f}.Name`); f++) {
      const name = p.get(`Filter.${f}.Name`)!;
      const values = new Set(this.#list(p, `Filter.${f}.Value`));
      const pick = (i: DoubleInstance): string | undefined => {
        if (name === 'client-token') return i.clientToken;
        if (name === 'instance-state-name') return i.state;
        if (name === 'instance-id') return i.instanceId;
        if (name.startsWith('tag:')) return i.tags.get(name.slice(4));
        throw new Ec2Error('InvalidParameterValue', `The filter '${name}' is invalid (test double)`);
      };
      list = list.filter((i) => {
        const v = pick(i);
        return v !== undefined && values.has(v);
      });
    }
    const byReservation = new Map<string, DoubleInstance[]>();
    for (const i of list) byReservation.set(i.reservationId, [...(byReservation.get(i.reservationId) ?? []), i]);
    return [...byReservation.entries()].map(([r, l]) => `<item>${this.#reservation(r, l)}</item>`).join('');
  }

  #transition(p: URLSearchParams, next: (s: State) => State): string {
    const items = this.#list(p, 'InstanceId').map((id) => {
      const i = this.#tick(this.#get(id));
      const previous = i.state;
      const to = next(previous);
      if (to !== previous) Object.assign(i, { state: to, since: Date.now() });
      return `<item><instanceId>${id}</instanceId><currentState><code>${CODES[i.state]}</code><name>${i.state}</name></currentState><previousState><code>${CODES[previous]}</code><name>${previous}</name></previousState></item>`;
    });
    return `<instancesSet>${items.join('')}</instancesSet>`;
  }
}

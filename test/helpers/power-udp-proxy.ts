import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';

/**
 * A UDP relay placed in front of ipmi_sim, so the tests observe traffic AT THE BMC SIDE:
 * - per client socket (one per ipmipower/ipmitool process), the time of its first and last packet;
 * - "busy BMC wrapper": answers the first `busySessions` RMCP+ Open Session Requests with status
 *   0x01 "insufficient resources to create a session" (IPMI v2.0 §13.24) instead of relaying them;
 * - an optional delay per relayed packet (keeps the client process alive for /proc scans).
 * Named what it is: a wrapper around the real BMC, not a BMC.
 */
export interface ProxyOptions {
  listenHost: string;
  listenPort: number;
  upstreamHost: string;
  upstreamPort: number;
  busySessions?: number;
  delayMs?: number;
}

export interface ClientWindow {
  client: string;
  first: number;
  last: number;
  packets: number;
}

export interface UdpProxy {
  windows(): ClientWindow[];
  busyAnswers(): number;
  openSessionRequests(): number;
  close(): Promise<void>;
}

const RMCPPLUS_OPEN_SESSION_REQUEST = 0x10;
const RMCPPLUS_OPEN_SESSION_RESPONSE = 0x11;

export async function startUdpProxy(opts: ProxyOptions): Promise<UdpProxy> {
  const front = createSocket('udp4');
  const upstreams = new Map<string, Socket>();
  const windows = new Map<string, ClientWindow>();
  let busyLeft = opts.busySessions ?? 0;
  let busyAnswers = 0;
  let openRequests = 0;
  const delay = opts.delayMs ?? 0;
  const later = (fn: () => void): void => {
    if (delay > 0) setTimeout(fn, delay);
    else fn();
  };

  front.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
    const client = `${rinfo.address}:${rinfo.port}`;
    const now = performance.timeOrigin + performance.now();
    const w = windows.get(client) ?? { client, first: now, last: now, packets: 0 };
    w.last = now;
    w.packets++;
    windows.set(client, w);
    const rmcpPlus = msg.length >= 24 && msg[0] === 0x06 && msg[3] === 0x07 && msg[4] === 0x06;
    if (rmcpPlus && (msg[5]! & 0x3f) === RMCPPLUS_OPEN_SESSION_REQUEST) {
      openRequests++;
      if (busyLeft > 0) {
        busyLeft--;
        busyAnswers++;
        const payload = Buffer.alloc(8);
        payload[0] = msg[16]!; // message tag
        payload[1] = 0x01; // insufficient resources to create a session
        msg.copy(payload, 4, 20, 24); // remote console session id
        const header = Buffer.from([0x06, 0x00, 0xff, 0x07, 0x06, RMCPPLUS_OPEN_SESSION_RESPONSE, 0, 0, 0, 0, 0, 0, 0, 0, payload.length, 0]);
        front.send(Buffer.concat([header, payload]), rinfo.port, rinfo.address);
        return;
      }
    }
    let up = upstreams.get(client);
    if (!up) {
      up = createSocket('udp4');
      up.on('message', (reply: Buffer) => {
        const t = performance.timeOrigin + performance.now();
        const cw = windows.get(client);
        if (cw) cw.last = t;
        later(() => front.send(reply, rinfo.port, rinfo.address));
      });
      up.on('error', () => undefined);
      upstreams.set(client, up);
    }
    const sock = up;
    later(() => sock.send(msg, opts.upstreamPort, opts.upstreamHost));
  });
  front.on('error', () => undefined);
  await new Promise<void>((resolve) => front.bind(opts.listenPort, opts.listenHost, () => resolve()));
  return {
    windows: () => [...windows.values()],
    busyAnswers: () => busyAnswers,
    openSessionRequests: () => openRequests,
    async close() {
      for (const s of upstreams.values()) s.close();
      await new Promise<void>((r) => front.close(() => r()));
    },
  };
}

/** Pairs of client windows that overlap in time (should be empty when commands are serialized). */
export function overlaps(windows: ClientWindow[]): Array<[ClientWindow, ClientWindow]> {
  const sorted = [...windows].sort((a, b) => a.first - b.first);
  const out: Array<[ClientWindow, ClientWindow]> = [];
  for (let i = 1; i < sorted.length; i++) {
    for (let j = 0; j < i; j++) if (sorted[j]!.last > sorted[i]!.first) out.push([sorted[j]!, sorted[i]!]);
  }
  return out;
}

import type { Socket } from 'node:dgram';
import { createRequire } from 'node:module';
import { networkInterfaces } from 'node:os';
import { fileURLToPath } from 'node:url';
import { BootrackError } from '../../common/errors.js';

/**
 * Interface binding. Node's dgram has neither SO_BINDTODEVICE nor IP_PKTINFO (deps.md §2): a socket
 * on 0.0.0.0:67 hears every NIC's broadcasts and sends 255.255.255.255 out of the default route.
 * native/bindtodevice.c sets SO_BINDTODEVICE on the socket, so the kernel itself delivers only
 * datagrams that arrived on the configured interface and routes replies out of it. There is no
 * fallback: without the addon, DHCP refuses to start rather than answer on every NIC.
 */
interface Addon {
  bindToDevice(fd: number, ifname: string): void;
  boundDevice(fd: number): string;
  /** sendmmsg: sends buffers[start..] to ips[i]:ports[i]; the number the kernel took, or -errno when the first failed. */
  sendBatch(fd: number, buffers: Buffer[], ips: number[], ports: number[], start: number): number;
}

const ADDON_PATH = fileURLToPath(new URL('../../../native/build/bindtodevice.node', import.meta.url));
let addon: Addon | undefined;

export function loadBindAddon(): Addon {
  if (addon) return addon;
  try {
    addon = createRequire(import.meta.url)(ADDON_PATH) as Addon;
    return addon;
  } catch (err) {
    throw new BootrackError(
      'DHCP_INTERFACE_UNAVAILABLE',
      `the SO_BINDTODEVICE addon is not built (${ADDON_PATH}); run npm run build:native`,
      { path: ADDON_PATH },
      { cause: err },
    );
  }
}

/**
 * The fd of a bound dgram socket (libuv creates it at bind time). Node keeps the UDP handle in the
 * socket's internal state symbol; reading it there avoids the deprecated `_handle` getter (DEP0112).
 */
export function socketFd(socket: Socket): number {
  const stateKey = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
  const state = stateKey === undefined ? undefined : (socket as unknown as Record<symbol, { handle?: { fd?: number } } | undefined>)[stateKey];
  const fd = state?.handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new BootrackError('DHCP_INTERFACE_UNAVAILABLE', 'the DHCP socket has no file descriptor yet', {});
  return fd;
}

/** Binds a bound socket to one interface and reads the option back to prove it took. */
export function bindSocketToDevice(socket: Socket, ifname: string): void {
  const native = loadBindAddon();
  const fd = socketFd(socket);
  try {
    native.bindToDevice(fd, ifname);
  } catch (err) {
    throw new BootrackError('DHCP_INTERFACE_UNAVAILABLE', `cannot bind the DHCP socket to ${ifname}: ${(err as Error).message}`, { interface: ifname }, { cause: err });
  }
  const bound = native.boundDevice(fd);
  if (bound !== ifname) throw new BootrackError('DHCP_INTERFACE_UNAVAILABLE', `SO_BINDTODEVICE reads back ${JSON.stringify(bound)}, not ${ifname}`, { interface: ifname });
}

/**
 * Sends buffers[start..] from the socket `fd` to ips[i] (IPv4 as an unsigned number) and ports[i]
 * in one sendmmsg(2). Returns how many the kernel took from `start` on, or -errno when the first
 * one failed (-EAGAIN: the send queue is full).
 */
export function sendBatch(fd: number, buffers: Buffer[], ips: number[], ports: number[], start: number): number {
  return loadBindAddon().sendBatch(fd, buffers, ips, ports, start);
}

export function boundDeviceOf(socket: Socket): string {
  return loadBindAddon().boundDevice(socketFd(socket));
}

export interface InterfaceAddress {
  name: string;
  address: string;
  netmask: string;
}

/** The first IPv4 address of a named interface; DHCP_INTERFACE_UNAVAILABLE when it has none. */
export function interfaceAddress(name: string): InterfaceAddress {
  const list = networkInterfaces()[name];
  if (!list) throw new BootrackError('DHCP_INTERFACE_UNAVAILABLE', `no interface named ${name}`, { interface: name, known: Object.keys(networkInterfaces()) });
  const v4 = list.find((a) => a.family === 'IPv4');
  if (!v4) throw new BootrackError('DHCP_INTERFACE_UNAVAILABLE', `interface ${name} has no IPv4 address`, { interface: name });
  return { name, address: v4.address, netmask: v4.netmask };
}

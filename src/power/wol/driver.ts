import { createSocket } from 'node:dgram';
import { networkInterfaces } from 'node:os';
import { z } from 'zod';
import { BootrackError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { parseMac } from '../../common/mac.js';
import type { PowerState } from '../../registry/index.js';
import type { BootDevice, PowerAction, PowerDriver, PowerTarget } from '../types.js';

/** Per-machine options: which MAC to wake (default: the machine's boot interface). */
export const wolOptionsSchema = z.object({ mac: z.string().regex(/^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$/).optional() }).strict();

/** The magic packet: 6 × 0xFF, then the MAC 16 times (102 bytes; AMD "Magic Packet" white paper). */
export function magicPacket(mac: string): Buffer {
  const bytes = Buffer.from(parseMac(mac).replaceAll(':', ''), 'hex');
  return Buffer.concat([Buffer.alloc(6, 0xff), ...Array.from({ length: 16 }, () => bytes)]);
}

export interface WolSettings {
  /** The provisioning interface name; its IPv4 address is looked up at send time. */
  interface: string;
  port: number;
}

export interface InterfaceAddress {
  address: string;
  broadcast: string;
}

/**
 * Resolves an interface name to its first IPv4 address and directed broadcast. Sending to the
 * subnet's directed broadcast from a socket bound to that address makes the kernel route the
 * packet out of that interface; 255.255.255.255 from an unbound socket leaves by whichever NIC
 * the default route names — the multi-homed bug of the npm wol packages.
 */
export function interfaceAddress(name: string): InterfaceAddress {
  const entries = networkInterfaces()[name];
  const v4 = entries?.find((e) => e.family === 'IPv4' && !e.internal) ?? entries?.find((e) => e.family === 'IPv4');
  if (!v4) throw new BootrackError('POWER_NOT_CONFIGURED', `interface ${JSON.stringify(name)} has no IPv4 address`, { interface: name });
  const ip = v4.address.split('.').map(Number);
  const mask = v4.netmask.split('.').map(Number);
  const broadcast = ip.map((octet, i) => (octet | (~mask[i]! & 0xff)) >>> 0).join('.');
  return { address: v4.address, broadcast };
}

/**
 * Wake-on-LAN: power on only. Status is 'unknown' (nothing answers); the wake is confirmed later
 * by the machine's DHCP/PXE traffic or its agent check-in. Off, cycle, reset, soft off and the boot
 * device are not possible over WoL and reject BMC_UNSUPPORTED.
 */
export class WolDriver implements PowerDriver {
  readonly type = 'wol';
  readonly #settings: WolSettings;
  readonly #log: Logger;

  constructor(settings: WolSettings, logger: Logger) {
    this.#settings = settings;
    this.#log = logger.child({ driver: 'wol' });
  }

  async status(): Promise<PowerState> {
    return 'unknown';
  }

  async act(target: PowerTarget, action: PowerAction): Promise<void> {
    if (action !== 'on') throw new BootrackError('BMC_UNSUPPORTED', `Wake-on-LAN cannot ${action}`, { action });
    const parsed = wolOptionsSchema.safeParse(target.options);
    if (!parsed.success) throw new BootrackError('VALIDATION_FAILED', 'invalid Wake-on-LAN options', { machine: target.machineId });
    const mac = parsed.data.mac ?? target.macs?.[0];
    if (!mac) throw new BootrackError('POWER_NOT_CONFIGURED', 'no MAC to wake', { machine: target.machineId });
    if (!this.#settings.interface) throw new BootrackError('POWER_NOT_CONFIGURED', 'power.wol.interface is not set: name the provisioning interface');
    const { address, broadcast } = interfaceAddress(this.#settings.interface);
    const packet = magicPacket(mac);
    await sendFrom(address, broadcast, this.#settings.port, packet);
    this.#log.info({ machine: target.machineId, mac, from: address, to: `${broadcast}:${this.#settings.port}` }, 'magic packet sent');
  }

  async setNextBoot(_target: PowerTarget, device: BootDevice): Promise<void> {
    throw new BootrackError('BMC_UNSUPPORTED', `Wake-on-LAN cannot set the boot device (${device})`, { device });
  }
}

function sendFrom(address: string, broadcast: string, port: number, packet: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    const fail = (err: Error): void => {
      socket.close();
      reject(new BootrackError('BMC_ERROR', `cannot send the magic packet from ${address}: ${err.message}`, { address }, { cause: err }));
    };
    socket.once('error', fail);
    socket.bind({ address, port: 0, exclusive: true }, () => {
      socket.setBroadcast(true);
      socket.send(packet, port, broadcast, (err) => {
        if (err) return fail(err);
        socket.close();
        resolve();
      });
    });
  });
}

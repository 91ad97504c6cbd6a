import { createSocket, type Socket } from 'node:dgram';
import { constants } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { sendBatch, socketFd } from '../../src/servers/dhcp/bind.js';

/** The addon's sendmmsg(2) path, on real loopback sockets. */
const LOOPBACK = 0x7f000001;
const BROADCAST = 0xffffffff;
const open: Socket[] = [];

async function bound(): Promise<Socket> {
  const socket = createSocket('udp4');
  open.push(socket);
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  return socket;
}

function receive(socket: Socket, count: number): Promise<Buffer[]> {
  const got: Buffer[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`received ${got.length} of ${count}`)), 5000);
    socket.on('message', (msg) => {
      got.push(msg);
      if (got.length === count) {
        clearTimeout(timer);
        resolve(got);
      }
    });
  });
}

afterEach(() => {
  for (const socket of open.splice(0)) socket.close();
});

describe('sendBatch (sendmmsg)', () => {
  it('sends every datagram of a batch, in order, to its own destination', async () => {
    const [sender, a, b] = [await bound(), await bound(), await bound()];
    const atA = receive(a, 2);
    const atB = receive(b, 1);
    const datagrams = ['one', 'two', 'three'].map((s) => Buffer.from(s));
    const ports = [a.address().port, b.address().port, a.address().port];
    expect(sendBatch(socketFd(sender), datagrams, [LOOPBACK, LOOPBACK, LOOPBACK], ports, 0)).toBe(3);
    expect((await atA).map(String)).toEqual(['one', 'three']);
    expect((await atB).map(String)).toEqual(['two']);
  });

  it('stops at a datagram the kernel refuses: the count says how far it got, and the refused one reports its errno', async () => {
    const [sender, receiver] = [await bound(), await bound()];
    const got = receive(receiver, 2);
    const port = receiver.address().port;
    const fd = socketFd(sender);
    // No SO_BROADCAST on this socket: a broadcast is refused with EACCES.
    const datagrams = [Buffer.from('first'), Buffer.from('refused'), Buffer.from('last')];
    const ips = [LOOPBACK, BROADCAST, LOOPBACK];
    expect(sendBatch(fd, datagrams, ips, [port, port, port], 0)).toBe(1);
    expect(sendBatch(fd, datagrams, ips, [port, port, port], 1)).toBe(-constants.errno.EACCES);
    expect(sendBatch(fd, datagrams, ips, [port, port, port], 2)).toBe(1);
    expect((await got).map(String)).toEqual(['first', 'last']);
  });

  it('refuses malformed arguments with a TypeError and sends nothing', async () => {
    const sender = await bound();
    const fd = socketFd(sender);
    expect(() => sendBatch(fd, [Buffer.from('x')], [LOOPBACK, LOOPBACK], [9], 0)).toThrow(TypeError);
    expect(() => sendBatch(fd, [Buffer.from('x')], [LOOPBACK], [70000], 0)).toThrow(TypeError);
    expect(() => sendBatch(fd, ['not a buffer' as unknown as Buffer], [LOOPBACK], [9], 0)).toThrow(TypeError);
    expect(() => sendBatch(fd, [], [], [], 1)).toThrow(TypeError);
    expect(sendBatch(fd, [], [], [], 0)).toBe(0);
  });
});

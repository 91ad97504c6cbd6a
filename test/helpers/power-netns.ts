import { execFileSync, spawnSync } from 'node:child_process';

/** A network namespace (name must start with brkpw) holding veth pairs; remove() deletes it. */
export interface Netns {
  name: string;
  exec(args: string[]): string;
  remove(): void;
}

function ip(args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8' });
}

export function createNetns(name: string): Netns {
  if (!name.startsWith('brkpw')) throw new Error(`namespace ${name} must start with brkpw`);
  spawnSync('ip', ['netns', 'del', name]); // a leftover from a killed run
  ip(['netns', 'add', name]);
  ip(['-n', name, 'link', 'set', 'lo', 'up']);
  return {
    name,
    exec: (args) => execFileSync('ip', ['netns', 'exec', name, ...args], { encoding: 'utf8' }),
    remove: () => {
      spawnSync('ip', ['netns', 'del', name]);
    },
  };
}

/** A veth pair with both ends inside the namespace (dummy links need a module containers lack: lab pitfall 14). */
export function addVeth(ns: Netns, a: string, b: string, cidrOnA: string): void {
  ip(['-n', ns.name, 'link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
  ip(['-n', ns.name, 'addr', 'add', cidrOnA, 'dev', a]);
  ip(['-n', ns.name, 'link', 'set', a, 'up']);
  ip(['-n', ns.name, 'link', 'set', b, 'up']);
}

export function uniqueNs(tag: string): string {
  return `brkpw${tag}${process.pid % 10000}`;
}

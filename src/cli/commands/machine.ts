import { parseArgs } from 'node:util';
import type { MachineView } from '../../api/views.js';
import { clientFrom, CLIENT_OPTIONS, type ApiClient } from '../client.js';
import { reportError, table, type CliIo, type Command } from '../io.js';

const USAGE = `usage: bootrack machine <sub> [options] [--api URL --token T --ca FILE --json]
  add --mac MAC [--mac MAC ...] [--name N] [--arch A] [--firmware bios|uefi] [--tag T ...]
  list [--state S] [--tag T] [--owner O] [--arch A] [--mac MAC]
  show <ref>
  edit <ref> [--name N] [--arch A] [--firmware bios|uefi]
  remove <ref>
  tag <ref> [--add T ...] [--remove T ...]
  commission <ref>`;

const enc = encodeURIComponent;

/** Rows for the human table: one line per machine. */
export function machineRows(items: MachineView[]): Array<Record<string, unknown>> {
  return items.map((m) => ({
    name: m.name,
    state: m.state,
    owner: m.owner,
    arch: m.arch,
    cpus: m.cpuCount,
    mem_mib: m.memoryMib,
    disk_gib: m.diskGib,
    macs: m.interfaces.map((i) => i.mac),
    ips: m.ipAddresses,
    power: m.power.type === null ? null : `${m.power.type}:${m.power.state}`,
    tags: m.tags,
  }));
}
export const MACHINE_COLUMNS = ['name', 'state', 'owner', 'arch', 'cpus', 'mem_mib', 'disk_gib', 'macs', 'ips', 'power', 'tags'];

export function printMachine(io: CliIo, m: MachineView, json: boolean | undefined): void {
  if (json) {
    io.out(JSON.stringify(m, null, 2));
    return;
  }
  const lines: Array<[string, unknown]> = [
    ['id', m.id],
    ['name', m.name],
    ['state', `${m.state} (since ${m.stateChangedAt})`],
    ['owner', m.owner ?? '-'],
    ['arch / firmware', `${m.arch ?? '-'} / ${m.firmware ?? '-'}`],
    ['cpus / memory / disk', `${m.cpuCount ?? '-'} / ${m.memoryMib ?? '-'} MiB / ${m.diskGib ?? '-'} GiB`],
    ['interfaces', m.interfaces.map((i) => `${i.mac}${i.boot ? ' (boot)' : ''}${i.name ? ` ${i.name}` : ''}`).join(', ')],
    ['ip addresses', m.ipAddresses.join(', ') || '-'],
    ['power', m.power.type === null ? '-' : `${m.power.type} ${m.power.address ?? ''} state=${m.power.state}${m.power.hasCredentials ? ' (credentials set)' : ''}`],
    ['tags', m.tags.join(', ') || '-'],
    ['boot profile', m.bootProfile ? m.bootProfile.kind : '-'],
    ['ssh host key', m.sshHostKey ?? '-'],
  ];
  io.out(lines.map(([k, v]) => `${k.padEnd(22)}${String(v)}`).join('\n'));
}

export const machineCommand: Command = async (argv, io) => {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    strict: true,
    options: {
      ...CLIENT_OPTIONS,
      mac: { type: 'string', multiple: true },
      name: { type: 'string' },
      arch: { type: 'string' },
      firmware: { type: 'string' },
      tag: { type: 'string', multiple: true },
      state: { type: 'string' },
      owner: { type: 'string' },
      add: { type: 'string', multiple: true },
      remove: { type: 'string', multiple: true },
    },
  });
  const ref = positionals[0];
  const needsRef = sub === 'show' || sub === 'edit' || sub === 'remove' || sub === 'tag' || sub === 'commission';
  if (sub === undefined || !['add', 'list', 'show', 'edit', 'remove', 'tag', 'commission'].includes(sub) || (needsRef && ref === undefined)) {
    io.err(USAGE);
    return 2;
  }
  try {
    const api = clientFrom(values, io);
    return await run(api, sub, ref ?? '', values, io);
  } catch (err) {
    return reportError(err, io, values.json);
  }
};

type Values = { json?: boolean; mac?: string[]; name?: string; arch?: string; firmware?: string; tag?: string[]; state?: string; owner?: string; add?: string[]; remove?: string[] };

async function run(api: ApiClient, sub: string, ref: string, v: Values, io: CliIo): Promise<number> {
  const path = `/machines/${enc(ref)}`;
  switch (sub) {
    case 'add': {
      const m = await api.request<MachineView>('POST', '/machines', { macs: v.mac ?? [], name: v.name, arch: v.arch, firmware: v.firmware, tags: v.tag });
      printMachine(io, m, v.json);
      return 0;
    }
    case 'list': {
      const { items } = await api.request<{ items: MachineView[] }>('GET', '/machines', undefined, { state: v.state, tag: v.tag?.[0], owner: v.owner, arch: v.arch, mac: v.mac?.[0] });
      io.out(v.json ? JSON.stringify(items, null, 2) : table(machineRows(items), MACHINE_COLUMNS));
      return 0;
    }
    case 'show':
      printMachine(io, await api.request<MachineView>('GET', path), v.json);
      return 0;
    case 'edit':
      printMachine(io, await api.request<MachineView>('PATCH', path, { name: v.name, arch: v.arch, firmware: v.firmware }), v.json);
      return 0;
    case 'remove':
      await api.request('DELETE', path);
      io.out(v.json ? JSON.stringify({ removed: ref }) : `removed ${ref}`);
      return 0;
    case 'tag':
      printMachine(io, await api.request<MachineView>('POST', `${path}/tags`, { add: v.add, remove: v.remove }), v.json);
      return 0;
    default:
      printMachine(io, await api.request<MachineView>('POST', `${path}/commission`), v.json);
      return 0;
  }
}

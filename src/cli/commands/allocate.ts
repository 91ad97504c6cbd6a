import { parseArgs } from 'node:util';
import type { MachineView } from '../../api/views.js';
import { clientFrom, CLIENT_OPTIONS } from '../client.js';
import { reportError, type Command } from '../io.js';
import { printMachine } from './machine.js';

const int = (v: string | undefined, flag: string): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${flag} takes a whole number, got ${JSON.stringify(v)}`);
  return n;
};

/** `bootrack allocate [constraints]`: one ready machine, atomically. */
export const allocateCommand: Command = async (argv, io) => {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      ...CLIENT_OPTIONS,
      name: { type: 'string' },
      mac: { type: 'string' },
      arch: { type: 'string' },
      'min-cpus': { type: 'string' },
      'min-memory': { type: 'string' },
      'min-disk': { type: 'string' },
      tag: { type: 'string', multiple: true },
      'not-tag': { type: 'string', multiple: true },
      key: { type: 'string' },
      owner: { type: 'string' },
    },
  });
  try {
    const api = clientFrom(values, io);
    const constraints = {
      name: values.name,
      mac: values.mac,
      arch: values.arch,
      minCpus: int(values['min-cpus'], '--min-cpus'),
      minMemoryMib: int(values['min-memory'], '--min-memory'),
      minDiskGib: int(values['min-disk'], '--min-disk'),
      tags: values.tag,
      notTags: values['not-tag'],
    };
    const result = await api.request<{ machine: MachineView; created: boolean }>('POST', '/allocations', { constraints, requestKey: values.key, owner: values.owner });
    if (values.json) io.out(JSON.stringify(result, null, 2));
    else {
      io.out(result.created ? `allocated ${result.machine.name} to ${result.machine.owner}` : `already held: ${result.machine.name} (same --key)`);
      printMachine(io, result.machine, false);
    }
    return 0;
  } catch (err) {
    return reportError(err, io, values.json);
  }
};

/** `bootrack release <ref>`. */
export const releaseCommand: Command = async (argv, io) => {
  const { values, positionals } = parseArgs({ args: argv, strict: true, allowPositionals: true, options: { ...CLIENT_OPTIONS } });
  if (positionals.length !== 1) {
    io.err('usage: bootrack release <machine> [--api URL --token T --ca FILE --json]');
    return 2;
  }
  try {
    const m = await clientFrom(values, io).request<MachineView>('DELETE', `/allocations/${encodeURIComponent(positionals[0]!)}`);
    if (values.json) io.out(JSON.stringify(m, null, 2));
    else io.out(`released ${m.name}: ${m.state}`);
    return 0;
  } catch (err) {
    return reportError(err, io, values.json);
  }
};

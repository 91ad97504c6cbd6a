import { parseArgs } from 'node:util';
import { clientFrom, CLIENT_OPTIONS } from '../client.js';
import { reportError, type Command } from '../io.js';

const USAGE = [
  'usage: bootrack power status <machine>',
  '       bootrack power on|off|cycle|reset|soft-off <machine>',
  '       bootrack power bootdev <machine> pxe|disk [--persistent]',
  '       (API client: --api URL --token T --ca FILE --json)',
].join('\n');

const ACTIONS: Readonly<Record<string, string>> = { on: 'on', off: 'off', cycle: 'cycle', reset: 'reset', 'soft-off': 'soft_off', soft_off: 'soft_off' };

/** `bootrack power ...`: power state, actions and the next boot device of one machine, through the API. */
export const powerCommand: Command = async (argv, io) => {
  const { values, positionals } = parseArgs({ args: argv, strict: true, allowPositionals: true, options: { ...CLIENT_OPTIONS, persistent: { type: 'boolean' } } });
  const [verb, ref, device] = positionals;
  const valid = verb !== undefined && ref !== undefined && ((verb === 'status' && positionals.length === 2) || (ACTIONS[verb] !== undefined && positionals.length === 2) || (verb === 'bootdev' && positionals.length === 3 && (device === 'pxe' || device === 'disk')));
  if (!valid || (values.persistent && verb !== 'bootdev')) {
    io.err(USAGE);
    return 2;
  }
  try {
    const api = clientFrom(values, io);
    const path = `/machines/${encodeURIComponent(ref!)}`;
    if (verb === 'status') {
      const r = await api.request<{ state: string }>('GET', `${path}/power`);
      io.out(values.json ? JSON.stringify(r) : `${ref}: ${r.state}`);
    } else if (verb === 'bootdev') {
      const r = await api.request<{ device: string; persistent: boolean }>('PUT', `${path}/boot-device`, { device, persistent: values.persistent ?? false });
      io.out(values.json ? JSON.stringify(r) : `${ref}: next boot ${r.device}${r.persistent ? ' (persistent)' : ' (once)'}`);
    } else {
      const r = await api.request<{ action: string; done: boolean }>('POST', `${path}/power`, { action: ACTIONS[verb!] });
      io.out(values.json ? JSON.stringify(r) : `${ref}: ${r.action} ${r.done ? 'done' : 'requested'}`);
    }
    return 0;
  } catch (err) {
    return reportError(err, io, values.json);
  }
};

import { parseArgs } from 'node:util';
import type { Timeline } from '../../api/timeline.js';
import type { EventRecord } from '../../registry/index.js';
import { clientFrom, CLIENT_OPTIONS } from '../client.js';
import { reportError, table, type CliIo, type Command } from '../io.js';

/** `bootrack events [--machine REF] [--kind K] [--limit N]`. */
export const eventsCommand: Command = async (argv, io) => {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: { ...CLIENT_OPTIONS, machine: { type: 'string' }, kind: { type: 'string' }, limit: { type: 'string' }, since: { type: 'string' } },
  });
  try {
    const machine = values.machine ?? positionals[0];
    const { items } = await clientFrom(values, io).request<{ items: EventRecord[] }>('GET', '/events', undefined, { machine, kind: values.kind, limit: values.limit, since: values.since });
    if (values.json) io.out(JSON.stringify(items, null, 2));
    else io.out(table(items.map(eventRow), ['id', 'at', 'kind', 'type', 'actor', 'machine', 'mac', 'change', 'data']));
    return 0;
  } catch (err) {
    return reportError(err, io, values.json);
  }
};

function eventRow(e: EventRecord): Record<string, unknown> {
  return {
    id: e.id,
    at: e.at,
    kind: e.kind,
    type: e.type,
    actor: e.actor,
    machine: e.machineId,
    mac: e.mac,
    change: e.fromState || e.toState ? `${e.fromState ?? ''}→${e.toState ?? ''}` : null,
    data: Object.keys(e.data).length ? e.data : null,
  };
}

/** `bootrack timeline <mac|name|id>`: the boot flight recorder, one block per boot with its verdict. */
export const timelineCommand: Command = async (argv, io) => {
  const { values, positionals } = parseArgs({ args: argv, strict: true, allowPositionals: true, options: { ...CLIENT_OPTIONS, gap: { type: 'string' } } });
  if (positionals.length !== 1) {
    io.err('usage: bootrack timeline <mac|name|id> [--gap SECONDS] [--api URL --token T --ca FILE --json]');
    return 2;
  }
  try {
    const t = await clientFrom(values, io).request<Timeline & { machine: { id: string; name: string; macs: string[] } }>(
      'GET',
      `/machines/${encodeURIComponent(positionals[0]!)}/timeline`,
      undefined,
      { gapSeconds: values.gap },
    );
    if (values.json) io.out(JSON.stringify(t, null, 2));
    else printTimeline(io, t);
    return 0;
  } catch (err) {
    return reportError(err, io, values.json);
  }
};

function printTimeline(io: CliIo, t: Timeline & { machine: { name: string; macs: string[] } }): void {
  io.out(`${t.machine.name} (${t.machine.macs.join(', ')}): ${t.boots.length} boot(s)`);
  if (t.boots.length === 0) io.out('no boot recorded');
  t.boots.forEach((boot, i) => {
    const status = boot.stalledAt === null ? 'COMPLETE' : boot.inProgress ? `IN PROGRESS (next: ${boot.stalledAt})` : `STALLED at ${boot.stalledAt}`;
    io.out(`\nboot ${i + 1}  ${boot.startedAt} → ${boot.endedAt}  ${status}: ${boot.verdict}`);
    for (const step of boot.steps) io.out(`  ${step.at}  ${step.summary}`);
  });
}

#!/usr/bin/env -S node --max-semi-space-size=4
import { processIo, reportError, type CliIo, type Command } from './io.js';

/** Loads a command's module only when it runs, so `bootrack db check` never pays for ssh2 or the AWS SDK. */
function lazy<K extends string>(load: () => Promise<{ [P in K]: Command }>, name: K): Command {
  return async (argv, io) => (await load())[name](argv, io);
}

/** Every command, explicitly; nothing registers itself by import. */
export const COMMANDS: Readonly<Record<string, { run: Command; summary: string }>> = {
  serve: { run: lazy(() => import('./commands/serve.js'), 'serveCommand'), summary: 'run the appliance (DHCP, TFTP, HTTP, API, power)' },
  config: { run: lazy(() => import('./commands/config.js'), 'configCommand'), summary: 'config check: print the effective config or its errors' },
  db: { run: lazy(() => import('./commands/db.js'), 'dbCommand'), summary: 'db check: integrity and migration level' },
  machine: { run: lazy(() => import('./commands/machine.js'), 'machineCommand'), summary: 'machine add|list|show|edit|remove|tag|commission (API client)' },
  allocate: { run: lazy(() => import('./commands/allocate.js'), 'allocateCommand'), summary: 'allocate one ready machine matching constraints (API client)' },
  release: { run: lazy(() => import('./commands/allocate.js'), 'releaseCommand'), summary: 'release an allocated machine (API client)' },
  events: { run: lazy(() => import('./commands/events.js'), 'eventsCommand'), summary: 'the event log, optionally of one machine (API client)' },
  timeline: { run: lazy(() => import('./commands/events.js'), 'timelineCommand'), summary: 'boot flight recorder of a machine: where its boot stalled (API client)' },
  power: { run: lazy(() => import('./commands/power.js'), 'powerCommand'), summary: 'power status|on|off|cycle|reset|soft-off|bootdev <machine> (API client)' },
  token: { run: lazy(() => import('./commands/token.js'), 'tokenCommand'), summary: 'token create|list|revoke (API, or the database directly to bootstrap)' },
  image: { run: lazy(() => import('./commands/image.js'), 'imageCommand'), summary: 'image build: the discovery OS kernel + initramfs + manifest' },
  provision: { run: lazy(() => import('./commands/provision.js'), 'provisionCommand'), summary: 'provision up|down|status <machine-set.yaml>: converge or destroy a set of machines (drivers)' },
};

export async function runCli(argv: string[], io: CliIo = processIo): Promise<number> {
  const [name, ...rest] = argv;
  const command = name === undefined ? undefined : COMMANDS[name];
  if (!command) {
    io.err(['usage: bootrack <command> [options]', '', ...Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(12)} ${c.summary}`)].join('\n'));
    return name === undefined || name === 'help' || name === '--help' ? 0 : 2;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    return reportError(err, io);
  }
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (invokedDirectly || process.argv[1]?.endsWith('/bootrack')) {
  runCli(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.exitCode = reportError(err, processIo);
    },
  );
}

#!/usr/bin/env node
import { configCommand } from './commands/config.js';
import { dbCommand } from './commands/db.js';
import { serveCommand } from './commands/serve.js';
import { processIo, reportError, type CliIo, type Command } from './io.js';

/** Every command, explicitly; nothing registers itself by import. */
export const COMMANDS: Readonly<Record<string, { run: Command; summary: string }>> = {
  serve: { run: serveCommand, summary: 'run the appliance (DHCP, TFTP, HTTP, API, power)' },
  config: { run: configCommand, summary: 'config check: print the effective config or its errors' },
  db: { run: dbCommand, summary: 'db check: integrity and migration level' },
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

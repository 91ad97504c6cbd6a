import { parseArgs } from 'node:util';
import { serve } from '../../main.js';
import type { Command } from '../io.js';

export const serveCommand: Command = async (argv) => {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, set: { type: 'string', multiple: true } }, strict: true });
  await serve({ configPath: values.config, overrides: values.set ?? [] });
  return 0;
};

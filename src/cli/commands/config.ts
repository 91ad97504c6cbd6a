import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { loadConfig, redactConfig } from '../../config/load.js';
import { reportError, type Command } from '../io.js';

/** `bootrack config check`: the effective config (secrets redacted), or each error with its field path. */
export const configCommand: Command = async (argv, io) => {
  const [sub, ...rest] = argv;
  if (sub !== 'check') {
    io.err('usage: bootrack config check [--config FILE] [--set key.path=value ...] [--json]');
    return 2;
  }
  const { values } = parseArgs({ args: rest, options: { config: { type: 'string', short: 'c' }, set: { type: 'string', multiple: true }, json: { type: 'boolean' } }, strict: true });
  try {
    const { config, file } = loadConfig({ configPath: values.config, env: io.env, overrides: values.set ?? [] });
    const shown = redactConfig(config);
    if (values.json) io.out(JSON.stringify({ file, config: shown }, null, 2));
    else io.out(`# effective configuration (from ${file ?? 'embedded defaults'}, environment and flags)\n${stringify(shown)}`);
    return 0;
  } catch (err) {
    return reportError(err, io, values.json);
  }
};

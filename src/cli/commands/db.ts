import { parseArgs } from 'node:util';
import { loadConfig } from '../../config/load.js';
import { checkDatabase, openDatabase } from '../../registry/index.js';
import { reportError, type Command } from '../io.js';

/** `bootrack db check`: integrity, foreign keys and migration level, without changing anything. */
export const dbCommand: Command = async (argv, io) => {
  const [sub, ...rest] = argv;
  if (sub !== 'check') {
    io.err('usage: bootrack db check [--config FILE] [--db PATH] [--json]');
    return 2;
  }
  const { values } = parseArgs({ args: rest, options: { config: { type: 'string', short: 'c' }, db: { type: 'string' }, json: { type: 'boolean' } }, strict: true });
  try {
    const path = values.db ?? loadConfig({ configPath: values.config, env: io.env }).config.database.path;
    const db = openDatabase(path, { readonly: true });
    try {
      const result = checkDatabase(db);
      const ok = result.integrity.length === 1 && result.integrity[0] === 'ok' && result.foreignKeyViolations === 0 && result.schemaVersion === result.latestVersion;
      if (values.json) io.out(JSON.stringify({ path, ok, ...result }));
      else {
        io.out(`database        ${path}`);
        io.out(`integrity       ${result.integrity.join('; ')}`);
        io.out(`foreign keys    ${result.foreignKeyViolations === 0 ? 'ok' : `${result.foreignKeyViolations} violations`}`);
        io.out(`schema version  ${result.schemaVersion} of ${result.latestVersion}${result.schemaVersion < result.latestVersion ? ' (migrates on next serve)' : ''}`);
      }
      return ok ? 0 : 1;
    } finally {
      db.close();
    }
  } catch (err) {
    return reportError(err, io, values.json);
  }
};

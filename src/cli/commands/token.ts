import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { BootrackError } from '../../common/errors.js';
import { loadConfig } from '../../config/load.js';
import { openRegistry, type Registry, type TokenRecord, type TokenRole } from '../../registry/index.js';
import { clientFrom, CLIENT_OPTIONS } from '../client.js';
import { reportError, table, type CliIo, type Command } from '../io.js';

const USAGE = `usage: bootrack token <sub> [options]
  create --name N --role admin|driver|agent [--owner O] [--machine REF] [--expires-in SECONDS]
  list
  revoke <id>
With an API token (--token, BOOTRACK_TOKEN or ~/.config/bootrack/cli.yaml) these talk to the API.
Without one, or with --local, they open the database from the daemon config (--config, --db):
that is how the first admin token is made, as root on the appliance.`;

const ROLES: readonly TokenRole[] = ['admin', 'driver', 'agent'];

export const tokenCommand: Command = async (argv, io) => {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    strict: true,
    allowPositionals: true,
    options: {
      ...CLIENT_OPTIONS,
      name: { type: 'string' },
      role: { type: 'string' },
      owner: { type: 'string' },
      machine: { type: 'string' },
      'expires-in': { type: 'string' },
      local: { type: 'boolean' },
      config: { type: 'string', short: 'c' },
      db: { type: 'string' },
    },
  });
  if ((sub !== 'create' && sub !== 'list' && sub !== 'revoke') || (sub === 'create' && (!values.name || !values.role)) || (sub === 'revoke' && positionals.length !== 1)) {
    io.err(USAGE);
    return 2;
  }
  try {
    const api = clientFrom(values, io);
    const backend: Backend = values.local || !api.hasToken ? localBackend(values, io) : { call: (m, p, b) => api.request(m, p, b), close: () => undefined };
    try {
      if (sub === 'create') {
        if (!ROLES.includes(values.role as TokenRole)) throw new BootrackError('VALIDATION_FAILED', `--role must be one of ${ROLES.join(', ')}`, { issues: [{ path: 'role', message: `got ${values.role}` }] });
        const expires = values['expires-in'] === undefined ? undefined : Number(values['expires-in']);
        const created = (await backend.call('POST', '/tokens', { name: values.name, role: values.role, owner: values.owner, machine: values.machine, expiresInSeconds: expires })) as { token: string; record: TokenRecord };
        if (values.json) io.out(JSON.stringify(created, null, 2));
        else {
          // The token alone on stdout (so `T=$(bootrack token create ...)` works); the rest on stderr.
          io.out(created.token);
          io.err(`created ${created.record.role} token ${created.record.id} (${created.record.name}); it is shown only this once`);
        }
      } else if (sub === 'list') {
        const { items } = (await backend.call('GET', '/tokens')) as { items: TokenRecord[] };
        io.out(values.json ? JSON.stringify(items, null, 2) : table(items as unknown as Array<Record<string, unknown>>, ['id', 'name', 'role', 'owner', 'machineId', 'createdAt', 'expiresAt', 'usedAt', 'revokedAt']));
      } else {
        const record = (await backend.call('DELETE', `/tokens/${encodeURIComponent(positionals[0]!)}`)) as TokenRecord;
        io.out(values.json ? JSON.stringify(record, null, 2) : `revoked ${record.id} (${record.name})`);
      }
      return 0;
    } finally {
      backend.close();
    }
  } catch (err) {
    return reportError(err, io, values.json);
  }
};

interface Backend {
  call(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<unknown>;
  close(): void;
}

/**
 * The bootstrap path: straight to the registry, as the API would do it, with an audit row naming the
 * local user. The plaintext token is returned once and never stored or logged.
 */
function localBackend(values: { config?: string; db?: string }, io: CliIo): Backend {
  const { config } = loadConfig({ configPath: values.config, env: io.env });
  const databasePath = values.db ?? config.database.path;
  let registry: Registry;
  try {
    registry = openRegistry({ databasePath, secretKey: { path: config.secrets.keyPath }, busyTimeoutMs: config.database.busyTimeoutMs });
  } catch (err) {
    if (err instanceof BootrackError) throw err;
    throw new BootrackError('INTERNAL', `cannot open the database ${databasePath} (${(err as Error).message}); run this as root on the appliance, or pass an API token with --token`, { path: databasePath }, { cause: err });
  }
  const actor = `local:${safeUser()}`;
  return {
    async call(method, path, body) {
      if (method === 'GET') return { items: registry.tokens.list() };
      if (method === 'DELETE') {
        const record = registry.tokens.revoke(decodeURIComponent(path.slice('/tokens/'.length)));
        registry.events.append({ kind: 'audit', type: 'api.tokens.revoke', actor, machineId: record.machineId, data: { tokenId: record.id, name: record.name, via: 'cli-local' } });
        return record;
      }
      const b = body as { name: string; role: TokenRole; owner?: string; machine?: string; expiresInSeconds?: number };
      if (b.role === 'agent' && !b.machine) throw new BootrackError('VALIDATION_FAILED', 'an agent token needs --machine', { issues: [{ path: 'machine', message: 'required for role agent' }] });
      const machineId = b.machine ? registry.machines.get(b.machine).id : null;
      const created = registry.tokens.create({
        name: b.name,
        role: b.role,
        owner: b.role === 'driver' ? (b.owner ?? b.name) : null,
        machineId,
        expiresAt: b.expiresInSeconds === undefined || !Number.isFinite(b.expiresInSeconds) ? null : new Date(Date.now() + b.expiresInSeconds * 1000),
      });
      registry.events.append({ kind: 'audit', type: 'api.tokens.create', actor, machineId, data: { tokenId: created.record.id, name: b.name, role: b.role, via: 'cli-local' } });
      return created;
    },
    close: () => registry.close(),
  };
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

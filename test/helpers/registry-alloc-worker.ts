// Child process for the concurrency and crash tests: opens the same database file as its siblings.
import { isBootrackError } from '../../src/common/errors.js';
import { openRegistry } from '../../src/registry/index.js';

const [mode, dbPath, keyHex, owner, countText] = process.argv.slice(2);
const registry = openRegistry({ databasePath: dbPath!, secretKey: Buffer.from(keyHex!, 'hex'), busyTimeoutMs: 30_000 });
const count = Number(countText);

if (mode === 'allocate') {
  const won: string[] = [];
  let noMatch = 0;
  const other: string[] = [];
  for (let i = 0; i < count; i++) {
    try {
      won.push(registry.allocations.allocate({ constraints: {}, owner: owner!, requestKey: `${owner}-${i}` }, { actor: owner! }).machine.id);
    } catch (err) {
      if (isBootrackError(err, 'NO_MATCHING_MACHINE')) noMatch++;
      else other.push(String(err));
    }
  }
  registry.close();
  process.stdout.write(JSON.stringify({ won, noMatch, other }));
} else if (mode === 'churn') {
  // Allocates, deploys and releases forever; the parent kills it with SIGKILL mid-transaction.
  process.stdout.write('started\n');
  for (let i = 0; i < count; i++) {
    try {
      const { machine } = registry.allocations.allocate({ constraints: {}, owner: owner! }, { actor: owner! });
      registry.machines.transition(machine.id, 'deploying', { actor: owner! });
      registry.machines.transition(machine.id, 'deployed', { actor: owner! });
      registry.allocations.release(machine.id, owner!, { actor: owner! });
    } catch (err) {
      if (!isBootrackError(err, 'NO_MATCHING_MACHINE')) throw err;
    }
  }
  registry.close();
}

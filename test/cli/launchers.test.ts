import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DAEMON_NODE_OPTIONS, missingDaemonOptions } from '../../src/common/node-options.js';

const REPO = join(import.meta.dirname, '..', '..');
const read = (path: string) => readFileSync(join(REPO, path), 'utf8');

/** The line of each launcher that starts the daemon's node. */
const LAUNCHERS: Record<string, string> = {
  'src/cli/bootrack.ts (shebang)': read('src/cli/bootrack.ts').split('\n')[0]!,
  'npm start': (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts.start!,
  'scripts/install.sh': read('scripts/install.sh').split('\n').find((l) => l.startsWith('exec node'))!,
  'systemd/bootrack.service': read('systemd/bootrack.service').split('\n').find((l) => l.startsWith('ExecStart='))!,
};

describe('daemon launchers', () => {
  it.each(Object.entries(LAUNCHERS))('%s passes every daemon node option', (_, line) => {
    expect(line).toBeDefined();
    for (const option of DAEMON_NODE_OPTIONS) expect(line.split(/\s+/)).toContain(option);
  });

  it('the shebang, run by env -S, starts node with the options, and they take effect (a young generation of at most 2 x 4 MiB)', () => {
    const shebang = LAUNCHERS['src/cli/bootrack.ts (shebang)']!;
    expect(shebang.startsWith('#!/usr/bin/env -S ')).toBe(true);
    const script = `
      const v8 = require('node:v8');
      let keep = [];
      for (let i = 0; i < 2e6; i++) { keep.push({ i, s: 'x' + i }); if (keep.length > 50000) keep = []; }
      const young = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
      console.log(JSON.stringify({ execArgv: process.execArgv, young }));`;
    const run = spawnSync('/usr/bin/env', ['-S', shebang.slice('#!/usr/bin/env -S '.length), '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(run.status, run.stderr).toBe(0);
    const { execArgv, young } = JSON.parse(run.stdout) as { execArgv: string[]; young: number };
    expect(missingDaemonOptions(execArgv)).toEqual([]);
    expect(young).toBeLessThanOrEqual(8 * 1024 * 1024);
  });

  it('names the options a process was started without', () => {
    expect(missingDaemonOptions([])).toEqual([...DAEMON_NODE_OPTIONS]);
    expect(missingDaemonOptions(['--enable-source-maps', ...DAEMON_NODE_OPTIONS])).toEqual([]);
  });
});

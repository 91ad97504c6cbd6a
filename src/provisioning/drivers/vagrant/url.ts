import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { BootrackError } from '../../../common/errors.js';

/**
 * `vagrant:<dir>` → `vagrant:<absolute dir>`, no trailing slash. A relative dir is resolved against
 * the working directory ONCE, here, so the saved URL no longer depends on where the next run starts
 * (CP#121 "Cannot move machine … from vagrant:…"); `~/` is the home directory. A bare `vagrant`
 * (or `vagrant:`) is `<configDir>/vms`, configDir being driverOptions.configDir, else
 * $XDG_CONFIG_HOME/bootrack, else ~/.config/bootrack (Chef used <chef config dir>/vms).
 */
export function canonicalizeVagrantUrl(url: string, options: { configDir?: string; cwd?: string; home?: string; xdgConfigHome?: string } = {}): string {
  const m = /^vagrant(?::(.*))?$/i.exec(url.trim());
  if (!m) throw new BootrackError('INVALID_DRIVER_URL', `expected vagrant[:<directory>], got ${JSON.stringify(url)}`, { url });
  const home = options.home ?? homedir();
  let dir = (m[1] ?? '').trim();
  if (dir.startsWith('file://')) dir = decodeURIComponent(dir.slice('file://'.length));
  if (dir === '') {
    const config = options.configDir ?? (options.xdgConfigHome ? join(options.xdgConfigHome, 'bootrack') : join(home, '.config', 'bootrack'));
    dir = join(config, 'vms');
  } else if (dir === '~' || dir.startsWith('~/')) {
    dir = join(home, dir.slice(1));
  }
  if (/[\0\n]/.test(dir)) throw new BootrackError('INVALID_DRIVER_URL', `the vagrant directory in ${JSON.stringify(url)} contains a control character`, { url });
  const abs = isAbsolute(dir) ? resolve(dir) : resolve(options.cwd ?? process.cwd(), dir);
  return `vagrant:${abs.length > 1 ? abs.replace(/\/+$/, '') : abs}`;
}

import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BootrackError } from '../common/errors.js';
import type { ActionHandler } from './action-handler.js';
import { ManagedEntryStore, type EntryData, type ResourceType } from './managed-entry.js';

/**
 * The default store: one JSON document per entry, `<dir>/<type>/<name>.json`. A write goes to a
 * temp file in the same directory, is fsync'd, then renamed over the old one, so a crash leaves
 * either the old or the new document, never half of one. Names are percent-encoded into file names.
 */
export class FileEntryStore extends ManagedEntryStore {
  readonly dir: string;

  constructor(dir: string) {
    super();
    this.dir = resolve(dir);
  }

  #file(type: ResourceType, name: string): string {
    if (name.length === 0) throw new BootrackError('VALIDATION_FAILED', 'an entry name may not be empty', { type });
    return join(this.dir, type, `${encodeURIComponent(name)}.json`);
  }

  async getData(type: ResourceType, name: string): Promise<EntryData | undefined> {
    const file = this.#file(type, name);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      return JSON.parse(text) as EntryData;
    } catch (err) {
      throw new BootrackError('CONFIG_UNREADABLE', `${file} is not valid JSON`, { file }, { cause: err });
    }
  }

  async saveData(type: ResourceType, name: string, data: EntryData, ah: ActionHandler): Promise<void> {
    const file = this.#file(type, name);
    const text = JSON.stringify(data, null, 2) + '\n';
    const existing = await readFile(file, 'utf8').catch(() => undefined);
    if (existing === text) return;
    await ah.performAction(`save ${type} ${name} to ${file}`, async () => {
      await mkdir(join(this.dir, type), { recursive: true });
      const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
      try {
        const handle = await open(temp, 'w', 0o600);
        try {
          await handle.writeFile(text);
          await handle.sync();
        } finally {
          await handle.close();
        }
        await rename(temp, file);
      } catch (err) {
        await rm(temp, { force: true });
        throw err;
      }
    });
  }

  async deleteData(type: ResourceType, name: string, ah: ActionHandler): Promise<void> {
    const file = this.#file(type, name);
    const exists = await readFile(file).then(
      () => true,
      () => false,
    );
    if (!exists) return;
    await ah.performAction(`delete ${type} ${name} (${file})`, () => unlink(file));
  }

  identifier(type: ResourceType, name: string): string {
    return `${pathToFileURL(this.dir).href}/${type}/${encodeURIComponent(name)}`;
  }

  async list(type: ResourceType): Promise<string[]> {
    const names = await readdir(join(this.dir, type)).catch(() => [] as string[]);
    return names
      .filter((n) => n.endsWith('.json'))
      .map((n) => decodeURIComponent(n.slice(0, -'.json'.length)))
      .sort();
  }
}

import { BootrackError } from '../common/errors.js';
import type { ActionHandler } from './action-handler.js';

/**
 * What a driver saves to find a machine again (Chef's `machine_spec.reference`). JSON-safe, owned
 * by the driver, and it MUST hold the canonical `driverUrl`. It never holds credentials: those come
 * from `driverOptions` each run (CP PR#98); `save` refuses credential-looking keys.
 */
export interface MachineReference {
  driverUrl: string;
  driverVersion: string;
  [key: string]: unknown;
}

export type EntryData = Record<string, unknown>;
export type ResourceType = 'machine' | 'machine_image' | 'load_balancer';

const CREDENTIAL_KEY = /(password|passwd|secret|token|private_?key|passphrase|credential)/i;

/** Throws CREDENTIALS_IN_REFERENCE if any key at any depth looks like a credential. */
export function assertNoCredentials(value: unknown, path = 'reference'): void {
  if (Array.isArray(value)) value.forEach((v, i) => assertNoCredentials(v, `${path}[${i}]`));
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (CREDENTIAL_KEY.test(k)) {
        throw new BootrackError('CREDENTIALS_IN_REFERENCE', `${path}.${k} looks like a credential; credentials belong in driverOptions, never in a saved reference`, { path: `${path}.${k}` });
      }
      assertNoCredentials(v, `${path}.${k}`);
    }
  }
}

/**
 * The saved record of one managed thing (Chef's ManagedEntry). `data` is the whole stored document;
 * `reference` lives at `data.reference` (legacy `data.location` is read as a fallback).
 */
export class ManagedEntry {
  readonly store: ManagedEntryStore;
  readonly resourceType: ResourceType;
  readonly name: string;
  data: EntryData;

  constructor(store: ManagedEntryStore, resourceType: ResourceType, name: string, data: EntryData = {}) {
    this.store = store;
    this.resourceType = resourceType;
    this.name = name;
    this.data = data;
  }

  /** Globally unique, even before the entry is saved. */
  get id(): string {
    return this.store.identifier(this.resourceType, this.name);
  }

  get reference(): MachineReference | undefined {
    const ref = this.data.reference ?? this.data.location;
    return ref !== null && typeof ref === 'object' ? (ref as MachineReference) : undefined;
  }

  set reference(value: MachineReference | undefined) {
    delete this.data.location;
    if (value === undefined) delete this.data.reference;
    else this.data.reference = value;
  }

  get driverUrl(): string | undefined {
    const own = this.data.driverUrl;
    if (typeof own === 'string') return own;
    return this.reference?.driverUrl;
  }

  set driverUrl(value: string | undefined) {
    if (value === undefined) delete this.data.driverUrl;
    else this.data.driverUrl = value;
  }

  /** Saves now (a no-op when the stored document is identical). Through the action handler: why-run saves nothing. */
  async save(ah: ActionHandler): Promise<void> {
    assertNoCredentials(this.reference);
    await this.store.saveData(this.resourceType, this.name, this.data, ah);
  }

  async delete(ah: ActionHandler): Promise<void> {
    await this.store.deleteData(this.resourceType, this.name, ah);
  }
}

export class MachineSpec extends ManagedEntry {
  constructor(store: ManagedEntryStore, name: string, data: EntryData = {}) {
    super(store, 'machine', name, data);
  }
}

/**
 * Where managed entries live (Chef's ManagedEntryStore). Implement the four abstract methods;
 * `saveData` and `deleteData` go through `ah.performAction` so why-run writes nothing.
 */
export abstract class ManagedEntryStore {
  abstract getData(type: ResourceType, name: string): Promise<EntryData | undefined>;
  abstract saveData(type: ResourceType, name: string, data: EntryData, ah: ActionHandler): Promise<void>;
  abstract deleteData(type: ResourceType, name: string, ah: ActionHandler): Promise<void>;
  abstract identifier(type: ResourceType, name: string): string;
  abstract list(type: ResourceType): Promise<string[]>;

  newEntry(type: ResourceType, name: string, data: EntryData = {}): ManagedEntry {
    return type === 'machine' ? new MachineSpec(this, name, data) : new ManagedEntry(this, type, name, data);
  }

  async get(type: ResourceType, name: string): Promise<ManagedEntry | undefined> {
    const data = await this.getData(type, name);
    return data === undefined ? undefined : this.newEntry(type, name, data);
  }

  async getOrNew(type: ResourceType, name: string): Promise<ManagedEntry> {
    return (await this.get(type, name)) ?? this.newEntry(type, name);
  }

  async getOrThrow(type: ResourceType, name: string): Promise<ManagedEntry> {
    const entry = await this.get(type, name);
    if (!entry) throw new BootrackError('ENTRY_NOT_FOUND', `${this.identifier(type, name)} not found`, { type, name });
    return entry;
  }

  async getMachine(name: string): Promise<MachineSpec> {
    const data = await this.getData('machine', name);
    return new MachineSpec(this, name, data ?? {});
  }

  async delete(type: ResourceType, name: string, ah: ActionHandler): Promise<void> {
    await this.deleteData(type, name, ah);
  }
}

/** In-memory store, for tests and throwaway runs. */
export class MemoryEntryStore extends ManagedEntryStore {
  readonly #docs = new Map<string, string>();

  #key(type: ResourceType, name: string): string {
    return `${type}/${name}`;
  }

  async getData(type: ResourceType, name: string): Promise<EntryData | undefined> {
    const doc = this.#docs.get(this.#key(type, name));
    return doc === undefined ? undefined : (JSON.parse(doc) as EntryData);
  }

  async saveData(type: ResourceType, name: string, data: EntryData, ah: ActionHandler): Promise<void> {
    const doc = JSON.stringify(data);
    if (this.#docs.get(this.#key(type, name)) === doc) return;
    await ah.performAction(`save ${type} ${name}`, () => void this.#docs.set(this.#key(type, name), doc));
  }

  async deleteData(type: ResourceType, name: string, ah: ActionHandler): Promise<void> {
    if (!this.#docs.has(this.#key(type, name))) return;
    await ah.performAction(`delete ${type} ${name}`, () => void this.#docs.delete(this.#key(type, name)));
  }

  identifier(type: ResourceType, name: string): string {
    return `memory:///${type}/${encodeURIComponent(name)}`;
  }

  async list(type: ResourceType): Promise<string[]> {
    return [...this.#docs.keys()].filter((k) => k.startsWith(`${type}/`)).map((k) => k.slice(type.length + 1));
  }
}

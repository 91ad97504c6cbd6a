import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBootrackError } from '../../src/common/errors.js';
import { ConsoleActionHandler, PrefixActionHandler, RecordingActionHandler } from '../../src/provisioning/action-handler.js';
import { BatchError, runBatch } from '../../src/provisioning/batch.js';
import { DriverRegistry, schemeOf } from '../../src/provisioning/driver-url.js';
import { FileEntryStore } from '../../src/provisioning/file-entry-store.js';
import { MachineSpec, MemoryEntryStore } from '../../src/provisioning/managed-entry.js';
import { mergeOptions } from '../../src/provisioning/options.js';
import { getPrivateKey } from '../../src/provisioning/private-keys.js';
import { LocalSshDriver } from '../helpers/provisioning-localssh-driver.js';
import { codeOf } from '../helpers/registry-fixtures.js';
import { Driver, type MachineOptions } from '../../src/provisioning/driver.js';
import type { ActionHandler } from '../../src/provisioning/action-handler.js';
import type { Machine } from '../../src/provisioning/machine.js';
import { runMachineAction } from '../../src/provisioning/orchestrator.js';

/**
 * TEST DOUBLE driver that records a reference and then fails WITHOUT saving it (as Chef drivers
 * did): the orchestrator must save it anyway, or the box leaks on every re-run (CPA#158).
 */
class ForgetfulDriver extends Driver {
  static readonly scheme = 'forgetful';
  async allocateMachine(_ah: ActionHandler, spec: MachineSpec, options: MachineOptions): Promise<void> {
    if (!spec.reference) spec.reference = { driverUrl: this.driverUrl, driverVersion: '0', machineId: `box-${spec.name}` };
    if (options.failAllocate) throw new Error(`${spec.name}: cloud API timed out after creating the box`);
  }
  async readyMachine(): Promise<Machine> {
    throw new Error('never comes up');
  }
  async connectToMachine(): Promise<Machine> {
    throw new Error('unreachable');
  }
  async stopMachine(): Promise<void> {}
  async destroyMachine(_ah: ActionHandler, spec: MachineSpec): Promise<void> {
    spec.reference = undefined;
  }
}

describe('orchestrator save points', () => {
  it('saves a reference the driver recorded before failing, for allocate and ready failures, and names each machine', async () => {
    const store = new MemoryEntryStore();
    const driver = new ForgetfulDriver('forgetful:x', {});
    const ah = new RecordingActionHandler();
    const items = [
      { spec: await store.getMachine('a'), options: { failAllocate: true } },
      { spec: await store.getMachine('b'), options: {} },
      { spec: await store.getMachine('c'), options: { failAllocate: true } },
    ];
    const err = await runMachineAction(driver, ah, 'ready', items, { concurrency: 2 }).catch((e: unknown) => e as BatchError);
    expect(err).toBeInstanceOf(BatchError);
    expect((err as BatchError).details.failures).toEqual([
      { name: 'a', code: 'INTERNAL', message: 'a: cloud API timed out after creating the box' },
      { name: 'c', code: 'INTERNAL', message: 'c: cloud API timed out after creating the box' },
      { name: 'b', code: 'INTERNAL', message: 'never comes up' },
    ]);
    for (const n of ['a', 'b', 'c']) expect((await store.getMachine(n)).reference?.machineId).toBe(`box-${n}`);
    expect((await store.getMachine('b')).driverUrl).toBe('forgetful:x');
  });

  it('refuses to move a machine to another driver URL, and destroy deletes the spec', async () => {
    const store = new MemoryEntryStore();
    const ah = new RecordingActionHandler();
    const spec = await store.getMachine('m');
    await runMachineAction(new ForgetfulDriver('forgetful:x', {}), ah, 'allocate', [{ spec, options: {} }]);
    const err = (await runMachineAction(new ForgetfulDriver('forgetful:y', {}), ah, 'allocate', [{ spec, options: {} }]).catch((e: unknown) => e)) as BatchError;
    expect(err.message).toContain('m: MACHINE_MOVE_UNSUPPORTED');
    await runMachineAction(new ForgetfulDriver('forgetful:x', {}), ah, 'destroy', [{ spec, options: {} }]);
    expect(await store.list('machine')).toEqual([]);
  });
});


async function asyncCodeOf(p: Promise<unknown>): Promise<{ code?: string; message?: string }> {
  try {
    await p;
  } catch (err) {
    return isBootrackError(err) ? { code: err.code, message: err.message } : { message: String(err) };
  }
  return {};
}

describe('mergeOptions: global → driver → machine, last wins', () => {
  it('deep-merges objects, replaces arrays, skips undefined, lets null override', () => {
    const global = { arch: 'x86_64', tags: ['a', 'b'], convergenceOptions: { timeoutMs: 100, script: 'g' }, sudo: true, keep: 1 };
    const driver = { tags: ['c'], convergenceOptions: { script: 'd' }, sudo: undefined };
    const machine = { arch: 'arm64', convergenceOptions: { remotePath: '/x' }, keep: null };
    expect(mergeOptions(global, driver, machine)).toEqual({
      arch: 'arm64',
      tags: ['c'],
      convergenceOptions: { timeoutMs: 100, script: 'd', remotePath: '/x' },
      sudo: true,
      keep: null,
    });
  });

  it('never mutates or aliases its inputs, and ignores prototype keys', () => {
    const a = { nested: { list: [1, 2] } };
    const out = mergeOptions<{ nested: { list: number[] } }>(a, undefined, null, JSON.parse('{"__proto__": {"polluted": true}}') as Record<string, unknown>);
    out.nested.list.push(3);
    expect(a.nested.list).toEqual([1, 2]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('runBatch: concurrency, order, aggregate errors', () => {
  it('keeps input order, honours the limit, calls back once per item as it finishes', async () => {
    let running = 0;
    let peak = 0;
    const finished: string[] = [];
    const gates = new Map<string, () => void>();
    const items = ['a', 'b', 'c', 'd', 'e'];
    const done = runBatch(
      items,
      (x) => x,
      async (x) => {
        running++;
        peak = Math.max(peak, running);
        await new Promise<void>((r) => gates.set(x, r));
        running--;
        return x.toUpperCase();
      },
      { concurrency: 2, onEach: (x, o) => void finished.push(`${x}:${o.ok}`) },
    );
    // Release in reverse of start order, one at a time, as work becomes available.
    for (let i = 0; i < 50 && finished.length < items.length; i++) {
      await new Promise((r) => setImmediate(r));
      const open = [...gates.keys()].pop();
      if (open) {
        gates.get(open)!();
        gates.delete(open);
      }
    }
    expect(await done).toEqual(['A', 'B', 'C', 'D', 'E']);
    expect(peak).toBe(2);
    expect(finished[0]).toBe('b:true');
    expect(finished).toHaveLength(5);
  });

  it('runs everything and names each failed item; stopOnError drops queued work', async () => {
    const worker = async (x: string): Promise<string> => {
      if (x.startsWith('bad')) throw new Error(`${x} broke`);
      return x;
    };
    const err = await runBatch(['ok1', 'bad1', 'ok2', 'bad2'], (x) => x, worker).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BatchError);
    const be = err as BatchError<string>;
    expect(be.code).toBe('BATCH_FAILED');
    expect(be.message).toContain('2 of 4 failed');
    expect(be.message).toContain('bad1: INTERNAL: bad1 broke');
    expect(be.message).toContain('bad2');
    expect(be.outcomes.map((o) => o.ok)).toEqual([true, false, true, false]);
    const stopped = (await runBatch(['bad0', 'x', 'y'], (x) => x, worker, { concurrency: 1, stopOnError: true }).catch((e: unknown) => e)) as BatchError;
    expect(stopped.details.notStarted).toEqual(['x', 'y']);
  });
});

describe('action handlers and why-run', () => {
  it('why-run does not run the work, says what it would do, and is not "updated"', async () => {
    const ah = new RecordingActionHandler({ whyRun: true });
    let ran = false;
    const result = await ah.performAction('create server web1', () => {
      ran = true;
      return 42;
    });
    expect(result).toBeUndefined();
    expect(ran).toBe(false);
    expect(ah.reports).toEqual([{ kind: 'would', text: 'would create server web1' }]);
    expect(ah.isUpdated).toBe(false);
  });

  it('progress never counts as an update; a performed action does; prefixes mark locallyUpdated', async () => {
    const ah = new RecordingActionHandler();
    ah.reportProgress('waiting for SSH 1 s / 600 s');
    expect(ah.isUpdated).toBe(false);
    const p1 = new PrefixActionHandler(ah, 'web1: ');
    const p2 = new PrefixActionHandler(ah, 'web2: ');
    expect(await p1.performAction(['power on', 'boot'], () => 'ok')).toBe('ok');
    expect(ah.isUpdated).toBe(true);
    expect(p1.locallyUpdated).toBe(true);
    expect(p2.locallyUpdated).toBe(false);
    expect(ah.texts('action')).toEqual(['web1: power on', 'web1: boot']);
  });

  it('the console handler marks actions, plans and progress, and splits streamed output into lines', async () => {
    const lines: string[] = [];
    const ah = new ConsoleActionHandler((l) => lines.push(l), { whyRun: true });
    await new PrefixActionHandler(ah, 'web1: ').performAction('allocate', () => 1);
    new PrefixActionHandler(ah, 'web1: ').reportProgress('waiting for SSH 42 s / 600 s');
    const s = ah.openStream('web1');
    s.write('par');
    s.write('tial\nnext\n');
    expect(lines).toEqual(['~ would web1: allocate', '  web1: waiting for SSH 42 s / 600 s', '  web1| partial', '  web1| next']);
  });
});

describe('entry stores and specs', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'bootrack-store-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('FileEntryStore writes atomically (no temp left), skips identical saves, lists and deletes', async () => {
    const store = new FileEntryStore(join(dir, 's'));
    const ah = new RecordingActionHandler();
    const spec = await store.getMachine('web/1 ü');
    spec.reference = { driverUrl: 'pxe:http://a:80', driverVersion: '1', machineId: 'm1' };
    spec.driverUrl = 'pxe:http://a:80';
    await spec.save(ah);
    await spec.save(ah);
    expect(ah.texts('action').filter((t) => t.startsWith('save'))).toHaveLength(1);
    expect(readdirSync(join(dir, 's', 'machine'))).toEqual([`${encodeURIComponent('web/1 ü')}.json`]);
    expect(await store.list('machine')).toEqual(['web/1 ü']);
    const back = await store.getMachine('web/1 ü');
    expect(back.reference).toEqual(spec.reference);
    expect(back.id).toMatch(/^file:\/\/.*\/machine\/web%2F1%20%C3%BC$/);
    await store.delete('machine', 'web/1 ü', ah);
    expect(await store.get('machine', 'web/1 ü')).toBeUndefined();
    expect((await asyncCodeOf(store.getOrThrow('machine', 'nope'))).code).toBe('ENTRY_NOT_FOUND');
  });

  it('why-run saves nothing', async () => {
    const store = new FileEntryStore(join(dir, 'w'));
    const spec = await store.getMachine('x');
    spec.reference = { driverUrl: 'pxe:http://a:80', driverVersion: '1' };
    await spec.save(new RecordingActionHandler({ whyRun: true }));
    expect(await store.list('machine')).toEqual([]);
  });

  it('refuses to save a reference holding a credential, and reads the legacy "location" key', async () => {
    const spec = new MachineSpec(new MemoryEntryStore(), 'x');
    spec.reference = { driverUrl: 'pxe:http://a:80', driverVersion: '1', ssh: { password: 'p' } };
    expect((await asyncCodeOf(spec.save(new RecordingActionHandler()))).code).toBe('CREDENTIALS_IN_REFERENCE');
    const legacy = new MachineSpec(new MemoryEntryStore(), 'y', { location: { driverUrl: 'pxe:http://b:80', driverVersion: '0' } });
    expect(legacy.driverUrl).toBe('pxe:http://b:80');
    legacy.reference = { driverUrl: 'pxe:http://c:80', driverVersion: '1' };
    expect(legacy.data.location).toBeUndefined();
  });
});

describe('getPrivateKey', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'bootrack-keys-'));
    mkdirSync(join(dir, 'keys'));
    writeFileSync(join(dir, 'keys', 'bootstrap.pem'), 'PEM-FROM-DIR');
    writeFileSync(join(dir, 'named'), 'PEM-FROM-PATH');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds keys by name in privateKeys, then <name>/<name>.pem in privateKeyPaths', async () => {
    expect(await getPrivateKey('k', { privateKeys: { k: join(dir, 'named') } })).toBe('PEM-FROM-PATH');
    expect(await getPrivateKey('k', { privateKeys: { k: { pem: 'INLINE' } } })).toBe('INLINE');
    expect(await getPrivateKey('bootstrap', { privateKeyPaths: [join(dir, 'missing'), join(dir, 'keys')] })).toBe('PEM-FROM-DIR');
  });

  it('a miss is PRIVATE_KEY_NOT_FOUND listing every place it looked', async () => {
    const r = await asyncCodeOf(getPrivateKey('nope', { privateKeys: { other: '/x' }, privateKeyPaths: [join(dir, 'keys')] }));
    expect(r.code).toBe('PRIVATE_KEY_NOT_FOUND');
    expect(r.message).toContain(join(dir, 'keys', 'nope'));
    expect(r.message).toContain(join(dir, 'keys', 'nope.pem'));
    expect(r.message).toContain('known: other');
    expect(readFileSync(join(dir, 'keys', 'bootstrap.pem'), 'utf8')).toBe('PEM-FROM-DIR');
  });
});

describe('driverForUrl: built-ins, plug-ins, third-party packages', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'bootrack-plugins-'));
    const pkg = join(dir, 'node_modules', 'bootrack-driver-fakeplug');
    mkdirSync(pkg, { recursive: true });
    writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'bootrack-driver-fakeplug', type: 'module', main: 'index.js' }));
    writeFileSync(
      join(pkg, 'index.js'),
      `export const driverClass = {
        scheme: 'fakeplug',
        canonicalizeUrl: (url, config) => ({ url: url.toLowerCase(), config }),
        fromUrl: (url, config) => ({ driverUrl: url, config, loadedFrom: 'package' }),
      };\n`,
    );
    const wrong = join(dir, 'node_modules', 'bootrack-driver-wrongscheme');
    mkdirSync(wrong, { recursive: true });
    writeFileSync(join(wrong, 'package.json'), JSON.stringify({ name: 'bootrack-driver-wrongscheme', type: 'module', main: 'index.js' }));
    writeFileSync(join(wrong, 'index.js'), `export default { scheme: 'other', canonicalizeUrl: (u, c) => ({ url: u, config: c }), fromUrl: () => ({}) };\n`);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('parses schemes and rejects malformed URLs', () => {
    expect(schemeOf('PXE:http://a')).toBe('pxe');
    expect(schemeOf('vagrant')).toBe('vagrant');
    expect(codeOf(() => schemeOf(''))).toBe('INVALID_DRIVER_URL');
    expect(codeOf(() => schemeOf('../../etc:x'))).toBe('INVALID_DRIVER_URL');
  });

  it('an unknown scheme is UNKNOWN_DRIVER_SCHEME naming the known ones and the package convention', async () => {
    const registry = new DriverRegistry();
    registry.register('localssh', LocalSshDriver);
    const r = await asyncCodeOf(registry.driverForUrl('nosuchcloud:us-east-1', {}));
    expect(r.code).toBe('UNKNOWN_DRIVER_SCHEME');
    expect(r.message).toMatch(/known: [a-z0-9, ]*localssh, [a-z0-9, ]*pxe/);
    expect(r.message).toContain('bootrack-driver-nosuchcloud');
  });

  it('registerDriver adds a plug-in; built-ins cannot be replaced', async () => {
    const registry = new DriverRegistry();
    registry.register('localssh', LocalSshDriver);
    const d = await registry.driverForUrl(`localssh:${dir}/boxes/`, {});
    expect(d.driverUrl).toBe(`localssh:${dir}/boxes`);
    expect(codeOf(() => registry.register('pxe', LocalSshDriver))).toBe('VALIDATION_FAILED');
  });

  it('loads bootrack-driver-<scheme> only when allow-listed, and checks what it exports', async () => {
    const registry = new DriverRegistry();
    const config = { driverPackageSearchPaths: [dir] };
    expect((await asyncCodeOf(registry.driverForUrl('fakeplug:ABC', config))).code).toBe('UNKNOWN_DRIVER_SCHEME');
    const d = (await registry.driverForUrl('fakeplug:ABC', { ...config, allowedDriverPackages: ['fakeplug'] })) as unknown as { driverUrl: string; loadedFrom: string };
    expect(d).toMatchObject({ driverUrl: 'fakeplug:abc', loadedFrom: 'package' });
    expect(registry.known()).toContain('fakeplug');
    expect((await asyncCodeOf(registry.driverForUrl('wrongscheme:x', { ...config, allowedDriverPackages: ['wrongscheme'] }))).code).toBe('DRIVER_LOAD_FAILED');
    const missing = await asyncCodeOf(registry.driverForUrl('absent:x', { ...config, allowedDriverPackages: ['absent'] }));
    expect(missing.code).toBe('DRIVER_LOAD_FAILED');
    expect(missing.message).toContain('bootrack-driver-absent');
  });
});

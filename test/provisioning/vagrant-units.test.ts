/**
 * vagrant: driver units with no VM: URL canonicalisation, Vagrantfile generation, parsers over REAL
 * captures of Vagrant 2.3.4 + vagrant-libvirt 0.11.2, and the errors for a missing vagrant binary or
 * provider (the binary case spawns for real; the provider case parses vagrant's real words).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isBootrackError } from '../../src/common/errors.js';
import { RecordingActionHandler } from '../../src/provisioning/action-handler.js';
import { DriverRegistry } from '../../src/provisioning/driver-url.js';
import { checkVagrant, runVagrant } from '../../src/provisioning/drivers/vagrant/cli.js';
import type { VagrantDriver } from '../../src/provisioning/drivers/vagrant/driver.js';
import { parseMachineReadable, parseSshConfig, parseStatus, unescapeVagrant } from '../../src/provisioning/drivers/vagrant/parse.js';
import { canonicalizeVagrantUrl } from '../../src/provisioning/drivers/vagrant/url.js';
import { CLUSTER_VAGRANTFILE, machineVagrantfile, rubyLiteral } from '../../src/provisioning/drivers/vagrant/vagrantfile.js';
import { MemoryEntryStore } from '../../src/provisioning/managed-entry.js';

// Captured from the real tools (vagrant status --machine-readable after `vagrant halt`, and with two machines).
const STATUS_HALTED = `1795976698,m1,metadata,provider,libvirt
1795976698,m1,provider-name,libvirt
1795976698,m1,state,shutoff
1795976698,m1,state-human-short,shutoff
1795976698,m1,state-human-long,The Libvirt domain is not running. Run \`vagrant up\` to start it.
1795976698,,ui,info,Current machine states:\\n\\nm1                        shutoff (libvirt)\\n\\nThe Libvirt domain is not running. Run \`vagrant up\` to start it.
`;
const STATUS_TWO = `1795976757,c1,metadata,provider,libvirt
1795976758,c2,metadata,provider,libvirt
1795976758,c1,provider-name,libvirt
1795976758,c1,state,running
1795976758,c1,state-human-short,running
1795976758,c1,state-human-long,The Libvirt domain is running. To stop this machine%!(VAGRANT_COMMA) you can run\\n\`vagrant halt\`. To destroy the machine%!(VAGRANT_COMMA) you can run \`vagrant destroy\`.
1795976758,c2,provider-name,libvirt
1795976758,c2,state,not_created
1795976758,,ui,info,Current machine states:\\n\\nc1                        running (libvirt)\\nc2   not created (libvirt)
`;
const SSH_CONFIG_TWO = `Host c1
  HostName 10.78.0.165
  User root
  Port 22
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile /tmp/vglab/machines/cluster/.vagrant/machines/c1/libvirt/private_key
  IdentitiesOnly yes
  LogLevel FATAL

Host c2
  HostName 10.78.0.145
  User root
  Port 2222
  IdentityFile "/tmp/with space/private_key"
`;
// vagrant up --provider=nosuch / --provider=virtualbox without VirtualBox (Vagrant 2.3.4, stderr).
const NO_PROVIDER = `The provider 'nosuch' could not be found, but was requested to
back the machine 'm1'. Please use a provider that exists.

Vagrant knows about the following providers: virtualbox, docker, hyperv, libvirt`;
const UNUSABLE = `The provider 'virtualbox' that was requested to back the machine
'm1' is reporting that it isn't usable on this system. The
reason is shown below:

Vagrant could not detect VirtualBox! Make sure VirtualBox is properly installed.`;

describe('vagrant: parsing', () => {
  it('status --machine-readable: libvirt shutoff, %!(VAGRANT_COMMA), \\n, several machines, the target-less ui line', () => {
    expect(parseStatus(STATUS_HALTED)).toEqual([{ name: 'm1', state: 'shutoff', provider: 'libvirt', description: 'The Libvirt domain is not running. Run `vagrant up` to start it.' }]);
    const two = parseStatus(STATUS_TWO);
    expect(two.map((s) => [s.name, s.state])).toEqual([['c1', 'running'], ['c2', 'not_created']]);
    expect(two[0]!.description).toBe('The Libvirt domain is running. To stop this machine, you can run\n`vagrant halt`. To destroy the machine, you can run `vagrant destroy`.');
    expect(unescapeVagrant('a%!(VAGRANT_COMMA)b\\nc')).toBe('a,b\nc');
    expect(parseMachineReadable('warning: not machine readable\n\n12,m,state,running').map((l) => l.type)).toEqual(['state']);
  });

  it('ssh-config: one Host block per machine, quoted paths, StrictHostKeyChecking', () => {
    const [c1, c2] = parseSshConfig(SSH_CONFIG_TWO);
    expect(c1).toEqual({ host: 'c1', hostName: '10.78.0.165', user: 'root', port: 22, identityFiles: ['/tmp/vglab/machines/cluster/.vagrant/machines/c1/libvirt/private_key'], strictHostKeyChecking: false });
    expect(c2).toMatchObject({ host: 'c2', port: 2222, identityFiles: ['/tmp/with space/private_key'], strictHostKeyChecking: true });
  });
});

describe('vagrant: URL canonicalisation (CP#121: relative directories)', () => {
  it('a relative dir becomes absolute once, ~ is home, a bare `vagrant` is <config>/vms, no trailing slash', () => {
    expect(canonicalizeVagrantUrl('vagrant:vms/cluster/', { cwd: '/home/ann/project' })).toBe('vagrant:/home/ann/project/vms/cluster');
    expect(canonicalizeVagrantUrl('vagrant:../x', { cwd: '/a/b' })).toBe('vagrant:/a/x');
    expect(canonicalizeVagrantUrl('vagrant:~/vms', { home: '/home/ann' })).toBe('vagrant:/home/ann/vms');
    expect(canonicalizeVagrantUrl('vagrant:/srv/vms//', {})).toBe('vagrant:/srv/vms');
    expect(canonicalizeVagrantUrl('vagrant', { home: '/home/ann' })).toBe('vagrant:/home/ann/.config/bootrack/vms');
    expect(canonicalizeVagrantUrl('vagrant:', { home: '/h', xdgConfigHome: '/h/.cfg' })).toBe('vagrant:/h/.cfg/bootrack/vms');
    expect(canonicalizeVagrantUrl('vagrant', { configDir: '/etc/bootrack' })).toBe('vagrant:/etc/bootrack/vms');
  });

  it('driverForUrl gives the canonical URL; a machine saved under another URL is refused, not moved', async () => {
    const registry = new DriverRegistry();
    const driver = (await registry.driverForUrl('vagrant:rel/dir', {})) as VagrantDriver;
    expect(driver.driverUrl).toBe(`vagrant:${join(process.cwd(), 'rel/dir')}`);
    const spec = await new MemoryEntryStore().getMachine('x');
    spec.reference = { driverUrl: 'vagrant:/elsewhere', driverVersion: '0.1.0', machineId: 'x' };
    try {
      await driver.stopMachine(new RecordingActionHandler(), spec);
      throw new Error('expected MACHINE_MOVE_UNSUPPORTED');
    } catch (err) {
      expect(isBootrackError(err, 'MACHINE_MOVE_UNSUPPORTED'), String(err)).toBe(true);
    }
  });
});

describe('vagrant: Vagrantfile generation', () => {
  it('one define block from the options: box, hostname, networks, cpus/memory under the provider, the free-form fragment', () => {
    const text = machineVagrantfile('web1', {
      vagrantOptions: { box: 'debian/bookworm64', cpus: 2, memory: 1024, networks: [{ type: 'private_network', ip: '192.168.56.10' }, { type: 'forwarded_port', guest: 80, host: 8080 }] },
      vagrantConfig: 'machine.vm.boot_timeout = 120\n',
    }, 'libvirt');
    expect(text).toBe(`# Written by bootrack's vagrant: driver for machine "web1"; it is rewritten from the machine options.
Vagrant.configure("2") do |config|
  config.vm.define "web1" do |machine|
    machine.vm.box = "debian/bookworm64"
    machine.vm.hostname = "web1"
    machine.vm.network :private_network, ip: "192.168.56.10"
    machine.vm.network :forwarded_port, guest: 80, host: 8080
    machine.vm.provider :libvirt do |p|
      p.cpus = 2
      p.memory = 1024
    end
    # --- vagrantConfig (free-form) ---
    machine.vm.boot_timeout = 120
  end
end
`);
    expect(machineVagrantfile('web1', { vagrantOptions: { box: 'b' } }, 'libvirt')).toBe(machineVagrantfile('web1', { vagrantOptions: { box: 'b' } }, 'libvirt'));
    expect(CLUSTER_VAGRANTFILE).toContain('Dir.glob(File.join(__dir__, "*.vm"))');
  });

  it('values cannot inject Ruby; bad names, hostnames and a missing box are refused', () => {
    expect(rubyLiteral('#{`rm -rf /`}"; system("x")')).toBe('"\\#{`rm -rf /`}\\"; system(\\"x\\")"');
    expect(rubyLiteral({ a: [1, true, null] })).toBe('{ "a" => [1, true, nil] }');
    expect(machineVagrantfile('db_1', { vagrantOptions: { box: 'b' } }, 'libvirt')).not.toContain('hostname');
    for (const [name, options] of [['../evil', { vagrantOptions: { box: 'b' } }], ['ok', {}], ['ok', { vagrantOptions: { box: 'b', hostname: 'bad_host!' } }]] as const) {
      expect(() => machineVagrantfile(name, options, 'libvirt')).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
    }
  });

  it('allocate writes <name>.vm and the cluster Vagrantfile, saves the reference; again says nothing to do; no VM is made', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bootrack-vagrant-unit-'));
    try {
      const driver = (await new DriverRegistry().driverForUrl(`vagrant:${dir}`, { driverOptions: { vagrantBinary: '/nonexistent/vagrant' } })) as VagrantDriver;
      const spec = await new MemoryEntryStore().getMachine('n1');
      const ah = new RecordingActionHandler();
      await driver.allocateMachine(ah, spec, { vagrantOptions: { box: 'tiny' } });
      expect(readFileSync(join(dir, 'n1.vm'), 'utf8')).toContain('config.vm.define "n1"');
      expect(readFileSync(join(dir, 'Vagrantfile'), 'utf8')).toBe(CLUSTER_VAGRANTFILE);
      expect(spec.reference).toMatchObject({ driverUrl: `vagrant:${dir}`, machineId: 'n1', vmFile: join(dir, 'n1.vm'), provider: 'libvirt' });
      const again = new RecordingActionHandler();
      await driver.allocateMachine(again, spec, { vagrantOptions: { box: 'tiny' } });
      expect(again.texts('action')).toEqual([]);
      // A missing vagrant binary is a clear error naming what to install (spawned for real).
      try {
        await driver.readyMachine(ah, spec, { vagrantOptions: { box: 'tiny' } });
        throw new Error('expected VAGRANT_NOT_INSTALLED');
      } catch (err) {
        expect(isBootrackError(err, 'VAGRANT_NOT_INSTALLED'), String(err)).toBe(true);
        expect((err as Error).message).toMatch(/apt-get install vagrant.*vagrantBinary/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('vagrant: command errors', () => {
  it('a provider Vagrant does not know, or cannot use, is VAGRANT_NOT_INSTALLED naming the package', () => {
    for (const [stderr, provider, hint] of [[NO_PROVIDER, 'nosuch', /vagrant plugin install vagrant-nosuch/], [UNUSABLE, 'virtualbox', /install VirtualBox/], [NO_PROVIDER, 'libvirt', /apt-get install vagrant-libvirt/]] as const) {
      try {
        checkVagrant({ exitCode: 1, stdout: '', stderr }, ['up', 'm1'], provider);
        throw new Error('expected a throw');
      } catch (err) {
        expect(isBootrackError(err, 'VAGRANT_NOT_INSTALLED'), String(err)).toBe(true);
        expect((err as Error).message).toMatch(hint);
      }
    }
    expect(() => checkVagrant({ exitCode: 1, stdout: '', stderr: 'something else' }, ['halt'], 'libvirt')).toThrow(expect.objectContaining({ code: 'VAGRANT_COMMAND_FAILED' }));
  });

  it('a command past its bound is killed (its whole process group) and is TIMEOUT', async () => {
    const err = await runVagrant('/bin/sh', ['-c', 'sleep 30 & sleep 30; echo never'], { cwd: tmpdir(), timeoutMs: 300 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isBootrackError(err, 'TIMEOUT'), String(err)).toBe(true);
  });
});

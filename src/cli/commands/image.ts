import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { silentLogger } from '../../common/logger.js';
import { loadConfig } from '../../config/load.js';
import { buildDiscoveryImage } from '../../image/build.js';
import { reportError, type Command } from '../io.js';

const USAGE = 'usage: bootrack image build [--config FILE] [--out DIR] [--cache DIR] [--kernel-package PKG] [--agent-dir DIR] [--json]';

/**
 * `bootrack image build`: the discovery OS (kernel + initramfs + manifest) into
 * <discovery.imageDir> (the directory the boot HTTP server serves as /images/discovery), or --out. Progress lines go to stderr; the summary (or --json
 * manifest) to stdout.
 */
export const imageCommand: Command = async (argv, io) => {
  const [sub, ...rest] = argv;
  if (sub !== 'build') {
    io.err(USAGE);
    return 2;
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      config: { type: 'string', short: 'c' },
      out: { type: 'string' },
      cache: { type: 'string' },
      'kernel-package': { type: 'string' },
      'agent-dir': { type: 'string' },
      json: { type: 'boolean' },
    },
    strict: true,
  });
  try {
    const { config } = loadConfig({ configPath: values.config, env: io.env });
    const d = config.discovery;
    const manifest = await buildDiscoveryImage({
      outDir: values.out ?? d.imageDir,
      cacheDir: values.cache ?? (d.cacheDir || join(config.stateDir, 'cache', 'image')),
      kernelPackage: values['kernel-package'] ?? d.kernelPackage,
      modules: d.modules,
      agentDir: values['agent-dir'],
      logger: silentLogger,
      progress: (line) => io.err(`image: ${line}`),
    });
    if (values.json) io.out(JSON.stringify(manifest, null, 2));
    else {
      const o = manifest.outputs;
      io.out(`kernel     ${manifest.kernel.package} ${manifest.kernel.version} (${manifest.kernel.release})`);
      io.out(`vmlinuz    ${o.vmlinuz.sizeBytes} bytes  sha256 ${o.vmlinuz.sha256}`);
      io.out(`initrd.img ${o.initrd.sizeBytes} bytes  sha256 ${o.initrd.sha256}`);
      const m = manifest.modules;
      io.out(`modules    ${m.loadOrder.length} in the image (${m.pciGated.length} load only for a matching PCI device); built in: ${m.builtin.join(', ') || '-'}; missing: ${m.missing.join(', ') || '-'}`);
      io.out(`built in   ${(manifest.buildMs / 1000).toFixed(1)} s`);
    }
    return 0;
  } catch (err) {
    return reportError(err, io, values.json);
  }
};

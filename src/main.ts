import pino from 'pino';
import type { Config } from './config/schema.js';
import { loadConfig, type ConfigSources } from './config/load.js';
import type { Logger } from './common/logger.js';
import { missingDaemonOptions } from './common/node-options.js';
import { BACKGROUND_THREAD_NICE, keepOtherThreadsInBackground } from './common/thread-priority.js';
import type { Running, Service } from './common/service.js';
import { openRegistry, type Registry } from './registry/index.js';
import { createMetrics, type Metrics } from './common/metrics.js';
import { createPowerControl } from './power/index.js';
import { apiService } from './api/service.js';
import { tftpService } from './servers/tftp/index.js';
import { createTftpPolicy } from './netboot/tftp.js';
import { createAgentRouter } from './api/index.js';
import { createBootHttpService, createStaticHandler } from './servers/http/index.js';
import { createBootHttpPolicy } from './netboot/boot-http.js';
import { dhcpService } from './servers/dhcp/index.js';
import { createDhcpPolicy } from './netboot/dhcp.js';

export interface Daemon {
  registry: Registry;
  /** Settles once every part has stopped; rejects with the first fatal failure. */
  stopped: Promise<void>;
  stop(): void;
}

export interface ComposeDeps {
  config: Readonly<Config>;
  registry: Registry;
  logger: Logger;
  /** The daemon's one Prometheus registry; a private one when absent (tests). */
  metrics?: Metrics;
}

/** Builds the parts that run in the daemon, in start order. Each part takes only what it needs. */
export function composeServices(deps: ComposeDeps): Service[] {
  const services: Service[] = [];
  const metrics = deps.metrics ?? createMetrics({ defaultMetrics: false });
  // Power: `power.control` is the PowerControl the API takes (ApiDeps.power); the reconciler polls
  // BMCs in the background and records power state in the registry.
  const power = createPowerControl({ config: deps.config.power, registry: deps.registry, logger: deps.logger, metrics });
  services.push(power.reconciler);
  // API (issue 5): HTTPS on config.api.port with bearer tokens; takes the PowerControl above.
  services.push(apiService({ config: deps.config, registry: deps.registry, logger: deps.logger, metrics, power: power.control }));
  // TFTP (issue 4): iPXE programs and per-machine files; the netboot policy maps client IP → MAC via leases.
  if (deps.config.tftp.enabled) {
    const policy = createTftpPolicy({ config: deps.config, registry: deps.registry, logger: deps.logger, metrics });
    services.push(tftpService(deps.config, policy, deps.logger, metrics));
  }
  // Boot HTTP (issue 5, boot half): plain HTTP on config.http.port for iPXE scripts, iPXE programs,
  // discovery images, and the agent endpoints (the discovery OS has no trust store for the API's TLS).
  const boot = createBootHttpPolicy({ config: deps.config, registry: deps.registry, logger: deps.logger });
  services.push(
    createBootHttpService({
      address: deps.config.http.address,
      port: deps.config.http.port,
      logger: deps.logger,
      metrics,
      routes: [
        { name: 'script', ...boot.script },
        { name: 'ipxe', prefix: boot.ipxe.prefix, handler: createStaticHandler({ ...boot.ipxe, logger: deps.logger }) },
        { name: 'discovery', prefix: boot.discovery.prefix, handler: createStaticHandler({ ...boot.discovery, logger: deps.logger }) },
      ],
      extra: createAgentRouter({ registry: deps.registry, logger: deps.logger, metrics, power: power.control, autoAccept: deps.config.discovery.autoAccept, maxBodyBytes: deps.config.api.maxBodyBytes }),
    }),
  );
  // DHCP (issue 3): off unless dhcp.interfaces names one; bootrack never becomes a rogue DHCP server by accident.
  if (deps.config.dhcp.interfaces.length > 0) {
    const dhcpPolicy = createDhcpPolicy({ config: deps.config, registry: deps.registry, logger: deps.logger.child({ part: 'dhcp' }) });
    services.push(dhcpService(deps.config.dhcp, dhcpPolicy, deps.logger, metrics));
  }
  return services;
}

export function createLogger(level: Config['log']['level']): Logger {
  return pino({ level, base: { service: 'bootrack' }, timestamp: pino.stdTimeFunctions.isoTime }) as unknown as Logger;
}

/**
 * The composition root: config → registry → services → start. The first part that fails stops all
 * the others (as smee cancels its context), and SIGTERM/SIGINT stop everything gracefully.
 */
export async function startDaemon(config: Readonly<Config>, logger: Logger, externalSignal?: AbortSignal): Promise<Daemon> {
  const registry = openRegistry({
    databasePath: config.database.path,
    secretKey: { path: config.secrets.keyPath },
    busyTimeoutMs: config.database.busyTimeoutMs,
    backgroundCheckpoint: { onError: (err) => logger.warn({ err }, 'background WAL checkpoints stopped; the registry checkpoints inside its commits again') },
  });
  const controller = new AbortController();
  externalSignal?.addEventListener('abort', () => controller.abort(externalSignal.reason), { once: true });
  const services = composeServices({ config, registry, logger, metrics: createMetrics() });
  const running: Array<{ name: string; run: Running }> = [];
  try {
    for (const service of services) {
      const run = await service.start(controller.signal);
      running.push({ name: service.name, run });
      logger.info({ part: service.name, ...run.describe }, `${service.name} ready`);
    }
  } catch (err) {
    controller.abort(err);
    await Promise.allSettled(running.map((r) => r.run.done));
    registry.close();
    throw err;
  }
  // The socket loop outranks the runtime's helper threads (src/common/thread-priority.ts).
  const background = keepOtherThreadsInBackground();
  logger.info({ nice: BACKGROUND_THREAD_NICE, lowered: background.first.lowered }, 'background threads run below the socket loop');
  const aborted = new Promise<void>((resolve) => controller.signal.addEventListener('abort', () => resolve(), { once: true }));
  const stopped = Promise.all([
    aborted,
    ...running.map(({ name, run }) =>
      run.done.catch((err: unknown) => {
        logger.error({ part: name, err }, `${name} failed; stopping bootrack`);
        controller.abort(err);
        throw err;
      }),
    ),
  ]).then(
    () => {
      background.stop();
      registry.close();
    },
    (err: unknown) => {
      background.stop();
      registry.close();
      throw err;
    },
  );
  logger.info({ parts: running.map((r) => r.name), database: config.database.path }, 'bootrack ready');
  return { registry, stopped, stop: () => controller.abort(new Error('stop requested')) };
}

/** `bootrack serve`: run until a signal arrives. */
export async function serve(sources: ConfigSources): Promise<void> {
  const { config, file } = loadConfig(sources);
  const logger = createLogger(config.log.level);
  logger.info({ config: file ?? '(embedded defaults)' }, 'bootrack starting');
  const missing = missingDaemonOptions();
  if (missing.length > 0) logger.warn({ missing }, 'node was started without the daemon options (see src/common/node-options.ts); GC pauses may stall DHCP under load');
  const daemon = await startDaemon(config, logger);
  const onSignal = (signal: NodeJS.Signals): void => {
    logger.info({ signal }, 'stopping');
    daemon.stop();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  // Keeps the event loop alive even while no part holds a socket open.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  try {
    await daemon.stopped;
  } finally {
    clearInterval(keepAlive);
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
  logger.info({}, 'bootrack stopped');
}

import pino from 'pino';
import type { Config } from './config/schema.js';
import { loadConfig, type ConfigSources } from './config/load.js';
import type { Logger } from './common/logger.js';
import type { Running, Service } from './common/service.js';
import { openRegistry, type Registry } from './registry/index.js';

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
}

/** Builds the parts that run in the daemon, in start order. Each part takes only what it needs. */
export function composeServices(deps: ComposeDeps): Service[] {
  const services: Service[] = [];
  void deps;
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
  });
  const controller = new AbortController();
  externalSignal?.addEventListener('abort', () => controller.abort(externalSignal.reason), { once: true });
  const services = composeServices({ config, registry, logger });
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
    () => registry.close(),
    (err: unknown) => {
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

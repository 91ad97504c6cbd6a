/** The provisioning port's public surface (Chef Provisioning's driver interface in TypeScript). */
export * from './action-handler.js';
export * from './batch.js';
export * from './convergence.js';
export * from './driver.js';
export * from './driver-url.js';
export * from './file-entry-store.js';
export * from './machine.js';
export * from './managed-entry.js';
export * from './options.js';
export * from './orchestrator.js';
export * from './private-keys.js';
export * from './transport/ssh.js';
export * from './transport/transport.js';
export * from './transport/wait.js';
export * from './unix-machine.js';

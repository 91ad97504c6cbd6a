export { TftpServer, nextWindowCap, tftpService, type TftpServerOptions } from './server.js';
export { TftpMetrics } from './metrics.js';
export * from './types.js';

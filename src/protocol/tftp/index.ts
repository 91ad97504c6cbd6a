export * from './packet.js';
export * from './options.js';

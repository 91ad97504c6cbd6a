export * from './constants.js';
export * from './ip.js';
export * from './options.js';
export * from './packet.js';

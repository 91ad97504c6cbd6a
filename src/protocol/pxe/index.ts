export * from './classify.js';
export * from './vendor.js';

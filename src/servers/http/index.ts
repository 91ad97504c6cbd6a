export { createBootHttpService, type BootHttpOptions } from './service.js';
export { createStaticHandler, type StaticOptions, type TransferReport } from './static.js';
export { safeRelativePath } from './safe-path.js';
export { parseRange, notModified, rangeStillValid, type RangeResult, type Validators } from './range.js';
export type { HttpHandler, HttpRoute } from './types.js';

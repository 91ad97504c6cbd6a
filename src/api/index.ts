export { createApp, createAgentRouter, resourceRoutes, API_PREFIX } from './app.js';
export { apiService, type ApiServiceOptions } from './service.js';
export type { ApiDeps, ApiOptions } from './deps.js';
export type { MachineView } from './views.js';
export { buildTimeline, stageOf, STAGES, type Boot, type Timeline, type TimelineEvent, type Stage } from './timeline.js';

// The scheduler package's public face: where its worker lives, and its backend (for benchmarks
// and for control tools that want the retry grid).
export const workerUrl = new URL('./worker.js', import.meta.url);
export { RamSchedulerBackend, type RamSchedulerOptions } from './ram-backend.js';
export type { SchedulerBackend, DueWork } from './backend.js';
export { nextAttempt, RETRY_BASE } from './backoff.js';

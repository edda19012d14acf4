// Public face of @tsmtpd/lka: the worker entry for the parent to spawn, plus the pure helpers
// other packages may reuse (alias value parsing for `newaliases`/`makemap` checks).
export const workerUrl = new URL('./worker.js', import.meta.url);
export { parseAliasValue, type AliasTarget } from './aliases.js';

// The mda package's public face: the worker entry for the parent to spawn, and the few
// pure helpers other packages may reuse (format specifiers). Free of heavy imports.
export const workerUrl = new URL('./worker.js', import.meta.url);
export { expandFormat, sanitize, type FormatVars, type FormatContext } from './format.js';
/** The per-uid delivery helper's entry (a process, not a worker): the privileged side starts it. */
export const helperUrl = new URL('./helper/main.js', import.meta.url);
export { HELPER_EXEC_ARGV } from './helper/exec-argv.js';

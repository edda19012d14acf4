// @tsmtpd/bench: the benchmarking harness (scripts/bench runs cli.main). What other scripts reuse:
// the /proc measurements, the load generators and the server adapters.
export { main, parse, USAGE } from './cli.js';
export { bench, type BenchOptions, type Row, type IdleRow } from './compare.js';
export * from './measure/proc.js';
export * from './measure/stats.js';
export { runClient, makeBody } from './load/client.js';
export { smtpSource, smtpSourceBin, smtpSinkBin, ensurePostfixTools } from './load/smtp-source.js';
export type { Load, LoadResult, ClientKind } from './load/types.js';
export { startServer } from './servers/index.js';
export { startSink, type Sink } from './servers/sink.js';
export { startTsmtpd, tsmtpdConfig, TUNED_RELAY } from './servers/tsmtpd.js';
export { startPostfix } from './servers/postfix.js';
export { startOpenSmtpd } from './servers/opensmtpd.js';
export * from './servers/types.js';
export { countMaildir, clearMaildir } from './servers/types.js';
export { printProfiles, summarise, type Window } from './measure/profile.js';

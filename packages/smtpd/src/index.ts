// Public face of @tsmtpd/smtpd: the daemon as a library (tests, benchmarks) and its CLI.
export { main, DEFAULT_CONFIG, DEFAULT_SPOOL } from './cli.js';
export { runDaemon, checkConfig, type DaemonOptions } from './daemon.js';
export { TOPOLOGY, START_ORDER, STOP_ORDER, hasEdge } from './topology.js';
export { unimplementedFeatures } from './features.js';

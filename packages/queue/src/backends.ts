// The queue's storage backends and group committer, for benchmarks, offline tools (smtpctl
// show queue against a stopped daemon) and tests. Importing this loads better-sqlite3.
export { SqliteQueueBackend } from './sqlite-backend.js';
export { RamQueueBackend } from './ram-backend.js';
export { GroupCommit, TickBatcher } from './group-commit.js';
export { openQueueDb, queueDbPath, DB_FILE, SCHEMA_VERSION } from './schema.js';
export { parseStoredEnvelope } from './backend.js';
export { readOfflineQueue, type OfflineRowError } from './offline.js';

// The queue package's public face: where its worker lives and the types of its storage. Kept
// free of heavy imports (the parent loads it for workerUrl); the backends themselves, with
// better-sqlite3, are in '@tsmtpd/queue/backends.js' for benchmarks and offline tools.
export const workerUrl = new URL('./worker.js', import.meta.url);
export type { QueueBackend, ChunkPage, EnvelopeScan, EnvelopeDeleted } from './backend.js';
export type { QueueInitExtras } from './queue.js';
export type { GroupCommitOptions, GroupCommitStats } from './group-commit.js';

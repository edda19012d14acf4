export * from './ids.js';
export * from './result.js';
export * from './reply.js';
export * from './address.js';
export * from './envelope.js';
export type * from './mailbox/index.js';
export * from './roles.js';
export * from './init.js';
export * from './srs.js';

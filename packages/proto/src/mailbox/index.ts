export type * from './common.js';
export type * from './lka.js';
export type * from './queue.js';
export type * from './scheduler.js';
export type * from './delivery.js';
export type * from './smtp.js';
export type * from './control.js';
export type * from './parent.js';

// Global option schemas of the configuration model (smtp, queue, bounce, mta, mda, scheduler,
// srs) with OpenSMTPD's defaults (REFERENCE 1.9 / 6.2). Re-exported by model.ts. Limits are any
// integer, as OpenSMTPD 6.8 takes them (`smtp limit max-rcpt 0`, `mta max-deferred -1` load).
import { z } from 'zod';

export const SmtpOptionsSchema = z.object({
  maxMessageSize: z.number().int().nonnegative().default(36_700_160),
  maxRcpt: z.number().int().default(1000),
  maxMails: z.number().int().default(100),
  ciphers: z.string().default('HIGH:!aNULL:!MD5'),
  subAddrDelim: z.string().length(1).default('+'),
  /** Our hardening keys of `smtp limit` (README "Limits"); 0 = off where noted. */
  limits: z.object({
    /** Concurrent sessions; at the limit the listeners stop greeting new connections (0 = from the fd limit). */
    maxSessions: z.number().int().nonnegative().default(0),
    /** Concurrent sessions from one client address (0 = unlimited). */
    maxConnPerIp: z.number().int().nonnegative().default(0),
    /** New connections from one client address per window (null = unlimited). */
    maxConnRate: z.object({ count: z.number().int().positive(), perSeconds: z.number().int().positive() }).nullable().default(null),
    /** Seconds without a byte from the client before 421 (REFERENCE 7.2: 300 s in every state). */
    idleTimeout: z.number().int().positive().default(300),
    /** Seconds a client may take to send one whole line (command or DATA line): slow-drip clients. */
    lineTimeout: z.number().int().positive().default(60),
  }).prefault({}),
});
export type SmtpOptions = z.infer<typeof SmtpOptionsSchema>;

/**
 * Queue options. `encryption.keySource`: 'inline' (key given, 32 raw chars or 32 hex digits as
 * written), 'stdin' (`stdin` or `-`: the parent reads it at start), 'prompt' (no key written).
 */
export const QueueOptionsSchema = z.object({
  compression: z.boolean().default(false),
  encryption: z.object({
    keySource: z.enum(['inline', 'stdin', 'prompt']),
    key: z.string().optional(),
  }).optional(),
  ttl: z.number().int().positive().default(345_600),
  /** `queue backend postgres URI`: a queue shared by several nodes; absent = the SQLite spool. */
  backend: z.object({ kind: z.literal('postgres'), uri: z.string(), lease: z.number().int().positive().optional() }).optional(),
});
export type QueueOptions = z.infer<typeof QueueOptionsSchema>;

export const BounceOptionsSchema = z.object({
  /** Delay warnings, seconds, at most 4. */
  warnIntervals: z.array(z.number().int().positive()).max(4).default([14_400]),
});
export type BounceOptions = z.infer<typeof BounceOptionsSchema>;

/** `mta limit [for domain D] KEY N ... [inet4|inet6]`; keys as written (`max-conn-per-host`). */
export const MtaLimitSchema = z.object({
  domain: z.string().optional(),
  family: z.enum(['inet4', 'inet6']).optional(),
  values: z.record(z.string(), z.number().int()),
});
export type MtaLimit = z.infer<typeof MtaLimitSchema>;

export const MtaOptionsSchema = z.object({
  maxDeferred: z.number().int().default(100),
  limits: z.array(MtaLimitSchema).default([]),
});
export type MtaOptions = z.infer<typeof MtaOptionsSchema>;

export const MdaOptionsSchema = z.object({
  /** `mda wrapper NAME "cmd"`. */
  wrappers: z.record(z.string(), z.string()).default({}),
  limits: z.object({
    maxSession: z.number().int().default(50),
    maxSessionPerUser: z.number().int().default(7),
    taskHiwat: z.number().int().default(50),
    taskLowat: z.number().int().default(30),
    taskRelease: z.number().int().default(10),
  }).prefault({}),
});
export type MdaOptions = z.infer<typeof MdaOptionsSchema>;

export const SchedulerOptionsSchema = z.object({
  limits: z.object({
    maxInflight: z.number().int().default(5000),
    maxEvpBatchSize: z.number().int().default(256),
    maxMsgBatchSize: z.number().int().default(1024),
    maxSchedule: z.number().int().default(10),
  }).prefault({}),
});
export type SchedulerOptions = z.infer<typeof SchedulerOptionsSchema>;

export const SrsOptionsSchema = z.object({
  key: z.string().optional(),
  keyBackup: z.string().optional(),
  ttl: z.number().int().positive().default(345_600),
});
export type SrsOptions = z.infer<typeof SrsOptionsSchema>;


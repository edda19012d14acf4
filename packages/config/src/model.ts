// The validated configuration model: what smtpd.conf means once parsed and checked.
// Plain JSON data only (it is structured-cloned into worker threads): no Map, no RegExp,
// no class instances; regex patterns stay strings. Durations are seconds, sizes bytes.
// Produced by the parser in this package; read by every actor.
import { z } from 'zod';
import {
  BounceOptionsSchema, MdaOptionsSchema, MtaOptionsSchema, QueueOptionsSchema, SchedulerOptionsSchema,
  SmtpOptionsSchema, SrsOptionsSchema,
} from './model-options.js';

/** Where a statement was written: file path and 1-based line. */
export const SourcePosSchema = z.object({ file: z.string(), line: z.number().int().nonnegative() });
export type SourcePos = z.infer<typeof SourcePosSchema>;

/** A reference to a declared table, written `<name>` in the configuration. */
export const TableRefSchema = z.object({ table: z.string() });
export type TableRef = z.infer<typeof TableRefSchema>;

/**
 * A literal string or a table reference (most places accepting `<t>` also accept a string).
 * Inline `{ ... }` tables become anonymous static tables named `<dynamic:NNNNNNNN>` in `tables`.
 * Lookups are case-insensitive on keys (static and file table keys are stored lowercased).
 */
export const ValueSchema = z.union([z.string(), TableRefSchema]);
export type Value = z.infer<typeof ValueSchema>;

// ---------------------------------------------------------------------------------------------
// tables, pki, ca

/**
 * Table backend: inline `{}` = static, `file:`, `db:` (our makemap), `getpwnam:`, `sqlite:` (a
 * table-sqlite configuration file), `passwd:` (a passwd-format file), any other `type:` = proc
 * (an external `table-TYPE` program speaking the table protocol 0.1).
 */
export const TableTypeSchema = z.enum(['static', 'file', 'db', 'getpwnam', 'sqlite', 'passwd', 'proc']);
export type TableType = z.infer<typeof TableTypeSchema>;

/**
 * A `table NAME ...` declaration. Static (inline) tables carry their content (`list` or `map`);
 * file tables also carry the content read at load time (keys lowercased), which the lka may use
 * until it reloads the file itself with `readTableFile`. db, getpwnam and proc tables carry none.
 * `procName` is the `TYPE` of `TYPE:PATH` for proc tables.
 */
export const TableDefSchema = SourcePosSchema.extend({
  name: z.string(),
  type: TableTypeSchema,
  path: z.string().optional(),
  procName: z.string().optional(),
  list: z.array(z.string()).optional(),
  map: z.record(z.string(), z.string()).optional(),
});
export type TableDef = z.infer<typeof TableDefSchema>;

/** `pki NAME cert F` / `key F` / `dhe none|auto|legacy`. NAME `*` is the SNI fallback. */
export const PkiSchema = SourcePosSchema.extend({
  name: z.string(),
  cert: z.string(),
  key: z.string(),
  dhe: z.enum(['none', 'auto', 'legacy']).default('none'),
});
export type Pki = z.infer<typeof PkiSchema>;

/** `ca NAME cert F`: CA bundle used to verify peers. */
export const CaSchema = SourcePosSchema.extend({ name: z.string(), cert: z.string() });
export type Ca = z.infer<typeof CaSchema>;

// ---------------------------------------------------------------------------------------------
// listeners

/** One address a listener binds to. */
export const ListenAddressSchema = z.object({
  address: z.string(),
  family: z.union([z.literal(4), z.literal(6)]),
});
export type ListenAddress = z.infer<typeof ListenAddressSchema>;

/**
 * One `listen on` statement. `kind: 'socket'` is the local enqueue socket (always present in the
 * model, exactly once; `line: 0` when not declared). For `inet`, `target` is what was written
 * (address, host name, interface or group) and `addresses` what it resolved to.
 */
export const ListenerSchema = SourcePosSchema.extend({
  kind: z.enum(['socket', 'inet']),
  target: z.string().optional(),
  addresses: z.array(ListenAddressSchema),
  /** 25 by default, 465 with `smtps`; 0 for the socket. */
  port: z.number().int().min(0).max(65535),
  /** `inet4` / `inet6` restriction ('any' when neither was given). */
  family: z.enum(['any', 'inet4', 'inet6']),
  /** STARTTLS offered (`tls`, `tls-require`). */
  tls: z.boolean(),
  /** STARTTLS mandatory before MAIL (`tls-require`). */
  tlsRequire: z.boolean(),
  /** Client certificate required (`tls-require verify`, `smtps verify`). */
  tlsVerify: z.boolean(),
  /** Implicit TLS. */
  smtps: z.boolean(),
  /** Names of `pki` entries (SNI); the first is the default certificate. */
  pki: z.array(z.string()),
  ca: z.string().optional(),
  protocols: z.string().optional(),
  ciphers: z.string().optional(),
  /** AUTH mandatory before MAIL. */
  auth: z.boolean(),
  /** AUTH offered, not required. */
  authOptional: z.boolean(),
  /** Credentials table for `auth <t>` / `auth-optional <t>`; absent = system passwords. */
  authTable: z.string().optional(),
  /** `senders <t>`: mailaddrmap of addresses each user may use. */
  senders: z.string().optional(),
  masquerade: z.boolean(),
  tag: z.string().max(32).optional(),
  /** Banner / Received name; absent = `serverName`. */
  hostname: z.string().optional(),
  hostnamesTable: z.string().optional(),
  maskSrc: z.boolean(),
  receivedAuth: z.boolean(),
  noDsn: z.boolean(),
  proxyV2: z.boolean(),
  /** Name of a filter or filter chain (`<dynchain:N>` for an inline `filter { ... }` list). */
  filter: z.string().optional(),
});
export type Listener = z.infer<typeof ListenerSchema>;

// ---------------------------------------------------------------------------------------------
// actions

/** Parsed `relay host` URL: `[proto://[label@]]host[:port]`. */
export const RelayHostSchema = z.object({
  /** As written. */
  url: z.string(),
  proto: z.enum(['smtp', 'smtp+tls', 'smtp+notls', 'smtps', 'lmtp']),
  /** Selects the entry in the `auth` table. */
  label: z.string().optional(),
  hostname: z.string(),
  port: z.number().int().min(1).max(65535).optional(),
});
export type RelayHost = z.infer<typeof RelayHostSchema>;

/** `relay` method options. */
export const RelayMethodSchema = z.object({
  kind: z.literal('relay'),
  /** `host URL`: one smarthost. */
  host: RelayHostSchema.optional(),
  /** `host <t>`: a list table of smarthost URLs (relayhost service, fetched in turn). */
  hostTable: z.string().optional(),
  /** Credentials table (label -> user:password); only with `host`. */
  auth: z.string().optional(),
  /** Relayhost table: per-destination-domain smarthost. */
  domain: z.string().optional(),
  backup: z.boolean(),
  backupMx: z.string().optional(),
  helo: z.string().optional(),
  /** addrname table: source address -> EHLO name. */
  heloSrc: z.string().optional(),
  src: ValueSchema.optional(),
  mailFrom: z.string().optional(),
  pki: z.string().optional(),
  ca: z.string().optional(),
  protocols: z.string().optional(),
  ciphers: z.string().optional(),
  /** `tls` = 'required' (verified); `tls no-verify` = required without verification. */
  tls: z.enum(['required', 'no-verify']).optional(),
  srs: z.boolean(),
  filter: z.string().optional(),
});
export type RelayMethod = z.infer<typeof RelayMethodSchema>;

/** The delivery method of an action. */
export const ActionMethodSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('mbox') }),
  z.object({ kind: z.literal('maildir'), path: z.string().optional(), junk: z.boolean() }),
  z.object({ kind: z.literal('lmtp'), destination: z.string(), rcptTo: z.boolean() }),
  z.object({ kind: z.literal('mda'), command: z.string() }),
  z.object({ kind: z.literal('forward-only') }),
  z.object({ kind: z.literal('expand-only') }),
  RelayMethodSchema,
]);
export type ActionMethod = z.infer<typeof ActionMethodSchema>;
export type ActionMethodKind = ActionMethod['kind'];

/**
 * `action NAME METHOD [options]`. Local options are absent on relay actions. `userbase` absent =
 * system users (getpwnam). lmtp actions deliver as the server user (OpenSMTPD: `_smtpd`).
 */
export const ActionSchema = SourcePosSchema.extend({
  name: z.string(),
  method: ActionMethodSchema,
  alias: z.string().optional(),
  virtual: z.string().optional(),
  userbase: z.string().optional(),
  user: z.string().optional(),
  wrapper: z.string().optional(),
  /** Per-action queue lifetime, seconds. */
  ttl: z.number().int().positive().optional(),
});
export type Action = z.infer<typeof ActionSchema>;

// ---------------------------------------------------------------------------------------------
// match rules

/** Common shape of a criterion: `!` prefix, `regex` keyword, literal or `<table>` value. */
export const CriterionSchema = z.object({
  negate: z.boolean(),
  regex: z.boolean(),
  value: ValueSchema.optional(),
});
export type Criterion = z.infer<typeof CriterionSchema>;

/**
 * `from any|local|socket|src V|rdns [V]|auth [V]|mail-from V`. As in OpenSMTPD, `from auth [V]`
 * means "from any + session authenticated (as V)" and `from mail-from V` means "from any + MAIL FROM
 * matches V"; `negate` then applies to the auth / mail-from test, not to the origin. A rule has at
 * most one of `from auth` and `auth`, and of `from mail-from` and `mailFrom`.
 */
export const FromCriterionSchema = CriterionSchema.extend({
  kind: z.enum(['any', 'local', 'socket', 'src', 'rdns', 'auth', 'mail-from']),
});
export type FromCriterion = z.infer<typeof FromCriterionSchema>;

/**
 * `for any|local|domain V|rcpt-to V`. `for rcpt-to V` means "for any + RCPT TO matches V" (`negate`
 * applies to the address test); a rule has at most one of `for rcpt-to` and `rcptTo`.
 */
export const ForCriterionSchema = CriterionSchema.extend({
  kind: z.enum(['any', 'local', 'domain', 'rcpt-to']),
});
export type ForCriterion = z.infer<typeof ForCriterionSchema>;

/** Any criterion of a rule (for code that walks them generically). */
export type MatchCriterion = Criterion | FromCriterion | ForCriterion;

/**
 * One `match` rule, in file order (first match wins). `from`/`for` default to `local`.
 * Exactly one of `action` (a declared action name) or `reject: true`.
 */
export const MatchRuleSchema = SourcePosSchema.extend({
  from: FromCriterionSchema,
  for: ForCriterionSchema,
  /** `auth [V]`: session authenticated (as V). */
  auth: CriterionSchema.optional(),
  helo: CriterionSchema.optional(),
  mailFrom: CriterionSchema.optional(),
  rcptTo: CriterionSchema.optional(),
  tag: CriterionSchema.optional(),
  /** `tls`: the session is under TLS (value/regex unused). */
  tls: CriterionSchema.optional(),
  action: z.string().optional(),
  reject: z.boolean(),
}).refine((r) => (r.action === undefined) === r.reject, { message: 'exactly one of action or reject' });
export type MatchRule = z.infer<typeof MatchRuleSchema>;

// ---------------------------------------------------------------------------------------------
// filters and procs

export const FilterPhaseSchema = z.enum(['connect', 'helo', 'ehlo', 'auth', 'mail-from', 'rcpt-to', 'data', 'commit']);
export type FilterPhase = z.infer<typeof FilterPhaseSchema>;

/** A builtin filter condition, e.g. `!rdns`, `src <t>`, `mail-from regex <t>`. */
export const FilterConditionSchema = CriterionSchema.extend({
  kind: z.enum(['fcrdns', 'rdns', 'src', 'helo', 'auth', 'mail-from', 'rcpt-to']),
});
export type FilterCondition = z.infer<typeof FilterConditionSchema>;

export const FilterDecisionSchema = z.enum(['bypass', 'disconnect', 'junk', 'reject', 'rewrite', 'report']);
export type FilterDecision = z.infer<typeof FilterDecisionSchema>;

/** `filter NAME ...`: builtin, shared proc, own proc-exec, or a chain of non-chain filters. */
export const FilterSchema = z.discriminatedUnion('kind', [
  SourcePosSchema.extend({
    kind: z.literal('builtin'),
    name: z.string(),
    phase: FilterPhaseSchema,
    conditions: z.array(FilterConditionSchema),
    decision: FilterDecisionSchema,
    /** Reply for disconnect/reject, value for rewrite, text for report. */
    message: z.string().optional(),
  }),
  SourcePosSchema.extend({ kind: z.literal('proc'), name: z.string(), proc: z.string() }),
  SourcePosSchema.extend({
    kind: z.literal('proc-exec'),
    name: z.string(),
    command: z.string(),
    user: z.string().optional(),
    group: z.string().optional(),
    chroot: z.string().optional(),
  }),
  SourcePosSchema.extend({ kind: z.literal('chain'), name: z.string(), filters: z.array(z.string()) }),
]);
export type Filter = z.infer<typeof FilterSchema>;
export type FilterKind = Filter['kind'];

/** `proc NAME "cmd" [user U] [group G] [chroot D]`: a filter process shared by filters. */
export const ProcSchema = SourcePosSchema.extend({
  name: z.string(),
  command: z.string(),
  user: z.string().optional(),
  group: z.string().optional(),
  chroot: z.string().optional(),
});
export type Proc = z.infer<typeof ProcSchema>;

// ---------------------------------------------------------------------------------------------
// global options: see model-options.ts

export * from './model-options.js';

// ---------------------------------------------------------------------------------------------
// the whole configuration

/** The validated smtpd.conf; macros are resolved away, names are checked to exist. */
export const SmtpdConfigSchema = z.object({
  /** First line of /etc/mailname (or /etc/mail/mailname), else the host name. */
  serverName: z.string(),
  /** `admd authservid`; absent = server name. */
  admd: z.string().optional(),
  tables: z.record(z.string(), TableDefSchema).default({}),
  pki: z.record(z.string(), PkiSchema).default({}),
  ca: z.record(z.string(), CaSchema).default({}),
  listeners: z.array(ListenerSchema).default([]),
  actions: z.record(z.string(), ActionSchema).default({}),
  matches: z.array(MatchRuleSchema).default([]),
  filters: z.record(z.string(), FilterSchema).default({}),
  procs: z.record(z.string(), ProcSchema).default({}),
  smtp: SmtpOptionsSchema.prefault({}),
  queue: QueueOptionsSchema.prefault({}),
  bounce: BounceOptionsSchema.prefault({}),
  mta: MtaOptionsSchema.prefault({}),
  mda: MdaOptionsSchema.prefault({}),
  scheduler: SchedulerOptionsSchema.prefault({}),
  srs: SrsOptionsSchema.prefault({}),
  /** `metrics listen on ADDR [port N]`: the Prometheus text endpoint (tsmtpd's own; off when absent). */
  metrics: z.object({ address: z.string(), port: z.number().int().min(1).max(65535), file: z.string(), line: z.number().int() }).optional(),
});
/** The validated configuration (output type: defaults filled in). */
export type SmtpdConfig = z.infer<typeof SmtpdConfigSchema>;
/** The input accepted by `SmtpdConfigSchema.parse` (defaults may be omitted). */
export type SmtpdConfigInput = z.input<typeof SmtpdConfigSchema>;

/** A configuration with every default and nothing declared (useful for tests of other actors). */
export function defaultConfig(serverName = 'localhost'): SmtpdConfig {
  return SmtpdConfigSchema.parse({ serverName, listeners: [socketListener()] });
}

/** The implicit `listen on socket` listener with no options. */
export function socketListener(pos: SourcePos = { file: '', line: 0 }): Listener {
  return {
    ...pos, kind: 'socket', addresses: [], port: 0, family: 'any',
    tls: false, tlsRequire: false, tlsVerify: false, smtps: false, pki: [],
    auth: false, authOptional: false, masquerade: false,
    maskSrc: false, receivedAuth: false, noDsn: false, proxyV2: false,
  };
}

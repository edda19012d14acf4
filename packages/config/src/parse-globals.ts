// Statement parsers for declarations and global options: table, pki, ca, proc, queue, smtp, mta,
// mda, scheduler, srs, bounce, admd. Each reads one statement (without its end of line) into the
// draft, or throws Fail. Messages follow OpenSMTPD 6.8's parse.y where it has one.
import { accessSync, constants as fsc, existsSync } from 'node:fs';
import type { Cursor, StmtPos } from './cursor.js';
import type { Token } from './lexer.js';
import { parseInlineTable, type Draft, type TableInfo } from './state.js';
import { checkTableDb } from './table-db.js';
import { readTableFileSync, type TableContent } from './tables.js';
import { parseDuration, parseSize } from './units.js';
import { parseSmtpLimits } from './parse-smtp-limits.js';

/** `mta limit` keys (limit.c). */
export const MTA_LIMIT_KEYS: readonly string[] = [
  'max-conn-per-host', 'max-conn-per-route', 'max-conn-per-source', 'max-conn-per-connector',
  'max-conn-per-relay', 'max-conn-per-domain', 'conn-delay-host', 'conn-delay-route',
  'conn-delay-source', 'conn-delay-connector', 'conn-delay-relay', 'conn-delay-domain',
  'reconn-delay-route', 'session-mail-max', 'session-transaction-delay', 'session-keepalive',
  'max-failures-per-session', 'task-hiwat', 'task-lowat', 'task-release',
];

/** True when `path` is a readable file. */
export function readable(path: string): boolean {
  try { accessSync(path, fsc.R_OK); return true; } catch { return false; }
}

/** res_hnok-like check for pki/ca names: dot-separated labels of letters, digits, `-`, `_`. */
export function validHostname(s: string): boolean {
  const name = s.endsWith('.') ? s.slice(0, -1) : s;
  if (name === '' || name.length > 253) return false;
  return name.split('.').every((l) => /^[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?$/.test(l));
}

/**
 * Where external table backends (`table-NAME`) live: Debian's OpenSMTPD directory, or
 * `$SMTPD_TABLE_DIR` (tests, private installs). The lka runs them from the same place.
 */
export const TABLE_BACKEND_DIR = process.env['SMTPD_TABLE_DIR'] ?? '/usr/libexec/opensmtpd';

/** Backends tsmtpd serves itself: those of OpenSMTPD plus opensmtpd-extras' sqlite and passwd. */
const BUILTIN_BACKENDS = ['static', 'db', 'getpwnam', 'proc', 'sqlite', 'passwd'];

/** `table NAME [type:]PATH` or `table NAME { ... }`. */
export function parseTable(cur: Cursor, d: Draft, pos: StmtPos): void {
  cur.expectKw('table');
  const name = cur.expectString();
  if (cur.isPunct('{')) {
    if (d.tables.has(name.v)) cur.fail(name, `table "${name.v}" already defined`);
    d.tables.set(name.v, parseInlineTable(cur, name.v, pos));
    return;
  }
  const spec = cur.expectString();
  tableFromConfig(cur, d, name, spec, pos);
}

/**
 * A table from a backend, as OpenSMTPD 6.8's table_create + table_config with opensmtpd-extras
 * installed: `/path` and `file:` / `static:` are static tables read now (missing file: error; the
 * table still exists, empty and of no type, so its uses fail too); `db:` needs a db table made by
 * our makemap (a Berkeley DB file is refused with a message to rebuild it); `getpwnam` takes no
 * parameter; `proc:`, `sqlite:` and `passwd:` files are opened by the lka at start, not here;
 * any other backend must exist as an executable table-NAME.
 */
function tableFromConfig(cur: Cursor, d: Draft, name: Token, spec: Token, pos: StmtPos): void {
  let backend = spec.v;
  let config: string | undefined;
  if (spec.v.startsWith('/')) { backend = 'static'; config = spec.v; } else {
    const colon = spec.v.indexOf(':');
    if (colon >= 0) { backend = spec.v.slice(0, colon); config = spec.v.slice(colon + 1); }
  }
  if (config !== undefined && !config.startsWith('/')) cur.fail(spec, `invalid backend parameter for table: ${name.v}`);
  if (backend === 'file') backend = 'static';
  const builtin = BUILTIN_BACKENDS.includes(backend);
  if (!builtin && !existsSync(`${TABLE_BACKEND_DIR}/table-${backend}`)) cur.fail(spec, `table_create: backend "${backend}" does not exist`);
  if (d.tables.has(name.v)) cur.fail(name, `table "${name.v}" already defined`);
  const base = { name: name.v, file: pos.file, line: pos.line };
  const set = (info: TableInfo): void => { d.tables.set(name.v, info); };
  const bad = (why?: string): never => {
    set({ def: { ...base, type: backend === 'db' ? 'db' : 'file', ...(config !== undefined ? { path: config } : {}) }, kind: 'none' });
    return cur.fail(spec, `invalid configuration file ${config ?? '(null)'} for table ${name.v}${why !== undefined ? ` (${why})` : ''}`);
  };
  if (backend === 'static') {
    if (config === undefined || config === '') return set({ def: { ...base, type: 'static', list: [] }, kind: 'none', keys: [] });
    let content: TableContent;
    try { content = readTableFileSync(config); } catch { return bad(); }
    return set(content.kind === 'list'
      ? { def: { ...base, type: 'file', path: config, list: content.values }, kind: 'list', keys: content.values }
      : { def: { ...base, type: 'file', path: config, map: content.entries }, kind: 'map', keys: Object.keys(content.entries) });
  }
  if (backend === 'getpwnam') {
    if (config !== undefined) bad();
    return set({ def: { ...base, type: 'getpwnam' }, kind: 'dynamic' });
  }
  if (backend === 'db') {
    if (config === undefined) return bad();
    const check = checkTableDb(config);
    if (!check.ok) bad(check.reason);
    return set({ def: { ...base, type: 'db', path: config }, kind: 'dynamic' });
  }
  if (backend === 'sqlite' || backend === 'passwd') {
    if (config === undefined) bad();
    return set({ def: { ...base, type: backend, path: config }, kind: 'dynamic' });
  }
  const procName = builtin ? undefined : backend;
  set({ def: { ...base, type: 'proc', ...(procName !== undefined ? { procName } : {}), ...(config !== undefined ? { path: config } : {}) }, kind: 'dynamic' });
}

/**
 * `pki NAME [cert F] [key F] [dhe none|auto|legacy]` (may be split over several statements; a
 * later file replaces an earlier one). The files are checked once the whole file parsed
 * (pki-check.ts), as OpenSMTPD loads them only then.
 */
export function parsePki(cur: Cursor, d: Draft, pos: StmtPos): void {
  cur.expectKw('pki');
  const nameTok = cur.expectString();
  if (nameTok.v !== '*' && !validHostname(nameTok.v)) cur.fail(nameTok, `not a valid domain name: ${nameTok.v}`);
  const name = nameTok.v.toLowerCase();
  const pki = d.pki.get(name) ?? { name, pos };
  d.pki.set(name, pki);
  for (;;) {
    if (cur.acceptKw('cert')) {
      const f = cur.expectString();
      pki.cert = { path: f.v, at: f };
    } else if (cur.acceptKw('key')) {
      const f = cur.expectString();
      pki.key = { path: f.v, at: f };
    } else if (cur.acceptKw('dhe')) {
      const v = cur.expectString();
      const dhe = v.v.toLowerCase();
      if (dhe !== 'none' && dhe !== 'auto' && dhe !== 'legacy') cur.fail(v, `invalid DHE keyword: ${v.v}`);
      pki.dhe = dhe;
    } else return;
  }
}

/** `ca NAME cert F` (a later file replaces an earlier one). */
export function parseCa(cur: Cursor, d: Draft, pos: StmtPos): void {
  cur.expectKw('ca');
  const nameTok = cur.expectString();
  if (nameTok.v !== '*' && !validHostname(nameTok.v)) cur.fail(nameTok, `not a valid domain name: ${nameTok.v}`);
  const name = nameTok.v.toLowerCase();
  const ca = d.ca.get(name) ?? { name, pos };
  d.ca.set(name, ca);
  cur.expectKw('cert');
  const f = cur.expectString();
  ca.cert = { path: f.v, at: f };
}

/** `user U`, `group G`, `chroot D` options of `proc` and `filter ... proc-exec`. */
export function parseProcParams(cur: Cursor, target: { user?: string; group?: string; chroot?: string }, what: string): void {
  for (;;) {
    const kw = cur.peek();
    if (kw.t !== 'kw' || (kw.v !== 'user' && kw.v !== 'group' && kw.v !== 'chroot')) return;
    cur.next();
    const v = cur.expectString();
    const key = kw.v as 'user' | 'group' | 'chroot';
    if (target[key] !== undefined) cur.fail(v, `${key} already specified for this ${what}`);
    target[key] = v.v;
  }
}

/** `proc NAME "cmd" [user U] [group G] [chroot D]`. */
export function parseProc(cur: Cursor, d: Draft, pos: StmtPos): void {
  cur.expectKw('proc');
  const name = cur.expectString();
  const cmd = cur.expectString();
  if (d.procs.has(name.v)) cur.fail(name, `processor already exists with that name: ${name.v}`);
  const opts: { user?: string; group?: string; chroot?: string } = {};
  parseProcParams(cur, opts, 'processor');
  d.procs.set(name.v, { name: name.v, command: cmd.v, ...opts, file: pos.file, line: pos.line });
}

/**
 * `queue compression` / `queue encryption [KEY|stdin|-]` / `queue ttl D`. The key is checked
 * after the parse (pki-check.ts), as OpenSMTPD does.
 */
export function parseQueue(cur: Cursor, d: Draft, pos: StmtPos): void {
  cur.expectKw('queue');
  if (cur.acceptKw('compression')) { d.queue.compression = true; return; }
  const w = cur.peek();
  if (w.t === 'str' && w.v === 'backend') { cur.next(); parseQueueBackend(cur, d); return; }
  if (cur.acceptKw('encryption')) {
    d.queueAt = pos;
    if (cur.peek().t !== 'str') { d.queue.encryption ??= { keySource: 'prompt' }; return; }
    const k = cur.next();
    if (k.v.toLowerCase() === 'stdin' || k.v === '-') { d.queue.encryption = { keySource: 'stdin' }; return; }
    d.queue.encryption = { keySource: 'inline', key: k.v };
    return;
  }
  cur.expectKw('ttl');
  const v = cur.expectString();
  const ttl = parseDuration(v.v);
  if (ttl === undefined) cur.fail(v, `invalid ttl delay: ${v.v}`);
  d.queue.ttl = ttl;
}

/**
 * `queue backend postgres "postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME[?...]" [lease D]`: the
 * queue shared by several nodes (libpq connection URI, `postgres://` too); `lease` is how long a
 * dead node's envelopes wait before another node takes them (default 60s). Errors never echo the URI
 * (it may hold a password).
 */
function parseQueueBackend(cur: Cursor, d: Draft): void {
  const kind = cur.expectString();
  if (kind.v !== 'postgres') cur.fail(kind, `unknown queue backend: ${kind.v} (known: postgres)`);
  const u = cur.expectString();
  let url: URL;
  try {
    url = new URL(u.v);
  } catch {
    cur.fail(u, 'queue backend postgres: not a connection URI (postgresql://USER@HOST:PORT/DBNAME)');
  }
  if (url.protocol !== 'postgresql:' && url.protocol !== 'postgres:') cur.fail(u, 'queue backend postgres: the URI must start with postgresql://');
  const db = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (db === '' || db.includes('/')) cur.fail(u, 'queue backend postgres: the URI names no database (postgresql://USER@HOST:PORT/DBNAME)');
  if (url.hostname === '' && !url.searchParams.has('host')) cur.fail(u, 'queue backend postgres: the URI names no host');
  if (d.queue.backend) cur.fail(kind, 'queue backend given twice');
  d.queue.backend = { kind: 'postgres', uri: u.v };
  const l = cur.peek();
  if (l.t === 'str' && l.v === 'lease') {
    cur.next();
    const v = cur.expectString();
    const secs = parseDuration(v.v);
    if (secs === undefined || secs < 1 || secs > 3600) cur.fail(v, `invalid lease: ${v.v} (1s to 1h)`);
    d.queue.backend.lease = secs;
  }
}

/** Reads `KEY NUMBER` pairs; `set` returns false for an unknown key. */
function parseLimits(cur: Cursor, set: (key: string, n: number) => boolean, what: string, extra?: () => boolean): void {
  for (;;) {
    if (extra?.()) continue;
    if (cur.peek().t !== 'str') return;
    const key = cur.next();
    const { n } = cur.expectNumber();
    if (!set(key.v, n)) cur.fail(key, `invalid ${what} limit keyword: ${key.v}`);
  }
}

/** `smtp limit ...` / `smtp ciphers S` / `smtp max-message-size SIZE` / `smtp sub-addr-delim C`. */
export function parseSmtp(cur: Cursor, d: Draft): void {
  cur.expectKw('smtp');
  if (cur.acceptKw('limit')) {
    parseSmtpLimits(cur, d);
    return;
  }
  if (cur.acceptKw('ciphers')) { d.smtp.ciphers = cur.expectString().v; return; }
  if (cur.acceptKw('max-message-size')) {
    const t = cur.peek();
    if (t.t !== 'str' && t.t !== 'num') cur.fail(t);
    cur.next();
    const size = parseSize(t.t === 'num' ? Number(t.v) : t.v);
    if (size === undefined) cur.fail(t, `invalid size: ${t.v}`);
    d.smtp.maxMessageSize = size;
    return;
  }
  cur.expectKw('sub-addr-delim');
  const c = cur.expectString();
  if (c.v.length !== 1) cur.fail(c, 'subaddressing-delimiter must be one character');
  if (/\s/.test(c.v) || c.v < ' ' || c.v > '~' || c.v === '@') cur.fail(c, 'sub-addr-delim uses invalid character');
  d.smtp.subAddrDelim = c.v;
}

/** `mta max-deferred N` / `mta limit [for domain D] KEY N ... [inet4|inet6]`. */
export function parseMta(cur: Cursor, d: Draft): void {
  cur.expectKw('mta');
  if (cur.acceptKw('max-deferred')) { d.mta.maxDeferred = cur.expectNumber().n; return; }
  cur.expectKw('limit');
  let domain: string | undefined;
  if (cur.acceptKw('for')) { cur.expectKw('domain'); domain = cur.expectString().v; }
  let entry = d.mta.limits.find((l) => l.domain === domain);
  if (!entry) {
    entry = domain === undefined ? { values: {} } : { domain, values: {} };
    d.mta.limits.push(entry);
  }
  const e = entry;
  parseLimits(cur, (k, n) => {
    if (!MTA_LIMIT_KEYS.includes(k)) return false;
    e.values[k] = n;
    return true;
  }, 'mta', () => {
    if (cur.acceptKw('inet4')) { e.family = 'inet4'; return true; }
    if (cur.acceptKw('inet6')) { e.family = 'inet6'; return true; }
    return false;
  });
}

const MDA_LIMITS = {
  'max-session': 'maxSession', 'max-session-per-user': 'maxSessionPerUser',
  'task-hiwat': 'taskHiwat', 'task-lowat': 'taskLowat', 'task-release': 'taskRelease',
} as const;

/** `mda wrapper NAME "cmd"` / `mda limit KEY N ...`. */
export function parseMda(cur: Cursor, d: Draft): void {
  cur.expectKw('mda');
  if (cur.acceptKw('wrapper')) {
    const name = cur.expectString();
    const cmd = cur.expectString();
    if (Object.hasOwn(d.mda.wrappers, name.v)) cur.fail(name, `mda wrapper already declared with that name: ${name.v}`);
    d.mda.wrappers[name.v] = cmd.v;
    return;
  }
  cur.expectKw('limit');
  parseLimits(cur, (k, n) => {
    const field = (MDA_LIMITS as Record<string, keyof typeof d.mda.limits>)[k];
    if (!field) return false;
    d.mda.limits[field] = n;
    return true;
  }, 'mda');
}

const SCHED_LIMITS = {
  'max-inflight': 'maxInflight', 'max-evp-batch-size': 'maxEvpBatchSize',
  'max-msg-batch-size': 'maxMsgBatchSize', 'max-schedule': 'maxSchedule',
} as const;

/** `scheduler limit KEY N ...`. */
export function parseScheduler(cur: Cursor, d: Draft): void {
  cur.expectKw('scheduler');
  cur.expectKw('limit');
  parseLimits(cur, (k, n) => {
    const field = (SCHED_LIMITS as Record<string, keyof typeof d.scheduler.limits>)[k];
    if (!field) return false;
    d.scheduler.limits[field] = n;
    return true;
  }, 'scheduler');
}

/** `srs key SECRET` / `srs key backup SECRET` / `srs ttl D` (at least one day). */
export function parseSrs(cur: Cursor, d: Draft): void {
  cur.expectKw('srs');
  if (cur.acceptKw('key')) {
    if (cur.acceptKw('backup')) d.srs.keyBackup = cur.expectString().v;
    else d.srs.key = cur.expectString().v;
    return;
  }
  cur.expectKw('ttl');
  const v = cur.expectString();
  const ttl = parseDuration(v.v);
  if (ttl === undefined) cur.fail(v, `ttl delay "${v.v}" is invalid`);
  // (OpenSMTPD's message shows the value without its unit.)
  if (ttl < 86400) cur.fail(v, `ttl delay "${v.v.slice(0, -1)}" is too short`);
  d.srs.ttl = ttl;
}

/** `bounce warn-interval D[, D...]` (the first 4 count; replaces the default). */
export function parseBounce(cur: Cursor, d: Draft): void {
  cur.expectKw('bounce');
  cur.expectKw('warn-interval');
  const delays: number[] = [];
  for (;;) {
    const v = cur.expectString();
    const delay = parseDuration(v.v);
    if (delay === undefined) cur.fail(v, `invalid bounce delay: ${v.v}`);
    // As OpenSMTPD: delays past the fourth are ignored.
    if (delays.length < 4) delays.push(delay);
    if (!cur.acceptPunct(',')) break;
  }
  d.bounce.warnIntervals = delays;
}

/** `admd AUTHSERVID`. */
export function parseAdmd(cur: Cursor, d: Draft): void {
  cur.expectKw('admd');
  const v = cur.expectString();
  if (!/^[\x20-\x7e]*$/.test(v.v)) cur.fail(v, 'not a valid admd');
  d.admd = v.v;
}

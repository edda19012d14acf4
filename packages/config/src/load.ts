// Loading a configuration: parse the text, then the whole-file checks (pki completeness, at least
// one rule, listener addresses), then assemble and validate the model with zod. The public entry
// points `loadConfig` and `parseConfigText` live here.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { Cursor, type Diag, type StmtPos } from './cursor.js';
import { remapLines, translateLegacyConfig } from './legacy.js';
import { SmtpdConfigSchema, socketListener, type Listener, type SmtpdConfig, type SmtpdConfigInput } from './model.js';
import { newDraft, parseStatements } from './parser.js';
import { checkLoadedFiles } from './pki-check.js';
import { resolveListenTarget, systemNetEnv, type NetEnv } from './resolve.js';
import type { Draft } from './state.js';

/** Options of `loadConfig` / `parseConfigText`. */
export interface LoadOptions {
  /** `-D name=value` macros; they override definitions in the file. */
  macros?: Record<string, string>;
  /** Server name; default: first line of /etc/mail/mailname or /etc/mailname, else the host name. */
  serverName?: string;
  /** Network view used to resolve `listen on` targets (tests inject one). */
  net?: NetEnv;
  /**
   * Read the pre-6.4 grammar too (translated to the modern one, see legacy.ts). Default false:
   * OpenSMTPD 6.8 rejects that grammar, and so do we unless asked.
   */
  legacy?: boolean;
  /**
   * The caller will read a `queue encryption stdin` key from standard input (a daemon start).
   * Default false, as `smtpd -n`: OpenSMTPD then reads no key and checks the word itself, which
   * is invalid.
   */
  readsStdinKey?: boolean;
}

/** The validated configuration, or every error as `file:line: message`. */
export type LoadResult = { ok: true; config: SmtpdConfig } | { ok: false; errors: string[] };

/** OpenSMTPD's default server name: mailname file, else the host name. */
export function defaultServerName(): string {
  for (const f of ['/etc/mail/mailname', '/etc/mailname']) {
    try {
      const first = readFileSync(f, 'utf8').split('\n')[0]?.trim();
      if (first) return first;
    } catch { /* next */ }
  }
  return hostname();
}

/** Reads and checks a configuration file. Never throws for a bad file: errors are values. */
export async function loadConfig(file: string, opts: LoadOptions = {}): Promise<LoadResult> {
  let text: string;
  try { text = await readFile(file, 'utf8'); } catch (e) {
    return { ok: false, errors: [`${file}: cannot open configuration file: ${(e as NodeJS.ErrnoException).code ?? String(e)}`] };
  }
  return parseConfigText(text, file, opts);
}

/** Parses and checks configuration text as if read from `file` (includes are relative to it). */
export async function parseConfigText(text: string, file: string, opts: LoadOptions = {}): Promise<LoadResult> {
  const old = opts.legacy === true ? translateLegacyConfig(text, opts.macros) : undefined;
  const lines = old?.legacy ? old.lines : undefined;
  const cur = new Cursor(lines && old ? old.text : text, file, opts.macros);
  const d = newDraft(dirname(file));
  parseStatements(cur, d);
  finalChecks(cur, d);
  const listeners = await resolveListeners(cur, d, opts.net ?? systemNetEnv);
  if (cur.errors.length === 0) checkLoadedFiles(cur, d, opts.readsStdinKey ?? false);
  const diags = lines ? cur.errors.map((e) => (e.file === file ? { ...e, line: lines[e.line - 1] ?? e.line } : e)) : cur.errors;
  const errors = [...diags].sort((a, b) => a.ord - b.ord).map(formatDiag);
  if (errors.length > 0) return { ok: false, errors };
  const parsed = SmtpdConfigSchema.safeParse(assemble(d, listeners, opts.serverName ?? defaultServerName()));
  if (!parsed.success) {
    return { ok: false, errors: parsed.error.issues.map((i) => `${file}: internal error: ${i.path.join('.')}: ${i.message}`) };
  }
  if (lines) remapLines(parsed.data, file, lines);
  return { ok: true, config: parsed.data };
}

function formatDiag(e: Diag): string { return `${e.file}:${e.line}: ${e.message}`; }

/** Checks that need the whole file: at least one rule. */
function finalChecks(cur: Cursor, d: Draft): void {
  if (d.matches.length === 0) cur.error({ file: cur.topFile, line: cur.lastTopLine }, 'no rules, nothing to do', Number.MAX_SAFE_INTEGER);
}

async function resolveListeners(cur: Cursor, d: Draft, net: NetEnv): Promise<Listener[]> {
  const socket = d.socket?.listener ?? socketListener({ file: cur.topFile, line: 0 });
  const inet = await Promise.all(d.listeners.map(async ({ listener, pos }) => {
    const target = listener.target ?? '';
    const addrs = await resolveListenTarget(target, listener.family, net);
    if (!addrs) cur.error(pos, `invalid virtual ip or interface: ${target}`, pos.ord);
    // As OpenSMTPD, the pki and ca names are looked up for each address listened on.
    else if (addrs.length > 0) namesDeclared(cur, d, listener, pos);
    return { ...listener, addresses: addrs ?? [] };
  }));
  return [socket, ...inet];
}

function namesDeclared(cur: Cursor, d: Draft, l: Listener, pos: StmtPos): void {
  const pki = l.pki.find((p) => !d.pki.has(p));
  if (pki !== undefined) cur.error(pos, `pki name not found: ${pki}`, pos.ord);
  else if (l.ca !== undefined && !d.ca.has(l.ca)) cur.error(pos, `ca name not found: ${l.ca}`, pos.ord);
}

function assemble(d: Draft, listeners: Listener[], serverName: string): SmtpdConfigInput {
  const cfg: SmtpdConfigInput = {
    serverName,
    tables: Object.fromEntries([...d.tables].map(([k, v]) => [k, v.def])),
    pki: Object.fromEntries([...d.pki].map(([k, p]) => [k, {
      name: p.name, cert: p.cert?.path ?? '', key: p.key?.path ?? '', dhe: p.dhe ?? 'none', file: p.pos.file, line: p.pos.line,
    }])),
    ca: Object.fromEntries([...d.ca].map(([k, c]) => [k, { name: c.name, cert: c.cert?.path ?? '', file: c.pos.file, line: c.pos.line }])),
    listeners,
    actions: Object.fromEntries(d.actions),
    matches: d.matches,
    filters: Object.fromEntries(d.filters),
    procs: Object.fromEntries(d.procs),
    smtp: d.smtp, queue: d.queue, bounce: d.bounce, mta: d.mta, mda: d.mda, scheduler: d.scheduler, srs: d.srs,
  };
  if (d.admd !== undefined) cfg.admd = d.admd;
  if (d.metrics !== undefined) cfg.metrics = d.metrics;
  return cfg;
}

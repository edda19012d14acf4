// The lka's tables: one Table per `table` declaration of the configuration (backend chosen by
// type), anonymous one-entry tables for literal values written in rules (`for domain
// "example.org"` is a table of one), and the built-in <localnames>/<localhost>.
import type { SmtpdConfig, TableDef, Value } from '@tsmtpd/config';
import { TABLE_BACKEND_DIR } from '@tsmtpd/config/parse-globals.js';
import type { SystemUsers } from '../users.js';
import { DbTableBackend } from './db.js';
import { FileTableBackend } from './file.js';
import { GetpwnamTableBackend } from './getpwnam.js';
import { PasswdTableBackend } from './passwd.js';
import { ProcTableBackend } from './proc.js';
import { SqliteTableBackend } from './sqlite.js';
import { contentFromDef, StaticTableBackend } from './static.js';
import { Table, type TableBackend, type TableOptions } from './table.js';

export const LOCALNAMES = '<localnames>';
export const LOCALHOST = '<localhost>';
/** The implicit userbase when an action names none. */
export const GETPWNAM = '<getpwnam>';

export interface TableSetOptions extends TableOptions {
  users: SystemUsers;
  /** Entries of the built-in tables. */
  localNames: string[];
  localHosts: string[];
}

/** Whom table programs run as: ourselves, or when root an unprivileged account. */
async function tableProgramUser(users: SystemUsers): Promise<{ uid: number; gid: number } | null> {
  if (process.getuid?.() !== 0) return null;
  for (const name of ['_smtpd', 'nobody']) {
    const r = await users.lookup(name);
    if (!('error' in r) && r.found && r.user.uid !== 0) return { uid: r.user.uid, gid: r.user.gid };
  }
  throw new Error('no unprivileged account (_smtpd or nobody) to run table programs as');
}

function procArgv(def: TableDef): string[] {
  if (def.procName === undefined) return def.path !== undefined ? [def.path] : [];
  return [`${TABLE_BACKEND_DIR}/table-${def.procName}`, ...(def.path !== undefined ? [def.path] : [])];
}

function backendFor(def: TableDef, opts: TableSetOptions): TableBackend {
  const users = opts.users;
  switch (def.type) {
    case 'static':
      return new StaticTableBackend(contentFromDef(def));
    case 'file': {
      const initial = def.list !== undefined || def.map !== undefined ? contentFromDef(def) : undefined;
      return new FileTableBackend(def.path ?? '', initial);
    }
    case 'getpwnam':
      return new GetpwnamTableBackend(users);
    case 'db':
      return new DbTableBackend(def.path ?? '');
    case 'sqlite':
      return new SqliteTableBackend(def.path ?? '');
    case 'passwd':
      return new PasswdTableBackend(def.path ?? '');
    case 'proc':
      return new ProcTableBackend({
        name: def.name,
        argv: procArgv(def),
        runAs: () => tableProgramUser(users),
        log: (event, fields) => opts.warn?.(event, fields),
      });
  }
}

/** Backends that open a file or start a program at start. */
interface Openable {
  open(): Promise<void>;
}

function openable(b: TableBackend): b is TableBackend & Openable {
  return typeof (b as Partial<Openable>).open === 'function';
}

/** A declaration as compared on reload: its source position does not make it another table. */
function signature(def: TableDef): string {
  const { file: _file, line: _line, ...rest } = def;
  return JSON.stringify(rest);
}

/** All tables the lka knows, by name. */
export class TableSet {
  private readonly tables = new Map<string, Table>();
  private readonly literals = new Map<string, Table>();
  private readonly signatures = new Map<string, string>();
  /** Tables taken over from the previous set on reload (already loaded and open). */
  private readonly adopted = new Set<Table>();

  /** `previous`: the running set on reload; its tables declared the same way are kept, open. */
  constructor(config: SmtpdConfig, private readonly opts: TableSetOptions, previous?: TableSet) {
    for (const def of Object.values(config.tables)) {
      const sig = signature(def);
      const old = previous?.signatures.get(def.name) === sig ? previous.tables.get(def.name) : undefined;
      if (old) this.adopted.add(old);
      this.tables.set(def.name, old ?? new Table(def.name, backendFor(def, opts), opts));
      this.signatures.set(def.name, sig);
    }
    for (const name of [LOCALNAMES, LOCALHOST, GETPWNAM]) {
      const old = previous?.tables.get(name);
      if (old) this.adopted.add(old);
    }
    this.tables.set(LOCALNAMES, previous?.tables.get(LOCALNAMES) ?? this.staticList(LOCALNAMES, opts.localNames));
    this.tables.set(LOCALHOST, previous?.tables.get(LOCALHOST) ?? this.staticList(LOCALHOST, opts.localHosts));
    this.tables.set(GETPWNAM, previous?.tables.get(GETPWNAM) ?? new Table(GETPWNAM, new GetpwnamTableBackend(opts.users), opts));
  }

  /** Declared tables that are new or declared differently from the previous set (reload). */
  get reopened(): string[] {
    return [...this.signatures.keys()].filter((n) => !this.adopted.has(this.tables.get(n)!));
  }

  /** Names of every table of the set (declared and built-in). */
  names(): string[] {
    return [...this.tables.keys()];
  }

  /** Close the tables `drop` picks (an old generation goes; what later ones share stays). */
  closeWhere(drop: (t: Table) => boolean): void {
    for (const t of this.tables.values()) if (drop(t)) t.backend.close?.();
  }

  get(name: string): Table | undefined {
    return this.tables.get(name);
  }

  /** The table a rule value refers to; a literal string is a one-entry list table. */
  forValue(value: Value): Table {
    if (typeof value !== 'string') {
      const t = this.tables.get(value.table);
      if (!t) throw new Error(`table <${value.table}> is not declared`);
      return t;
    }
    let t = this.literals.get(value);
    if (!t) {
      t = this.staticList(JSON.stringify(value), [value]);
      this.literals.set(value, t);
    }
    return t;
  }

  /**
   * Load file tables that the config loader did not read, open db/sqlite/passwd files and start
   * table programs; failures are returned, not thrown (their lookups fail temporarily).
   */
  async loadFiles(): Promise<{ name: string; error: string }[]> {
    const failures: { name: string; error: string }[] = [];
    await Promise.all([...this.tables.values()].filter((t) => !this.adopted.has(t)).map(async (t) => {
      try {
        if (t.backend instanceof FileTableBackend && t.backend.content() === undefined) await t.update();
        else if (openable(t.backend)) await t.backend.open();
      } catch (e) {
        failures.push({ name: t.name, error: e instanceof Error ? e.message : String(e) });
      }
    }));
    return failures;
  }

  /** Closes files and stops table programs. */
  close(): void {
    for (const t of this.tables.values()) t.backend.close?.();
  }

  /** `smtpctl update table NAME`: false when the table is unknown or the reload failed. */
  async update(name: string): Promise<{ ok: true } | { ok: false; error: string }> {
    const t = this.tables.get(name);
    if (!t || name.startsWith('<')) return { ok: false, error: `no table named ${name}` };
    try {
      await t.update();
      return { ok: true };
    } catch (e) {
      return { ok: false, error: e instanceof Error ? e.message : String(e) };
    }
  }

  private staticList(name: string, values: string[]): Table {
    return new Table(name, new StaticTableBackend({ kind: 'list', values }), this.opts);
  }
}

// The lka's tables: one Table per `table` declaration of the configuration (backend chosen by
// type), anonymous one-entry tables for literal values written in rules (`for domain
// "example.org"` is a table of one), and the built-in <localnames>/<localhost>.
import type { SmtpdConfig, TableDef, Value } from '@tsmtpd/config';
import type { SystemUsers } from '../users.js';
import { FileTableBackend } from './file.js';
import { GetpwnamTableBackend } from './getpwnam.js';
import { contentFromDef, StaticTableBackend, UnavailableTableBackend } from './static.js';
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

function backendFor(def: TableDef, users: SystemUsers): TableBackend {
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
      return new UnavailableTableBackend('db');
    case 'proc':
      return new UnavailableTableBackend(`proc (${def.procName ?? 'unknown'})`);
  }
}

/** All tables the lka knows, by name. */
export class TableSet {
  private readonly tables = new Map<string, Table>();
  private readonly literals = new Map<string, Table>();

  constructor(config: SmtpdConfig, private readonly opts: TableSetOptions) {
    for (const def of Object.values(config.tables)) {
      this.tables.set(def.name, new Table(def.name, backendFor(def, opts.users), opts));
    }
    this.tables.set(LOCALNAMES, this.staticList(LOCALNAMES, opts.localNames));
    this.tables.set(LOCALHOST, this.staticList(LOCALHOST, opts.localHosts));
    this.tables.set(GETPWNAM, new Table(GETPWNAM, new GetpwnamTableBackend(opts.users), opts));
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

  /** Load file tables that the config loader did not read; failures are returned, not thrown. */
  async loadFiles(): Promise<{ name: string; error: string }[]> {
    const failures: { name: string; error: string }[] = [];
    for (const t of this.tables.values()) {
      if (t.backend instanceof FileTableBackend && t.backend.content() === undefined) {
        try {
          await t.update();
        } catch (e) {
          failures.push({ name: t.name, error: e instanceof Error ? e.message : String(e) });
        }
      }
    }
    return failures;
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

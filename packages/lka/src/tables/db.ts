// `db:` tables: the files our makemap writes (@tsmtpd/config's table-db format, an SQLite file
// read-only here). Value lookups go to the file; the matching services read the whole content
// once, on first use, as for file tables. `smtpctl update table` reopens the file (makemap
// replaces it by a rename, so an open handle would keep the old table).
import { TableDb } from '@tsmtpd/config/table-db.js';
import type { LookupResult, TableBackend, TableContent } from './table.js';

export class DbTableBackend implements TableBackend {
  readonly kind = 'db';
  private db: TableDb | undefined;
  private data: TableContent | undefined;
  private openError: string | undefined;

  constructor(readonly path: string) {}

  /** Opens the file at start; the error is kept for the lookups and reported by the caller. */
  async open(): Promise<void> {
    this.reopen();
    if (this.openError !== undefined) throw new Error(this.openError);
  }

  content(): TableContent | undefined {
    const db = this.handle();
    if (!db) return undefined;
    this.data ??= db.content();
    return this.data;
  }

  async get(key: string): Promise<LookupResult> {
    const db = this.handle();
    if (!db) return { error: this.openError ?? `db table ${this.path} not open` };
    const v = db.get(key);
    return v === undefined ? { found: false } : { found: true, value: v };
  }

  async update(): Promise<void> {
    const before = { db: this.db, data: this.data };
    this.db = undefined;
    this.reopen();
    if (this.openError !== undefined) {
      // A failed reload keeps the previous table.
      this.db = before.db;
      this.data = before.data;
      throw new Error(this.openError);
    }
    before.db?.close();
  }

  close(): void {
    this.db?.close();
    this.db = undefined;
  }

  private handle(): TableDb | undefined {
    if (!this.db && this.openError === undefined) this.reopen();
    return this.db;
  }

  private reopen(): void {
    try {
      this.db = new TableDb(this.path);
      this.data = undefined;
      this.openError = undefined;
    } catch (e) {
      this.openError = e instanceof Error ? e.message : String(e);
    }
  }
}

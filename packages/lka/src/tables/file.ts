// `file:` tables (table(5), REFERENCE 11), read with @tsmtpd/config's readTableFile (list or
// mapping auto-detected, `# @list`, `key value` / `key: value`, `#` comments). Loaded at start
// when the config loader did not, and on `smtpctl update table`; a failed reload keeps the
// previous content.
import { readTableFile } from '@tsmtpd/config/tables.js';
import { contentGet, type LookupResult, type TableBackend, type TableContent } from './table.js';

/** A `file:` table: content in memory, reloaded from its path on update. */
export class FileTableBackend implements TableBackend {
  readonly kind = 'file';
  private data: TableContent | undefined;

  /** `initial`: content the config loader already read, used until the first reload. */
  constructor(readonly path: string, initial?: TableContent, private readonly load: (path: string) => Promise<TableContent> = readTableFile) {
    this.data = initial;
  }

  content(): TableContent | undefined {
    return this.data;
  }

  async get(key: string): Promise<LookupResult> {
    if (!this.data) return { error: `table file ${this.path} not loaded` };
    return contentGet(this.data, key);
  }

  async update(): Promise<void> {
    this.data = await this.load(this.path);
  }
}

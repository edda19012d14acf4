// In-memory table backends: `static` tables (inline `{...}` in smtpd.conf, carried by the
// config model) and the built-in tables the lka computes itself (<localnames>, <localhost>).
import { contentGet, type LookupResult, type TableBackend, type TableContent } from './table.js';

/** Content from a model table definition: keys of a mapping are lowercased (lookups are). */
export function contentFromDef(def: { list?: string[] | undefined; map?: Record<string, string> | undefined }): TableContent {
  if (def.map !== undefined) {
    const entries: Record<string, string> = Object.create(null) as Record<string, string>;
    for (const [k, v] of Object.entries(def.map)) entries[k.toLowerCase()] = v;
    return { kind: 'map', entries };
  }
  return { kind: 'list', values: [...(def.list ?? [])] };
}

/** A table whose content never changes after construction. */
export class StaticTableBackend implements TableBackend {
  readonly kind = 'static';
  constructor(private readonly data: TableContent) {}

  content(): TableContent {
    return this.data;
  }

  async get(key: string): Promise<LookupResult> {
    return contentGet(this.data, key);
  }

  async update(): Promise<void> {
    // Nothing to reload: the content came from the configuration.
  }
}

/**
 * A table type that is not built yet (`db:`, proc tables): every lookup is a temporary
 * failure, so mail is retried rather than refused or accepted on a guess.
 */
export class UnavailableTableBackend implements TableBackend {
  constructor(readonly kind: string) {}

  content(): undefined {
    return undefined;
  }

  async get(): Promise<LookupResult> {
    return { error: `${this.kind} tables are not supported yet` };
  }

  async update(): Promise<void> {
    throw new Error(`${this.kind} tables are not supported yet`);
  }
}

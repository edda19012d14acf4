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

// A reload order (proto's ReloadOrderSchema) as an actor receives it: the order's shape and the
// configuration inside it checked with the model's schema, as any cross-thread data.
import { ReloadOrderSchema, type ReloadOrder } from '@tsmtpd/proto';
import { SmtpdConfigSchema, type SmtpdConfig } from './model.js';

export type ParsedReload = { ok: true; config: SmtpdConfig; order: ReloadOrder } | { ok: false; error: string };

export function parseReloadOrder(raw: unknown): ParsedReload {
  const o = ReloadOrderSchema.safeParse(raw);
  if (!o.success) return { ok: false, error: 'invalid reload order' };
  const c = SmtpdConfigSchema.safeParse(o.data.config);
  if (!c.success) return { ok: false, error: `invalid configuration in the reload order: ${c.error.message.slice(0, 200)}` };
  return { ok: true, config: c.data, order: o.data };
}

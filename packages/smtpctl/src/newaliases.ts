// newaliases(8) and `sendmail -bi` (REFERENCE 2.2): for each alias table of the configuration, a
// `db:` table `X.db` is rebuilt from its text source `X` (as `makemap -t aliases X`), a text
// (`file:`) table is checked (a bad line is reported as `file:line: ...`); then a running daemon
// is asked to reload it (`update table NAME` on the control socket).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, readTableFile, type SmtpdConfig, type TableDef } from '@tsmtpd/config';
import { buildTableDb } from './makemap.js';
import { ControlClient } from './client.js';

const DEFAULT_CONFIG = '/etc/mail/smtpd.conf';

/** The names of the tables used as `alias <t>` or `virtual <t>` by an action. */
export function aliasTables(config: SmtpdConfig): string[] {
  const names = new Set<string>();
  for (const a of Object.values(config.actions)) {
    for (const t of [a.alias, a.virtual]) if (t !== undefined) names.add(t.replace(/^<|>$/g, ''));
  }
  return [...names];
}

/** Hook for the control client: reload one table in the running daemon; resolves to an error text or null. */
export type TableUpdater = (spool: string, name: string) => Promise<string | null>;

/** `update table NAME` on the control socket (root or the daemon's user may; others are told no). */
export const controlUpdate: TableUpdater = async (spool, name) => {
  let c: ControlClient;
  try {
    c = await ControlClient.connect(join(spool, 'smtpd.sock'));
  } catch {
    return null; // not running: it reads the table when it starts
  }
  try {
    const r = await c.request({ cmd: 'update.table', name });
    return r.ok ? null : `${r.code}${'error' in r && r.error ? `: ${String(r.error)}` : ''}`;
  } catch (e) {
    return (e as Error).message;
  } finally {
    c.close();
  }
};

export async function newaliasesMain(argv: string[], update: TableUpdater | undefined = controlUpdate, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let file = DEFAULT_CONFIG;
  try {
    const { values } = parseArgs({ args: argv, options: { f: { type: 'string', short: 'f' } }, strict: true });
    if (values.f !== undefined) file = values.f;
  } catch (e) {
    process.stderr.write(`newaliases: ${(e as Error).message.split('.')[0]}\nusage: newaliases [-f file]\n`);
    return 64;
  }
  const r = await loadConfig(file, {});
  if (!r.ok) {
    for (const e of r.errors) process.stderr.write(`${e}\n`);
    return 1;
  }
  const spool = env['SMTPD_SPOOL'] || '/var/spool/smtpd';
  const running = existsSync(join(spool, 'smtpd.sock'));
  let status = 0;
  for (const name of aliasTables(r.config)) {
    const t = r.config.tables[name];
    if (!t || !t.path || (t.type !== 'file' && t.type !== 'db')) continue; // only these have a text source
    const built = await rebuild(t);
    if (!built.ok) {
      process.stderr.write(`newaliases: ${built.error}\n`);
      status = 1;
      continue;
    }
    process.stdout.write(`${built.path}: ${built.entries} aliases\n`);
    if (!running || !update) continue;
    const err = await update(spool, name);
    if (err !== null) {
      process.stderr.write(`newaliases: update table ${name}: ${err}\n`);
      status = 1;
    }
  }
  return status;
}

/** A db: table rebuilt from its source (X.db from X), or a file: table checked. */
async function rebuild(t: TableDef): Promise<{ ok: true; path: string; entries: number } | { ok: false; error: string }> {
  const path = t.path ?? '';
  if (t.type === 'db') {
    if (!path.endsWith('.db')) return { ok: false, error: `${path}: a db table's source must be its name without .db` };
    const r = buildTableDb(path.slice(0, -3), 'aliases', path);
    return r.ok ? { ok: true, path, entries: r.entries } : { ok: false, error: r.error };
  }
  try {
    const content = await readTableFile(path);
    return { ok: true, path, entries: content.kind === 'map' ? Object.keys(content.entries).length : content.values.length };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

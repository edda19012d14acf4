// newaliases(8) and `sendmail -bi` (REFERENCE 2.2): our alias tables are text files (`table NAME
// file:PATH`) that need no database build, so newaliases checks each alias table of the
// configuration (a bad line is reported as `file:line: ...`) and asks a running daemon to reload
// it (`update table NAME` on the control socket).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, readTableFile, type SmtpdConfig } from '@tsmtpd/config';

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

export async function newaliasesMain(argv: string[], update?: TableUpdater, env: NodeJS.ProcessEnv = process.env): Promise<number> {
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
    if (!t || t.type !== 'file' || !t.path) continue; // only file tables have a text to check
    try {
      const content = await readTableFile(t.path);
      const n = content.kind === 'map' ? Object.keys(content.entries).length : content.values.length;
      process.stdout.write(`${t.path}: ${n} aliases\n`);
    } catch (e) {
      process.stderr.write(`newaliases: ${(e as Error).message}\n`);
      status = 1;
      continue;
    }
    if (!running || !update) continue;
    const err = await update(spool, name);
    if (err !== null) {
      process.stderr.write(`newaliases: update table ${name}: ${err}\n`);
      status = 1;
    }
  }
  return status;
}

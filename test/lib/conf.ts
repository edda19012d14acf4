// Generated smtpd.conf texts and test messages. Configs use OpenSMTPD's grammar (REFERENCE.md 1):
// a loopback listener on the harness's port, maildirs under DIR/mail/<user>/Maildir.
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ConfigContext } from './daemon.js';
import { isRoot } from './paths.js';
import { ensureUsers } from './users.js';

export interface LocalConfigOptions {
  /** Global lines placed before `listen`, e.g. `smtp max-message-size 64K`. */
  globals?: string[];
  /** aliases(5) entries: name → targets; written to DIR/aliases and used by the "local" action. */
  aliases?: Record<string, string[]>;
}

/** The maildir the "local" action of `localMaildirConfig` delivers `user`'s mail to. */
export function userMaildir(dir: string, user: string): string {
  return path.join(dir, 'mail', user, 'Maildir');
}

/** listen on 127.0.0.1 port P; local recipients (`for local`) delivered to DIR/mail/USER/Maildir. */
export function localMaildirConfig(ctx: ConfigContext, o: LocalConfigOptions = {}): string {
  const lines = [...(o.globals ?? []), `listen on 127.0.0.1 port ${ctx.port}`];
  let aliasOpt = '';
  if (o.aliases) {
    const file = path.join(ctx.dir, 'aliases');
    const text = Object.entries(o.aliases).map(([k, v]) => `${k}: ${v.join(', ')}\n`).join('');
    writeFileSync(file, text);
    lines.push(`table aliases file:${file}`);
    aliasOpt = ' alias <aliases>';
  }
  lines.push(`action "local" maildir "${ctx.dir}/mail/%{user.username}/Maildir"${aliasOpt}`);
  lines.push('match from any for local action "local"');
  return lines.join('\n') + '\n';
}

/** A message with CRLF line ends: the header lines, a blank line, then the body lines. */
export function buildMessage(headers: string[], bodyLines: (string | Buffer)[]): Buffer {
  const crlf = Buffer.from('\r\n');
  const parts: Buffer[] = [];
  for (const h of headers) parts.push(Buffer.from(h, 'utf8'), crlf);
  parts.push(crlf);
  for (const l of bodyLines) parts.push(typeof l === 'string' ? Buffer.from(l, 'utf8') : l, crlf);
  return Buffer.concat(parts);
}

/** The same body as stored by a local delivery: LF line ends. */
export function storedBody(bodyLines: (string | Buffer)[]): Buffer {
  const lf = Buffer.from('\n');
  return Buffer.concat(bodyLines.flatMap((l) => [typeof l === 'string' ? Buffer.from(l, 'utf8') : l, lf]));
}

/** A short unique tag for subjects, so a test finds its own messages. */
export function uniqueTag(prefix: string): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
}

/**
 * A local user the daemon can deliver to: as root the system user `name` (created if needed),
 * otherwise the user running the tests.
 */
export async function deliverableUser(name: string): Promise<string> {
  if (!isRoot()) return os.userInfo().username;
  const r = await ensureUsers([name]);
  if (!r.ok) throw new Error(r.reason);
  return name;
}

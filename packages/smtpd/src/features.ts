// What the configuration language can say but this daemon cannot do yet. A configuration
// that uses any of it is refused at start, each use named with its place — never ignored.
import type { SmtpdConfig } from '@tsmtpd/config';

function at(pos: { file: string; line: number }): string {
  return pos.line > 0 ? `${pos.file}:${pos.line}: ` : '';
}

/** Every use of an unimplemented feature, as "file:line: X is not implemented yet". */
export function unimplementedFeatures(config: SmtpdConfig): string[] {
  const out: string[] = [];
  const no = (pos: { file: string; line: number }, what: string) => out.push(`${at(pos)}${what} is not implemented yet`);
  for (const l of config.listeners) {
    if (l.proxyV2) no(l, 'listener option proxy-v2');
    if (l.hostnamesTable !== undefined) no(l, 'listener option hostnames');
  }
  for (const a of Object.values(config.actions)) {
    if (a.wrapper !== undefined) no(a, `action "${a.name}": mda wrapper`);
    if (a.method.kind === 'relay' && a.method.filter !== undefined) no(a, `action "${a.name}": relay filter (smtp-out filters)`);
  }
  for (const f of Object.values(config.filters)) {
    if (f.kind === 'proc-exec' && f.chroot !== undefined) no(f, `filter "${f.name}": chroot`);
  }
  for (const p of Object.values(config.procs)) if (p.chroot !== undefined) no(p, `proc "${p.name}": chroot`);
  return out;
}

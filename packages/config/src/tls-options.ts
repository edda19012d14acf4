// The listener TLS settings that are strings in smtpd.conf: libtls `protocols` strings
// (tls_config_parse_protocols) turned into a Node min/max version range, and the pki a
// listener presents when it names none. Shared by the parser, the parent and the smtp actor.
import type { Listener, SmtpdConfig } from './model.js';

export type TlsVersion = 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
const ORDER: TlsVersion[] = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];

const NAMES: Record<string, TlsVersion[]> = {
  'tlsv1.0': ['TLSv1'], 'tlsv1.1': ['TLSv1.1'], 'tlsv1.2': ['TLSv1.2'], 'tlsv1.3': ['TLSv1.3'],
  tlsv1: ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'],
  all: ORDER, legacy: ORDER,
  default: ['TLSv1.2', 'TLSv1.3'], secure: ['TLSv1.2', 'TLSv1.3'],
};

/** The versions libtls enables when no `protocols` is given ("secure"). */
export const DEFAULT_TLS_RANGE = { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3' } as const;

/**
 * A libtls protocols string ("tlsv1.2,tlsv1.3", "secure", "all,!tlsv1.0") as a version range,
 * or null when it is malformed or enables nothing. Node takes a range, so a hole in the
 * middle ("tlsv1.0,tlsv1.2") becomes the range around it.
 */
export function parseTlsProtocols(text: string): { minVersion: TlsVersion; maxVersion: TlsVersion } | null {
  const on = new Set<TlsVersion>();
  for (const raw of text.toLowerCase().split(/[,:]/)) {
    const tok = raw.trim();
    if (tok === '') continue;
    const negate = tok.startsWith('!') || tok.startsWith('-');
    const versions = NAMES[negate ? tok.slice(1) : tok];
    if (!versions) return null;
    for (const v of versions) (negate ? on.delete(v) : on.add(v));
  }
  const enabled = ORDER.filter((v) => on.has(v));
  const min = enabled[0];
  const max = enabled[enabled.length - 1];
  return min && max ? { minVersion: min, maxVersion: max } : null;
}

/**
 * The pki names a TLS listener presents, the first being the default: those it names, else
 * the pki named as its hostname (or the server name), else the catch-all `*` — as OpenSMTPD 6.x
 * chose. Empty when none exists (a start error).
 */
export function listenerPkis(l: Listener, config: SmtpdConfig): string[] {
  if (l.pki.length > 0) return l.pki;
  const name = (l.hostname ?? config.serverName).toLowerCase();
  if (config.pki[name]) return [name];
  return config.pki['*'] ? ['*'] : [];
}

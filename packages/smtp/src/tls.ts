// TLS on a listener (REFERENCE 1.3): the smtp-server options for STARTTLS (`tls`, `tls-require`)
// and implicit TLS (`smtps`) built from the material the parent read (init data, zod-checked):
// one secure context per pki, chosen by SNI against each certificate's names, the first as the
// default; `ca` and `verify` for client certificates; `ciphers`, `protocols`, `dhe`.
import { X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContext, type SecureContextOptions, type TLSSocket } from 'node:tls';
import type { Listener, SmtpdConfig } from '@tsmtpd/config';
import { DEFAULT_TLS_RANGE, listenerPkis, parseTlsProtocols } from '@tsmtpd/config/tls-options.js';
import type { TlsMaterial } from '@tsmtpd/proto';
import type { SMTPServerOptions } from 'smtp-server';
import { z } from 'zod';

const PEM_MAX = 1024 * 1024;
export const TlsMaterialSchema = z.object({
  pki: z.record(z.string(), z.object({ cert: z.string().max(PEM_MAX), key: z.string().max(PEM_MAX) })),
  ca: z.record(z.string(), z.string().max(16 * PEM_MAX)),
});

/** What the session keeps of its TLS connection, for the Received header and the ruleset. */
export interface TlsInfo {
  version: string;
  cipher: string;
  bits: number;
  /** A client certificate was presented and verified (`verify`). */
  verified: boolean;
}

interface Pair {
  name: string;
  context: SecureContext;
  cert: X509Certificate | null;
}

/** The smtp-server options of a TLS listener; empty for a plain one. Throws on unusable material. */
export function listenerTlsOptions(l: Listener, config: SmtpdConfig, material: TlsMaterial | undefined): Partial<SMTPServerOptions> {
  if (!l.tls && !l.smtps) return {};
  if (!material) throw new Error(`listen on ${l.target ?? ''}: no TLS material handed over`);
  const names = listenerPkis(l, config);
  const range = (l.protocols !== undefined ? parseTlsProtocols(l.protocols) : null) ?? DEFAULT_TLS_RANGE;
  const ca = l.ca !== undefined ? material.ca[l.ca] : undefined;
  const dhe = config.pki[names[0] ?? '']?.dhe ?? 'none';
  // libtls's "auto" and "legacy" both enable DHE; Node's 'auto' uses well-known groups.
  const common: SecureContextOptions = {
    ciphers: l.ciphers ?? config.smtp.ciphers, ...range, honorCipherOrder: true,
    ...(ca !== undefined ? { ca } : {}), ...(dhe !== 'none' ? { dhparam: 'auto' } : {}),
  };
  const pairs: Pair[] = names.map((name) => {
    const m = material.pki[name];
    if (!m) throw new Error(`pki ${name}: no certificate handed over`);
    let cert: X509Certificate | null = null;
    try { cert = new X509Certificate(m.cert); } catch { cert = null; }
    return { name, cert, context: createSecureContext({ ...common, cert: m.cert, key: m.key }) };
  });
  const first = pairs[0];
  const firstPem = material.pki[first?.name ?? ''];
  if (!first || !firstPem) throw new Error(`listen on ${l.target ?? ''}: no pki`);
  return {
    ...common,
    key: firstPem.key,
    cert: firstPem.cert,
    secure: l.smtps,
    SNICallback: (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => cb(null, pickPair(pairs, servername).context),
    ...(l.tlsVerify ? { requestCert: true, rejectUnauthorized: true } : {}),
  } as Partial<SMTPServerOptions>;
}

/** The pki for an SNI name: the first whose certificate names it, else one named so, else the default. */
function pickPair(pairs: Pair[], servername: string): Pair {
  const name = servername.toLowerCase();
  return pairs.find((p) => p.cert?.checkHost(name) !== undefined) ?? pairs.find((p) => p.name === name) ?? (pairs[0] as Pair);
}

/** Cipher strength in bits, from the OpenSSL cipher name (Node does not report it). */
function cipherBits(name: string): number {
  if (/CHACHA20|AES_?256|AES256|CAMELLIA256/i.test(name)) return 256;
  if (/AES_?128|AES128|CAMELLIA128|ARIA128/i.test(name)) return 128;
  if (/3DES|DES-CBC3/i.test(name)) return 112;
  return 0;
}

export function describeTls(socket: TLSSocket): TlsInfo {
  const c = socket.getCipher();
  return { version: socket.getProtocol() ?? 'unknown', cipher: c.name, bits: cipherBits(c.name), verified: socket.authorized === true };
}

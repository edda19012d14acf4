// Listener TLS material: every certificate, key and CA bundle the TLS listeners use, read once
// by the parent at start and handed to the smtp actor in its init data (the actor opens no key
// file). Under privilege separation this is the privileged side's job: `readListenerTlsMaterial`
// is the one function to move there. Each pair is tried in a secure context here, so a broken
// certificate, key, cipher or protocol string is a start error with its place, not a failed session.
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { DEFAULT_TLS_RANGE, listenerPkis, parseTlsProtocols, type Listener, type SmtpdConfig } from '@tsmtpd/config';
import type { TlsMaterial } from '@tsmtpd/proto';

export type TlsMaterialResult = { ok: true; material: TlsMaterial } | { ok: false; errors: string[] };

function at(pos: { file: string; line: number }): string {
  return pos.line > 0 ? `${pos.file}:${pos.line}: ` : '';
}

function readPem(path: string): string {
  return readFileSync(path, 'utf8');
}

/** Read the pki and ca files of every TLS listener; errors as "file:line: what". */
export function readListenerTlsMaterial(config: SmtpdConfig): TlsMaterialResult {
  const material: TlsMaterial = { pki: {}, ca: {} };
  const errors: string[] = [];
  for (const l of config.listeners) {
    if (!l.tls && !l.smtps) continue;
    const where = `${at(l)}listen on ${l.target ?? 'socket'}`;
    const names = listenerPkis(l, config);
    if (names.length === 0) {
      errors.push(`${where}: TLS needs a certificate: name a pki, or declare one named "${l.hostname ?? config.serverName}" or "*"`);
      continue;
    }
    for (const name of names) {
      const p = config.pki[name];
      if (!p) { errors.push(`${where}: pki name not found: ${name}`); continue; }
      if (material.pki[name]) continue;
      try {
        material.pki[name] = { cert: readPem(p.cert), key: readPem(p.key) };
      } catch (e) {
        errors.push(`${at(p)}pki ${name}: ${(e as Error).message}`);
      }
    }
    if (l.ca !== undefined && material.ca[l.ca] === undefined) {
      const c = config.ca[l.ca];
      try {
        if (!c) throw new Error('ca name not found');
        material.ca[l.ca] = readPem(c.cert);
      } catch (e) {
        errors.push(`${where}: ca ${l.ca}: ${(e as Error).message}`);
      }
    }
    const why = contextProblem(l, names, material, config.smtp.ciphers);
    if (why) errors.push(`${where}: ${why}`);
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, material };
}

/**
 * Adds the pki and ca files of the relay actions (`relay pki`, `relay ca`) to `material`: the
 * mta under privilege separation opens no key file either. Errors as "file:line: what".
 */
export function addRelayTlsMaterial(config: SmtpdConfig, material: TlsMaterial): string[] {
  const errors: string[] = [];
  for (const a of Object.values(config.actions)) {
    if (a.method.kind !== 'relay') continue;
    const { pki, ca } = a.method;
    if (pki !== undefined && material.pki[pki] === undefined) {
      const p = config.pki[pki];
      try {
        if (!p) throw new Error('pki name not found');
        material.pki[pki] = { cert: readPem(p.cert), key: readPem(p.key) };
      } catch (e) {
        errors.push(`${at(a)}action "${a.name}": pki ${pki}: ${(e as Error).message}`);
      }
    }
    if (ca !== undefined && material.ca[ca] === undefined) {
      const c = config.ca[ca];
      try {
        if (!c) throw new Error('ca name not found');
        material.ca[ca] = readPem(c.cert);
      } catch (e) {
        errors.push(`${at(a)}action "${a.name}": ca ${ca}: ${(e as Error).message}`);
      }
    }
  }
  return errors;
}

/** Why the listener's secure contexts cannot be built (a key that does not fit, a bad cipher string). */
function contextProblem(l: Listener, names: string[], m: TlsMaterial, globalCiphers: string): string | undefined {
  const range = l.protocols !== undefined ? parseTlsProtocols(l.protocols) : DEFAULT_TLS_RANGE;
  for (const name of names) {
    const pair = m.pki[name];
    if (!pair) continue;
    try {
      createSecureContext({
        cert: pair.cert, key: pair.key, ciphers: l.ciphers ?? globalCiphers,
        ...(range ?? {}), ...(l.ca !== undefined && m.ca[l.ca] ? { ca: m.ca[l.ca] } : {}),
      });
    } catch (e) {
      return `pki ${name}: ${(e as Error).message}`;
    }
  }
  return undefined;
}

// Helpers for this package's tests: a fixed network view, a temp directory with files, and a
// parse helper that returns the config or throws with the error list.
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseConfigText, type LoadOptions, type LoadResult } from './load.js';
import type { SmtpdConfig } from './model.js';
import type { NetEnv } from './resolve.js';

/** lo (127.0.0.1, ::1), eth0 (192.0.2.2, fd00::2, fe80::1); a few names. */
export const fakeNet: NetEnv = {
  interfaces: () => ({
    lo: [{ address: '127.0.0.1', family: 'IPv4' }, { address: '::1', family: 'IPv6' }],
    eth0: [{ address: '192.0.2.2', family: 'IPv4' }, { address: 'fd00::2', family: 'IPv6' }, { address: 'fe80::1', family: 'IPv6' }],
  }),
  lookup: async (host, family) => {
    const names: Record<string, Array<{ address: string; family: 4 | 6 }>> = {
      localhost: [{ address: '127.0.0.1', family: 4 }, { address: '::1', family: 6 }],
      'mx.example.org': [{ address: '192.0.2.2', family: 4 }],
    };
    return (names[host] ?? []).filter((a) => family === 0 || a.family === family);
  },
};

export const CONF = '/virtual/smtpd.conf';

/** Parses `text` with the fake network; appends a reject rule when the text has no `match`. */
export async function parseRaw(text: string, opts: LoadOptions = {}, file = CONF): Promise<LoadResult> {
  const full = /^\s*(match|accept|reject)\b/m.test(text) ? text : `${text}\nmatch from any for any reject\n`;
  return parseConfigText(full, file, { net: fakeNet, serverName: 'mx.test', ...opts });
}

/** Parses and returns the config; throws with the errors when it does not load. */
export async function parseOk(text: string, opts: LoadOptions = {}, file = CONF): Promise<SmtpdConfig> {
  const r = await parseRaw(text, opts, file);
  if (!r.ok) throw new Error(`expected OK, got:\n${r.errors.join('\n')}`);
  return r.config;
}

/** Parses and returns the error list; throws when the text loads. */
export async function parseErr(text: string, opts: LoadOptions = {}, file = CONF): Promise<string[]> {
  const r = await parseRaw(text, opts, file);
  if (r.ok) throw new Error('expected errors, configuration loaded');
  return r.errors;
}

/** A temp directory; `put(rel, content)` writes a file in it and returns the absolute path. */
const madeDirs: string[] = [];
process.once('exit', () => {
  for (const d of madeDirs) rmSync(d, { recursive: true, force: true });
});

/** A temporary directory for one test's files, removed when the test process exits. */
export function tempDir(): { dir: string; put: (rel: string, content: string) => string } {
  const dir = mkdtempSync(join(tmpdir(), 'tsmtpd-config-'));
  madeDirs.push(dir);
  return {
    dir,
    put: (rel, content) => {
      const p = join(dir, rel);
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, content);
      return p;
    },
  };
}

/**
 * A certificate file and a usable private key file (PEM, mode 0600) in `t`, as a pki needs them
 * (OpenSMTPD reads the certificate but does not check its content at `-n`). The key must also
 * belong to root: tests using it run as root (as CI does).
 */
export function pkiFiles(t: ReturnType<typeof tempDir>, stem = 'c'): { cert: string; key: string } {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const key = t.put(`${stem}.key`, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  chmodSync(key, 0o600);
  return { cert: t.put(`${stem}.crt`, '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n'), key };
}

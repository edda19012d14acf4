// The corpus (test-corpus/): real smtpd.conf files from public repositories, the same with the
// files they name replaced by fixtures (with-files/), and hand-written probes (probes/). Each
// file's header holds OpenSMTPD 6.8.0p2's verdict (`smtpd -n` of Debian 12's package, run on the
// file as saved, on a Linux machine with interfaces lo and eth0 and no DNS): `# expect: ok`, or
// `# expect: reject at line N`, N being 6.8's first `file:line` (or, for its errors without a
// line, the line of the fault). We must agree, and our first error must name that line.
// One deliberate departure (DESIGN 6, load.ts `chooseReading`): a file set in the pre-6.4 grammar
// alone is read by us. Where that changes the verdict, the header says `# expect: OURS (tsmtpd
// departs: legacy read; 6.8: ITS VERDICT)`; each file is also judged in 6.8's reading (grammar
// `modern`), which must give 6.8's verdict, and a departure must be a file set found legacy.
//
// Files named by the configurations: OpenSMTPD 6.8 opens table files (file:, db:), the pki
// certificates and keys and the ca files before it says "configuration OK", so a configuration
// naming a file that does not exist is rejected. The verdicts of the real files were taken on a
// machine where none of them exists (as on the machine that labelled the checker's corpus, we
// assume); a file whose named paths exist on this machine is skipped, as its verdict could differ.
// `@FX@` in a file stands for a directory of fixtures made here (a key must belong to root, so
// those files are skipped when not running as root).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSet, scanGrammar } from './grammar.js';
import { loadConfig, type LoadOptions } from './load.js';
import { writeTableDb } from './table-db.js';
import type { NetEnv } from './resolve.js';
import { tempDir } from './test-util.js';

const CORPUS = join(dirname(fileURLToPath(import.meta.url)), '..', 'test-corpus');

/** The labelling machine: lo and eth0, `localhost` and `vm` in /etc/hosts, no DNS. */
const LABEL_NET: NetEnv = {
  interfaces: () => ({
    lo: [{ address: '127.0.0.1', family: 'IPv4' }, { address: '::1', family: 'IPv6' }],
    eth0: [{ address: '192.0.2.2', family: 'IPv4' }, { address: 'fd00::2', family: 'IPv6' }, { address: 'fe80::fc:ff:fe00:1', family: 'IPv6' }],
  }),
  lookup: async (host, family) => (['localhost', 'vm'].includes(host) && family !== 6 ? [{ address: '127.0.0.1', family: 4 }] : []),
};

/** The fixtures `@FX@` stands for. */
function fixtures(): string {
  const t = tempDir();
  t.put('aliases', 'root: admin\npostmaster: root\n');
  t.put('domains', 'example.org\nexample.net\n');
  t.put('virtuals', 'bob@example.org bob\n@example.org bob\n');
  t.put('creds', 'bob $2b$08$0123456789012345678901\n');
  t.put('hostnames', '192.0.2.2 mx.example.org\n');
  t.put('srcips', '192.0.2.2\n');
  t.put('empty', '');
  t.put('commentonly', '# comment\n\n');
  t.put('legacy-rules.conf', '# the rules\naccept for local deliver to mbox\n'); // included by p15 probes
  t.put('modern-rules.conf', 'action "i" mbox\nmatch for local action "i"\n');
  t.put('cert.pem', '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n');
  writeTableDb(t.put('aliases.db', ''), 'map', [['root', 'admin']]); // as our makemap writes it
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  chmodSync(t.put('key.pem', privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()), 0o600);
  return t.dir;
}

interface Verdict { ok: boolean; line?: number }
interface Case extends Verdict { file: string; text: string; v68?: Verdict }

const verdict = (m: RegExpExecArray): Verdict => (m[2] === undefined ? { ok: true } : { ok: false, line: Number(m[2]) });

function cases(sub: string): Case[] {
  const dir = join(CORPUS, sub);
  return readdirSync(dir).filter((f) => f.endsWith('.conf')).sort().map((f) => {
    const file = join(dir, f);
    const text = readFileSync(file, 'utf8');
    const m = /^# expect: (ok|reject at line (\d+))/m.exec(text);
    assert.ok(m, `${file}: no "# expect:" header`);
    const departs = /^# expect: .*\(tsmtpd departs: legacy read; 6\.8: (ok|reject at line (\d+))/m.exec(text);
    return { file, text, ...verdict(m), ...(departs ? { v68: verdict(departs) } : {}) };
  });
}

/** Why a case cannot be judged on this machine, if so. */
function skipReason(c: Case): string | undefined {
  const named = [
    ...c.text.matchAll(/^\s*table\s+\S+\s+(?:[a-z]+:)?(\/[^\s"]+)/gm),
    ...c.text.matchAll(/\b(?:cert|certificate|key)\s+["']?(\/[^"'\s]+)/g),
    ...c.text.matchAll(/\binclude\s+"(\/[^"]+)"/g),
  ].map((m) => m[1] ?? '');
  const present = named.find((p) => existsSync(p));
  if (present !== undefined) return `${present} exists on this machine`;
  if (c.text.includes('@FX@/key.pem') && process.getuid?.() !== 0) return 'a pki key must belong to root';
  return undefined;
}

async function judge(c: Case, fx: string, tmp: ReturnType<typeof tempDir>): Promise<void> {
  const file = c.text.includes('@FX@') ? tmp.put(c.file.slice(CORPUS.length + 1), c.text.replaceAll('@FX@', fx)) : c.file;
  await judgeAs(c, file, c, 'we', {});
  await judgeAs(c, file, c.v68 ?? c, 'in 6.8\'s reading, we', { grammar: 'modern' });
  if (c.v68) assert.equal(scanGrammar(readFileSet(readFileSync(file, 'utf8'), file)).grammar, 'legacy', `${c.file}: a departure, yet not a legacy file set`);
}

async function judgeAs(c: Case, file: string, v: Verdict, who: string, opts: LoadOptions): Promise<void> {
  const r = await loadConfig(file, { net: LABEL_NET, serverName: 'mx.example.org', ...opts });
  const expected = v.ok ? 'accepts it' : `rejects it (line ${v.line ?? '?'})`;
  if (v.ok) {
    assert.ok(r.ok, `${c.file}: expected: ${expected}; ${who} reject:\n${r.ok ? '' : r.errors.join('\n')}`);
    return;
  }
  assert.ok(!r.ok, `${c.file}: expected: ${expected}; ${who} accept it`);
  assert.ok(r.errors[0]?.startsWith(`${file}:${v.line ?? 0}: `), `${c.file}: ${who}: expected the first error at line ${v.line ?? '?'}, got:\n${r.errors.join('\n')}`);
}

for (const sub of ['.', 'with-files', 'probes']) {
  test(`corpus ${sub}: OpenSMTPD 6.8's verdicts and first error lines`, async (t) => {
    const all = cases(sub);
    assert.ok(all.length >= (sub === 'with-files' ? 20 : 40), `${sub}: only ${all.length} files`);
    const fx = fixtures();
    const tmp = tempDir();
    let judged = 0;
    for (const c of all) {
      const why = skipReason(c);
      if (why !== undefined) { t.diagnostic(`skipped ${c.file}: ${why}`); continue; }
      await judge(c, fx, tmp);
      judged++;
    }
    assert.ok(judged > all.length / 2, `${sub}: only ${judged} of ${all.length} files could be judged here`);
    if (sub !== 'with-files') assert.ok(all.filter((c) => c.v68).length >= 4, `${sub}: the relabelled legacy files are gone`);
  });
}

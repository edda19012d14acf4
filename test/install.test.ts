// The system install (scripts/install.mjs) into a throwaway root, never the machine's own /etc:
// a scratch directory with its own passwd/group/shadow/gshadow and a sendmail of "another MTA".
// Every file, mode, owner and link it creates is checked, and _smtpd in the scratch passwd; a
// second run changes nothing; the installed wrapper checks the installed smtpd.conf; --uninstall
// leaves the root as it was but for the spool, its user and the config (twice: idempotent), and
// --purge removes those too. Root only (useradd --prefix, chown). The units pass systemd-analyze
// verify.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isRoot, repoRoot } from './lib/paths.js';
import { run, describeRun } from './lib/proc.js';
import { makeTestDir, removeTestDir } from './lib/tmp.js';

const INSTALL = path.join(repoRoot, 'scripts/install.mjs');
const SMTPCTL = '/usr/local/sbin/smtpctl';
const LINKS = ['/usr/sbin/sendmail', '/usr/lib/sendmail', '/usr/bin/mailq', '/usr/bin/newaliases', '/usr/sbin/makemap'];
/** shadow-utils' backups (passwd-, group-, ...), written by useradd/userdel: not ours. */
const BACKUP = /^\/etc\/(passwd|group|shadow|gshadow)-$/;

type Snapshot = Map<string, string>;

/** Every path under root: type, mode, owner, and the content's hash or the link's target. */
function snapshot(root: string): Snapshot {
  const out: Snapshot = new Map();
  const walk = (rel: string): void => {
    const full = path.join(root, rel);
    const st = lstatSync(full);
    const what = st.isSymbolicLink() ? `link ${readlinkSync(full)}` : st.isDirectory() ? 'dir' : `file ${createHash('sha256').update(readFileSync(full)).digest('hex').slice(0, 16)}`;
    if (rel !== '/' && !BACKUP.test(rel)) out.set(rel, `${what} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`);
    if (st.isDirectory()) for (const n of readdirSync(full).sort()) walk(path.posix.join(rel, n));
  };
  walk('/');
  return out;
}

function diff(a: Snapshot, b: Snapshot): string[] {
  const keys = [...new Set([...a.keys(), ...b.keys()])].sort();
  return keys.filter((k) => a.get(k) !== b.get(k)).map((k) => `${k}: ${a.get(k) ?? '(none)'} -> ${b.get(k) ?? '(none)'}`);
}

async function installer(args: string[]): Promise<string> {
  const r = await run(process.execPath, [INSTALL, ...args], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, describeRun(`install ${args.join(' ')}`, r));
  return r.stdout;
}

describe('system install into a scratch root', { skip: isRoot() ? false : 'needs root (useradd, chown)' }, () => {
  const tmp = makeTestDir('install');
  const root = path.join(tmp, 'root');
  let original: Snapshot;
  let installed: Snapshot;
  let hostBefore: string;
  const hostPaths = ['/etc/mail/smtpd.conf', '/usr/local/sbin/smtpd', '/usr/local/sbin/smtpctl', '/etc/systemd/system/tsmtpd.service', '/var/lib/tsmtpd/install.json'];
  const hostState = () => hostPaths.map((p) => `${p}=${existsSync(p) ? lstatSync(p).mtimeMs : 'none'}`).join(' ') + readFileSync('/etc/passwd', 'utf8');

  before(() => {
    mkdirSync(path.join(root, 'etc'), { recursive: true });
    mkdirSync(path.join(root, 'usr/sbin'), { recursive: true });
    writeFileSync(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\nmail:x:8:8:mail:/var/mail:/usr/sbin/nologin\n');
    writeFileSync(path.join(root, 'etc/group'), 'root:x:0:\nmail:x:8:\n');
    writeFileSync(path.join(root, 'etc/shadow'), 'root:*:19000:0:99999:7:::\nmail:*:19000:0:99999:7:::\n', { mode: 0o640 });
    writeFileSync(path.join(root, 'etc/gshadow'), 'root:*::\nmail:*::\n', { mode: 0o640 });
    // Another MTA's sendmail: to be left alone.
    writeFileSync(path.join(root, 'usr/sbin/sendmail'), '#!/bin/sh\necho other MTA\n', { mode: 0o755 });
    chmodSync(path.join(root, 'usr/sbin/sendmail'), 0o2755);
    original = snapshot(root);
    hostBefore = hostState();
  });
  after(() => removeTestDir(tmp));

  test('install: the user, the spool, the config, the wrappers, the units and the free links', async () => {
    const out = await installer(['--root', root]);
    installed = snapshot(root);
    const pw = readFileSync(path.join(root, 'etc/passwd'), 'utf8').split('\n').find((l) => l.startsWith('_smtpd:'))?.split(':');
    assert.ok(pw, 'no _smtpd in the scratch passwd');
    const [uid, gid] = [Number(pw[2]), Number(pw[3])];
    assert.ok(uid > 0 && uid < 1000, `a system uid: ${uid}`);
    assert.equal(pw[5], '/var/empty');
    assert.equal(pw[6], '/usr/sbin/nologin');
    assert.equal(readFileSync(path.join(root, 'etc/group'), 'utf8').split('\n').find((l) => l.startsWith('_smtpd:'))?.split(':')[2], String(gid));
    assert.ok(readFileSync(path.join(root, 'etc/shadow'), 'utf8').includes('\n_smtpd:'), 'a shadow entry');
    const at = (p: string) => installed.get(p);
    assert.equal(at('/var/spool/tsmtpd'), `dir 711 ${uid}:${gid}`);
    assert.equal(at('/var/spool/tsmtpd/offline'), 'dir 1733 0:0');
    assert.equal(readFileSync(path.join(root, 'etc/mail/smtpd.conf'), 'utf8'), readFileSync(path.join(repoRoot, 'smtpd.conf.example'), 'utf8'));
    assert.match(at('/etc/mail/smtpd.conf')!, / 644 0:0$/);
    for (const w of ['/usr/local/sbin/smtpd', SMTPCTL]) {
      assert.match(at(w)!, /^file \w+ 755 0:0$/, w);
      const text = readFileSync(path.join(root, w), 'utf8');
      assert.match(text, /^#!\/bin\/sh\n/);
      assert.ok(text.includes(`${repoRoot.replace(/\/$/, '')}/packages/`) && text.includes(': "${SMTPD_SPOOL:=/var/spool/tsmtpd}"'), text);
    }
    for (const u of ['tsmtpd.service', 'tsmtpd.socket']) {
      const text = readFileSync(path.join(root, 'etc/systemd/system', u), 'utf8');
      assert.ok(text.endsWith(readFileSync(path.join(repoRoot, 'contrib/systemd', u), 'utf8')), u);
      assert.match(at(`/etc/systemd/system/${u}`)!, / 644 0:0$/);
    }
    for (const l of LINKS.slice(1)) assert.equal(at(l), `link ${SMTPCTL} 777 0:0`, l);
    assert.equal(at('/usr/sbin/sendmail'), original.get('/usr/sbin/sendmail'), "the other MTA's sendmail is untouched");
    assert.match(out, /left alone +\/usr\/sbin\/sendmail: another MTA has it/);
    assert.match(out, /created +user _smtpd/);
  });

  test('a second install changes nothing and says so', async () => {
    const out = await installer(['--root', root]);
    assert.match(out, /already installed, nothing changed/);
    assert.deepEqual(diff(installed, snapshot(root)), []);
  });

  test('the installed wrappers run: smtpd -n on the installed config; smtpctl acts by its name', async () => {
    const r = await run(path.join(root, 'usr/local/sbin/smtpd'), ['-n', '-f', path.join(root, 'etc/mail/smtpd.conf')], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, describeRun('smtpd -n', r));
    assert.match(r.stderr, /configuration OK/);
    // The links point at /usr/local/sbin/smtpctl of the scratch root's own tree: follow them here.
    const bin = path.join(tmp, 'bin');
    mkdirSync(bin);
    symlinkSync(path.join(root, SMTPCTL), path.join(bin, 'sendmail'));
    const nowhere = path.join(tmp, 'no-spool');
    const s = await run(path.join(bin, 'sendmail'), ['-t'], { input: 'To: a@b.test\n\nx\n', env: { ...process.env, SMTPD_SPOOL: nowhere }, timeoutMs: 30_000 });
    assert.notEqual(s.code, 0);
    assert.ok(s.stderr.includes(`sendmail: smtpd is not running and ${nowhere}/offline does not exist`), describeRun('sendmail', s));
    const c = await run(path.join(root, SMTPCTL), ['show', 'stats'], { env: { ...process.env, SMTPD_SPOOL: nowhere }, timeoutMs: 30_000 });
    assert.match(c.stderr, /^smtpctl: /m, describeRun('smtpctl', c));
  });

  test('--uninstall: back to the original root but for the spool, its user and the config; twice', async () => {
    const out = await installer(['--root', root, '--uninstall']);
    assert.match(out, /kept +\/var\/spool\/tsmtpd: the spool/);
    const kept = new Set(['/etc/passwd', '/etc/group', '/etc/shadow', '/etc/gshadow', '/etc/mail', '/etc/mail/smtpd.conf', '/var', '/var/spool', '/var/spool/tsmtpd', '/var/spool/tsmtpd/offline', '/var/lib', '/var/lib/tsmtpd', '/var/lib/tsmtpd/install.json']);
    const after1 = snapshot(root);
    const unexpected = diff(original, after1).filter((d) => !kept.has(d.split(':')[0]!));
    assert.deepEqual(unexpected, []);
    assert.ok(readFileSync(path.join(root, 'etc/passwd'), 'utf8').includes('\n_smtpd:'), 'the user stays with its spool');
    const again = await installer(['--root', root, '--uninstall']);
    assert.match(again, /nothing to remove, nothing changed/);
    assert.deepEqual(diff(after1, snapshot(root)), []);
  });

  test('--uninstall --purge: exactly the original root; the machine itself untouched throughout', async () => {
    await installer(['--root', root, '--uninstall', '--purge']);
    assert.deepEqual(diff(original, snapshot(root)), []);
    assert.match(await installer(['--root', root, '--uninstall', '--purge']), /not installed here/);
    assert.equal(hostState(), hostBefore, "the machine's own /etc, /usr/local/sbin and passwd are unchanged");
  });
});

describe('the systemd units in contrib/systemd', () => {
  const analyze = '/usr/bin/systemd-analyze';
  test('systemd-analyze verify finds nothing wrong but the smtpd the install puts in place', { skip: existsSync(analyze) ? false : `${analyze} missing (package systemd)` }, async () => {
    const units = ['tsmtpd.service', 'tsmtpd.socket'].map((u) => path.join(repoRoot, 'contrib/systemd', u));
    const r = await run(analyze, ['verify', '--man=no', ...units], { timeoutMs: 30_000 });
    const complaints = (r.stdout + r.stderr).split('\n').filter((l) => l.trim() !== '' && !/Command \/usr\/local\/sbin\/smtpd is not executable/.test(l));
    assert.deepEqual(complaints, [], describeRun('systemd-analyze verify', r));
    const service = readFileSync(units[0]!, 'utf8');
    for (const want of ['Type=notify', 'Restart=on-failure', 'ExecReload=/bin/kill -HUP $MAINPID', 'NoNewPrivileges=yes', 'ProtectSystem=full', 'ProtectHome=no', 'PrivateTmp=yes']) {
      assert.ok(service.split('\n').includes(want), want);
    }
    assert.match(readFileSync(units[1]!, 'utf8'), /^FileDescriptorName=smtp$/m);
  });
});

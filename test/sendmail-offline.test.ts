// End-to-end: the offline queue (REFERENCE 3). With the daemon stopped, sendmail run by an ordinary
// user exits 75 leaving a 0600 file of its own in <spool>/offline; at the next start the daemon
// sends it as that user (Date = when it was submitted) and removes it. Hostile entries — the
// class of CVE-2020-8793 — are refused and logged, never read, and the daemon keeps serving:
// a symlink to a secret, a hard link to a root file, a FIFO, a file writable by others, a file of an
// unknown uid, a file whose header is not ours.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, linkSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startDaemon, readBanner, type Daemon } from './lib/daemon.js';
import { localMaildirConfig, uniqueTag, userMaildir } from './lib/conf.js';
import { header, waitForMessage } from './lib/python.js';
import { ensureUsers, type SystemUser } from './lib/users.js';
import { makeSharedDir, makeTestDir, removeTestDir } from './lib/tmp.js';
import { checkMessage, installLinks, runAsUser } from './lib/sendmail.js';
import { run, waitFor } from './lib/proc.js';

const users = await ensureUsers(['tsmtpd-e1', 'tsmtpd-e2']);
const skip = users.ok ? false : users.reason;
const [alice, bob] = users.ok ? (users.users as [SystemUser, SystemUser]) : [];

describe('offline submission, then start', { skip }, () => {
  const dir = makeTestDir('offline');
  makeSharedDir(`${dir}/mail`);
  const config = (ctx: { port: number; dir: string }) => localMaildirConfig(ctx);
  let d: Daemon | undefined;
  let bin: string;
  let port: number;
  before(async () => {
    bin = installLinks(dir);
    // A first start creates the spool and its offline drop box; then the daemon is stopped.
    const first = await startDaemon({ dir, config });
    port = first.port;
    await first.stop();
  });
  after(async () => {
    await d?.stop();
    removeTestDir(dir);
  });

  test('sendmail with the daemon down exits 75; the message is delivered after start; hostile entries are refused', async () => {
    const spool = path.join(dir, 'spool');
    const offline = path.join(spool, 'offline');
    const st = statSync(offline);
    assert.equal(st.mode & 0o7777, 0o1733, 'the drop box is 1733');
    const tag = uniqueTag('offline');
    const submitted = Date.now();
    const r = await runAsUser(alice!, bin, spool, `printf 'Subject: ${tag}\\n\\nwritten while smtpd was down\\n' | sendmail ${bob!.name}@localhost`);
    assert.equal(r.code, 75, `exit ${r.code}: ${r.stderr}`);
    const files = readdirSync(offline);
    assert.equal(files.length, 1);
    const own = statSync(path.join(offline, files[0]!));
    assert.equal(own.uid, alice!.uid);
    assert.equal(own.mode & 0o777, 0o600);

    // The hostile neighbours.
    const secret = path.join(dir, 'secret');
    writeFileSync(secret, `{"version":1,"argv":["${bob!.name}@localhost"],"time":1}\nSubject: stolen\n\nsecret\n`, { mode: 0o600 });
    symlinkSync(secret, path.join(offline, '1.symlink'));
    const rootFile = path.join(dir, 'rootfile');
    writeFileSync(rootFile, `{"version":1,"argv":["${bob!.name}@localhost"],"time":1}\nSubject: hardlinked\n\nx\n`, { mode: 0o600 });
    linkSync(rootFile, path.join(offline, '2.hardlink'));
    assert.equal((await run('mkfifo', [path.join(offline, '3.fifo')])).code, 0);
    const loose = path.join(offline, '4.loose');
    writeFileSync(loose, `{"version":1,"argv":["${bob!.name}@localhost"],"time":1}\nSubject: loose\n\nx\n`);
    chownSync(loose, bob!.uid, bob!.gid);
    chmodSync(loose, 0o666);
    const stranger = path.join(offline, '5.stranger');
    writeFileSync(stranger, `{"version":1,"argv":["${bob!.name}@localhost"],"time":1}\nSubject: stranger\n\nx\n`, { mode: 0o600 });
    chownSync(stranger, 54_321, 54_321);
    const garbage = path.join(offline, '6.garbage');
    writeFileSync(garbage, `${bob!.name}@localhost|-f|x\nSubject: old format\n\nx\n`, { mode: 0o600 });
    chownSync(garbage, alice!.uid, alice!.gid);

    d = await startDaemon({ dir, config, port, env: { SMTPD_OFFLINE_INTERVAL: '1' } });
    const m = await waitForMessage('maildir', userMaildir(dir, bob!.name), (x) => header(x, 'Subject') === tag, 20_000);
    assert.ok(m, `offline message not delivered\n${d.describe()}`);
    const c = await checkMessage(m.raw);
    assert.match(c.return_path ?? '', new RegExp(`^<${alice!.name}@`));
    assert.match(c.received[0] ?? '', new RegExp(`from local user ${alice!.name} uid ${alice!.uid}`));
    assert.ok(c.date_epoch !== null && Math.abs(c.date_epoch * 1000 - submitted) < 5000, `Date ${c.date} is the submission time`);
    assert.equal(m.body.toString(), 'written while smtpd was down\n');

    const gone = await waitFor(() => (!existsSync(path.join(offline, files[0]!)) ? true : undefined), 10_000);
    assert.ok(gone, 'the replayed file is removed');
    const out = d.output();
    for (const [file, reason] of [
      ['1.symlink', 'symbolic link'], ['2.hardlink', 'hard link'], ['3.fifo', 'fifo'], ['4.loose', 'writable by others'],
      ['5.stranger', 'not a known user'], ['6.garbage', 'bad header'],
    ] as const) {
      assert.match(out, new RegExp(`smtpd: warn: offline file refused file=${file.replace('.', '\\.')} reason="[^"]*${reason}`), `${file} not refused\n${d.describe()}`);
    }
    // Links and the fifo are removed (only the names in offline/); what they pointed at is intact.
    for (const f of ['1.symlink', '2.hardlink', '3.fifo']) assert.ok(!existsSync(path.join(offline, f)), `${f} left in place`);
    for (const f of ['4.loose', '5.stranger', '6.garbage']) assert.ok(existsSync(path.join(offline, f)), `${f} should be kept`);
    assert.match(readFileSync(secret, 'utf8'), /secret/);
    assert.equal(statSync(rootFile).nlink, 1);
    const maildir = (await waitForMessage('maildir', userMaildir(dir, bob!.name), (x) => /stolen|hardlinked|loose|stranger|old format/.test(header(x, 'Subject') ?? ''), 1000));
    assert.equal(maildir, undefined, 'a refused file was delivered');
    // A file that arrives while the daemon runs (a sendmail that found no socket as it started) is
    // picked up by the next look at offline/; the refused ones are not logged again meanwhile.
    const tag3 = uniqueTag('late');
    const late = path.join(offline, `${Math.floor(Date.now() / 1000)}.late`);
    writeFileSync(late, `{"version":1,"argv":["${bob!.name}@localhost"],"time":${Date.now()}}\nSubject: ${tag3}\n\nlate\n`, { mode: 0o600 });
    chownSync(late, alice!.uid, alice!.gid);
    assert.ok(await waitForMessage('maildir', userMaildir(dir, bob!.name), (x) => header(x, 'Subject') === tag3, 20_000), `late file not sent\n${d.describe()}`);
    assert.ok(await waitFor(() => (!existsSync(late) ? true : undefined), 10_000), 'the late file is removed');
    assert.equal((d.output().match(/offline file refused file=4\.loose /g) ?? []).length, 1, 'a kept file is logged once');
    // Still serving: a banner, and a live submission.
    assert.match((await readBanner(d.port)) ?? '', /^220 /);
    const tag2 = uniqueTag('after');
    const r2 = await runAsUser(alice!, bin, spool, `printf 'Subject: ${tag2}\\n\\nx\\n' | sendmail ${bob!.name}@localhost`);
    assert.equal(r2.code, 0, r2.stderr);
    assert.ok(await waitForMessage('maildir', userMaildir(dir, bob!.name), (x) => header(x, 'Subject') === tag2), d.describe());
  });
});

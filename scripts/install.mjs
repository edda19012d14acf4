#!/usr/bin/env node
// The system install (README: Install as a system service): `node scripts/install.mjs [--root DIR]
// [--uninstall [--purge]]`, as root, from a built checkout. Creates the unprivileged user _smtpd,
// the spool with its modes, /etc/mail/smtpd.conf from the example when there is none, the systemd
// units, the smtpd and smtpctl wrappers and the sendmail/mailq/newaliases/makemap links where no
// other MTA has them. What it created is listed in <root>/var/lib/tsmtpd/install.json, which
// --uninstall reverses (the spool, its user and the config stay unless --purge). Idempotent.
import { spawnSync } from 'node:child_process';
import {
  chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync,
  renameSync, rmdirSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const CHECKOUT = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const USER = '_smtpd';
const MARK = "installed by tsmtpd's scripts/install.mjs";
const SPOOL = '/var/spool/tsmtpd';
const CONF = '/etc/mail/smtpd.conf';
const SBIN = '/usr/local/sbin';
const UNIT_DIR = '/etc/systemd/system';
const MANIFEST = '/var/lib/tsmtpd/install.json';
/** Names under which smtpctl acts as another program, where MTAs put them. */
const LINKS = ['/usr/sbin/sendmail', '/usr/lib/sendmail', '/usr/bin/mailq', '/usr/bin/newaliases', '/usr/sbin/makemap'];
const USAGE = `usage: node scripts/install.mjs [--root DIR] [--uninstall [--purge]]
  --root DIR   install into the root file system at DIR (default /): a chroot, an image, a test
  --uninstall  remove what the install created (the spool, _smtpd and ${CONF} stay)
  --purge      with --uninstall: the spool, _smtpd and ${CONF} too (when the install created them)`;

function parseArgs(argv) {
  const o = { root: '/', uninstall: false, purge: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--root' && argv[i + 1]) o.root = path.resolve(argv[++i]);
    else if (a === '--uninstall') o.uninstall = true;
    else if (a === '--purge') o.purge = true;
    else if (a === '-h' || a === '--help') return null;
    else throw new Error(`unknown argument ${a}\n${USAGE}`);
  }
  if (o.purge && !o.uninstall) throw new Error(`--purge goes with --uninstall\n${USAGE}`);
  return o;
}

class Installer {
  constructor(root) {
    this.root = root;
    this.changes = 0;
    this.manifest = this.readManifest();
  }

  at(p) {
    return path.join(this.root, p);
  }

  say(what, p, why = '') {
    if (['created', 'updated', 'fixed', 'removed'].includes(what)) this.changes++;
    process.stdout.write(`  ${what.padEnd(10)} ${p}${why ? `: ${why}` : ''}\n`);
  }

  readManifest() {
    try {
      const m = JSON.parse(readFileSync(this.at(MANIFEST), 'utf8'));
      if (Array.isArray(m.created)) return m;
    } catch {
      // none yet
    }
    return { by: MARK, created: [] };
  }

  created(p, kind) {
    if (!this.manifest.created.some((e) => e.path === p && e.kind === kind)) this.manifest.created.push({ path: p, kind });
  }

  ours(p, kind) {
    return this.manifest.created.some((e) => e.path === p && e.kind === kind);
  }

  /** mkdir -p, each directory made recorded (removed on uninstall when empty). */
  dir(p, mode = 0o755) {
    if (existsSync(this.at(p))) return false;
    this.dir(path.dirname(p));
    mkdirSync(this.at(p), { mode });
    chmodSync(this.at(p), mode);
    this.created(p, 'dir');
    return true;
  }

  saveManifest() {
    this.dir(path.dirname(MANIFEST));
    const text = JSON.stringify({ ...this.manifest, checkout: CHECKOUT }, null, 2) + '\n';
    const now = existsSync(this.at(MANIFEST)) ? readFileSync(this.at(MANIFEST), 'utf8') : null;
    if (now === text) return;
    writeFileSync(this.at(MANIFEST) + '.new', text, { mode: 0o644 });
    renameSync(this.at(MANIFEST) + '.new', this.at(MANIFEST));
  }
}

// ---- accounts, in <root>/etc/passwd and group (useradd/groupadd --prefix for another root)

function entry(file, name) {
  try {
    const line = readFileSync(file, 'utf8').split('\n').find((l) => l.split(':')[0] === name);
    return line ? line.split(':') : null;
  } catch {
    return null;
  }
}

function shadowTool(inst, cmd, args) {
  const prefix = inst.root === '/' ? [] : ['--prefix', inst.root];
  const r = spawnSync(cmd, [...prefix, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${[...prefix, ...args].join(' ')} failed: ${(r.stderr || r.error?.message || '').trim()}`);
}

function ensureUser(inst) {
  for (const f of ['/etc/passwd', '/etc/group']) if (!existsSync(inst.at(f))) throw new Error(`${inst.at(f)} is missing: ${inst.root} is not a root file system`);
  if (entry(inst.at('/etc/group'), USER)) inst.say('unchanged', `group ${USER}`);
  else {
    shadowTool(inst, 'groupadd', ['--system', USER]);
    inst.created(USER, 'group');
    inst.say('created', `group ${USER}`);
  }
  if (entry(inst.at('/etc/passwd'), USER)) inst.say('unchanged', `user ${USER}`);
  else {
    shadowTool(inst, 'useradd', ['--system', '--gid', USER, '--home-dir', '/var/empty', '--shell', '/usr/sbin/nologin', '--comment', 'tsmtpd unprivileged user', USER]);
    inst.created(USER, 'user');
    inst.say('created', `user ${USER}`);
  }
  const pw = entry(inst.at('/etc/passwd'), USER);
  return { uid: Number(pw[2]), gid: Number(pw[3]) };
}

// ---- the spool and the configuration

function ensureMode(inst, p, mode, uid, gid) {
  const made = inst.dir(p, mode);
  const st = statSync(inst.at(p));
  const fix = (st.mode & 0o7777) !== mode || st.uid !== uid || st.gid !== gid;
  if (fix) {
    chownSync(inst.at(p), uid, gid);
    chmodSync(inst.at(p), mode);
  }
  inst.say(made ? 'created' : fix ? 'fixed' : 'unchanged', p, `mode ${mode.toString(8)}, owner ${uid}:${gid}`);
}

function ensureSpool(inst, acct) {
  // The spool is _smtpd's (the daemon gives it back at every start); offline/ is root's drop box
  // for sendmail while the daemon is down (smtpd/src/offline.ts), sticky and writable by all.
  ensureMode(inst, SPOOL, 0o711, acct.uid, acct.gid);
  ensureMode(inst, `${SPOOL}/offline`, 0o1733, 0, 0);
}

function ensureConfig(inst) {
  if (existsSync(inst.at(CONF))) return inst.say('unchanged', CONF, inst.ours(CONF, 'config') ? '' : 'exists, kept as it is');
  inst.dir(path.dirname(CONF));
  writeFileSync(inst.at(CONF), readFileSync(path.join(CHECKOUT, 'smtpd.conf.example')), { mode: 0o644 });
  inst.created(CONF, 'config');
  inst.say('created', CONF, 'from smtpd.conf.example');
}

// ---- files we own outright: wrappers and units (marked; someone else's file is left alone)

/** A word for sh, single-quoted when it needs to be (a checkout path with spaces). */
function shq(word) {
  return /^[\w./@%+=:,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

function wrapper(bin, dispatch) {
  const body = dispatch
    ? ['case "${0##*/}" in', '  sendmail|send-mail) prog=sendmail ;;', '  mailq) prog=mailq ;;', '  newaliases) prog=newaliases ;;', '  makemap) prog=makemap ;;', '  *) prog=smtpctl ;;', 'esac',
      `exec ${shq(process.execPath)} ${shq(`${CHECKOUT}/packages/smtpctl/bin`)}/"$prog.js" "$@"`]
    : [`exec ${shq(process.execPath)} ${shq(`${CHECKOUT}/packages/smtpd/bin/${bin}.js`)} "$@"`];
  return ['#!/bin/sh', `# tsmtpd ${bin}, ${MARK} from ${CHECKOUT}`, '# (node scripts/install.mjs --uninstall removes it).',
    `: "\${SMTPD_SPOOL:=${SPOOL}}"`, 'export SMTPD_SPOOL', ...body, ''].join('\n');
}

function unitText(name) {
  const text = readFileSync(path.join(CHECKOUT, 'contrib/systemd', name), 'utf8');
  return `# ${MARK} from ${CHECKOUT}; customise with drop-ins (systemctl edit ${name}).\n${text}`;
}

function placeFile(inst, p, text, mode) {
  const full = inst.at(p);
  if (existsSync(full) || isLink(full)) {
    const now = lstatSync(full).isFile() ? readFileSync(full, 'utf8') : '';
    if (!now.includes(MARK)) return inst.say('left alone', p, `not ours${packageOf(inst, p)}`), false;
    if (now === text && (statSync(full).mode & 0o7777) === mode) return inst.say('unchanged', p), true;
  }
  const existed = existsSync(full);
  inst.dir(path.dirname(p));
  writeFileSync(full + '.tsmtpd-new', text, { mode });
  chmodSync(full + '.tsmtpd-new', mode);
  renameSync(full + '.tsmtpd-new', full);
  inst.created(p, 'file');
  inst.say(existed ? 'updated' : 'created', p);
  return true;
}

function isLink(p) {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/** " (a file of package X)" for a path dpkg knows, on the live system only. */
function packageOf(inst, p) {
  if (inst.root !== '/') return '';
  const r = spawnSync('dpkg', ['-S', p], { encoding: 'utf8' });
  const pkg = r.status === 0 ? r.stdout.split(':')[0] : '';
  return pkg ? ` (a file of package ${pkg})` : '';
}

function ensureLinks(inst, target) {
  for (const p of LINKS) {
    const full = inst.at(p);
    if (isLink(full) && readlinkSync(full) === target) {
      inst.say('unchanged', p, `-> ${target}`);
      continue;
    }
    if (existsSync(full) || isLink(full)) {
      inst.say('left alone', p, `another MTA has it${packageOf(inst, p)}`);
      continue;
    }
    inst.dir(path.dirname(p));
    symlinkSync(target, full);
    inst.created(p, 'link');
    inst.say('created', p, `-> ${target}`);
  }
}

function install(inst) {
  for (const f of ['packages/smtpd/dist/cli.js', 'packages/smtpctl/dist/cli.js', 'packages/peercred/build/Release/peercred.node']) {
    if (!existsSync(path.join(CHECKOUT, f))) throw new Error(`${CHECKOUT} is not built (${f} missing): run npm ci first`);
  }
  process.stdout.write(`tsmtpd: installing from ${CHECKOUT} into ${inst.root}\n`);
  const acct = ensureUser(inst);
  ensureSpool(inst, acct);
  ensureConfig(inst);
  placeFile(inst, `${SBIN}/smtpd`, wrapper('smtpd', false), 0o755);
  const ctl = placeFile(inst, `${SBIN}/smtpctl`, wrapper('smtpctl', true), 0o755);
  let units = inst.changes;
  for (const u of ['tsmtpd.service', 'tsmtpd.socket']) placeFile(inst, `${UNIT_DIR}/${u}`, unitText(u), 0o644);
  units = inst.changes !== units;
  if (ctl) ensureLinks(inst, `${SBIN}/smtpctl`);
  else process.stdout.write(`  (no sendmail links: ${SBIN}/smtpctl is not ours)\n`);
  inst.saveManifest();
  if (units) daemonReload(inst);
  process.stdout.write(inst.changes === 0 ? 'tsmtpd: already installed, nothing changed\n' : `tsmtpd: installed (${inst.changes} changes)\n`);
  process.stdout.write(`next: edit ${CONF}, check it with \`smtpd -n\`, then \`systemctl enable --now tsmtpd.service\`\n` +
    `      (or, with systemd binding the ports: edit ${UNIT_DIR}/tsmtpd.socket, \`systemctl enable --now tsmtpd.socket tsmtpd.service\`)\n`);
}

function daemonReload(inst) {
  if (inst.root !== '/' || !existsSync('/run/systemd/system')) return;
  spawnSync('systemctl', ['daemon-reload'], { stdio: 'inherit' });
}

// ---- uninstall: the manifest, in reverse

function removeEntry(inst, e, purge) {
  const full = inst.at(e.path);
  switch (e.kind) {
    case 'link':
      if (isLink(full) && readlinkSync(full) === `${SBIN}/smtpctl`) return unlinkSync(full), inst.say('removed', e.path), true;
      if (existsSync(full) || isLink(full)) inst.say('left alone', e.path, 'no longer our link');
      return true;
    case 'file':
      if (!existsSync(full)) return true;
      if (lstatSync(full).isFile() && readFileSync(full, 'utf8').includes(MARK)) return unlinkSync(full), inst.say('removed', e.path), true;
      return inst.say('left alone', e.path, 'no longer ours'), true;
    case 'config':
      if (!purge) return inst.say('kept', e.path, 'the configuration (--purge removes it)'), false;
      rmSync(full, { force: true });
      return inst.say('removed', e.path), true;
    case 'dir':
      return removeDir(inst, e.path, purge);
    case 'user':
    case 'group':
      if (!purge) return inst.say('kept', `${e.kind} ${e.path}`, 'owns the spool (--purge removes it)'), false;
      if (entry(inst.at(e.kind === 'user' ? '/etc/passwd' : '/etc/group'), e.path)) shadowTool(inst, e.kind === 'user' ? 'userdel' : 'groupdel', [e.path]);
      return inst.say('removed', `${e.kind} ${e.path}`), true;
  }
  return false;
}

function removeDir(inst, p, purge) {
  const full = inst.at(p);
  if (!existsSync(full)) return true;
  if (p === SPOOL || p.startsWith(`${SPOOL}/`)) {
    if (!purge) return inst.say('kept', p, 'the spool (--purge removes it)'), false;
    rmSync(full, { recursive: true, force: true });
    return inst.say('removed', p), true;
  }
  if (readdirSync(full).length > 0) return inst.say('kept', p, 'not empty'), false;
  rmdirSync(full);
  inst.say('removed', p);
  return true;
}

function uninstall(inst, purge) {
  process.stdout.write(`tsmtpd: uninstalling from ${inst.root}${purge ? ' (purge)' : ''}\n`);
  if (!existsSync(inst.at(MANIFEST))) {
    process.stdout.write(`tsmtpd: not installed here (no ${MANIFEST}), nothing changed\n`);
    return;
  }
  // Newest first: a link before its directory, the spool before the user owning it. The
  // directories holding the manifest go last, once nothing is left to record.
  const holdsManifest = (e) => e.kind === 'dir' && MANIFEST.startsWith(`${e.path}/`);
  const kept = new Set();
  for (const e of [...inst.manifest.created].reverse()) {
    if (holdsManifest(e) || !removeEntry(inst, e, purge)) kept.add(e);
  }
  inst.manifest.created = inst.manifest.created.filter((e) => kept.has(e));
  if (inst.manifest.created.some((e) => !holdsManifest(e))) inst.saveManifest();
  else {
    unlinkSync(inst.at(MANIFEST));
    for (const e of [...inst.manifest.created].reverse()) removeDir(inst, e.path, purge);
  }
  process.stdout.write(inst.changes === 0 ? 'tsmtpd: nothing to remove, nothing changed\n' : `tsmtpd: uninstalled (${inst.changes} changes)\n`);
}

try {
  const o = parseArgs(process.argv.slice(2));
  if (o === null) {
    process.stdout.write(USAGE + '\n');
    process.exit(0);
  }
  if (process.getuid?.() !== 0) throw new Error('run as root (it creates a system user and writes under /etc and /usr)');
  if (!existsSync(o.root) || !statSync(o.root).isDirectory()) throw new Error(`${o.root} is not a directory`);
  const inst = new Installer(o.root);
  if (o.uninstall) uninstall(inst, o.purge);
  else install(inst);
} catch (e) {
  process.stderr.write(`install: ${e.message}\n`);
  process.exit(1);
}

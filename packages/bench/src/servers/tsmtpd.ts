// tsmtpd built from this tree, started as a user would (`node packages/smtpd/bin/smtpd.js -d -f
// FILE --spool DIR`) in a temp dir with its own spool, stopped by its PID. Durable as shipped: the
// SQLite WAL is fsynced before the 250. Accept-only pauses delivery with `smtpctl pause mda`.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Child, ensureUser, freePort, isRoot, makeSharedDir, makeTempDir, removeDir, sleep, smtpctlBin, smtpdBin, waitBanner } from '../util.js';
import { arrivalsOf, relayDomain, type Server, type ServerContext } from './types.js';

/** Relay limits lifted to about what Postfix does by default (20 connections to a destination). */
export const TUNED_RELAY = 'mta limit max-conn-per-host 20 max-conn-per-route 20 conn-delay-route 0 conn-delay-relay 0 reconn-delay-route 0 session-mail-max 1000';

export function tsmtpdConfig(ctx: ServerContext, dir: string, port: number): string {
  // smtp-source -d sends a session's messages over one connection: lift the per-session message
  // limit (OpenSMTPD's default is 100), as Postfix has none.
  const lines = ['smtp limit max-mails 1000000', `listen on 127.0.0.1 port ${port}`];
  if (ctx.workload === 'relay') {
    lines.unshift(TUNED_RELAY);
    lines.push(`action "out" relay host smtp://127.0.0.1:${ctx.sinkPort}`, `match from any for domain "${relayDomain}" action "out"`);
  } else {
    lines.push(`action "local" maildir "${dir}/mail/%{user.username}/Maildir"`, 'match from any for local action "local"');
  }
  return lines.join('\n') + '\n';
}

/** Runs the tree's smtpctl against a spool; throws with its output when it fails. */
export function smtpctl(spool: string, args: string[]): string {
  const r = spawnSync(process.execPath, [smtpctlBin, '--spool', spool, ...args], { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`smtpctl ${args.join(' ')}: exit ${r.status}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** Starts tsmtpd; the relay workload needs ctx.sinkPort. */
export async function startTsmtpd(ctx: ServerContext): Promise<Server> {
  if (isRoot()) ensureUser('_smtpd', ['--system', '--home-dir', '/var/empty', '--shell', '/usr/sbin/nologin']);
  const dir = makeTempDir('tsmtpd');
  makeSharedDir(path.join(dir, 'mail'));
  const spool = path.join(dir, 'spool');
  const port = await freePort();
  const conf = path.join(dir, 'smtpd.conf');
  writeFileSync(conf, tsmtpdConfig(ctx, dir, port));
  // The actor process and the delivery helpers (other users, cwd /) write their profiles there too.
  const profDir = ctx.cpuProf ? path.resolve(ctx.cpuProf) : null;
  if (profDir) {
    mkdirSync(profDir, { recursive: true });
    chmodSync(profDir, 0o1777);
  }
  const prof = profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
  const child = new Child(process.execPath, [...prof, smtpdBin, '-d', '-f', conf, '--spool', spool], { cwd: dir });
  const stop = async (): Promise<void> => {
    if (await child.stop(15_000)) process.stderr.write(`bench: tsmtpd needed SIGKILL\n${child.tail()}\n`);
    removeDir(dir, ctx.keep);
  };
  // As root the port is bound before the actors accept: probing early would queue connections.
  for (let i = 0; i < 400 && child.running() && !/smtpd: ready|"event":"ready"|EADDRINUSE/.test(child.output()); i++) await sleep(50);
  if (!(await waitBanner(port, 20_000, () => child.running()))) {
    const why = child.tail();
    await stop();
    throw new Error(`tsmtpd did not start:\n${why}`);
  }
  if (ctx.workload === 'accept') smtpctl(spool, ['pause', 'mda']);
  return {
    name: 'tsmtpd',
    port,
    pid: child.pid,
    ...arrivalsOf(ctx, path.join(dir, 'mail', ctx.user, 'Maildir')),
    describe: () => `tsmtpd pid ${child.pid} port ${port} in ${dir}:\n${child.tail()}`,
    stop,
  };
}

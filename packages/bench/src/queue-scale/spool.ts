// The spool a queue-scale restart finds: `count` committed envelopes written with the queue's own
// storage code (SqliteQueueBackend, every envelope checked by EnvelopeSchema). Most are on the
// "fail" action (a command that fails) with their next attempt ~45 min away (retry 25), so they
// sit in the scheduler; `due` of them, spread evenly through the spool, are due now on the "ok"
// action (maildir to the bench user): the first of those to arrive is the restart's first delivery.
import { statSync } from 'node:fs';
import path from 'node:path';
import { EnvelopeSchema, newEvpid, newMsgid, type Envelope } from '@tsmtpd/proto';
import { SqliteQueueBackend } from '@tsmtpd/queue/sqlite-backend.js';

export interface BuiltSpool {
  ms: number;
  dbBytes: number;
  due: number;
}

function envelope(msgid: string, n: number, now: number, user: string, due: boolean): Envelope {
  return EnvelopeSchema.parse({
    id: newEvpid(msgid), msgid, type: 'mda', dispatcher: due ? 'ok' : 'fail', smtpname: 'mx.scale.test',
    helo: 'client.test', hostname: '', sockaddr: '127.0.0.1', sender: 'a@client.test',
    rcpt: due ? `${user}@localhost` : `u${n}@localhost`, dest: due ? `${user}@localhost` : `u${n}@localhost`, mdaUser: user,
    ctime: now - 3600, lastTry: due ? 0 : now - 60, lastBounce: 0, ttl: 7 * 86400, retry: due ? 0 : 25, flags: [], dsnNotify: 0,
  });
}

export function buildSpool(spool: string, count: number, perMsg: number, due: number, user: string): BuiltSpool {
  const t0 = performance.now();
  const b = new SqliteQueueBackend(spool);
  const now = Math.floor(Date.now() / 1000);
  const body = Buffer.from('Subject: queue-scale\r\nFrom: <a@client.test>\r\n\r\nbody\r\n');
  const every = due > 0 ? Math.max(1, Math.floor(count / due)) : 0;
  let made = 0;
  let dueMade = 0;
  const used = new Set<string>(); // msgids are 32 random bits: among a million some collide
  while (made < count) {
    b.batch(() => {
      for (let m = 0; m < 2000 && made < count; m++) {
        let msgid: string = newMsgid();
        while (used.has(msgid)) msgid = newMsgid();
        used.add(msgid);
        const envs: Envelope[] = [];
        for (let i = 0; i < perMsg && made < count; i++, made++) {
          const isDue = every > 0 && dueMade < due && made % every === Math.floor(every / 2);
          if (isDue) dueMade++;
          envs.push(envelope(msgid, made, now, user, isDue));
        }
        b.chunkAppend(msgid, 0, now - 3600, body);
        b.messageCommit(msgid, now - 3600, body.byteLength, 1, envs);
      }
    }, false);
  }
  b.close();
  return { ms: performance.now() - t0, dbBytes: statSync(path.join(spool, 'queue.db')).size, due: dueMade };
}

// Child process of crash.test.ts: runs the real queue actor on the spool given as argv[2] and
// commits messages (a reserved msgid, body chunks, then the commit carrying the envelope) from
// several concurrent loops, printing one line per commit the queue has
// acknowledged ("commit <msgid> <evpid> <size> <seed>") and per message left open on purpose
// ("open <msgid>"). The parent SIGKILLs it at a random moment. Bounded: it stops after 20 s.
import { startTestActor, transfer } from '@tsmtpd/actor';
import { workerUrl } from './index.js';
import { bytes, makeEnvelope, queueInit, reserveMsgid } from './test-helpers.js';

const spool = process.argv[2];
if (!spool) throw new Error('usage: crash-child SPOOL');

const a = await startTestActor({
  role: 'queue',
  entry: workerUrl,
  init: queueInit(spool),
  deadlineMs: 10_000,
  fakes: {
    scheduler: {
      onMessagesCommit: () => {},
      onMessageRollback: () => {},
      onEnvelopesLoad: () => {},
      onOutcomes: () => {},
    },
  },
});
// Pipes are synchronous on Linux: a line written here is readable by the parent after a kill.
const say = (line: string): void => void process.stdout.write(line + '\n');
say('ready');

let seed = Math.floor(Math.random() * 1e6) * 100;
const deadline = Date.now() + 20_000;

async function one(): Promise<void> {
  const created = await reserveMsgid(a.mailbox);
  if (!created.ok) throw new Error(created.message);
  const msgid = created.value;
  const env = makeEnvelope(msgid);
  const mySeed = ++seed;
  const size = 100 + (mySeed % 7) * 9000;
  const body = bytes(size, mySeed);
  for (let o = 0; o < size; o += 16 * 1024) {
    const buf = body.slice(o, Math.min(size, o + 16 * 1024)).buffer;
    await a.mailbox.bodyAppend(msgid, transfer(buf, [buf]));
  }
  if (mySeed % 10 === 0) {
    say(`open ${msgid}`);
    return;
  }
  const r = await a.mailbox.messageCommit(msgid, [env]);
  if (r.ok) say(`commit ${msgid} ${env.id} ${size} ${mySeed}`);
}

await Promise.all(Array.from({ length: 8 }, async () => {
  while (Date.now() < deadline) await one();
}));
await a.stop();

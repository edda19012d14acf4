// Independent clients against the smtp actor: Python's smtplib (ESMTP, DSN, SMTPUTF8,
// refusals) and swaks (plain and --pipeline), plus many concurrent sessions.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { openTransaction, startSmtp, type SmtpUnderTest } from './test-harness.js';

let t: SmtpUnderTest;
before(async () => {
  t = await startSmtp();
});
after(async () => {
  await t.stop();
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a program with a hard time limit; the child is killed by its pid when over. */
function run(cmd: string, args: string[], input = '', timeoutMs = 20_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      reject(new Error(`${cmd} timed out; stderr: ${stderr}`));
    }, timeoutMs);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

const PY = `
import json, smtplib, sys
port = int(sys.argv[1])
out = {}
s = smtplib.SMTP('127.0.0.1', port, timeout=10)
out['ehlo'] = s.ehlo('py.example')[0]
out['features'] = sorted(s.esmtp_features.keys())
msg = b'From: a@remote.example\\r\\nTo: alice@example.org\\r\\nBcc: secret@example.org\\r\\nSubject: hi\\r\\n\\r\\n.dot line\\r\\ncaf\\xc3\\xa9\\r\\n'
out['refused'] = s.sendmail('a@remote.example', ['alice@example.org', 'bob@example.org', 'x@elsewhere.example'], msg,
                            mail_options=['BODY=8BITMIME', 'RET=HDRS', 'ENVID=py1'], rcpt_options=['NOTIFY=FAILURE,DELAY'])
out['refused'] = {k: [v[0], v[1].decode()] for k, v in out['refused'].items()}
try:
    s.sendmail('a@remote.example', ['nobody@elsewhere.example'], b'x')
except smtplib.SMTPRecipientsRefused as e:
    out['relay'] = {k: [v[0], v[1].decode()] for k, v in e.recipients.items()}
try:
    s.sendmail('a@remote.example', ['unknown@example.org'], b'x')
except smtplib.SMTPRecipientsRefused as e:
    out['unknown'] = {k: [v[0], v[1].decode()] for k, v in e.recipients.items()}
out['utf8'] = s.sendmail('j\\u00f6rg@example.org', ['alice@example.org'], 'Subject: \\u00fc\\r\\n\\r\\nx\\r\\n'.encode(), mail_options=['SMTPUTF8'])
out['quit'] = s.quit()[0]
print(json.dumps(out))
`;

test('Python smtplib: EHLO, DSN options, partial refusal, 8-bit and SMTPUTF8 mail', async () => {
  const before = t.queue.committed.length;
  const r = await run('python3', ['-c', PY, String(t.port)]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.equal(out.ehlo, 250);
  assert.deepEqual(out.features, ['8bitmime', 'dsn', 'enhancedstatuscodes', 'pipelining', 'size', 'smtputf8']);
  assert.deepEqual(out.refused, { 'x@elsewhere.example': [550, '5.7.1 Relaying denied'] });
  assert.deepEqual(out.relay, { 'nobody@elsewhere.example': [550, '5.7.1 Relaying denied'] });
  assert.deepEqual(out.unknown, { 'unknown@example.org': [550, '5.1.1 Invalid recipient: user unknown'] });
  assert.deepEqual(out.utf8, {});
  assert.equal(out.quit, 221);
  assert.equal(t.queue.committed.length, before + 2);
  const first = t.queue.committed[before] ?? '';
  const body = t.queue.body(first).toString('utf8');
  assert.match(body, /\nTo: alice@example\.org\nSubject: hi\n\n\.dot line\ncafé\n$/);
  assert.ok(!body.includes('Bcc'));
  const envs = t.queue.envelopes.get(first) ?? [];
  assert.deepEqual(envs.map((e) => [e.rcpt, e.dsnNotify, e.dsnRet, e.dsnEnvid]), [
    ['alice@example.org', 6, 'HDRS', 'py1'],
    ['bob@example.org', 6, 'HDRS', 'py1'],
  ]);
  const second = t.queue.committed[before + 1] ?? '';
  assert.equal(t.queue.envelopes.get(second)?.[0]?.sender, 'jörg@example.org');
});

for (const pipeline of [false, true]) {
  test(`swaks${pipeline ? ' --pipeline' : ''}: a message to two recipients is accepted`, async () => {
    const before = t.queue.committed.length;
    const args = ['--server', '127.0.0.1', '--port', String(t.port), '--ehlo', 'swaks.example', '--from', 'sender@remote.example',
      '--to', 'alice@example.org,bob@example.org', '--header', 'Subject: swaks', '--body', 'hello from swaks', '--timeout', '10'];
    if (pipeline) args.push('--pipeline');
    const r = await run('swaks', args);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /<[-~*] +250 2\.0\.0 [0-9a-f]{8} Message accepted for delivery/);
    if (pipeline) assert.match(r.stdout, /-> MAIL FROM:<sender@remote\.example>\n -> RCPT TO:<alice@example\.org>\n -> RCPT TO:<bob@example\.org>\n -> DATA/);
    assert.equal(t.queue.committed.length, before + 1);
    const msgid = t.queue.committed[before] ?? '';
    assert.match(t.queue.body(msgid).toString(), /\nSubject: swaks\n[\s\S]*\n\nhello from swaks\n/);
    assert.equal(t.queue.envelopes.get(msgid)?.length, 2);
  });
}

test('swaks --pipeline with a refused recipient among good ones', async () => {
  const r = await run('swaks', ['--server', '127.0.0.1', '--port', String(t.port), '--from', 'sender@remote.example',
    '--to', 'alice@example.org,x@elsewhere.example', '--pipeline', '--timeout', '10']);
  assert.match(r.stdout, /<\*\* +550 5\.7\.1 Relaying denied/);
  assert.match(r.stdout, /250 2\.0\.0 [0-9a-f]{8} Message accepted for delivery/);
});

test('50 concurrent sessions each deliver a message', async () => {
  const before = t.queue.committed.length;
  const t0 = performance.now();
  const results = await Promise.all(Array.from({ length: 50 }, async (_, i) => {
    const c = await openTransaction(t.port, `user${i}@example.org`);
    c.write(`DATA\r\n`);
    await c.reply();
    c.write(`Subject: n${i}\r\n\r\nbody ${i}\r\n.\r\n`);
    const r = await c.reply();
    c.write('QUIT\r\n');
    await c.reply();
    c.close();
    return r.raw[0] ?? '';
  }));
  const ms = performance.now() - t0;
  for (const r of results) assert.match(r, /^250 2\.0\.0 /);
  assert.equal(t.queue.committed.length, before + 50);
  assert.ok(ms < 5000, `${ms} ms`);
});

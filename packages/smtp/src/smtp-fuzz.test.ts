// Property-based fuzzing (fast-check) of the SMTP input side, bounded in time (FUZZ_MS, default
// 2 s per property): the MAIL/RCPT parameter checks (params.ts) on arbitrary parsed commands, and
// arbitrary command lines sent over a real socket to the real smtp worker (smtp-server's parser,
// our bridge, params, transaction): every line gets one well-formed reply, no CR/LF/NUL survives
// into an accepted address or parameter, and the server keeps serving.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseAddress } from '@tsmtpd/proto';
import { checkMail, checkRcpt } from './params.js';
import { startSmtp, WireClient, type SmtpUnderTest } from './test-harness.js';

const FUZZ_MS = Number(process.env['FUZZ_MS'] ?? 2000);
const params = { numRuns: 10_000_000, interruptAfterTimeLimit: FUZZ_MS, markInterruptAsFailure: false } as const;

const nasty = fc.string({ unit: fc.constantFrom(...'ab@.<>"\\;`$()|= +:,\t\r\n\0\u00e9\ufffdXN-'), maxLength: 40 });
const argKey = fc.constantFrom('SIZE', 'BODY', 'SMTPUTF8', 'AUTH', 'RET', 'ENVID', 'NOTIFY', 'ORCPT', 'X-EVIL', 'size');
const args = fc.oneof(fc.constant(false as const), fc.dictionary(argKey, fc.oneof(fc.constant(true as const), nasty), { maxKeys: 4 }));
const address = fc.oneof(nasty, nasty.map((s) => `${s}@example.org`), fc.constant(''), fc.constant('postmaster'));

test('fuzz: checkMail/checkRcpt never throw; what they accept is validated and single-line', () => {
  fc.assert(
    fc.property(address, args, fc.boolean(), fc.boolean(), fc.option(fc.record({ notify: fc.array(nasty, { maxLength: 3 }), orcpt: nasty })), (addr, a, dsn, utf8, d) => {
      const m = checkMail({ address: addr, args: a }, dsn);
      if (m.ok) {
        const v = m.value;
        if (v.sender !== '') assert.ok(parseAddress(v.sender, { utf8: true }).ok, `sender ${JSON.stringify(v.sender)}`);
        for (const f of [v.sender, v.dsnEnvid ?? '']) assert.doesNotMatch(f, /[\x00-\x1f\x7f]/);
      } else assert.ok(m.reply.code >= 500 && m.reply.code < 600);
      const r = checkRcpt({ address: addr, args: a, ...(d ? { dsn: d } : {}) }, dsn, utf8, 'mx.test');
      if (r.ok) {
        assert.ok(parseAddress(r.value.rcpt, { utf8 }).ok, `rcpt ${JSON.stringify(r.value.rcpt)}`);
        for (const f of [r.value.rcpt, r.value.dsnOrcpt ?? '']) assert.doesNotMatch(f, /[\x00-\x1f\x7f]/);
      } else assert.ok(r.reply.code >= 500 && r.reply.code < 600);
    }),
    params,
  );
});

let t: SmtpUnderTest;
before(async () => {
  t = await startSmtp();
});
after(async () => {
  await t?.stop();
});

const verb = fc.constantFrom('EHLO', 'HELO', 'MAIL FROM:', 'RCPT TO:', 'DATA', 'RSET', 'NOOP', 'VRFY', 'HELP', 'AUTH', 'STARTTLS', 'BDAT', 'QUIT', 'mail from:', 'XCLIENT', 'GET / HTTP/1.0', '');
const lineArg = fc.oneof(nasty, nasty.map((s) => `<${s}>`), nasty.map((s) => `<${s}@example.org> SIZE=${s} BODY=${s}`), fc.string({ unit: 'binary', maxLength: 60 }));

test('fuzz: arbitrary command lines over a socket: one well-formed reply each, the server keeps serving', async () => {
  let c = await WireClient.open(t.port);
  await c.reply();
  let lines = 0;
  let ended = false;
  await fc.assert(
    fc.asyncProperty(verb, lineArg, async (v, a) => {
      // One line: a CR or LF from the generator would make it several commands.
      const line = `${v}${v && a ? ' ' : ''}${a}`.replace(/[\r\n]/g, ' ');
      if (ended || c.closed || v === 'QUIT' || v === 'DATA') {
        ended = false;
        c.close();
        c = await WireClient.open(t.port);
        await c.reply();
        if (v === 'QUIT' || v === 'DATA') return;
      }
      c.write(Buffer.from(`${line}\r\n`, 'latin1'));
      let r;
      try {
        r = await c.reply(5000);
      } catch (e) {
        // Closing without a reply is allowed only after one of the closing replies.
        throw new Error(`no reply to ${JSON.stringify(line)}: ${(e as Error).message}`);
      }
      lines++;
      // 421 (too many errors, HTTP) and 500 5.5.2 (line too long) end the session: next time, reconnect.
      ended = r.code === 421 || r.code === 221 || (r.raw[0] ?? '').startsWith('500 5.5.2');
      for (const raw of r.raw) assert.match(raw, /^[2-5][0-9][0-9][ -][^\x00-\x1f\x7f]*$/, `reply to ${JSON.stringify(line)}`);
      // Every error reply carries our enhanced status code.
      if (r.code >= 400) assert.match(r.raw.at(-1) ?? '', /^[45][0-9][0-9] [45]\.[0-9]{1,3}\.[0-9]{1,3} /, `reply to ${JSON.stringify(line)}`);
    }),
    params,
  );
  c.close();
  const probe = await WireClient.open(t.port);
  assert.match((await probe.reply()).raw[0] ?? '', /^220 /);
  assert.match(await probe.cmd('NOOP'), /^250 /);
  probe.close();
  assert.ok(lines > 20, `only ${lines} lines were tried`);
});

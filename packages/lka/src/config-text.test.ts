// The lka against configurations as the real parser produces them (smtpd.conf text).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigText } from '@tsmtpd/config';
import { Lka } from './lka.js';
import { session, TEST_IDENTITY } from './test-helpers.js';

const CONF = `
table aliases { postmaster = root, abuse = "root, carol@remote.net" }
table nets { 192.0.2.0/24, "[2001:db8::]/32" }
table vdoms { example.org, "*.example.net" }
action "local" mbox alias <aliases>
action "relay" relay
match !from auth for rcpt-to regex "^spam" reject
match from any for domain <vdoms> action "local"
match from src <nets> for any action "relay"
match from local for any action "relay"
`;

test('a parsed smtpd.conf: wildcard domains, CIDR relay clients, reject rules, aliases', async () => {
  const parsed = await parseConfigText(CONF, 'test.conf', { serverName: 'mx.example.org' });
  assert.ok(parsed.ok, JSON.stringify(parsed));
  const lka = new Lka(parsed.config, { identity: TEST_IDENTITY });
  const rcpt = async (r: string, remoteAddress = '203.0.113.9', authUser: string | null = null) =>
    lka.rcptResolve({ session: session({ remoteAddress, authUser }), sender: 'a@b.net', rcpt: r });

  const pm = await rcpt('postmaster@mx.example.net');
  assert.ok(pm.ok && pm.recipients[0]?.mdaUser === 'root');
  const abuse = await rcpt('abuse@example.org');
  assert.ok(abuse.ok);
  assert.deepEqual(abuse.recipients.map((r) => r.type).sort(), ['mda', 'mta']);
  const spam = await rcpt('spam-trap@example.org');
  assert.ok(!spam.ok && spam.reply.enhanced === '5.7.1' && /refused/.test(spam.reply.text));
  const authed = await rcpt('spam-trap@example.org', '203.0.113.9', 'bob');
  assert.ok(!authed.ok && authed.reply.enhanced === '5.1.1', 'authenticated: not rejected, but no such user');
  const relayed = await rcpt('x@elsewhere.com', '2001:db8::77');
  assert.ok(relayed.ok && relayed.recipients[0]?.type === 'mta');
  const denied = await rcpt('x@elsewhere.com');
  assert.ok(!denied.ok && denied.reply.enhanced === '5.7.1');
});

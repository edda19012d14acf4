// SdNotify.fromEnv: NOTIFY_SOCKET leaves the environment whatever it says; a relative path is not
// a notification socket; a socket that is not there is logged once, never thrown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SdNotify } from './sd-notify.js';
import type { Logger } from '@tsmtpd/actor';

test('NOTIFY_SOCKET is removed from the environment; only absolute or abstract ones are used', () => {
  const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: 'relative/sock', PATH: '/bin' };
  assert.equal(SdNotify.fromEnv(env).enabled, false);
  assert.deepEqual(env, { PATH: '/bin' });
  assert.equal(SdNotify.fromEnv({ NOTIFY_SOCKET: '@abstract' }).enabled, true);
  assert.equal(SdNotify.fromEnv({ NOTIFY_SOCKET: '/run/systemd/notify' }).enabled, true);
  assert.equal(SdNotify.fromEnv({}).enabled, false);
});

test('a notification socket that is not there: one warning, no exception', () => {
  const warnings: string[] = [];
  const log = { warn: (e: string, f?: Record<string, unknown>) => warnings.push(`${e} ${String(f?.['error'])}`) } as unknown as Logger;
  const n = SdNotify.fromEnv({ NOTIFY_SOCKET: '/nonexistent/tsmtpd-notify' });
  n.ready('x', log);
  n.stopping(log);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /sd_notify failed .*ENOENT|No such file/);
});

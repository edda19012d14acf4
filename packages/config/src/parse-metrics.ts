// `metrics listen on ADDR [port N]`: tsmtpd's Prometheus text endpoint (served by control, off
// unless given). Not OpenSMTPD grammar: one statement in the style of `listen on`. ADDR is an IP
// address or `localhost`; the port defaults to 9100 (the node exporter's). Once per file.
import { isIP } from 'node:net';
import type { Cursor, StmtPos } from './cursor.js';
import type { Draft } from './state.js';

export const METRICS_DEFAULT_PORT = 9100;

export function parseMetrics(cur: Cursor, d: Draft, pos: StmtPos): void {
  const kw = cur.expectKw('metrics');
  cur.expectKw('listen');
  cur.expectKw('on');
  const addr = cur.expectString();
  const address = addr.v === 'localhost' ? '127.0.0.1' : addr.v;
  if (isIP(address) === 0) cur.fail(addr, `metrics listen on: "${addr.v}" is not an IP address (or localhost)`);
  let port = METRICS_DEFAULT_PORT;
  if (cur.acceptKw('port')) {
    const { tok, n } = cur.expectNumber();
    if (!Number.isInteger(n) || n < 1 || n > 65535) cur.fail(tok, `metrics listen on: invalid port ${tok.v}`);
    port = n;
  }
  if (d.metrics) cur.fail(kw, `metrics listen on: already given at line ${d.metrics.line}`);
  d.metrics = { address, port, file: pos.file, line: pos.line };
}

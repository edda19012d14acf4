// Opening the session's sockets: TCP with a deadline (and a source address), and TLS over an
// open socket for STARTTLS and smtps (REFERENCE 6.6: SNI and the certificate check use the MX or
// smarthost name; verification against `ca` or the system store; client certificate from pki).
// Failures are values with a one-line reason. Used by session.ts.
import { connect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, checkServerIdentity, type ConnectionOptions, type TLSSocket } from 'node:tls';
import type { ClientOptions } from './types.js';

export type Opened<S> = { ok: true; socket: S } | { ok: false; reason: string };

/** A system error by its code (`ECONNREFUSED`); a TLS error by its message, which says why. */
function errText(e: Error): string {
  const { code, syscall } = e as NodeJS.ErrnoException;
  if (code !== undefined && syscall !== undefined) return code;
  return code !== undefined && !e.message.includes(code) ? `${code} ${e.message}` : e.message;
}

export function openTcp(opts: ClientOptions): Promise<Opened<Socket>> {
  return new Promise((resolve) => {
    const sock = connect({
      host: opts.address,
      port: opts.port,
      ...(opts.localAddress !== undefined ? { localAddress: opts.localAddress } : {}),
    });
    const done = (r: Opened<Socket>): void => {
      clearTimeout(timer);
      sock.off('connect', onConnect);
      sock.off('error', onError);
      resolve(r);
    };
    const onConnect = (): void => {
      sock.setNoDelay(true);
      // Until the Wire listens (after an await), an error must not be an uncaught exception.
      sock.on('error', () => {});
      done({ ok: true, socket: sock });
    };
    const onError = (e: Error): void => {
      sock.destroy();
      done({ ok: false, reason: `connect to ${opts.address}:${opts.port}: ${errText(e)}` });
    };
    const timer = setTimeout(() => {
      sock.destroy();
      done({ ok: false, reason: `connect to ${opts.address}:${opts.port}: timeout` });
    }, opts.connectTimeoutMs);
    sock.once('connect', onConnect);
    sock.once('error', onError);
  });
}

function tlsOptions(socket: Socket, opts: ClientOptions): ConnectionOptions {
  const name = opts.servername;
  const o: ConnectionOptions = {
    socket,
    rejectUnauthorized: opts.verify,
    // The identity is the MX name, not the address we connected to (RFC 6125 via RFC 7817).
    checkServerIdentity: (_host, cert) => checkServerIdentity(name, cert),
  };
  // RFC 6066 3: SNI carries host names only, never an address literal.
  if (name !== '' && isIP(name) === 0) o.servername = name;
  if (opts.ca !== undefined) o.ca = opts.ca;
  if (opts.cert !== undefined && opts.key !== undefined) {
    o.cert = opts.cert;
    o.key = opts.key;
  }
  return o;
}

/** TLS handshake over `socket` (its own deadline); the socket is destroyed when it fails. */
export function startTls(socket: Socket, opts: ClientOptions, timeoutMs: number): Promise<Opened<TLSSocket>> {
  return new Promise((resolve) => {
    let tls: TLSSocket;
    try {
      tls = tlsConnect(tlsOptions(socket, opts));
    } catch (e) {
      // Bad PEM in ca/cert/key throws synchronously.
      socket.destroy();
      resolve({ ok: false, reason: `TLS setup: ${errText(e as Error)}` });
      return;
    }
    const done = (r: Opened<TLSSocket>): void => {
      clearTimeout(timer);
      tls.off('secureConnect', onSecure);
      tls.off('error', onError);
      tls.off('close', onClose);
      resolve(r);
    };
    const fail = (reason: string): void => {
      tls.on('error', () => {});
      tls.destroy();
      socket.destroy();
      done({ ok: false, reason });
    };
    const onSecure = (): void => {
      tls.setNoDelay(true);
      tls.on('error', () => {});
      done({ ok: true, socket: tls });
    };
    const onError = (e: Error): void => fail(`TLS handshake failed: ${errText(e)}`);
    const onClose = (): void => fail('TLS handshake failed: connection closed');
    const timer = setTimeout(() => fail('TLS handshake failed: timeout'), timeoutMs);
    tls.once('secureConnect', onSecure);
    tls.once('error', onError);
    tls.once('close', onClose);
  });
}

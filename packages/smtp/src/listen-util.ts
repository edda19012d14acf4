// Small socket helpers of the listeners: bind a server (address, inherited descriptor or unix
// path), show a bound address, tell a live unix socket from a stale file; the shapes reload uses.
import { connect, type AddressInfo } from 'node:net';
import type { TsmtpdServer } from './connection.js';
import type { ListenerProfile } from './session.js';

/** One address to listen on, as the configuration says it. */
export interface Wanted {
  key: string;
  profile: ListenerProfile;
  address: string;
  port: number;
  family: number;
}

/** What a reload did to the listeners. */
export interface ListenerChange {
  added: string[];
  removed: string[];
  errors: string[];
}

export function formatBound(a: AddressInfo): string {
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

export function listen(server: TsmtpdServer, opts: { host?: string; port?: number; path?: string; fd?: number; backlog: number; ipv6Only?: boolean }): Promise<void> {
  return new Promise((resolve, reject) => {
    const net = server.server;
    const onError = (e: Error) => reject(e);
    net.once('error', onError);
    net.listen(opts, () => {
      net.off('error', onError);
      resolve();
    });
  });
}

/** Whether something answers on a unix socket (a stale file is safe to replace). */
export function socketAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(path);
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

// swaks, the other independent SMTP client: used for --pipeline and quick transactions.
import { run, type RunResult } from './proc.js';
import { swaksBin } from './paths.js';

/** Runs swaks against 127.0.0.1:port with `args`, bounded by `timeoutMs`. */
export function swaks(port: number, args: string[], timeoutMs = 30_000): Promise<RunResult> {
  const base = ['--server', `127.0.0.1:${port}`, '--timeout', '15', '--helo', 'swaks.client.test'];
  return run(swaksBin, [...base, ...args], { timeoutMs });
}

/** Runs swaks against `server` ("host:port"), bounded by `timeoutMs`. */
export function swaksAt(server: string, args: string[], timeoutMs = 30_000): Promise<RunResult> {
  return run(swaksBin, ['--server', server, '--timeout', '15', '--helo', 'swaks.client.test', ...args], { timeoutMs });
}

// The queue encryption key when the configuration does not hold it (REFERENCE 4.5), read once by
// the parent before the actors are spawned: `queue encryption stdin` (or `-`) takes one line of
// standard input, a bare `queue encryption` asks on the terminal without echo (OpenSMTPD's
// getpass("queue key: ")). The key then travels to the queue worker in config.queue.encryption.key.
import { closeSync, openSync, writeSync } from 'node:fs';
import { ReadStream } from 'node:tty';
import type { Readable } from 'node:stream';
import type { SmtpdConfig } from '@tsmtpd/config';

/** Bytes OpenSMTPD's crypto_setup requires of a key (its strlen: the characters as written). */
const KEY_BYTES = 32;
/** A key line longer than this is not a key: stop reading. */
const MAX_LINE = 4096;

export type KeyFilled = { ok: true; config: SmtpdConfig } | { ok: false; error: string };

/** Where keys are read from (tests pass their own). */
export interface KeySources {
  stdin: Readable;
  /** Read a key from the controlling terminal without echo; null when there is no terminal. */
  prompt: (question: string) => Promise<string | null>;
}

const systemSources: KeySources = { stdin: process.stdin, prompt: promptTty };

/** The configuration with its queue key filled in and checked, or why not. */
export async function fillQueueKey(config: SmtpdConfig, src: KeySources = systemSources): Promise<KeyFilled> {
  const enc = config.queue.encryption;
  if (!enc) return { ok: true, config };
  let key = enc.key;
  if (enc.keySource === 'stdin') {
    const line = await readLine(src.stdin);
    if (line === null) return { ok: false, error: 'queue encryption stdin: no key on standard input' };
    key = line;
  } else if (enc.keySource === 'prompt') {
    const typed = await src.prompt('queue key: ');
    if (typed === null) {
      return { ok: false, error: 'queue encryption: no key in the configuration and no terminal to ask for it (give the key, or use `queue encryption stdin`)' };
    }
    key = typed;
  }
  if (key === undefined || Buffer.byteLength(key) !== KEY_BYTES) {
    return { ok: false, error: `invalid key for queue encryption: ${key === undefined ? 0 : Buffer.byteLength(key)} bytes, ${KEY_BYTES} needed (e.g. from openssl rand -hex 16)` };
  }
  return { ok: true, config: { ...config, queue: { ...config.queue, encryption: { ...enc, key } } } };
}

/**
 * One line of `input` without its LF (as OpenSMTPD's getline: a CR stays and makes the key
 * invalid); the text before EOF if no LF came; null when nothing came at all.
 */
export function readLine(input: Readable): Promise<string | null> {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    const done = (line: string | null) => {
      input.off('data', onData);
      input.off('end', onEnd);
      input.off('error', onEnd);
      input.pause();
      input.destroy(); // nothing else reads stdin; an open handle would keep the parent alive
      resolve(line);
    };
    const onData = (d: Buffer | string) => {
      buf = Buffer.concat([buf, typeof d === 'string' ? Buffer.from(d) : d]);
      const nl = buf.indexOf(0x0a);
      if (nl >= 0) done(buf.subarray(0, nl).toString('utf8'));
      else if (buf.byteLength > MAX_LINE) done(buf.toString('utf8'));
    };
    const onEnd = () => done(buf.byteLength > 0 ? buf.toString('utf8') : null);
    input.on('data', onData);
    input.once('end', onEnd);
    input.once('error', onEnd);
  });
}

/** getpass(3): the question and the answer on /dev/tty, echo off; null without a terminal. */
export async function promptTty(question: string): Promise<string | null> {
  let fd: number;
  try {
    fd = openSync('/dev/tty', 'r+');
  } catch {
    return null; // ENXIO: no controlling terminal (a service, a detached start)
  }
  let input: ReadStream;
  try {
    input = new ReadStream(fd);
    input.setRawMode(true);
  } catch {
    closeSync(fd);
    return null;
  }
  writeSync(fd, question);
  const typed = await new Promise<string | null>((resolve) => {
    let text = '';
    const onData = (d: Buffer) => {
      for (const ch of d.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return finish(text);
        if (ch === '\x03' || (ch === '\x04' && text === '')) return finish(null); // ^C, ^D
        if (ch === '\x7f' || ch === '\b') text = [...text].slice(0, -1).join('');
        else if (ch >= ' ') text += ch;
      }
      return undefined;
    };
    const finish = (v: string | null) => {
      input.off('data', onData);
      resolve(v);
    };
    input.on('data', onData);
  });
  input.setRawMode(false);
  writeSync(fd, '\n');
  input.destroy(); // closes fd
  return typed ?? '';
}

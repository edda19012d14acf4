// smtp-server looks for the end of DATA (and for dot-stuffing) one byte at a time in JavaScript
// (SMTPStream._feedDataStream): at 100 KiB that loop alone was 14% of the smtp thread. This is
// the same method with the search for "\n." done by Buffer.indexOf; every other step (the
// terminator at the very start, the escape dot, the four bytes kept for the next chunk, the
// writes and their back-pressure) is the library's, in its order. The end-of-DATA scan is where
// SMTP smuggling lives, so it replaces only the exact method it was checked against
// (data-scan.test.ts feeds both the same random streams, cut at random places); under any other
// smtp-server the library keeps its own.
import { createHash } from 'node:crypto';
import { SMTPStream } from 'smtp-server/lib/smtp-stream.js';

/** sha256 of `_feedDataStream.toString()` in smtp-server 3.21.6, the version this was checked against. */
export const CHECKED_FEED_SHA256 = '9d8b903f9a3a63542d72e19a9e2f67009a3b1107a28d57e8e7369355454ff230';

const LF_DOT = Buffer.from('\n.');
const DOT_CRLF = Buffer.from('.\r\n');

type Done = (err?: Error | null) => void;

function feedDataStream(this: SMTPStream, chunkIn: Buffer, done: Done): void {
  const dataStream = this._dataStream!;
  let chunk = chunkIn;
  if (this._lastBytes && this._lastBytes.length) {
    chunk = Buffer.concat([this._lastBytes, chunk], this._lastBytes.length + chunk.length);
    this._lastBytes = false;
  }
  let len = chunk.length;
  // A "." line as the very first line ends DATA only while nothing was consumed (smuggling).
  if (this._atDataStart && len >= 3 && chunk[0] === DOT_CRLF[0] && chunk[1] === DOT_CRLF[1] && chunk[2] === DOT_CRLF[2]) {
    this._endDataMode(false, chunk.subarray(3), done);
    return;
  }
  if (this._atDataStart && len >= 2 && chunk[0] === 0x2e && chunk[1] === 0x2e) {
    chunk = chunk.subarray(1);
    len--;
    this._atDataStart = false;
  }
  // The library tests every i in [2, len - 3] for chunk[i - 1] = LF and chunk[i] = "."; the
  // LF of such a pair is at p = i - 1, so p runs over [1, len - 4].
  for (let p = chunk.indexOf(LF_DOT, 1); p >= 0 && p <= len - 4; p = chunk.indexOf(LF_DOT, p + 1)) {
    const i = p + 1;
    if (chunk[i - 2] === 0x0d && chunk[i + 1] === 0x0d && chunk[i + 2] === 0x0a) {
      const buf = chunk.subarray(0, i);
      this._countDataBytes(buf.length);
      this._endDataMode(buf, chunk.subarray(i + 3), done);
      return;
    }
    if (chunk[i + 1] === 0x2e) {
      const buf = chunk.subarray(0, i);
      this._lastBytes = false;
      this._countDataBytes(buf.length);
      if (dataStream.writable) dataStream.write(buf);
      const rest = chunk.subarray(i + 1);
      setImmediate(() => this._feedDataStream(rest, done));
      return;
    }
  }
  this._lastBytes = chunk.length < 4 ? chunk : chunk.subarray(chunk.length - 4);
  if (this._lastBytes.length >= chunk.length) return done();
  const buf = chunk.subarray(0, chunk.length - this._lastBytes.length);
  this._countDataBytes(buf.length);
  if (!dataStream.writable) return done();
  if (dataStream.write(buf) || dataStream.destroyed) return done();
  // A stream the application destroys never drains, it only closes.
  const onDrain = (): void => {
    dataStream.removeListener('drain', onDrain);
    dataStream.removeListener('close', onDrain);
    done();
  };
  dataStream.once('drain', onDrain);
  dataStream.once('close', onDrain);
}

/** The library's own method, for the differential test. */
export const libraryFeed = SMTPStream.prototype._feedDataStream;

export function feedFingerprint(fn: (...a: never[]) => unknown): string {
  return createHash('sha256').update(fn.toString()).digest('hex');
}

let installed: boolean | undefined;

/**
 * Puts the indexOf scan in place of the library's, once per thread; false (and the library's
 * own scan stays) when the installed smtp-server's method is not the one checked.
 */
export function installDataScan(): boolean {
  if (installed === undefined) {
    installed = feedFingerprint(libraryFeed) === CHECKED_FEED_SHA256;
    if (installed) SMTPStream.prototype._feedDataStream = feedDataStream;
  }
  return installed;
}

export { feedDataStream as fastFeed };

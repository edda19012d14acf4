// The queue's at-rest encoding of body chunks and envelopes (REFERENCE 4.5): `queue compression`
// gzips, `queue encryption KEY` seals with AES-256-GCM as OpenSMTPD's crypto.c does (version byte
// 1 | 12-byte random IV | ciphertext | 16-byte tag), compression first. Every row is encoded on
// its own and carries its flags, so rows copied in SQL (chunkCopy) or written under another
// setting stay readable. Used by the SQLite backend only; nothing here touches the database.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { ActorError } from '@tsmtpd/proto';

/** Row flag: the stored bytes are gzip (RFC 1952) of the plaintext. */
export const ENC_GZIP = 1;
/** Row flag: the stored bytes are AES-256-GCM sealed (after gzip when both are set). */
export const ENC_AES = 2;

/** OpenSMTPD's sizes and format version (crypto.c: API_VERSION, IV_SIZE, GCM_TAG_SIZE, KEY_SIZE). */
const AES_VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
export const KEY_BYTES = 32;

/** zlib's default level: measured (codec.test.ts) at well under a millisecond per 100 KiB chunk. */
const GZIP_LEVEL = 6;
/**
 * Rows shorter than this are not compressed: an envelope (300-600 bytes of JSON) would save a
 * hundred bytes or so, and reading it back would cost ~15 us more, 1.5 s more per 100k envelopes
 * loaded at start. Body chunks (256 KiB from smtp) are far above it.
 */
export const MIN_GZIP_BYTES = 1024;

/** The plaintext of the key check value kept in the database's meta table. */
const KEY_CHECK_TEXT = 'tsmtpd queue key check v1';

/** What a codec is built from: the configuration's `queue` options, key filled in. */
export interface QueueCodecOptions {
  compression?: boolean;
  /** Present when `queue encryption` is on; its key must have been filled in by the parent. */
  encryption?: { key?: string | undefined } | undefined;
}

/**
 * The key as OpenSMTPD takes it: the characters' bytes, exactly 32 of them (32 hex digits from
 * `openssl rand -hex 16` are 32 raw bytes, not decoded to 16). Null when not exactly 32 bytes.
 */
export function queueKeyBytes(key: string): Buffer | null {
  const b = Buffer.from(key, 'utf8');
  return b.byteLength === KEY_BYTES ? b : null;
}

export class QueueCodec {
  /** Flags of the rows this codec writes (0: stored as given, envelopes as JSON text). */
  readonly flags: number;
  private readonly key: Buffer | null;

  /** Throws ERR_QUEUE_KEY when encryption is on without a valid 32-byte key. */
  constructor(opts: QueueCodecOptions = {}) {
    let key: Buffer | null = null;
    if (opts.encryption) {
      const given = opts.encryption.key;
      if (given === undefined) throw new ActorError('ERR_QUEUE_KEY', 'internal', 'queue encryption is on but no key reached the queue');
      key = queueKeyBytes(given);
      if (!key) throw new ActorError('ERR_QUEUE_KEY', 'internal', `invalid key for queue encryption: ${Buffer.byteLength(given)} bytes, ${KEY_BYTES} needed`);
    }
    this.key = key;
    this.flags = (opts.compression === true ? ENC_GZIP : 0) | (key ? ENC_AES : 0);
  }

  get encrypts(): boolean {
    return this.key !== null;
  }

  /**
   * Encode one row. Compression is skipped for a short row (MIN_GZIP_BYTES) and dropped for one
   * it does not shrink (already compressed content); the row's flags say which.
   */
  encode(plain: Uint8Array): { flags: number; data: Uint8Array } {
    let flags = 0;
    let data = plain;
    if (this.flags & ENC_GZIP && plain.byteLength >= MIN_GZIP_BYTES) {
      const z = gzipSync(plain, { level: GZIP_LEVEL });
      if (z.byteLength < plain.byteLength) {
        data = z;
        flags |= ENC_GZIP;
      }
    }
    if (this.key) {
      data = seal(this.key, data);
      flags |= ENC_AES;
    }
    return { flags, data };
  }

  /** Decode one row by its own flags; throws ERR_QUEUE_CORRUPT (naming `what`) if it cannot. */
  decode(flags: number, data: Uint8Array, what: string): Uint8Array {
    if ((flags & ~(ENC_GZIP | ENC_AES)) !== 0) throw corrupt(what, `unknown encoding flags ${flags}`);
    let out = data;
    if (flags & ENC_AES) {
      if (!this.key) throw corrupt(what, 'encrypted, but no queue encryption key');
      const opened = open(this.key, out);
      if (!opened) throw corrupt(what, 'cannot be decrypted (wrong key or damaged)');
      out = opened;
    }
    if (flags & ENC_GZIP) {
      try {
        out = gunzipSync(out);
      } catch {
        throw corrupt(what, 'cannot be decompressed');
      }
    }
    return out;
  }

  /** A fresh key check value (the known text sealed under this key); null without a key. */
  keyCheck(): Uint8Array | null {
    return this.key ? seal(this.key, Buffer.from(KEY_CHECK_TEXT)) : null;
  }

  /** Whether `check` was sealed with this codec's key. */
  keyMatches(check: Uint8Array): boolean {
    if (!this.key) return false;
    const opened = open(this.key, check);
    return opened !== null && Buffer.from(opened).toString() === KEY_CHECK_TEXT;
  }
}

function corrupt(what: string, why: string): ActorError {
  return new ActorError('ERR_QUEUE_CORRUPT', 'internal', `${what}: ${why}`);
}

/** version | IV | ciphertext | tag, with a random IV per call (never reused under one key). */
function seal(key: Buffer, plain: Uint8Array): Buffer {
  const iv = randomBytes(IV_BYTES);
  const c = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([c.update(plain), c.final()]);
  return Buffer.concat([Buffer.from([AES_VERSION]), iv, body, c.getAuthTag()]);
}

/** The plaintext, or null when the format, the key or the tag does not match. */
function open(key: Buffer, sealed: Uint8Array): Buffer | null {
  const b = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  if (b.byteLength < 1 + IV_BYTES + TAG_BYTES || b[0] !== AES_VERSION) return null;
  const iv = b.subarray(1, 1 + IV_BYTES);
  const tag = b.subarray(b.byteLength - TAG_BYTES);
  try {
    const d = createDecipheriv('aes-256-gcm', key, iv);
    d.setAuthTag(tag);
    return Buffer.concat([d.update(b.subarray(1 + IV_BYTES, b.byteLength - TAG_BYTES)), d.final()]);
  } catch {
    return null;
  }
}

// The byte framing between the mda worker and a per-uid delivery helper: each frame is a
// 9-byte header (u32 big-endian length of what follows the length, u8 type, u32 delivery id)
// and a payload (a JSON header, or raw body bytes). Used on both ends; no allocation per frame
// beyond the header when the payload arrives whole in one read.

/** Frame types. Worker to helper: OPEN (JSON job), DATA (body bytes), END, ABORT. Helper to worker: DONE (JSON outcome). */
export const FrameType = { open: 1, data: 2, end: 3, abort: 4, done: 5 } as const;
export type FrameTypeCode = (typeof FrameType)[keyof typeof FrameType];

export const FRAME_HEADER = 9;
/** Largest payload of one frame: body data is cut into frames of at most this size. */
export const MAX_PAYLOAD = 1 << 20;

export interface Frame {
  type: number;
  id: number;
  payload: Buffer;
}

/** The 9-byte header of a frame whose payload has `payloadLength` bytes. */
export function frameHeader(type: FrameTypeCode, id: number, payloadLength: number): Buffer {
  const h = Buffer.allocUnsafe(FRAME_HEADER);
  h.writeUInt32BE(payloadLength + 5, 0);
  h[4] = type;
  h.writeUInt32BE(id >>> 0, 5);
  return h;
}

/** A whole frame with a JSON payload (OPEN, DONE). */
export function jsonFrame(type: FrameTypeCode, id: number, value: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  return Buffer.concat([frameHeader(type, id, body.length), body]);
}

export class FrameError extends Error {}

/**
 * Cuts a byte stream into frames. `push` answers the frames completed by this chunk; a frame
 * longer than MAX_PAYLOAD (or shorter than its header) is a protocol error: the peer is broken.
 */
export class FrameReader {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  push(chunk: Buffer): Frame[] {
    const frames: Frame[] = [];
    let buf: Buffer;
    if (this.pendingBytes === 0) buf = chunk;
    else {
      this.pending.push(chunk);
      buf = Buffer.concat(this.pending, this.pendingBytes + chunk.length);
      this.pending = [];
      this.pendingBytes = 0;
    }
    let off = 0;
    while (buf.length - off >= 4) {
      const len = buf.readUInt32BE(off);
      if (len < 5 || len > MAX_PAYLOAD + 5) throw new FrameError(`invalid frame length ${len}`);
      if (buf.length - off < 4 + len) break;
      frames.push({ type: buf[off + 4]!, id: buf.readUInt32BE(off + 5), payload: buf.subarray(off + FRAME_HEADER, off + 4 + len) });
      off += 4 + len;
    }
    if (off < buf.length) {
      // A view, not a copy: the next push concatenates it anyway, and nothing writes to `buf`.
      const rest = buf.subarray(off);
      this.pending.push(rest);
      this.pendingBytes = rest.length;
    }
    return frames;
  }
}

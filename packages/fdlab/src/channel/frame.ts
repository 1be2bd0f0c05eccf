// Wire format of FdChannel. A Unix stream socket has no message boundaries,
// so each message is framed; the fds of a frame ride on its first byte, and
// the header says how many belong to it. Layout (big-endian):
//
//   0  magic 0xFD 0x1A   2  version (1)   3  flags (bit 0: MORE, the message
//   continues in the next frame; the other bits must be 0)   4  fd count (u16)
//   6  payload length (u32)   10 payload
//
// A message with more than 253 fds becomes several frames: the first carries
// the data and up to 253 fds, the rest only fds, all but the last flagged MORE.
import { FdlabError } from '../errors';

export const FRAME_HEADER_BYTES = 10;
const MAGIC0 = 0xfd;
const MAGIC1 = 0x1a;
const VERSION = 1;
const FLAG_MORE = 1;
export const FDS_PER_FRAME = 253;

export interface Frame {
  /** Header and payload, ready to write. */
  bytes: Buffer;
  /** The fds to send with the frame's first byte. */
  fds: Int32Array;
}

/** `fds` must already be validated fd numbers (FdChannel.send does that). */
export function encodeMessage(data: Uint8Array, fds: Int32Array): Frame[] {
  const frames: Frame[] = [];
  let offset = 0;
  do {
    const count = Math.min(fds.length - offset, FDS_PER_FRAME);
    const payload = frames.length === 0 ? data.length : 0;
    // One allocation per frame: header and payload are written in place.
    const bytes = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload);
    bytes[0] = MAGIC0;
    bytes[1] = MAGIC1;
    bytes[2] = VERSION;
    bytes[3] = offset + count < fds.length ? FLAG_MORE : 0;
    bytes.writeUInt16BE(count, 4);
    bytes.writeUInt32BE(payload, 6);
    if (payload > 0) bytes.set(data, FRAME_HEADER_BYTES);
    frames.push({ bytes, fds: fds.subarray(offset, offset + count) });
    offset += count;
  } while (offset < fds.length);
  return frames;
}

export interface DecodedMessage {
  data: Buffer;
  fds: number[];
}

export interface DecoderLimits {
  maxMessageBytes: number;
  maxMessageFds: number;
}

/**
 * The fds that came with one received chunk, and where that chunk lies in the
 * stream. The kernel hands a frame's fds over with the recvmsg that reads the
 * frame's first byte, and stops that recvmsg right after them: so only a frame
 * whose header starts inside [start, end) can own them.
 */
interface FdGroup {
  /** Stream offset of the chunk's first byte. */
  start: number;
  /** Stream offset just past the chunk's last byte. */
  end: number;
  fds: number[];
  /** fds.length when the group was made: a handed-out array may be changed by its new owner. */
  count: number;
  /** fds[0 .. claimed) belong to frames already; the rest are still the decoder's. */
  claimed: number;
}

/** A frame whose header has been read and whose payload is still arriving. */
interface OpenFrame {
  more: boolean;
  payload: Buffer;
  filled: number;
  fds: number[];
}

/** The frames so far of a message flagged MORE. */
interface OpenMessage {
  parts: Buffer[];
  bytes: number;
  fds: number[];
}

/**
 * Turns received bytes and fds back into messages. Owns every fd it has been
 * given until a message hands them on; on an error, and whenever its owner
 * gives up, `heldFds()` lists what must be closed (then `clear()`).
 *
 * Linear in the bytes received: chunks are kept as a list, never re-joined,
 * and each payload byte is copied once into the buffer of its message (plus
 * once more only for the unconsumed tail of a push, see push()).
 */
export class FrameDecoder {
  /** Received chunks not yet fully consumed; chunks[chunkHead] is the oldest. */
  private chunks: Buffer[] = [];
  private chunkHead = 0;
  /** Read offset inside chunks[chunkHead]. */
  private chunkOffset = 0;
  /** Bytes received and not yet consumed. */
  private buffered = 0;
  /** Stream offset of the next byte to consume: the next header starts here. */
  private consumed = 0;
  /** Stream offset just past the last byte received. */
  private received = 0;

  private groups: FdGroup[] = [];
  private groupHead = 0;

  private frame: OpenFrame | null = null;
  private message: OpenMessage | null = null;
  /** fds of messages decoded by a push that then failed: nobody else has them. */
  private stranded: number[] = [];
  /** A decoder that failed stays failed: the stream has lost its framing. */
  private failure: Error | null = null;

  constructor(private readonly limits: DecoderLimits) {}

  /**
   * Bytes and fds as one recvmsg returned them; returns the messages now
   * complete. The decoder keeps the `fds` array itself (it owns those fds now)
   * but only borrows `data`: what is left of it unconsumed is copied before
   * push returns, so a reader can receive into the same buffer every time.
   * Throws a coded FdlabError when the stream is not valid FdChannel framing;
   * every fd the decoder holds is then in `heldFds()`.
   */
  push(data: Buffer, fds: number[]): DecodedMessage[] {
    // Recorded before anything can throw, so an error never loses an fd.
    if (fds.length > 0) {
      this.groups.push({ start: this.received, end: this.received + data.length, fds, count: fds.length, claimed: 0 });
    }
    if (this.failure) throw this.failure;
    if (data.length > 0) {
      this.chunks.push(data);
      this.received += data.length;
      this.buffered += data.length;
    }
    const messages: DecodedMessage[] = [];
    try {
      this.decode(messages);
    } catch (error) {
      this.failure = error as Error;
      for (const message of messages) this.stranded.push(...message.fds);
      throw error;
    }
    this.keepRemainder(data);
    return messages;
  }

  /** True while a message has started but not finished (bytes or fds pending). */
  get midMessage(): boolean {
    return this.buffered > 0 || this.frame !== null || this.message !== null || this.groupHead < this.groups.length;
  }

  /** Every fd held but not yet handed out. */
  heldFds(): number[] {
    const held = [...this.stranded];
    for (let g = this.groupHead; g < this.groups.length; g++) {
      const group = this.groups[g];
      for (let i = group.claimed; i < group.count; i++) held.push(group.fds[i]);
    }
    if (this.frame) held.push(...this.frame.fds);
    if (this.message) held.push(...this.message.fds);
    return held;
  }

  /** Forgets everything held, without closing: call after closing `heldFds()`. */
  clear(): void {
    this.chunks = [];
    this.chunkHead = 0;
    this.chunkOffset = 0;
    this.buffered = 0;
    this.consumed = this.received;
    this.groups = [];
    this.groupHead = 0;
    this.frame = null;
    this.message = null;
    this.stranded = [];
  }

  /** `data` is borrowed: copies whatever of it the next frames still need. */
  private keepRemainder(data: Buffer): void {
    const last = this.chunks.length - 1;
    if (data.length === 0 || last < this.chunkHead || this.chunks[last] !== data) return; // all consumed
    if (last === this.chunkHead) {
      this.chunks[last] = Buffer.from(data.subarray(this.chunkOffset));
      this.chunkOffset = 0;
    } else {
      this.chunks[last] = Buffer.from(data);
    }
  }

  private decode(messages: DecodedMessage[]): void {
    for (;;) {
      if (this.frame === null) {
        this.settlePassedGroups();
        if (this.buffered < FRAME_HEADER_BYTES) {
          this.checkPartialHeader();
          return;
        }
        this.openFrame();
      }
      if (!this.fillPayload()) return;
      const message = this.closeFrame();
      if (message) messages.push(message);
    }
  }

  /**
   * The next header starts at `consumed`: a chunk that ends at or before it
   * can have no more frames starting in it, so its fds must all be claimed.
   */
  private settlePassedGroups(): void {
    while (this.groupHead < this.groups.length && this.groups[this.groupHead].end <= this.consumed) {
      const group = this.groups[this.groupHead];
      const unclaimed = group.count - group.claimed;
      if (unclaimed > 0) {
        throw new FdlabError(
          'ERR_CHANNEL_GARBLED',
          `FdChannel: ${unclaimed} fd${unclaimed === 1 ? '' : 's'} arrived that no frame claims ` +
            `(with stream bytes ${group.start}..${group.end}); the peer's frame headers do not match what it sent`,
        );
      }
      this.groupHead++;
    }
    if (this.groupHead === this.groups.length && this.groupHead > 0) {
      this.groups = [];
      this.groupHead = 0;
    } else if (this.groupHead >= 1024) {
      this.groups = this.groups.slice(this.groupHead);
      this.groupHead = 0;
    }
  }

  /** Fewer bytes than a header: whatever is there must still look like one. */
  private checkPartialHeader(): void {
    const expected = [MAGIC0, MAGIC1, VERSION];
    for (let i = 0; i < Math.min(this.buffered, expected.length); i++) {
      if (this.peekByte(i) !== expected[i]) throw this.garbled(Buffer.from(this.peekBytes(Math.min(this.buffered, 4))));
    }
  }

  private openFrame(): void {
    const start = this.consumed;
    const header = this.peekBytes(FRAME_HEADER_BYTES);
    if (header[0] !== MAGIC0 || header[1] !== MAGIC1 || header[2] !== VERSION) throw this.garbled(header);
    if ((header[3] & ~FLAG_MORE) !== 0) {
      throw new FdlabError(
        'ERR_CHANNEL_GARBLED',
        `FdChannel: a frame has unknown flags 0x${header[3].toString(16)} (version 1 defines only MORE, 0x01)`,
      );
    }
    const more = (header[3] & FLAG_MORE) !== 0;
    const fdCount = header.readUInt16BE(4);
    const length = header.readUInt32BE(6);
    const sizeSoFar = (this.message?.bytes ?? 0) + length;
    if (sizeSoFar > this.limits.maxMessageBytes) {
      throw new FdlabError(
        'ERR_CHANNEL_OVERSIZED',
        `FdChannel: a message of ${sizeSoFar} bytes exceeds maxMessageBytes=${this.limits.maxMessageBytes}`,
      );
    }
    if (fdCount > FDS_PER_FRAME || (this.message?.fds.length ?? 0) + fdCount > this.limits.maxMessageFds) {
      throw new FdlabError(
        'ERR_CHANNEL_OVERSIZED',
        `FdChannel: a frame announces ${fdCount} fds (at most ${FDS_PER_FRAME} a frame, ` +
          `${this.limits.maxMessageFds} a message)`,
      );
    }
    const fds = this.claim(start, fdCount);
    this.consume(FRAME_HEADER_BYTES);
    // Sized from the header (already checked against maxMessageBytes), so each
    // payload byte is copied exactly once, straight from the chunk it came in.
    this.frame = { more, payload: Buffer.allocUnsafe(length), filled: 0, fds };
  }

  /** The `count` fds of the frame whose header starts at stream offset `at`. */
  private claim(at: number, count: number): number[] {
    // Passed groups are settled, so the oldest left ends after `at`.
    const group = this.groupHead < this.groups.length ? this.groups[this.groupHead] : undefined;
    const here = group !== undefined && group.start <= at ? group : undefined;
    const available = here ? here.count - here.claimed : 0;
    if (available < count) {
      throw new FdlabError(
        'ERR_CHANNEL_GARBLED',
        `FdChannel: a frame announces ${count} fds but ${available === 0 ? 'none' : `only ${available}`} arrived with it`,
      );
    }
    if (count === 0 || !here) return [];
    if (here.claimed === 0 && count === here.count) {
      // The common case, one frame per recvmsg: hand on the array itself.
      here.claimed = count;
      return here.fds;
    }
    const fds = here.fds.slice(here.claimed, here.claimed + count);
    here.claimed += count;
    return fds;
  }

  /** Copies what has arrived of the open frame's payload; true once it is whole. */
  private fillPayload(): boolean {
    const frame = this.frame!;
    while (frame.filled < frame.payload.length && this.buffered > 0) {
      const chunk = this.chunks[this.chunkHead];
      const n = Math.min(chunk.length - this.chunkOffset, frame.payload.length - frame.filled);
      chunk.copy(frame.payload, frame.filled, this.chunkOffset, this.chunkOffset + n);
      frame.filled += n;
      this.consume(n);
    }
    return frame.filled === frame.payload.length;
  }

  /** Ends the open frame; returns the message it completes, if any. */
  private closeFrame(): DecodedMessage | null {
    const frame = this.frame!;
    this.frame = null;
    if (this.message === null && !frame.more) return { data: frame.payload, fds: frame.fds };
    const message = (this.message ??= { parts: [], bytes: 0, fds: [] });
    if (frame.payload.length > 0) message.parts.push(frame.payload);
    message.bytes += frame.payload.length;
    for (const fd of frame.fds) message.fds.push(fd);
    if (frame.more) return null;
    this.message = null;
    const data =
      message.parts.length === 0 ? Buffer.alloc(0)
      : message.parts.length === 1 ? message.parts[0]
      : Buffer.concat(message.parts, message.bytes);
    return { data, fds: message.fds };
  }

  private consume(n: number): void {
    this.buffered -= n;
    this.consumed += n;
    this.chunkOffset += n;
    while (this.chunkHead < this.chunks.length && this.chunkOffset >= this.chunks[this.chunkHead].length) {
      this.chunkOffset -= this.chunks[this.chunkHead].length;
      this.chunkHead++;
    }
    // Drop consumed chunks now and then rather than shift() one by one (O(n) each).
    if (this.chunkHead === this.chunks.length) {
      this.chunks = [];
      this.chunkHead = 0;
    } else if (this.chunkHead >= 1024) {
      this.chunks = this.chunks.slice(this.chunkHead);
      this.chunkHead = 0;
    }
  }

  /** Byte `i` after the read position (i < buffered). */
  private peekByte(i: number): number {
    let c = this.chunkHead;
    let at = this.chunkOffset + i;
    while (at >= this.chunks[c].length) at -= this.chunks[c++].length;
    return this.chunks[c][at];
  }

  /** The next `n` bytes (n <= buffered): a view when they lie in one chunk, else a copy. */
  private peekBytes(n: number): Buffer {
    const chunk = this.chunks[this.chunkHead];
    if (chunk.length - this.chunkOffset >= n) return chunk.subarray(this.chunkOffset, this.chunkOffset + n);
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) out[i] = this.peekByte(i);
    return out;
  }

  private garbled(header: Buffer): FdlabError {
    return new FdlabError(
      'ERR_CHANNEL_GARBLED',
      `FdChannel: garbled frame (header ${header.subarray(0, 4).toString('hex')}, expected fd1a01..): ` +
        'the peer is not speaking FdChannel, or wrote outside it',
    );
  }
}

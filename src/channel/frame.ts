// Wire format of FdChannel. A Unix stream socket has no message boundaries,
// so each message is framed; the fds of a frame ride on its first byte, and
// the header says how many belong to it. Layout (big-endian):
//
//   0  magic 0xFD 0x1A   2  version (1)   3  flags (bit 0: MORE, the message
//   continues in the next frame)   4  fd count (u16)   6  payload length (u32)
//   10 payload
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
  fds: number[];
}

export function encodeMessage(data: Buffer, fds: readonly number[]): Frame[] {
  const frames: Frame[] = [];
  let offset = 0;
  do {
    const chunk = fds.slice(offset, offset + FDS_PER_FRAME);
    offset += chunk.length;
    const payload = frames.length === 0 ? data : Buffer.alloc(0);
    const header = Buffer.alloc(FRAME_HEADER_BYTES);
    header[0] = MAGIC0;
    header[1] = MAGIC1;
    header[2] = VERSION;
    header[3] = offset < fds.length ? FLAG_MORE : 0;
    header.writeUInt16BE(chunk.length, 4);
    header.writeUInt32BE(payload.length, 6);
    frames.push({ bytes: Buffer.concat([header, payload]), fds: chunk });
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
 * Turns received bytes and fds back into messages. Owns every fd it has been
 * given until a message hands them on; `discard()` closes what it still holds.
 */
export class FrameDecoder {
  private buffered: Buffer = Buffer.alloc(0);
  /** fds received but not yet claimed by a complete frame, in arrival order. */
  private readonly waitingFds: number[] = [];
  private partial: DecodedMessage | null = null;

  constructor(private readonly limits: DecoderLimits) {}

  /** Bytes and fds as one recvmsg returned them; returns the messages now complete. */
  push(data: Buffer, fds: readonly number[]): DecodedMessage[] {
    this.waitingFds.push(...fds);
    if (data.length > 0) this.buffered = this.buffered.length === 0 ? data : Buffer.concat([this.buffered, data]);
    const messages: DecodedMessage[] = [];
    for (;;) {
      const message = this.nextMessage();
      if (!message) return messages;
      messages.push(message);
    }
  }

  /** True while a message has started but not finished (bytes or fds pending). */
  get midMessage(): boolean {
    return this.buffered.length > 0 || this.partial !== null || this.waitingFds.length > 0;
  }

  /** Every fd held but not yet handed out. */
  heldFds(): number[] {
    return [...this.waitingFds, ...(this.partial?.fds ?? [])];
  }

  clear(): void {
    this.waitingFds.length = 0;
    this.partial = null;
    this.buffered = Buffer.alloc(0);
  }

  private nextMessage(): DecodedMessage | null {
    while (this.buffered.length >= FRAME_HEADER_BYTES) {
      const b = this.buffered;
      if (b[0] !== MAGIC0 || b[1] !== MAGIC1 || b[2] !== VERSION) {
        throw new FdlabError(
          'ERR_CHANNEL_GARBLED',
          `FdChannel: garbled frame (header ${b.subarray(0, 4).toString('hex')}, expected fd1a01..): ` +
            'the peer is not speaking FdChannel, or wrote outside it',
        );
      }
      const more = (b[3] & FLAG_MORE) !== 0;
      const fdCount = b.readUInt16BE(4);
      const length = b.readUInt32BE(6);
      const sizeSoFar = (this.partial?.data.length ?? 0) + length;
      if (sizeSoFar > this.limits.maxMessageBytes) {
        throw new FdlabError(
          'ERR_CHANNEL_OVERSIZED',
          `FdChannel: a message of ${sizeSoFar} bytes exceeds maxMessageBytes=${this.limits.maxMessageBytes}`,
        );
      }
      if (fdCount > FDS_PER_FRAME || (this.partial?.fds.length ?? 0) + fdCount > this.limits.maxMessageFds) {
        throw new FdlabError(
          'ERR_CHANNEL_OVERSIZED',
          `FdChannel: a frame announces ${fdCount} fds (at most ${FDS_PER_FRAME} a frame, ` +
            `${this.limits.maxMessageFds} a message)`,
        );
      }
      if (b.length < FRAME_HEADER_BYTES + length) return null;
      if (this.waitingFds.length < fdCount) {
        throw new FdlabError(
          'ERR_CHANNEL_GARBLED',
          `FdChannel: a frame announces ${fdCount} fds but only ${this.waitingFds.length} arrived with it`,
        );
      }
      const payload = Buffer.from(b.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + length));
      this.buffered = b.subarray(FRAME_HEADER_BYTES + length);
      const fds = this.waitingFds.splice(0, fdCount);
      const message = this.partial
        ? { data: Buffer.concat([this.partial.data, payload]), fds: this.partial.fds.concat(fds) }
        : { data: payload, fds };
      if (more) {
        this.partial = message;
        continue;
      }
      this.partial = null;
      return message;
    }
    return null;
  }
}

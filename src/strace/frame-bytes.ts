// The bytes a sendmsg or recvmsg carried, as strace printed them in iov_base
// ("\375\32\1\0\0\1\0\0\0\3boy", C escapes, cut at -s with "..."), and what
// they mean when they are FdChannel frames (src/channel/frame.ts):
//
//   fd 1a | 01 | 00 | 00 01 | 00 00 00 03 | "boy"
//   magic   ver  flags fds    payload len   payload
import { arrayItems, splitTopLevel, structFields } from './scan';

const SIMPLE_ESCAPES: Record<string, number> = { n: 10, t: 9, r: 13, v: 11, f: 12, a: 7, b: 8, '\\': 92, '"': 34, "'": 39, '?': 63 };

/** The bytes of a C string literal's body as strace prints it (without the quotes). */
export function unescapeC(text: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c !== '\\') {
      bytes.push(...Buffer.from(c, 'utf8'));
      continue;
    }
    const next = text[i + 1] ?? '';
    const octal = /^[0-7]{1,3}/.exec(text.slice(i + 1, i + 4));
    const hex = /^x([0-9a-fA-F]{1,2})/.exec(text.slice(i + 1, i + 4));
    if (octal) {
      bytes.push(parseInt(octal[0], 8) & 0xff);
      i += octal[0].length;
    } else if (hex) {
      bytes.push(parseInt(hex[1], 16));
      i += hex[0].length;
    } else {
      bytes.push(SIMPLE_ESCAPES[next] ?? next.charCodeAt(0));
      i += 1;
    }
  }
  return Buffer.from(bytes);
}

export interface IoBytes {
  /** What strace printed of the data, decoded. */
  bytes: Buffer;
  /** strace cut the string at -s: the call moved more than `bytes`. */
  cut: boolean;
}

/** The data of a sendmsg/recvmsg (all iov_base strings of msg_iov), or null if strace printed none. */
export function messageBytes(args: string): IoBytes | null {
  const [, message = ''] = splitTopLevel(args);
  const iov = arrayItems(structFields(message).get('msg_iov') ?? '');
  if (iov.length === 0) return null;
  const parts: Buffer[] = [];
  let cut = false;
  for (const item of iov) {
    const base = structFields(item).get('iov_base') ?? '';
    const match = /^"(.*)"(\.\.\.)?$/s.exec(base);
    if (!match) continue;
    parts.push(unescapeC(match[1]));
    if (match[2]) cut = true;
  }
  return { bytes: Buffer.concat(parts), cut };
}

export interface DecodedFrame {
  /** Offset of the frame in the printed bytes. */
  offset: number;
  /** The ten header bytes as hex pairs. */
  headerHex: string;
  version: number;
  flags: number;
  /** Flag bit 0: the message continues in the next frame. */
  more: boolean;
  fdCount: number;
  payloadLength: number;
  /** The payload bytes strace printed (fewer than payloadLength when cut). */
  payload: Buffer;
  /** The payload as text when it is printable, else null. */
  payloadText: string | null;
}

export interface FrameReading {
  frames: DecodedFrame[];
  /** Bytes that are not an FdChannel frame (another protocol, or a frame's start not in this call). */
  rest: Buffer;
  cut: boolean;
}

const HEADER = 10;

function printable(payload: Buffer): string | null {
  const text = payload.toString('utf8');
  // eslint-disable-next-line no-control-regex
  return /^[\x09\x0a\x0d\x20-\x7e\u00a0-\uffff]*$/.test(text) && !text.includes('\ufffd') ? text : null;
}

/** Reads FdChannel frames from the start of `io`; what does not parse as one is left in `rest`. */
export function decodeFrames(io: IoBytes): FrameReading {
  const frames: DecodedFrame[] = [];
  let offset = 0;
  const { bytes } = io;
  while (bytes.length - offset >= HEADER && bytes[offset] === 0xfd && bytes[offset + 1] === 0x1a && bytes[offset + 2] === 1) {
    const payloadLength = bytes.readUInt32BE(offset + 6);
    const payload = bytes.subarray(offset + HEADER, Math.min(bytes.length, offset + HEADER + payloadLength));
    frames.push({
      offset,
      headerHex: bytes.subarray(offset, offset + HEADER).toString('hex').replace(/(..)(?!$)/g, '$1 '),
      version: bytes[offset + 2],
      flags: bytes[offset + 3],
      more: (bytes[offset + 3] & 1) === 1,
      fdCount: bytes.readUInt16BE(offset + 4),
      payloadLength,
      payload,
      payloadText: printable(payload),
    });
    offset += HEADER + payloadLength;
  }
  return { frames, rest: bytes.subarray(Math.min(offset, bytes.length)), cut: io.cut };
}

/** One line per frame, for a person: `frame: magic fd1a, v1, flags 0, 1 fd, payload 3 bytes "boy"`. */
export function describeFrames(reading: FrameReading): string[] {
  const lines = reading.frames.map((f) => {
    const text = f.payloadText !== null ? JSON.stringify(f.payloadText.length > 60 ? `${f.payloadText.slice(0, 60)}…` : f.payloadText) : `${f.payload.length} binary bytes`;
    const shown = f.payload.length < f.payloadLength ? ` (first ${f.payload.length} printed)` : '';
    return `frame at byte ${f.offset}: header [${f.headerHex}] = magic fd1a, version ${f.version}, flags ${f.flags}${f.more ? ' (MORE)' : ''}, ` +
      `${f.fdCount} fd${f.fdCount === 1 ? '' : 's'}, payload ${f.payloadLength} byte${f.payloadLength === 1 ? '' : 's'}${f.payloadLength ? `: ${text}${shown}` : ''}`;
  });
  if (reading.rest.length > 0) lines.push(`${reading.rest.length} byte(s) that are not an FdChannel frame header${reading.frames.length ? ' (after the frames)' : ''}`);
  if (reading.cut) lines.push('strace cut the data here (-s); the call moved more bytes');
  return lines;
}

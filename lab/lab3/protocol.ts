// Lab 3's wire format (seed 001): `struct { char len; char data[len]; }` for
// requests, and the same framing for replies "rsp from port: <port>".
export const PORTS = [7100, 7101] as const;

export function frame(text: string): Buffer {
  const body = Buffer.from(text);
  if (body.length > 255) throw new RangeError('a lab 3 frame holds at most 255 bytes');
  return Buffer.concat([Buffer.from([body.length]), body]);
}

/** Splits a byte stream into frames; keeps a partial frame for the next push. */
export class FrameSplitter {
  private buffered: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): string[] {
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    const frames: string[] = [];
    while (this.buffered.length > 0 && this.buffered.length >= 1 + this.buffered[0]) {
      frames.push(this.buffered.subarray(1, 1 + this.buffered[0]).toString());
      this.buffered = this.buffered.subarray(1 + this.buffered[0]);
    }
    return frames;
  }

  /** Bytes beyond the frames returned so far. */
  rest(): Buffer {
    return this.buffered;
  }
}

export function replyPort(reply: string): number {
  return Number(reply.replace('rsp from port: ', ''));
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

// Property tests for FrameDecoder: however a valid stream is cut into reads,
// it decodes to the messages sent; however it is broken, the decoder throws a
// coded error and every fd it was given is either in a message it returned or
// in heldFds(), so its owner can close them all.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import fc from 'fast-check';
import { closeQuietly, dup } from 'fdlab';
import { encodeMessage, FDS_PER_FRAME, FrameDecoder, type DecodedMessage } from 'fdlab/wire';
import { isOpen } from '../helpers/fds';

const LIMITS = { maxMessageBytes: 1024, maxMessageFds: 2 * FDS_PER_FRAME };

interface Sent {
  data: Uint8Array;
  fds: number[];
}

/** One recvmsg's worth: the fds are those of every frame whose first byte is in `data`. */
interface Read {
  data: Buffer;
  fds: number[];
}

/** A stream of bytes and, per stream offset, the fds that ride on that byte. */
interface Stream {
  bytes: Buffer;
  fdsAt: Map<number, number[]>;
}

function attach(stream: Stream, at: number, fds: readonly number[]): void {
  if (fds.length > 0) stream.fdsAt.set(at, [...(stream.fdsAt.get(at) ?? []), ...fds]);
}

function append(stream: Stream, bytes: Uint8Array, fds: readonly number[] = []): Stream {
  const at = stream.bytes.length;
  const next = { bytes: Buffer.concat([stream.bytes, bytes]), fdsAt: stream.fdsAt };
  attach(next, at, fds);
  return next;
}

function encode(messages: readonly Sent[], stream: Stream = { bytes: Buffer.alloc(0), fdsAt: new Map() }): Stream {
  for (const message of messages) {
    for (const frame of encodeMessage(message.data, Int32Array.from(message.fds))) {
      stream = append(stream, frame.bytes, [...frame.fds]);
    }
  }
  return stream;
}

/** Cuts the stream at `cuts` (taken modulo its length); fds go with the read holding their byte. */
function split(stream: Stream, cuts: readonly number[]): Read[] {
  const length = stream.bytes.length;
  const points = [...new Set([0, ...cuts.map((c) => (length === 0 ? 0 : c % length)), length])].sort((x, y) => x - y);
  const reads: Read[] = [];
  for (let i = 0; i + 1 < points.length; i++) {
    const fds: number[] = [];
    for (let at = points[i]; at < points[i + 1]; at++) fds.push(...(stream.fdsAt.get(at) ?? []));
    reads.push({ data: stream.bytes.subarray(points[i], points[i + 1]), fds });
  }
  return reads;
}

interface Outcome {
  messages: DecodedMessage[];
  error: (Error & { code?: string }) | undefined;
  /** Every push after the first error threw too. */
  stayedFailed: boolean;
}

/**
 * Pushes every read, as FdChannel does, through one reused buffer that is
 * scribbled over after each push: the decoder must have copied what it keeps.
 */
function decode(decoder: FrameDecoder, reads: readonly Read[]): Outcome {
  const scratch = Buffer.alloc(Math.max(1, ...reads.map((r) => r.data.length)));
  const messages: DecodedMessage[] = [];
  let error: Outcome['error'];
  let stayedFailed = true;
  for (const read of reads) {
    read.data.copy(scratch);
    try {
      messages.push(...decoder.push(scratch.subarray(0, read.data.length), [...read.fds]));
      if (error) stayedFailed = false;
    } catch (thrown) {
      error ??= thrown as Outcome['error'];
    }
    scratch.fill(0xee);
  }
  return { messages, error, stayedFailed };
}

const cuts = fc.array(fc.nat(), { maxLength: 24 });
const payload = fc.uint8Array({ maxLength: 48 });
/** Mostly a few fds, sometimes more than one frame holds. */
const fdCount = fc.oneof({ arbitrary: fc.integer({ min: 0, max: 3 }), weight: 6 }, { arbitrary: fc.integer({ min: 250, max: 300 }), weight: 1 });

describe('FrameDecoder (property tests)', () => {
  it('decodes any valid stream, cut anywhere, to the messages sent', () => {
    let nextFd = 1000; // stand-in numbers: a decoder never touches its fds
    const message = fc.tuple(payload, fdCount).map(([data, n]): Sent => ({
      data,
      fds: Array.from({ length: n }, () => nextFd++),
    }));
    fc.assert(
      fc.property(fc.array(message, { maxLength: 6 }), cuts, (messages, at) => {
        const decoder = new FrameDecoder(LIMITS);
        const outcome = decode(decoder, split(encode(messages), at));
        assert.equal(outcome.error, undefined);
        assert.deepEqual(
          outcome.messages.map((m) => ({ data: [...m.data], fds: m.fds })),
          messages.map((m) => ({ data: [...m.data], fds: m.fds })),
        );
        assert.equal(decoder.midMessage, false);
        assert.deepEqual(decoder.heldFds(), []);
      }),
      { numRuns: 200 },
    );
  });

  describe('on a broken stream: a coded error, and no fd lost', () => {
    let devnull: number;
    beforeEach(() => {
      devnull = fs.openSync('/dev/null', 'r');
    });
    afterEach(() => fs.closeSync(devnull));

    /** Real fds (dups of /dev/null), so closing them shows up in /proc/self/fd. */
    const fdsOf = (n: number): number[] => Array.from({ length: n }, () => dup(devnull));
    const small = fc.tuple(payload, fc.integer({ min: 0, max: 3 }));
    const realMessages = (specs: [Uint8Array, number][]): Sent[] => specs.map(([data, n]) => ({ data, fds: fdsOf(n) }));

    /** A valid header with the given fields. */
    function header(flags: number, fds: number, length: number): Buffer {
      const bytes = Buffer.from([0xfd, 0x1a, 1, flags, 0, 0, 0, 0, 0, 0]);
      bytes.writeUInt16BE(fds, 4);
      bytes.writeUInt32BE(length, 6);
      return bytes;
    }

    /** What can break a stream, built onto `stream` with `extra` fds riding on it. */
    type Breakage = (stream: Stream, extra: number[]) => { stream: Stream; extraCuts: number[]; codes: string[] };
    const breakages: Record<string, fc.Arbitrary<Breakage>> = {
      'garbage instead of a header': fc
        .tuple(fc.integer({ min: 0, max: 0xfc }), fc.uint8Array({ maxLength: 20 }))
        .map(([first, rest]) => (stream, extra) => ({
          stream: append(stream, Buffer.concat([Buffer.from([first]), rest]), extra),
          extraCuts: [],
          codes: ['ERR_CHANNEL_GARBLED'],
        })),
      'a length or fd count past the limits': fc
        .tuple(fc.integer({ min: LIMITS.maxMessageBytes + 1, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffff }), fc.boolean())
        .map(([length, fds, bigLength]) => (stream, extra) => ({
          stream: append(stream, bigLength ? header(0, 0, length) : header(0, Math.max(fds, FDS_PER_FRAME + 1), 0), extra),
          extraCuts: [],
          codes: ['ERR_CHANNEL_OVERSIZED'],
        })),
      'a frame announcing more fds than came with it': fc.integer({ min: 1, max: 5 }).map((missing) => (stream, extra) => ({
        stream: append(stream, Buffer.concat([header(0, extra.length + missing, 1), Buffer.from('x')]), extra),
        extraCuts: [],
        codes: ['ERR_CHANNEL_GARBLED'],
      })),
      'unknown flags': fc.integer({ min: 2, max: 0xff }).map((flags) => (stream, extra) => ({
        stream: append(stream, Buffer.concat([header(flags, extra.length, 1), Buffer.from('x')]), extra),
        extraCuts: [],
        codes: ['ERR_CHANNEL_GARBLED'],
      })),
      'fds on a byte where no frame starts': fc
        .tuple(fc.uint8Array({ minLength: 1, maxLength: 20 }), fc.nat())
        .map(([data, pick]) => (stream, extra) => {
          // The fds ride on a byte inside a valid frame: one read holds just that byte.
          const start = stream.bytes.length;
          const next = encode([{ data, fds: [] }], stream);
          const at = start + 1 + (pick % (next.bytes.length - start - 1));
          attach(next, at, extra.length > 0 ? extra : fdsOf(1));
          return { stream: next, extraCuts: [at, at + 1], codes: ['ERR_CHANNEL_GARBLED'] };
        }),
    };

    for (const [name, breakage] of Object.entries(breakages)) {
      it(name, () => {
        fc.assert(
          fc.property(
            fc.array(small, { maxLength: 4 }),
            breakage,
            fc.integer({ min: 0, max: 3 }),
            fc.array(small, { maxLength: 2 }),
            cuts,
            (prefix, broken, extraCount, suffix, at) => {
              const extra = fdsOf(extraCount);
              const sent = realMessages(prefix);
              const made = broken(encode(sent), extra);
              const stream = encode(realMessages(suffix), made.stream);
              const given = [...stream.fdsAt.values()].flat();

              const decoder = new FrameDecoder(LIMITS);
              const outcome = decode(decoder, split(stream, [...at, ...made.extraCuts]));
              assert.ok(outcome.error, 'a broken stream must fail');
              assert.ok(made.codes.includes(outcome.error.code!), `${outcome.error.code}: ${outcome.error.message}`);
              assert.ok(outcome.stayedFailed, 'a failed decoder refuses everything after');
              // The messages before the break arrive intact. More may get through:
              // a frame that lies about its fds takes those of a later frame read
              // with it (no byte says which fds are whose), and the frames in
              // between carry none, so the error comes only at the robbed frame.
              // Their bytes are still the stream's, in order.
              assert.deepEqual(
                outcome.messages.slice(0, sent.length).map((m) => [...m.data]),
                sent.slice(0, outcome.messages.length).map((m) => [...m.data]),
              );
              assert.ok(outcome.messages.length <= sent.length + 1 + suffix.length, 'nothing past the stream is delivered');

              // Every fd handed over is out exactly once: in a message or held.
              const out = [...outcome.messages.flatMap((m) => m.fds), ...decoder.heldFds()];
              assert.deepEqual([...out].sort((x, y) => x - y), [...given].sort((x, y) => x - y));
              closeQuietly(out);
              decoder.clear();
              // Checked fd by fd, not by a count of /proc/self/fd: other tests' sockets
              // may still be closing in the background while this runs.
              const stillOpen = given.filter((fd) => isOpen(fd) && fs.readlinkSync(`/proc/self/fd/${fd}`) === '/dev/null');
              assert.deepEqual(stillOpen, [], 'every fd given to the decoder is closed');
            },
          ),
          { numRuns: 60 },
        );
      });
    }
  });
});

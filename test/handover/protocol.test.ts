// Property tests of the upgrade messages (fast-check): whatever a peer sends,
// decode() either returns a well-formed message of a type that side may send
// with exactly the fds it needs, or throws ERR_UPGRADE_GARBLED; never another
// error, never a message with missing fields.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { FdlabError } from 'fdlab';
import { BATCH_FDS, decode, encode, MAX_CONNECTION_BYTES, MAX_UPGRADE_MESSAGE, sessionBytes, type ConnectionEntry, type FromNew, type FromOld } from 'fdlab/wire';

const count = fc.nat({ max: 1_000_000 });
const text = fc.string({ maxLength: 64 });
const entry: fc.Arbitrary<ConnectionEntry> = fc.record({
  session: fc.jsonValue(),
  unread: fc.nat({ max: 64 }),
  unsent: fc.nat({ max: 64 }),
  peerEnded: fc.boolean(),
  writeEnd: fc.constantFrom('open' as const, 'ending' as const, 'ended' as const),
});

const fromNew: fc.Arbitrary<FromNew> = fc.oneof(
  fc.record({ type: fc.constant('hello' as const), pid: count, version: text, token: text }),
  fc.record({ type: fc.constant('ack' as const), pid: count, connections: count }),
  fc.record({ type: fc.constant('alive' as const), closed: fc.array(count, { maxLength: 20 }) }),
  fc.record({
    type: fc.constant('alive' as const),
    closed: fc.array(count, { maxLength: 20 }),
    states: fc.array(fc.record({ index: count, session: fc.jsonValue(), unread: fc.nat({ max: 64 }), consumed: count, written: count }), { maxLength: 8 }),
  }),
  fc.record({ type: fc.constant('alone' as const), reason: text }),
  fc.record({ type: fc.constant('ready' as const), copies: count }),
  fc.constant({ type: 'serving' as const }),
  fc.record({ type: fc.constant('refuse' as const), reason: text }),
);

const fromOld: fc.Arbitrary<FromOld> = fc.oneof(
  fc.record({ type: fc.constant('listener' as const), remainingMs: count, connections: count }),
  fc.record({ type: fc.constant('copies' as const), batch: count, copies: fc.array(count, { minLength: 1, maxLength: 8 }) }),
  fc.record({
    type: fc.constant('switch' as const),
    entries: fc.array(fc.record({ copy: count, session: fc.jsonValue(), unread: fc.nat({ max: 64 }) }), { maxLength: 8 }),
    dropped: fc.array(count, { maxLength: 8 }),
    detached: count,
  }),
  fc.record({ type: fc.constant('copies-end' as const), copies: count }),
  fc.record({ type: fc.constant('connections' as const), batch: count, entries: fc.array(entry, { minLength: 1, maxLength: 8 }) }),
  fc.record({ type: fc.constant('done' as const), connections: count, batches: count }),
  fc.record({ type: fc.constant('done' as const), connections: count, batches: count, standbyMs: fc.nat({ max: 86_400_000 }) }),
  fc.constant({ type: 'commit' as const }),
  fc.record({ type: fc.constant('abort' as const), reason: text }),
  fc.constant({ type: 'release' as const }),
  fc.record({ type: fc.constant('refuse' as const), reason: text }),
);

function fdsFor(message: FromOld | FromNew): number {
  if (message.type === 'listener') return 1;
  if (message.type === 'copies') return message.copies.length;
  return message.type === 'connections' ? message.entries.length : 0;
}

function bytesFor(message: FromOld | FromNew): Buffer {
  if (message.type === 'switch') return Buffer.alloc(message.entries.reduce((sum, e) => sum + e.unread, 0), 7);
  if (message.type === 'alive') return Buffer.alloc((message.states ?? []).reduce((sum, e) => sum + e.unread, 0), 7);
  if (message.type !== 'connections') return Buffer.alloc(0);
  return Buffer.alloc(message.entries.reduce((sum, e) => sum + e.unread + e.unsent, 0), 7);
}

/** Either a message, or a garbled error: any other outcome fails the property. */
function decodesOrGarbled(data: Buffer, fds: number, from: 'old' | 'new'): void {
  try {
    const { message } = decode(data, fds, from);
    assert.equal(typeof message.type, 'string');
  } catch (error) {
    assert.ok(error instanceof FdlabError, `not an FdlabError: ${error}`);
    assert.equal(error.code, 'ERR_UPGRADE_GARBLED');
  }
}

describe('upgrade messages (property tests)', () => {
  it('every message either side may send survives encode and decode, bytes included', () => {
    fc.assert(fc.property(fromOld, (message) => {
      const bytes = bytesFor(message);
      const decoded = decode(encode(message, bytes), fdsFor(message), 'old');
      assert.deepEqual(decoded.message, JSON.parse(JSON.stringify(message)));
      assert.deepEqual(decoded.bytes, bytes);
    }), { numRuns: 300 });
    fc.assert(fc.property(fromNew, (message) => {
      const bytes = bytesFor(message);
      const decoded = decode(encode(message, bytes), 0, 'new');
      assert.deepEqual(decoded.message, JSON.parse(JSON.stringify(message)));
      assert.deepEqual(decoded.bytes, bytes);
    }), { numRuns: 300 });
  });

  it('refuses a message from the wrong side, with the wrong number of fds, or with bytes it did not declare', () => {
    fc.assert(fc.property(fromOld, fc.nat({ max: BATCH_FDS + 2 }), fc.nat({ max: 3 }), (message, fds, extra) => {
      const bytes = bytesFor(message);
      const expectedFds = fdsFor(message);
      if (message.type !== 'refuse') assert.throws(() => decode(encode(message, bytes), expectedFds, 'new'), { code: 'ERR_UPGRADE_GARBLED' });
      if (fds !== expectedFds) assert.throws(() => decode(encode(message, bytes), fds, 'old'), { code: 'ERR_UPGRADE_GARBLED', message: /came with \d+ fds, expected \d+/ });
      if (extra > 0) assert.throws(() => decode(encode(message, Buffer.concat([bytes, Buffer.alloc(extra)])), expectedFds, 'old'), { code: 'ERR_UPGRADE_GARBLED' });
    }), { numRuns: 300 });
  });

  it('turns arbitrary bytes, and JSON that is almost right, into ERR_UPGRADE_GARBLED and nothing else', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat({ max: 4 }), fc.boolean(), (raw, fds, old) => {
      decodesOrGarbled(Buffer.from(raw), fds, old ? 'old' : 'new');
    }), { numRuns: 500 });
    // A header length that lies, in both directions.
    fc.assert(fc.property(fromNew, fc.integer({ min: -20, max: 20 }), (message, skew) => {
      const data = encode(message);
      data.writeUInt32BE(Math.max(0, data.readUInt32BE(0) + skew), 0);
      decodesOrGarbled(data, 0, 'new');
    }), { numRuns: 300 });
    // The right type with fields of any kind: a message with a field missing or mistyped must not pass.
    const anyType = fc.constantFrom('hello', 'ack', 'alive', 'serving', 'listener', 'copies', 'copies-end', 'switch', 'ready', 'connections', 'done', 'commit', 'abort', 'release', 'refuse', 'alone', '__proto__', 'constructor');
    fc.assert(fc.property(anyType, fc.dictionary(fc.constantFrom('pid', 'version', 'token', 'connections', 'closed', 'remainingMs', 'batch', 'entries', 'batches', 'reason', 'copies', 'dropped', 'detached'), fc.jsonValue()), fc.nat({ max: 3 }), (type, fields, fds) => {
      for (const from of ['old', 'new'] as const) {
        try {
          const { message } = decode(encode({ ...fields, type } as unknown as FromNew), fds, from);
          // Accepted: then it must be exactly well-formed (re-encoding it decodes the same).
          assert.deepEqual(decode(encode(message as FromNew), fds, from).message, message);
        } catch (error) {
          assert.ok(error instanceof FdlabError && error.code === 'ERR_UPGRADE_GARBLED', String(error));
        }
      }
    }), { numRuns: 500 });
  });

  it('sessionBytes: never less than the JSON a session becomes while that fits a connection, never more once it cannot', () => {
    const exact = (v: unknown) => Buffer.byteLength(JSON.stringify(v));
    // Small sessions: an upper bound (control characters, lone surrogates and astral ones included).
    const text = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: fc.constantFrom('\u0001', '\ud800', 'é', '"', '\\') }));
    const json = fc.letrec((tie) => ({
      value: fc.oneof({ depthSize: 'small' }, text, fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null), fc.array(tie('value')), fc.dictionary(text, tie('value'))),
    })).value;
    fc.assert(fc.property(json, (session) => assert.ok(sessionBytes(session) >= exact(session))), { numRuns: 500 });
    // Between the bounds: the exact size (11 MiB of 'é': at least 11, at most 66, exactly 22).
    const accents = { text: 'é'.repeat(11 * 1024 * 1024) };
    assert.equal(sessionBytes(accents), exact(accents));
    // Past the limit by its length alone: at least that, without building the JSON.
    const huge = { ballast: 'x'.repeat(61 * 1024 * 1024) };
    assert.ok(sessionBytes(huge) > MAX_CONNECTION_BYTES && sessionBytes(huge) <= exact(huge));
  });

  it('encode refuses a message the other side would not accept, with a code, instead of sending it', () => {
    const bytes = Buffer.alloc(MAX_UPGRADE_MESSAGE);
    assert.throws(() => encode({ type: 'switch', entries: [{ copy: 0, session: null, unread: bytes.length }], dropped: [], detached: 0 }, bytes), {
      code: 'ERR_UPGRADE_MESSAGE_TOO_LARGE',
      message: /an upgrade message 'switch' of \d+ bytes, more than the 67108864 the other version accepts/,
    });
  });
});

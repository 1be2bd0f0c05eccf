// A connection whose state is larger than one upgrade message carries
// (protocol.ts, MAX_CONNECTION_BYTES): its session as JSON plus the bytes
// that travel with it. Measured here, said here; hand-off.ts decides what
// happens to it (held back, closed at the deadline), reports.ts leaves it out.
import { MAX_CONNECTION_BYTES } from './protocol';

export const TOO_LARGE = 'ERR_CONNECTION_TOO_LARGE';

/**
 * What a session takes in a message header (JSON, UTF-8), as far as a budget
 * needs it: an upper bound if that fits in MAX_CONNECTION_BYTES, a lower bound
 * if that does not, and only in between the exact size. JSON.stringify of a
 * 70 MiB session took 150-270 ms, all of it in the group's hold; the bounds
 * walk it without building anything. The session was checked (checkSession):
 * plain data, no cycle.
 */
export function sessionBytes(session: unknown): number {
  const bounds: [number, number] = [0, 0];
  jsonBounds(session, bounds);
  if (bounds[1] <= MAX_CONNECTION_BYTES) return bounds[1];
  if (bounds[0] > MAX_CONNECTION_BYTES) return bounds[0];
  const json = JSON.stringify(session);
  return json === undefined ? 0 : Buffer.byteLength(json);
}

/** Adds what `value` takes as JSON to [at least, at most]: a UTF-16 unit is 1 to 6 bytes (a control character is \u0000). */
function jsonBounds(value: unknown, into: [number, number]): void {
  switch (typeof value) {
    case 'string':
      into[0] += value.length + 2;
      into[1] += value.length * 6 + 2;
      return;
    case 'number':
      into[0] += 1;
      into[1] += 24; // -1.7976931348623157e+308
      return;
    case 'boolean':
      into[0] += 4;
      into[1] += 5;
      return;
    case 'object':
      break;
    default:
      return; // undefined: an object drops it (checkSession refuses it anywhere else)
  }
  if (value === null) {
    into[0] += 4;
    into[1] += 4;
    return;
  }
  into[0] += 2;
  into[1] += 2;
  if (Array.isArray(value)) {
    into[0] += value.length; // the commas, at most
    into[1] += value.length;
    for (const item of value) jsonBounds(item, into);
    return;
  }
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    const field = (value as Record<string, unknown>)[key];
    if (field === undefined) continue;
    into[0] += key.length + 3; // quotes and colon
    into[1] += key.length * 6 + 4; // and a comma
    jsonBounds(field, into);
  }
}

export function tooLarge(bytes: number): boolean {
  return bytes > MAX_CONNECTION_BYTES;
}

/** "79.9 MiB" */
export function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/** What a log line says of such a connection's size: `queued` is what Node holds of the app's writes. */
export function sizeOf(bytes: number, queued: number): string {
  const what = queued > 0 ? `${mib(queued)} the app wrote and the kernel has not taken: its client is not reading` : 'its session as JSON and the bytes it read and has not consumed';
  return `${mib(bytes)} to carry (${what}), more than one upgrade message holds (${mib(MAX_CONNECTION_BYTES)})`;
}

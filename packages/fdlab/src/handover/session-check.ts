// A session travels to the next version as JSON (protocol.ts). JSON.stringify
// is silent about what it cannot carry: a Map or a Set arrives as {}, a
// function or undefined in an array as null, a Date as a string, a class
// instance without its prototype; a BigInt or a cycle throws from deep inside
// the send. Measured (issue 19): a chat's Map of rooms arrived as {}. So each
// session is checked when it is snapshotted, and the first value JSON cannot
// carry exactly is an error naming the connection and the field's path.
import { FdlabError } from '../errors';

/** Why `value` would not survive JSON unchanged, with the path of the first such field, or null. */
export function notJson(value: unknown, path = 'session', seen = new Set<object>()): string | null {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return null;
    case 'number':
      return Number.isFinite(value) ? null : `${path} is ${value} (JSON has no such number: it arrives as null)`;
    case 'undefined':
      return `${path} is undefined (JSON has no undefined: it arrives as null or not at all)`;
    case 'bigint':
      return `${path} is a BigInt (JSON cannot carry it: store it as a string)`;
    case 'function':
      return `${path} is a function (JSON cannot carry code)`;
    case 'symbol':
      return `${path} is a symbol (JSON cannot carry it)`;
  }
  if (value === null) return null;
  const object = value as object;
  if (seen.has(object)) return `${path} is a cycle (it contains itself)`;
  if (Array.isArray(object)) {
    seen.add(object);
    for (let i = 0; i < object.length; i++) {
      if (!(i in object)) return `${path}[${i}] is a hole in the array (it arrives as null)`;
      const why = notJson(object[i], `${path}[${i}]`, seen);
      if (why) return why;
    }
    seen.delete(object);
    return null;
  }
  const proto = Object.getPrototypeOf(object);
  if (proto !== Object.prototype && proto !== null) {
    const kind = object.constructor?.name ?? 'an object with a prototype';
    return `${path} is a ${kind} (JSON carries plain objects and arrays only: a Map or Set arrives as {}, a Date as a string, a class instance without its methods)`;
  }
  if (Object.getOwnPropertySymbols(object).length > 0) return `${path} has symbol keys (JSON drops them)`;
  seen.add(object);
  for (const [key, field] of Object.entries(object)) {
    // An undefined property is dropped and reads back as undefined: carried as it is.
    if (field === undefined) continue;
    const why = notJson(field, `${path}${/^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`}`, seen);
    if (why) return why;
  }
  seen.delete(object);
  return null;
}

/**
 * notJson without the paths: whether `value` survives JSON unchanged. The
 * check runs for every connection handed over, and building each field's path
 * (a string and a regex test a field) was most of it; the path is built only
 * for a session that fails.
 */
function exactJson(value: unknown, seen: Set<object>): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object':
      break;
    default:
      return false;
  }
  if (value === null) return true;
  const object = value as object;
  if (seen.has(object)) return false;
  seen.add(object);
  if (Array.isArray(object)) {
    for (let i = 0; i < object.length; i++) if (!(i in object) || !exactJson(object[i], seen)) return false;
  } else {
    const proto = Object.getPrototypeOf(object);
    if ((proto !== Object.prototype && proto !== null) || Object.getOwnPropertySymbols(object).length > 0) return false;
    for (const key in object) {
      if (!Object.hasOwn(object, key)) continue;
      const field = (object as Record<string, unknown>)[key];
      if (field !== undefined && !exactJson(field, seen)) return false;
    }
  }
  seen.delete(object);
  return true;
}

/** Throws ERR_SESSION_NOT_JSON if the session of connection `who` would not arrive as it is. */
export function checkSession(session: unknown, who: string | (() => string)): void {
  if (session === undefined) return; // no session at all: the next version is told none
  if (exactJson(session, new Set())) return;
  const why = notJson(session);
  if (why) throw new FdlabError('ERR_SESSION_NOT_JSON', `the session of connection ${typeof who === 'function' ? who() : who} cannot travel to the next version: ${why}`);
}

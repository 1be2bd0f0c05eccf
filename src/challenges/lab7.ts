// Lab 7's challenge: the learner's old server moves a connection to a shipped
// new version with TCP_REPAIR while the client's pings wait unread in it. The
// roles run in a network namespace of the check's own (the hold is an nftables
// rule; in a namespace it touches nothing else, and it goes with the namespace
// on every path out: a failed check, Ctrl-C, kill -9).
import * as path from 'node:path';
import { roleScripts } from '../project';
import type { Role } from '../runtime/types';
import { firstOf } from './run';
import type { Challenge, ChallengeContext, CheckOutcome } from './types';

const roleScript = roleScripts(path.join(__dirname, 'roles'), ['lab7-new-server', 'lab7-client']);
const ANSWER = 10; // the old server answers this many pings, then is busy
const WAITING = 5; // pings left unanswered before SIGUSR2

interface ClientResult {
  pings: number;
  pongs: number;
  answeredBy: Record<string, number>;
  answered: number[];
  error: string | null;
  ended: boolean;
}

/** Runs `command` in the namespace (through a role that is alive in it); its output, or null when it failed. */
async function inNamespace(role: Role, command: string[]): Promise<string | null> {
  const result = await role.exec(command);
  return result.exitCode === 0 ? result.output : null;
}

/** "10-16, 18": the numbers in `all` missing from `got`, as ranges. */
function missing(count: number, got: number[]): string {
  const seen = new Set(got);
  const ranges: string[] = [];
  for (let n = 0; n < count; n++) {
    if (seen.has(n)) continue;
    let end = n;
    while (end + 1 < count && !seen.has(end + 1)) end++;
    ranges.push(end === n ? `${n}` : `${n}-${end}`);
    n = end;
  }
  return ranges.join(', ');
}

/**
 * After the old server closed: waits until the client's pings are held (two of them, 16 bytes or
 * more, unacknowledged in its socket's send queue: the first went out 20 ms before the second and
 * met no RST) or its connection broke (a RST answers a ping on loopback at once).
 */
async function heldOrBroken(client: Role, clientPort: number): Promise<'held' | 'broken' | 'neither'> {
  const broke = /connection error|ended the connection/;
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline) {
    if (client.lines.some((l) => broke.test(l))) return 'broken';
    const ss = await inNamespace(client, ['ss', '-tnH', 'state', 'established', `( sport = :${clientPort} )`]);
    const sendQ = Number(ss?.trim().split(/\s+/)[1] ?? 0);
    if (sendQ >= 16 && !client.lines.some((l) => broke.test(l))) return 'held';
    await firstOf([client.waitForLine(broke)], 20); // a deadline: the next ping is due in 20 ms
  }
  return 'neither';
}

const unreadBytes: Challenge = {
  lab: 7,
  id: 'unread-bytes',
  title: 'rebuild a connection whose pings wait unread, and deliver them',
  goal:
    `Your old server answers the first ${ANSWER} pings of its one connection, then is busy and reads no more, while the\n` +
    'client pings on. On SIGUSR2 it holds the client\'s packets, dumps the connection with dumpTcp into\n' +
    '$FDLAB_SHARED/connection.json, closes its socket in repair mode and exits; a new version rebuilds the connection\n' +
    'with restoreTcp and answers every ping it reads. Run the check and see which pings never get a pong; then make\n' +
    'the new version answer them all, in order. The new version (src/challenges/roles/lab7-new-server.ts) stays as it is:\n' +
    'it only reads connection.json. The check runs everything in a network namespace of its own (needs root or unshare -Urn).',
  file: 'old-server.ts',
  start: 'challenges/lab7/unread-bytes/old-server.ts',
  solution: 'challenges/lab7/unread-bytes/solution.ts',
  network: 'private',
  hints: [
    'The pings that never got a pong had reached your old server. Where were they when dumpTcp ran: in the kernel\'s receive queue, or somewhere else?',
    'Node reads the kernel\'s buffer as fast as bytes come, pause() or not (pause() only stops the \'data\' events): those pings were in your process, and some in `pending`. dumpTcp sees only the kernel\'s queue.',
    'detachSocket(socket) stops the reads at the handle and returns { fd, unread }. The rebuilt socket can hold more than the kernel had: the bytes before recvEnd, in stream order.',
    'Dump the detached fd, then set state.recvQueue to base64 of pending + unread + the kernel\'s bytes; close both fds.',
  ],
  async check(ctx: ChallengeContext): Promise<CheckOutcome> {
    // Both start at once (each takes 0.3 s): the new version is needed only after the dump.
    const [fresh, old] = await Promise.all([ctx.startRole('new', roleScript('lab7-new-server')), ctx.startRole('old', ctx.script, { args: [String(ANSWER)] })]);
    const serving = await firstOf([old.waitForLine(/serving on 127\.0\.0\.1:\d+/), old.wait().then(() => undefined)], 15_000);
    if (!serving) return { passed: false, measured: [], problem: 'your old server did not print "old: serving on 127.0.0.1:<port> ..." (its log is below)' };
    const port = Number(/:(\d+)/.exec(serving)![1]);
    const client = await ctx.startRole('client', roleScript('lab7-client'), { args: [String(port), String(WAITING)] });
    const clientPort = Number(/from port (\d+)/.exec(await client.waitForLine(/connected from port/, 10_000))![1]);
    const busy = await firstOf([client.waitForLine(/pings unanswered/)], 10_000);
    if (!busy) return { passed: false, measured: [], problem: `the client never had ${WAITING} pings unanswered after its first pong: the old server must answer the first ${ANSWER} pings, then be busy` };

    await old.signal('SIGUSR2');
    const exited = await firstOf([old.wait()], 10_000);
    const measured = [`client: ${busy.replace(/^client: /, '')} when SIGUSR2 came`];
    if (!exited || exited.exitCode !== 0) {
      return { passed: false, measured, problem: `your old server must exit (code 0) once it has dumped the connection: it ${exited ? `exited with code ${exited.exitCode}` : 'was still running 10 s after SIGUSR2'}` };
    }
    const rules = (await inNamespace(client, ['nft', 'list', 'ruleset'])) ?? '';
    const drops = (rules.match(/\bdrop\b/g) ?? []).length;
    measured.push(`hold: ${drops} drop rule(s) in the namespace when your old server exited`);
    const gap = await heldOrBroken(client, clientPort);
    if (gap === 'broken') {
      return {
        passed: false,
        measured: [...measured, client.lines.filter((l) => /connection error|ended/.test(l)).join('; ')],
        problem:
          'the client\'s connection broke before the new version rebuilt it: its next ping reached this network while no socket held ' +
          'the connection, and the kernel answered with a RST (or your old server sent a FIN when it closed)',
      };
    }

    if (!(await firstOf([fresh.waitForLine('new: waiting for SIGUSR2')], 15_000))) return { passed: false, measured, problem: 'the new version did not start (its log is below)' };
    await fresh.signal('SIGUSR2');
    const restored = await firstOf([fresh.waitForLine(/^new: restored /), fresh.wait().then(() => undefined)], 10_000);
    if (!restored) return { passed: false, measured, problem: `the new version could not rebuild the connection from connection.json: ${fresh.lines.at(-1) ?? 'no word from it'}` };
    measured.push(restored);
    await inNamespace(client, ['nft', 'flush', 'ruleset']); // the hold ends: the client's held pings go out again
    await firstOf([client.waitForLine('first pong from new')], 5000);
    await client.signal('SIGUSR1');
    const line = await firstOf([client.waitForLine(/^RESULT /)], 10_000);
    if (!line) return { passed: false, measured, problem: 'the client gave no result within 10 s (its log is below)' };
    const result = JSON.parse(line.slice(7)) as ClientResult;
    const lost = missing(result.pings, result.answered);
    const outOfOrder = result.answered.findIndex((n, i) => n !== i);
    measured.push(`client: ${result.pings} pings, ${result.pongs} pongs (old ${result.answeredBy.old ?? 0}, new ${result.answeredBy.new ?? 0})` +
      `${lost ? `; no pong for pings ${lost}` : ''}; ${result.error ?? 'no error'}, ${result.ended ? 'FIN seen' : 'no FIN'}`);
    if (result.error || result.ended) {
      return { passed: false, measured, problem: `the client's connection ${result.error ? `broke (${result.error})` : 'was ended (FIN)'} after the move: the rebuilt connection must go on as if nothing happened` };
    }
    if ((result.answeredBy.old ?? 0) !== ANSWER) {
      return { passed: false, measured, problem: `the old server answered ${result.answeredBy.old ?? 0} pings; it must answer the first ${ANSWER} (its argument), then be busy` };
    }
    if (lost) {
      const first = Number(lost.split(/[-,]/)[0]);
      return {
        passed: false,
        measured,
        problem:
          `pings ${lost} never got a pong: they had reached your old server before the dump (ping ${first} came right after the ${ANSWER} it answered), ` +
          'and the rebuilt connection did not have them: they died with the old process',
      };
    }
    if (outOfOrder >= 0) return { passed: false, measured, problem: `pong ${result.answered[outOfOrder]} came where pong ${outOfOrder} was due: the pings must be answered in the order they were sent` };
    return { passed: true, measured };
  },
};

export const lab7Challenges: Challenge[] = [unreadBytes];

// Lab 7: a new body (seed 000's second way). One long-lived ping/pong connection
// moves four times: v1 -> v2 by fd passing (a new coat: the same socket),
// v2 -> v3 by TCP_REPAIR (a new body: dumped, closed silently, rebuilt in a fresh
// socket), v3 -> v4 by TCP_REPAIR into another network namespace, after the
// service address moves there over a veth the lab makes. Then the cost of
// both ways for 1 and 1,000 connections, measured side by side.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LabContext, LabDefinition } from '../../src/labs/types';
import type { Role } from '../../src/runtime/types';
import { roleScripts } from '../../src/project';

const roleScript = roleScripts(__dirname, ['server', 'pinger', 'measure']);
const SERVICE = '10.7.0.1'; // the service address: on the lab namespace's lo, later on v4's veth end
const CLIENT = '10.7.0.2'; // the client's, on the lab namespace's veth end
const PORT = 7000;
const VETH = ['fdlab7a', 'fdlab7b'] as const;

interface PingResult {
  pings: number;
  pongs: number;
  lost: number;
  outOfOrder: number;
  maxDelayMs: number;
  answeredBy: Record<string, number>;
  error: string | null;
  ended: boolean;
  inodeAtStart: number;
  inodeNow: number | null;
}

interface Measure {
  way: 'coat' | 'body';
  count: number;
  totalMs: number;
  moved: number;
  dumpMs?: number;
  restoreMs?: number;
  heldMs?: number;
  working?: number;
}

/** "fd 23, socket inode 5123, 10.7.0.1:7000 <-> 10.7.0.2:40112" from a role's line. */
function socketOf(line: string): { fd: number; inode: number; tuple: string } {
  const m = line.match(/fd (\d+), socket inode (\d+), (\S+ <-> \S+)/);
  if (!m) throw new Error(`no socket in: ${line}`);
  return { fd: Number(m[1]), inode: Number(m[2]), tuple: m[3].replace(/[,:]$/, '') };
}

const seqsOf = (line: string) => {
  const m = line.match(/recvEnd (\d+), sendEnd (\d+)/)!;
  return { recvEnd: Number(m[1]), sendEnd: Number(m[2]) };
};

/** Runs a command in a role's network namespace; throws with its output if it fails. */
async function run(role: Role, command: string[]): Promise<string> {
  const result = await role.exec(command);
  if (result.exitCode !== 0) throw new Error(`${command.join(' ')} in ${role.name}'s namespace: exit ${result.exitCode}: ${result.output.trim()}`);
  return result.output;
}

/** TCP RSTs sent from the lab's namespace so far (/proc/net/snmp is per network namespace). */
async function outRsts(role: Role): Promise<number> {
  const lines = (await run(role, ['cat', '/proc/net/snmp'])).split('\n').filter((l) => l.startsWith('Tcp:'));
  const [names, values] = lines.map((l) => l.split(/\s+/));
  return Number(values[names.indexOf('OutRsts')]);
}

/** The hold: the client's segments to the service are dropped as they leave (CRIU drops them with a rule too). */
async function hold(lab: LabContext, role: Role, on: boolean): Promise<void> {
  const file = path.join(lab.runtime.sharedDir, on ? 'hold.nft' : 'release.nft');
  fs.writeFileSync(file, on
    ? `table inet fdlab_lab7 {\n chain output {\n  type filter hook output priority 0;\n  ip daddr ${SERVICE} tcp dport ${PORT} drop\n }\n}\n`
    : 'delete table inet fdlab_lab7\n');
  await run(role, ['nft', '-f', file]);
}

const ms = (n: number) => (n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0));

export const lab7: LabDefinition = {
  number: 7,
  title: 'a new body: move a live connection with TCP_REPAIR',
  source: 'seed 000 (换个马甲 "a new coat": fd passing; 借尸还魂 "a new body": TCP_REPAIR, as CRIU does)',
  traceSyscalls: ['sendmsg', 'recvmsg', 'setsockopt', 'bind', 'connect', 'close', 'shutdown'],
  scmRightsRoles: ['server-v1', 'server-v2'],
  processOnly:
    'it adds firewall rules, addresses and a veth, which need a network namespace of its own and CAP_NET_ADMIN; ' +
    "the Docker engine here grants --cap-add NET_ADMIN (TCP_REPAIR passes in a container), but the lab image has no nft for the hold, " +
    "and part C's veth into a second container's namespace can only be made from the host",
  settings: {
    measure: { description: 'connections in the largest batch of the cost table (each way; also 1)', default: 1000, min: 1, max: 5000 },
  },
  faults: {
    'no-hold': "v2 dumps and closes without holding the client's packets: the next ping meets no socket and the kernel answers RST",
  },

  async run(lab) {
    const noHold = lab.fault === 'no-hold';
    const serverArgs = (name: string, ...rest: string[]) => ({ name: `server-${name}`, script: roleScript('server'), args: [name, ...rest] });

    await lab.step(
      `Make the network: ${SERVICE} on this namespace's lo, a veth to a second namespace (v4's), ${CLIENT} on this side`,
      'Everything runs in network namespaces of the lab\'s own: no rule or address touches this machine.',
      [`ip link add ${VETH[0]} type veth peer name ${VETH[1]} netns <v4 pid>`, `ip addr add ${SERVICE}/32 dev lo`],
    );
    // v2 takes the coat (it only waits on coat.sock) and is the first role in the lab's namespace: run commands there.
    const v2 = await lab.startRole({ ...serverArgs('v2', '--take', 'coat', '--give', 'body'), traced: true });
    await v2.waitForLine(/waiting for connections/);
    const v4 = await lab.startRole({ ...serverArgs('v4', '--take', 'body'), network: 'none' });
    await v4.waitForLine(/waiting for SIGUSR2/);
    const v4Pid = await v4.hostPid();
    await run(v2, ['ip', 'link', 'add', VETH[0], 'type', 'veth', 'peer', 'name', VETH[1], 'netns', `/proc/${v4Pid}/ns/net`]);
    await run(v2, ['ip', 'addr', 'add', `${CLIENT}/24`, 'dev', VETH[0]]);
    await run(v2, ['ip', 'link', 'set', VETH[0], 'up']);
    await run(v2, ['ip', 'addr', 'add', `${SERVICE}/32`, 'dev', 'lo']);
    await run(v4, ['ip', 'link', 'set', VETH[1], 'up']);

    await lab.step(`Start v1 on ${SERVICE}:${PORT} and the client (a ping every 20 ms, one connection from ${CLIENT})`, 'The connection lives through four servers; the client never reconnects.');
    const v1 = await lab.startRole({ ...serverArgs('v1', '--listen', `${SERVICE}:${PORT}`, '--give', 'coat'), traced: true });
    await v1.waitForLine(/serving on/);
    const client = await lab.startRole({ name: 'client', script: roleScript('pinger'), args: [SERVICE, String(PORT), CLIENT] });
    const clientPort = (await client.waitForLine(/^connected:/)).match(/^connected: \S+:(\d+) ->/)![1];
    const accepted = socketOf(await v1.waitForLine(/^accepted /));
    await client.waitForLine('first pong from v1');
    const rstsAtStart = await outRsts(client);

    // ---- A: a new coat
    await lab.step(
      'A. A new coat (换个马甲): v1 sends the connection\'s fd to v2 over a Unix socket (SCM_RIGHTS)',
      'The kernel socket does not change: v2 gets another fd number for the same socket (the same inode).',
      [v1.manualSignalCommand('SIGUSR2')],
    );
    await v1.signal('SIGUSR2');
    const gave = socketOf(await v1.waitForLine(/^gave by fd passing/));
    const took = socketOf(await v2.waitForLine(/^took by fd passing/));
    await v1.wait(10_000);
    lab.check('A: the same socket in another process (a new coat)', took.inode === accepted.inode && took.tuple === accepted.tuple,
      `v1 fd ${accepted.fd} -> v2 fd ${took.fd}${took.fd === accepted.fd ? ' (equal numbers here by chance: each process numbers its own)' : ''}; inode ${accepted.inode} -> ${took.inode}; ${took.tuple}; sent as v1's dup fd ${gave.fd}`);
    await client.waitForLine('first pong from v2');

    // ---- B: a new body
    const v3 = await lab.startRole({ ...serverArgs('v3', '--take', 'body', '--give', 'body'), traced: true });
    await v3.waitForLine(/waiting for SIGUSR2/);
    await lab.step(
      noHold ? 'B. A new body, without the hold (--fault no-hold)' : 'B. A new body (借尸还魂): hold the client\'s packets, v2 dumps the connection and closes its socket in repair mode',
      'TCP_REPAIR: v2 reads the sequence numbers, windows, options and both queues\' bytes, and closes the socket\n' +
        'while it is in repair mode, so nothing goes out: no FIN, no RST. Meanwhile the client\'s segments must not\n' +
        'arrive (a socket-less 4-tuple answers RST): an nftables rule drops them until v3 has rebuilt the connection.',
      ['nft add table inet fdlab_lab7; ...; tcp dport 7000 drop', v2.manualSignalCommand('SIGUSR2')],
    );
    const heldAt = Date.now();
    if (!noHold) await hold(lab, client, true);
    await v2.signal('SIGUSR2');
    const dumpLine = await v2.waitForLine(/^dumped /);
    const dumped = socketOf(dumpLine);
    await v2.wait(10_000);
    const ss = await run(client, ['ss', '-tanH', 'sport', '=', `:${clientPort}`]);
    if (noHold) {
      const reset = await client.waitForLine(/^connection error: /, 5_000).catch(() => 'no error within 5 s');
      lab.check("what breaks: without the hold the client's next ping gets a RST", reset.includes('ECONNRESET') && (await outRsts(client)) > rstsAtStart,
        `client: ${reset}; RSTs sent in the lab's namespace: ${(await outRsts(client)) - rstsAtStart}`);
      await client.signal('SIGTERM');
      await v3.signal('SIGTERM');
      await v4.signal('SIGTERM');
      return;
    }
    lab.check('B: v2 closed its socket with no FIN and no RST', /^ESTAB/.test(ss.trim()) && (await outRsts(client)) === rstsAtStart,
      `the client's socket after v2 exited: ${ss.trim().split(/\s+/).slice(0, 1).join('')}; RSTs sent: ${(await outRsts(client)) - rstsAtStart}`);
    await v3.signal('SIGUSR2');
    const restored = socketOf(await v3.waitForLine(/^restored /));
    await hold(lab, client, false);
    const heldB = Date.now() - heldAt;
    lab.check('B: a fresh socket (another inode), the same 4-tuple', restored.inode !== dumped.inode && restored.tuple === dumped.tuple,
      `inode ${dumped.inode} (v2) -> ${restored.inode} (v3); ${restored.tuple}; the client's packets held ${heldB} ms`);
    lab.say(`v2: ${dumpLine}`);
    await client.waitForLine('first pong from v3');

    // ---- C: another house
    await lab.step(
      `C. Another house: v3 dumps, ${SERVICE} moves to v4's namespace (over the veth), v4 rebuilds the connection there`,
      'What CRIU\'s and live VM migration\'s cross-host moves rest on: the state travels as data, the address moves with it.',
      [`ip addr del ${SERVICE}/32 dev lo; nsenter --net=/proc/<v4>/ns/net ip addr add ${SERVICE}/24 dev ${VETH[1]}`],
    );
    const heldCAt = Date.now();
    await hold(lab, client, true);
    await v3.signal('SIGUSR2');
    const dumpC = await v3.waitForLine(/^dumped /);
    await v3.wait(10_000);
    await run(client, ['ip', 'addr', 'del', `${SERVICE}/32`, 'dev', 'lo']);
    await run(v4, ['ip', 'addr', 'add', `${SERVICE}/24`, 'dev', VETH[1]]);
    await v4.signal('SIGUSR2');
    const rebuilt = socketOf(await v4.waitForLine(/^restored /));
    await hold(lab, client, false);
    const heldC = Date.now() - heldCAt;
    lab.check('C: rebuilt in another network namespace', rebuilt.tuple === socketOf(dumpC).tuple && rebuilt.inode !== socketOf(dumpC).inode,
      `v4 (its own namespace, ${SERVICE} on ${VETH[1]}): inode ${rebuilt.inode}, ${rebuilt.tuple}; held ${heldC} ms`);

    // ---- the end: counts and sequence numbers
    await lab.step('Stop the pings; compare the client\'s counts, and v4\'s sequence numbers with v3\'s dump', 'Every ping answered once, in order, by v1, v2, v3 and v4 in turn.');
    await client.waitForLine('first pong from v4');
    await client.signal('SIGUSR1');
    const result = JSON.parse((await client.waitForLine(/^RESULT /, 10_000)).slice(7)) as PingResult;
    const before = v4.lines.length;
    await v4.signal('SIGUSR1');
    const nowLine = await v4.waitForLine(/^now: /, 5_000, before);
    const [from, to] = [seqsOf(dumpC), seqsOf(nowLine)];
    const [read, wrote] = nowLine.match(/read (-?\d+) bytes, wrote (\d+)/)!.slice(1).map(Number);
    const seqOk = ((to.recvEnd - from.recvEnd) >>> 0) === read && ((to.sendEnd - from.sendEnd) >>> 0) === wrote;
    lab.check('sequence numbers continue', seqOk,
      `client->server: v3 dumped at ${from.recvEnd}, v4 is at ${to.recvEnd} (+${(to.recvEnd - from.recvEnd) >>> 0}), v4 read ${read} bytes since; ` +
        `server->client: ${from.sendEnd} -> ${to.sendEnd} (+${(to.sendEnd - from.sendEnd) >>> 0}), v4 wrote ${wrote}`);
    const servers = ['v1', 'v2', 'v3', 'v4'];
    lab.check('0 lost pongs, in order, answered by v1, v2, v3 and v4', result.lost === 0 && result.outOfOrder === 0 && result.error === null && !result.ended &&
      servers.every((s) => (result.answeredBy[s] ?? 0) > 0),
      `${result.pings} pings, ${result.pongs} pongs (${result.lost} lost, ${result.outOfOrder} out of order); ` +
        `${servers.map((s) => `${s} ${result.answeredBy[s] ?? 0}`).join(', ')}; largest delay ${result.maxDelayMs} ms; ${result.error ?? 'no error'}, ${result.ended ? 'FIN seen' : 'no FIN'}`);
    lab.check("the client's own socket never changed", result.inodeNow === result.inodeAtStart,
      `inode ${result.inodeAtStart} at the start, ${result.inodeNow} now; RSTs sent in the lab's namespace: ${(await outRsts(client)) - rstsAtStart}`);
    lab.record('client', result);
    await client.signal('SIGTERM');
    await v4.signal('SIGTERM');

    // ---- the cost
    const most = lab.setting('measure');
    await lab.step(`Measure: move 1 and ${most.toLocaleString('en-US')} connections each way`, 'In one process pair: fd passing (the same sockets) against dump + close + send the states + restore (fresh sockets).');
    const measure = await lab.startRole({ name: 'measure', script: roleScript('measure'), args: most === 1 ? ['1'] : ['1', String(most)] });
    const exit = await measure.wait(60_000);
    const rows = measure.lines.filter((l) => l.startsWith('MEASURE ')).map((l) => JSON.parse(l.slice(8)) as Measure);
    const table = ['connections | fd passing (a new coat) | dump + restore (a new body) | of which dump / restore | ratio', '---|---|---|---|---'];
    for (const count of [...new Set(rows.map((r) => r.count))]) {
      const coat = rows.find((r) => r.count === count && r.way === 'coat')!;
      const body = rows.find((r) => r.count === count && r.way === 'body')!;
      table.push(`${count.toLocaleString('en-US')} | ${ms(coat.totalMs)} ms | ${ms(body.totalMs)} ms (held ${ms(body.heldMs!)} ms) | ${ms(body.dumpMs!)} / ${ms(body.restoreMs!)} ms | ${(body.totalMs / coat.totalMs).toFixed(0)}x`);
    }
    lab.say(table.join('\n'));
    lab.say('What each can cross: fd passing: another process, another container on the same host (a shared Unix socket), not another host; ' +
      'the socket stays in its network namespace. TCP_REPAIR: another process, container, network namespace or host, as long as the address moves too (part C).');
    lab.record('cost', rows);
    const bodies = rows.filter((r) => r.way === 'body');
    lab.check('cost measured; every rebuilt connection answered', exit.exitCode === 0 && rows.length === (most === 1 ? 2 : 4) && bodies.every((r) => r.working === r.count && r.moved === r.count),
      rows.map((r) => `${r.way} ${r.count}: ${ms(r.totalMs)} ms${r.way === 'body' ? `, ${r.working} of ${r.count} working` : ''}`).join('; '));
  },
};

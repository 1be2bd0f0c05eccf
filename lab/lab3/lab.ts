// Lab 3: hand the connection over after every request (seed 001).
import { withFdSources } from '../../src/strace/fd-sources';
import type { LabContext, LabDefinition } from '../../src/labs/types';
import type { Role } from '../../src/runtime/types';
import { roleScripts } from '../../src/project';
import { PORTS } from './protocol';

/** The role scripts beside this file (compiled: dist/lab/lab3/<name>.js). */
const roleScript = roleScripts(__dirname, ['server', 'stream-client', 'unary-client']);

interface UnaryResult {
  connections: number;
  requests: number;
  violations: number;
  seconds: number;
  handoversPerSecond: number;
  p50ms: number;
  p99ms: number;
}

interface StreamResult {
  sent: number;
  replies: number;
  strictlyAlternating: boolean;
  reason: string;
}

function resultOf<T>(line: string): T {
  return JSON.parse(line.replace(/^RESULT /, '')) as T;
}

/** Starts the two servers; each hands every connection to the other after one request. */
async function startServers(lab: LabContext, suffix: string, traced: boolean): Promise<Role[]> {
  const reads = lab.fault === 'drop-leftover' ? ['greedy', 'drop-leftover'] : [lab.setting<string>('reads')];
  const servers = await Promise.all(
    PORTS.map((port, i) =>
      lab.startRole({
        name: `server-${port}${suffix}`,
        script: roleScript('server'),
        args: [String(port), String(PORTS[1 - i]), ...reads],
        traced,
        echo: false, // one line per request: counted, not scrolled
      }),
    ),
  );
  for (const server of servers) lab.say(`${server.name}: ${await server.waitForLine('listening on')}`);
  return servers;
}

async function stopServers(servers: Role[]): Promise<void> {
  await Promise.all(servers.map((s) => s.signal('SIGTERM')));
  await Promise.all(servers.map((s) => s.wait(10_000)));
}

const requestLines = (server: Role) => server.lines.filter((line) => line.startsWith('#')).length;

export const lab3: LabDefinition = {
  number: 3,
  title: 'hand the connection over after every request',
  source: 'seed 001 (C++/libevent: two servers, "rsp from port: <port>", unary and stream clients)',
  traceSyscalls: withFdSources(['sendmsg', 'recvmsg', 'bind', 'listen', 'connect']),
  timeline: {
    keyCalls: [{ what: 'the client\'s one connection, accepted once: every later fd for it was handed over', role: /^server-/, syscall: 'accept4', summary: /→ fd \d+ TCP/ }],
  },
  scmRightsRoles: [`server-${PORTS[0]}`, `server-${PORTS[1]}`],
  settings: {
    connections: { description: 'unary client connections', default: 100, min: 1, max: 500 },
    requests: { description: 'requests per unary connection', default: 1000, min: 1, max: 10_000 },
    reads: { description: 'how servers read requests', default: 'exact', choices: ['exact', 'greedy'] },
  },
  faults: {
    'drop-leftover': 'greedy servers drop the bytes they read beyond one request: the stream check fails',
  },

  async run(lab) {
    const connections = lab.setting('connections');
    const perConnection = lab.setting('requests');
    const streamCount = 1000;

    const greedy = lab.fault === 'drop-leftover' || lab.setting<string>('reads') === 'greedy';
    const howTheyRead = lab.fault === 'drop-leftover'
      ? 'Each reads whatever is there (greedy), answers the first request, and passes the connection on WITHOUT\nthe bytes it read beyond it (--fault drop-leftover).'
      : greedy
        ? 'Each reads whatever is there (greedy), answers the first request, and passes the connection on together\nwith the bytes it read beyond it, in the same message as the fd.'
        : 'Each reads exactly one request (1 length byte + data).';
    await lab.step(
      `Start two servers on ports ${PORTS.join(' and ')}, each with a Unix socket in the shared volume`,
      `${howTheyRead} It answers "rsp from port: <port>", passes the connection to the\n` +
        'other server over its Unix socket and forgets it. The client never reconnects: its one TCP connection keeps\n' +
        'changing owners.',
    );
    const traced = await startServers(lab, '', true);

    await lab.step(
      'A traced look: one connection, 6 requests',
      'Under strace you can see each handover: the server that answered sends the TCP fd in SCM_RIGHTS, the other\n' +
        'receives it under a new number. Tracing every one of 100,000 handovers would be 10x slower (measured: 22 s\n' +
        'instead of 2.3 s) and write 145 MB of captures, so the full load below runs untraced.',
      ['ss -tnp state established "( sport = :7100 or sport = :7101 )"   (the owner of the connection keeps changing)'],
    );
    const demo = await lab.startRole({ name: 'demo-client', script: roleScript('unary-client'), args: ['1', '6'] });
    await demo.waitForLine(/^RESULT /, 15_000);
    await demo.wait(10_000);
    await stopServers(traced);

    await lab.step(
      `Unary client: ${connections} concurrent connections x ${perConnection.toLocaleString('en-US')} request/reply`,
      'Every reply must come from the other server than the previous one (port ^ last == 1): proof that each request\n' +
        'was served by the process that had just received the connection.',
    );
    const servers = await startServers(lab, '-load', false);
    const unaryRole = await lab.startRole({ name: 'unary-client', script: roleScript('unary-client'), args: [String(connections), String(perConnection)] });
    const total = connections * perConnection;
    const progress = lab.progress('requests', total);
    const ticker = setInterval(() => progress.tick(servers.reduce((sum, s) => sum + requestLines(s), 0)), 100);
    const unary = resultOf<UnaryResult>(await unaryRole.waitForLine(/^RESULT /, 120_000).finally(() => clearInterval(ticker)));
    progress.done(`${unary.requests.toLocaleString('en-US')} in ${unary.seconds} s`);

    await lab.step(
      `Stream client: ${streamCount} requests in one write on one connection`,
      greedy
        ? lab.fault === 'drop-leftover'
          ? 'The first greedy read takes in all 1000 requests; the server answers one and drops the rest. Expect 1 reply.'
          : 'The first greedy read takes in most of the requests; each handover carries the unanswered bytes along with\n' +
            'the fd, so every server still answers exactly one request per turn.'
        : 'The server reads exactly one request; the rest waits in the kernel receive queue, and that queue moves with\n' +
          'the fd. So every server sees exactly one request per turn, and the replies alternate strictly.',
    );
    const streamRole = await lab.startRole({ name: 'stream-client', script: roleScript('stream-client'), args: [String(streamCount), '10000'] });
    const stream = resultOf<StreamResult>(await streamRole.waitForLine(/^RESULT /, 20_000));
    await stopServers(servers);

    const linesPer = servers.map(requestLines);
    const expectedEach = (total + streamCount) / 2;
    lab.check(
      `unary: ${total.toLocaleString('en-US')} replies, each from the other server`,
      unary.requests === total && unary.violations === 0,
      `${unary.requests.toLocaleString('en-US')} replies, ${unary.violations} from the same server twice in a row`,
    );
    lab.check(
      `stream: ${streamCount} replies, strictly alternating`,
      stream.replies === streamCount && stream.strictlyAlternating,
      `${stream.replies} ${stream.replies === 1 ? 'reply' : 'replies'} (${stream.reason})${stream.strictlyAlternating ? ', alternating' : ', NOT alternating'}`,
    );
    lab.check(
      'both servers logged the same number of requests',
      linesPer[0] === linesPer[1] && linesPer[0] === expectedEach,
      `${linesPer.map((n) => n.toLocaleString('en-US')).join(' and ')} (expected ${expectedEach.toLocaleString('en-US')} each)`,
    );
    lab.check(
      'handover rate and request latency',
      unary.requests === total,
      `${unary.handoversPerSecond.toLocaleString('en-US')} handovers/s; p50 ${unary.p50ms} ms, p99 ${unary.p99ms} ms`,
    );
    lab.record('unary', unary);
    lab.record('stream', stream);
  },
};

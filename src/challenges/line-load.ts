// New connections at a steady rate, each writing one line and waiting for the
// answer, run inside the check: every connection ends up in exactly one
// bucket, and the answer names the server generation that gave it.
import * as net from 'node:net';

export interface LineLoadResult {
  opened: number;
  /** Answers, by "gen <G> pid <pid>". */
  answeredBy: Record<string, number>;
  answered: number;
  refused: number;
  reset: number;
  /** Closed by the server without an answer. */
  cut: number;
  timeout: number;
}

type Outcome = { answeredBy: string } | 'refused' | 'reset' | 'cut' | 'timeout';

function oneConnection(port: number, line: string, timeoutMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    let text = '';
    const socket = net.connect(port, '127.0.0.1', () => socket.write(`${line}\n`));
    const settle = (outcome: Outcome) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => settle('timeout'), timeoutMs);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (text.includes('\n')) settle({ answeredBy: /^(gen \d+ pid \d+):/.exec(text)?.[1] ?? 'someone else' });
    });
    socket.on('error', (error: NodeJS.ErrnoException) => settle(error.code === 'ECONNREFUSED' ? 'refused' : 'reset'));
    socket.on('close', () => settle('cut'));
  });
}

/** Opens `rate` connections a second for `durationMs`; resolves once every one has its outcome. */
export async function runLineLoad(port: number, rate: number, durationMs: number, timeoutMs = 3000): Promise<LineLoadResult> {
  const outcomes: Promise<Outcome>[] = [];
  await new Promise<void>((resolve) => {
    const total = Math.round((rate * durationMs) / 1000);
    const timer = setInterval(() => {
      outcomes.push(oneConnection(port, `hello ${outcomes.length}`, timeoutMs));
      if (outcomes.length >= total) {
        clearInterval(timer);
        resolve();
      }
    }, 1000 / rate);
  });
  const result: LineLoadResult = { opened: outcomes.length, answeredBy: {}, answered: 0, refused: 0, reset: 0, cut: 0, timeout: 0 };
  for (const outcome of await Promise.all(outcomes)) {
    if (typeof outcome === 'string') result[outcome] += 1;
    else {
      result.answered += 1;
      result.answeredBy[outcome.answeredBy] = (result.answeredBy[outcome.answeredBy] ?? 0) + 1;
    }
  }
  return result;
}

export function formatLineLoad(r: LineLoadResult): string {
  const by = Object.entries(r.answeredBy).map(([who, n]) => `${who} ${n}`).join(', ');
  return `${r.opened} new connections: ${r.answered} answered (${by || 'by nobody'}), ${r.refused} refused, ${r.reset} reset, ${r.cut} closed without an answer, ${r.timeout} timed out`;
}

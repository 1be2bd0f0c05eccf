// The demo app takes a session from another process only if it is one: a
// version that sends anything else must not crash the one that serves.
import { strict as assert } from 'node:assert';
import { PingPongApp, type PingSession } from '../../src/serve/ping-pong';
import { within } from '../helpers/fds';
import { tcpConnection } from '../helpers/tcp';

describe('PingPongApp', () => {
  for (const [what, session] of [['a number', 7], ['null', null], ['an object without its fields', { id: 3 }]] as const) {
    it(`starts a new session for a connection that came with ${what}, and answers its pings`, async () => {
      const lines: string[] = [];
      const c = await tcpConnection();
      try {
        const served = new PingPongApp((line) => lines.push(line)).serve(c.accepted, session as unknown as PingSession);
        c.client.write('ping');
        const pong = await within(2000, 'a pong', new Promise<string>((resolve) => c.client.once('data', (d) => resolve(d.toString()))));
        assert.equal(pong, 'pong');
        const snapshot = served.snapshot().session;
        assert.equal(snapshot.pingsServed, 1);
        assert.match(snapshot.id, /^[0-9a-f]{8}$/);
        assert.ok(lines.some((l) => /the session it came with is not a ping session; starting a new one/.test(l)), lines.join('\n'));
      } finally {
        c.end();
      }
    });
  }
});

// The Pinger is what every hot-upgrade test counts with, so it must never send
// anything but whole pings. Its 'split' pings go out as 'pi' now and 'ng' on
// setImmediate; on a loaded machine Node ran its interval twice before the
// immediates (strace of the client: 'pi', 'pi', 'ng', 'ng'), the server
// rightly closed those connections on "pipi", and the fault tests failed as
// if the engine had lost bytes in a handover. Two ticks in a row are exactly
// what the event loop did then.
import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import * as net from 'node:net';
import { PingPongApp } from '../../src/serve/ping-pong';
import { Pinger } from '../helpers/pinger';

describe('the Pinger test client', () => {
  it('keeps a split ping whole when its interval fires twice before the setImmediate that sends the second half', async () => {
    const lines: string[] = [];
    const app = new PingPongApp((line) => lines.push(line));
    const server = net.createServer((socket) => app.serve(socket));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const pinger = await Pinger.connect((server.address() as net.AddressInfo).port, 3, ['split']);
    try {
      pinger.pingAll();
      pinger.pingAll();
      const counts = await pinger.stop();
      assert.deepEqual(lines, [], 'the server saw only whole pings');
      assert.deepEqual({ pings: counts.pings, disconnects: counts.disconnects, garbage: counts.garbage, lost: counts.pings - counts.pongs }, { pings: 9, disconnects: 0, garbage: 0, lost: 0 });
    } finally {
      pinger.close();
      server.close();
    }
  });
});

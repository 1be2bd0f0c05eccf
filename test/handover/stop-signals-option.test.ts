// Upgrader's stopSignals option (stop-requests.ts), in this process: what it
// refuses, and that a start that fails leaves no signal handler behind. What
// it does at each step of an upgrade is tested on `fdlab serve`, which uses
// it (operator-signals.test.ts, stop-while-switching.test.ts), and on the
// README's http-server example (test/docs/examples.test.ts).
import { strict as assert } from 'node:assert';
import * as net from 'node:net';
import { Upgrader } from 'fdlab';
import { PingPongApp } from '../../src/serve/ping-pong';
import { tempDir } from '../helpers/fds';

const STOPS = ['SIGINT', 'SIGHUP', 'SIGTERM'] as const;
const handlerCounts = () => STOPS.map((signal) => process.listenerCount(signal));

describe('Upgrader stopSignals', function () {
  it('without exit: refused with ERR_INVALID_ARG_VALUE, no handler installed', async () => {
    const before = handlerCounts();
    await assert.rejects(
      Upgrader.start({ app: new PingPongApp(), port: 0, stateDir: tempDir(), stopSignals: true }),
      (error: Error & { code?: string }) => error.code === 'ERR_INVALID_ARG_VALUE' && /stopSignals needs exit/.test(error.message),
    );
    assert.deepEqual(handlerCounts(), before);
  });

  it('a start that fails (the port is taken) removes its handlers; one that serves has one of each (close() is not a stop)', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as net.AddressInfo).port;
    const before = handlerCounts();
    const exits: number[] = [];
    try {
      await assert.rejects(
        Upgrader.start({ app: new PingPongApp(), port, stateDir: tempDir(), stopSignals: true, exit: (code) => exits.push(code) }),
        (error: Error & { code?: string }) => error.code === 'EADDRINUSE',
      );
      assert.deepEqual(handlerCounts(), before, 'no stop handler left by the failed start');
      const upgrader = await Upgrader.start({ app: new PingPongApp(), port: 0, stateDir: tempDir(), stopSignals: true, exit: (code) => exits.push(code) });
      assert.deepEqual(handlerCounts(), before.map((n) => n + 1));
      await upgrader.close();
      assert.deepEqual(exits, [], 'close() is not a stop request: exit is never called');
    } finally {
      taken.close();
    }
  });
});

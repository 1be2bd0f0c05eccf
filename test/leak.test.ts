// No fd may leak on any path: count /proc/self/fd around 10,000 passes.
import { strict as assert } from 'node:assert';
import { close, closeQuietly, FdChannel, recvFds, sendFds, socketpair } from 'fdlab';
import { openFdCount, tempFile } from './helpers/fds';

describe('fd accounting over 10,000 passes', () => {
  it('raw sendFds/recvFds: success, truncation and errors leave no fd behind', () => {
    const file = tempFile('x');
    const before = openFdCount();
    const [a, b] = socketpair();
    for (let i = 0; i < 10_000; i++) {
      sendFds(a, [file.fd], 'p');
      closeQuietly(recvFds(b).fds);
    }
    for (let i = 0; i < 1_000; i++) {
      sendFds(a, [file.fd, file.fd], 't');
      assert.throws(() => recvFds(b, { maxFds: 1 }), { code: 'ERR_FD_CTRUNC' });
      assert.throws(() => sendFds(a, [file.fd, 1_000_000]), { code: 'EBADF' });
    }
    closeQuietly([a, b]);
    assert.equal(openFdCount(), before);
    close(file.fd);
  });

  it('FdChannel: 10,000 messages with fds, then a channel closed with fds unclaimed', async () => {
    const file = tempFile('x');
    const before = openFdCount();
    const [a, b] = FdChannel.pair();
    for (let i = 0; i < 10_000; i++) {
      const sent = a.send({ data: 'p', fds: [file.fd] });
      const message = await b.receive();
      await sent;
      closeQuietly(message.fds);
    }
    await a.send({ data: 'left behind', fds: new Array(300).fill(file.fd) });
    await new Promise((resolve) => setTimeout(resolve, 50));
    a.close();
    b.close();
    assert.equal(openFdCount(), before);
    close(file.fd);
  });
});

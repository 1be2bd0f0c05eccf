import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import {
  close,
  closeFds,
  closeQuietly,
  recvFds,
  recvFdsInto,
  SCM_MAX_FD,
  sendFds,
  socketpair,
} from 'fdlab';
import { tryRecvFdsInto, trySendFdsOverUnixSocket } from 'fdlab/wire';
import { isOpen, openFdCount, tempFile } from '../helpers/fds';

type Coded = Error & { code: string };

function expectCoded(kind: ErrorConstructor | TypeErrorConstructor | RangeErrorConstructor, code: string) {
  return (e: Coded): boolean => {
    assert.ok(e instanceof kind, `${e.name} is not a ${kind.name}: ${e.message}`);
    assert.equal(e.code, code, e.message);
    return true;
  };
}

describe('recvFdsInto / closeFds (typed arrays for hot loops)', () => {
  let pair: [number, number];
  let file: { path: string; fd: number };
  const data = Buffer.alloc(16);
  const fds = new Int32Array(SCM_MAX_FD);
  const counts = new Int32Array(2);
  beforeEach(() => {
    pair = socketpair();
    file = tempFile('x');
    counts.fill(-1);
  });
  afterEach(() => closeQuietly([...pair, file.fd]));

  it('writes the bytes, the fds and their counts into the caller\'s arrays', () => {
    sendFds(pair[0], [file.fd, file.fd, file.fd], 'boy');
    recvFdsInto(pair[1], data, fds, counts);
    assert.deepEqual([...counts], [3, 3]);
    assert.equal(data.subarray(0, 3).toString(), 'boy');
    const received = [...fds.subarray(0, 3)];
    assert.equal(new Set([file.fd, ...received]).size, 4, 'new, distinct fd numbers');
    for (const fd of received) {
      assert.equal(fs.fstatSync(fd).ino, fs.fstatSync(file.fd).ino);
      const flags = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8').match(/flags:\s+(\d+)/)![1];
      assert.ok((parseInt(flags, 8) & 0o2000000) !== 0, 'close-on-exec');
    }
    assert.equal(closeFds(fds, counts[1]), 0);
    for (const fd of received) assert.ok(!isOpen(fd));
  });

  it('reads at most data.length bytes and leaves the rest queued', () => {
    sendFds(pair[0], [file.fd], 'hello');
    const small = Buffer.alloc(2);
    recvFdsInto(pair[1], small, fds, counts);
    assert.deepEqual([...counts], [2, 1]);
    assert.equal(small.toString(), 'he');
    closeFds(fds, 1);
    recvFdsInto(pair[1], data, fds, counts);
    assert.deepEqual([...counts], [3, 0]);
    assert.equal(data.subarray(0, 3).toString(), 'llo');
  });

  it('reports a closed peer as counts [0, 0]', () => {
    close(pair[0]);
    recvFdsInto(pair[1], data, fds, counts);
    assert.deepEqual([...counts], [0, 0]);
  });

  it('on more fds than fds.length, closes every fd that arrived and throws ERR_FD_CTRUNC', () => {
    const before = openFdCount();
    for (const room of [0, 1, 2]) {
      sendFds(pair[0], [file.fd, file.fd, file.fd]);
      assert.throws(() => recvFdsInto(pair[1], data, new Int32Array(room), counts), (e: Coded) => {
        assert.equal(e.code, 'ERR_FD_CTRUNC');
        assert.match(e.message, /were closed/);
        return true;
      });
      assert.equal(openFdCount(), before, `no received fd may stay open (room for ${room})`);
    }
    assert.deepEqual([...counts], [-1, -1], 'counts untouched on error');
  });

  it('throws Node-style system errors', () => {
    assert.throws(() => recvFdsInto(pair[1], data, fds, counts), { code: 'EAGAIN', errno: -11, syscall: 'recvmsg' });
    assert.throws(() => recvFdsInto(file.fd, data, fds, counts), { code: 'ENOTSOCK', syscall: 'recvmsg' });
  });

  it('refuses arguments it cannot write into, with coded errors', () => {
    const call = (...args: unknown[]) => () => (recvFdsInto as (...a: unknown[]) => void)(...args);
    assert.throws(call(-1, data, fds, counts), expectCoded(RangeError, 'ERR_OUT_OF_RANGE'));
    assert.throws(call(pair[1], 'text', fds, counts), expectCoded(TypeError, 'ERR_INVALID_ARG_TYPE'));
    assert.throws(call(pair[1], Buffer.alloc(0), fds, counts), expectCoded(RangeError, 'ERR_OUT_OF_RANGE'));
    assert.throws(call(pair[1], data, [0, 0], counts), expectCoded(TypeError, 'ERR_INVALID_ARG_TYPE'));
    assert.throws(call(pair[1], data, new Uint32Array(4), counts), expectCoded(TypeError, 'ERR_INVALID_ARG_TYPE'));
    assert.throws(call(pair[1], data, fds, new Int32Array(1)), expectCoded(RangeError, 'ERR_OUT_OF_RANGE'));
    assert.throws(call(pair[1], data, fds), expectCoded(TypeError, 'ERR_INVALID_ARG_TYPE'));
  });

  it('closeFds returns how many fds were not open, and closes the rest', () => {
    const open = [fs.openSync('/dev/null', 'r'), fs.openSync('/dev/null', 'r'), fs.openSync('/dev/null', 'r')];
    close(open[1]);
    assert.equal(closeFds(open), 1);
    for (const fd of open) assert.ok(!isOpen(fd));
    assert.equal(closeFds(open), 3);
    assert.equal(closeFds([]), 0);
  });

  it('closeFds with an Int32Array closes only fds[0..count)', () => {
    const open = Int32Array.of(fs.openSync('/dev/null', 'r'), fs.openSync('/dev/null', 'r'));
    assert.equal(closeFds(open, 1), 0);
    assert.ok(!isOpen(open[0]));
    assert.ok(isOpen(open[1]));
    assert.equal(closeFds(open), 1, 'the whole array by default: fds[0] was already closed');
  });

  it('closeFds refuses a value that is not an fd number before closing anything', () => {
    const fd = fs.openSync('/dev/null', 'r');
    try {
      // As an Int32Array element 2 ** 32 + fd would be fd itself.
      for (const bad of [2 ** 32 + fd, -1, 1.5, NaN, '3']) {
        assert.throws(() => closeFds([fd, bad as number]), (e: Coded) => {
          expectCoded(TypeError, 'ERR_INVALID_ARG_TYPE')(e);
          assert.match(e.message, /fds\[1\] is not a file descriptor/);
          return true;
        });
        assert.ok(isOpen(fd), `${String(bad)} in the list closed nothing`);
      }
      assert.throws(() => closeFds(new Int32Array(2), 3), expectCoded(RangeError, 'ERR_OUT_OF_RANGE'));
      assert.throws(() => closeFds('3' as unknown as number[]), expectCoded(TypeError, 'ERR_INVALID_ARG_TYPE'));
    } finally {
      close(fd);
    }
  });

  it('closeQuietly skips values that are not fd numbers and closes the rest', () => {
    const fd = fs.openSync('/dev/null', 'r');
    closeQuietly(new Set([-1, 2 ** 32 + fd, fd]));
    assert.ok(!isOpen(fd));
  });

  // The forms FdChannel uses: EAGAIN is a return value of -1 (a thrown one costs
  // more than the syscall), every other failure throws as recvFdsInto/sendFds do.
  describe('tryRecvFdsInto / trySendFdsOverUnixSocket (EAGAIN as -1)', () => {
    it('returns -1 with counts untouched when nothing is queued, and the byte count otherwise', () => {
      assert.equal(tryRecvFdsInto(pair[1], data, fds, counts), -1);
      assert.deepEqual([...counts], [-1, -1]);
      sendFds(pair[0], [file.fd, file.fd], 'boy');
      assert.equal(tryRecvFdsInto(pair[1], data, fds, counts), 3);
      assert.deepEqual([...counts], [3, 2]);
      assert.equal(closeFds(fds, 2), 0);
      close(pair[0]);
      pair[0] = -1; // closeQuietly skips it
      assert.equal(tryRecvFdsInto(pair[1], data, fds, counts), 0, 'a closed peer reads as 0');
      assert.deepEqual([...counts], [0, 0]);
    });

    it('sends data[offset..] with the fds on its first byte, and returns -1 once the socket is full', () => {
      const message = Buffer.from('xxhello');
      const toSend = Int32Array.of(file.fd, file.fd);
      assert.equal(trySendFdsOverUnixSocket(pair[0], toSend, 2, message, 2), 5);
      assert.equal(tryRecvFdsInto(pair[1], data, fds, counts), 5);
      assert.equal(data.subarray(0, 5).toString(), 'hello');
      assert.equal(counts[1], 2);
      closeFds(fds, 2);

      const chunk = Buffer.alloc(64 * 1024);
      let result = 0;
      for (let i = 0; i < 10_000 && result >= 0; i++) result = trySendFdsOverUnixSocket(pair[0], fds, 0, chunk, 0);
      assert.equal(result, -1, 'a full socket is -1, not a thrown EAGAIN');
    });

    it('still throws coded system errors: ENOTSOCK, EBADF, EPIPE', () => {
      const none = new Int32Array(0);
      const one = Buffer.from('x');
      assert.throws(() => tryRecvFdsInto(file.fd, data, fds, counts), { code: 'ENOTSOCK', syscall: 'recvmsg' });
      assert.throws(() => trySendFdsOverUnixSocket(file.fd, none, 0, one, 0), { code: 'ENOTSOCK', syscall: 'sendmsg' });
      assert.throws(() => trySendFdsOverUnixSocket(pair[0], Int32Array.of(2_000_000), 1, one, 0), { code: 'EBADF' });
      const closed = file.fd;
      close(file.fd);
      file.fd = -1;
      assert.throws(() => tryRecvFdsInto(closed, data, fds, counts), { code: 'EBADF', syscall: 'recvmsg' });
      assert.throws(() => trySendFdsOverUnixSocket(closed, none, 0, one, 0), { code: 'EBADF', syscall: 'sendmsg' });
      close(pair[1]);
      pair[1] = -1;
      assert.throws(() => trySendFdsOverUnixSocket(pair[0], none, 0, one, 0), { code: 'EPIPE' });
      assert.deepEqual([...counts], [-1, -1], 'counts untouched on error');
    });

    it('on truncated control data closes every fd that arrived and throws ERR_FD_CTRUNC', () => {
      const before = openFdCount();
      sendFds(pair[0], [file.fd, file.fd, file.fd]);
      assert.throws(() => tryRecvFdsInto(pair[1], data, new Int32Array(1), counts), (e: Coded) => {
        assert.equal(e.code, 'ERR_FD_CTRUNC');
        assert.match(e.message, /were closed/);
        return true;
      });
      assert.equal(openFdCount(), before, 'no received fd may stay open');
    });

    it('refuses an offset outside the data, and empty data, with coded RangeErrors', () => {
      const none = new Int32Array(0);
      for (const offset of [-1, 3, 1.5, Number.NaN]) {
        assert.throws(() => trySendFdsOverUnixSocket(pair[0], none, 0, Buffer.from('abc'), offset), {
          code: 'ERR_OUT_OF_RANGE',
          name: 'RangeError',
        });
      }
      assert.throws(() => trySendFdsOverUnixSocket(pair[0], none, 0, Buffer.alloc(0), 0), { code: 'ERR_OUT_OF_RANGE' });
      assert.equal(tryRecvFdsInto(pair[1], data, fds, counts), -1, 'nothing was sent');
    });
  });
});

describe('sendFds / recvFds over the typed-array core', () => {
  let pair: [number, number];
  beforeEach(() => (pair = socketpair()));
  afterEach(() => closeQuietly(pair));

  it('recvFds hands out data no later call can overwrite', () => {
    sendFds(pair[0], [], 'first');
    sendFds(pair[0], [], 'SECOND');
    const first = recvFds(pair[1], { maxData: 5 });
    const second = recvFds(pair[1], { maxData: 6 });
    assert.equal(first.data.toString(), 'first');
    assert.equal(second.data.toString(), 'SECOND');
  });

  it('recvFds checks its options like the native layer did', () => {
    assert.throws(() => recvFds(pair[1], { maxData: 0 }), expectCoded(RangeError, 'ERR_OUT_OF_RANGE'));
    assert.throws(() => recvFds(pair[1], { maxFds: 254 }), expectCoded(RangeError, 'ERR_OUT_OF_RANGE'));
    assert.throws(() => recvFds(pair[1], { maxFds: 1.5 }), expectCoded(RangeError, 'ERR_OUT_OF_RANGE'));
    assert.throws(() => recvFds(pair[1], { maxData: '1' as unknown as number }), expectCoded(TypeError, 'ERR_INVALID_ARG_TYPE'));
  });

  it('sendFds refuses fd values an Int32Array would wrap into other fds', () => {
    for (const bad of [2 ** 32 + pair[0], 2 ** 31, NaN, Infinity]) {
      assert.throws(() => sendFds(pair[0], [bad]), expectCoded(TypeError, 'ERR_INVALID_ARG_TYPE'));
    }
    assert.throws(() => sendFds(pair[0], 3 as unknown as number[]), expectCoded(TypeError, 'ERR_INVALID_ARG_TYPE'));
    assert.throws(() => recvFds(pair[1]), { code: 'EAGAIN' }, 'nothing was sent');
  });
});

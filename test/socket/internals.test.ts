// fdlab leans on a few undocumented Node socket internals (src/socket/internals.ts).
// On a Node whose internals differ, it must refuse at once with ERR_NODE_INTERNALS,
// naming the Node version and what is missing, instead of rolling back every upgrade.
// Each case runs a fresh node process in which one internal is removed before fdlab
// is used: Upgrader.start refuses, and so do adoptSocket and detachSocket.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { tempDir } from '../helpers/fds';

const ROOT = path.resolve(__dirname, '..', '..', '..');

/** Removes `method` from the prototype (of a stream handle) that owns it, then tries fdlab three ways. */
function script(method: string, stateDir: string): string {
  return `
const net = require('node:net');
const fdlab = require('fdlab');
const [a, b] = fdlab.socketpair();
const probe = new net.Socket({ fd: a });
let proto = Object.getPrototypeOf(probe._handle);
while (proto && !Object.hasOwn(proto, ${JSON.stringify(method)})) proto = Object.getPrototypeOf(proto);
if (!proto || !delete proto[${JSON.stringify(method)}]) throw new Error('could not remove ${method}');
probe.destroy();
fdlab.closeQuietly([b]);
const outcome = (f) => { try { f(); return 'ok'; } catch (e) { return { code: e.code, message: e.message }; } };
(async () => {
  const result = {};
  try {
    const upgrader = await fdlab.Upgrader.start({ app: { serve: (socket) => ({ socket, snapshot: () => ({ session: null, pending: Buffer.alloc(0) }) }) }, port: 0, stateDir: ${JSON.stringify(stateDir)} });
    result.start = 'ok';
    await upgrader.close();
  } catch (e) {
    result.start = { code: e.code, message: e.message };
  }
  const [c, d] = fdlab.socketpair();
  result.adopt = outcome(() => fdlab.adoptSocket(c).destroy());
  const [e, f] = fdlab.socketpair();
  const socket = new net.Socket({ fd: e });
  result.detach = await fdlab.detachSocket(socket).then(() => 'ok', (error) => ({ code: error.code, message: error.message }));
  socket.destroy();
  fdlab.closeQuietly([c, d, f]);
  console.log(JSON.stringify(result));
})();
`;
}

function run(method: string): Record<'start' | 'adopt' | 'detach', { code: string; message: string } | 'ok'> {
  const child = spawnSync(process.execPath, ['-e', script(method, tempDir())], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  assert.equal(child.status, 0, child.stderr);
  return JSON.parse(child.stdout.trim().split('\n').pop()!);
}

describe('Node internals: refused at start on a Node that differs', function () {
  this.timeout(60_000);

  for (const method of ['readStop', 'writeBuffer']) {
    it(`without _handle.${method}(): Upgrader.start, adoptSocket and detachSocket throw ERR_NODE_INTERNALS naming it and the Node version`, function () {
      const result = run(method);
      for (const which of ['start', 'adopt', 'detach'] as const) {
        const error = result[which];
        assert.notEqual(error, 'ok', `${which} went on without _handle.${method}`);
        if (error === 'ok') continue;
        assert.equal(error.code, 'ERR_NODE_INTERNALS', `${which}: ${error.message}`);
        assert.ok(error.message.includes(`_handle.${method}()`), error.message);
        assert.ok(error.message.includes(process.version), error.message);
        assert.match(error.message, /use a Node fdlab supports/);
      }
    });
  }

  it('with every internal in place, a fresh process starts an Upgrader (the check passes)', function () {
    const stateDir = tempDir();
    const child = spawnSync(process.execPath, ['-e', `
const fdlab = require('fdlab');
fdlab.Upgrader.start({ app: { serve: (socket) => ({ socket, snapshot: () => ({ session: null, pending: Buffer.alloc(0) }) }) }, port: 0, stateDir: ${JSON.stringify(stateDir)} })
  .then((u) => u.close()).then(() => console.log('started'));
`], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    assert.equal(child.status, 0, child.stderr);
    assert.equal(child.stdout.trim(), 'started');
  });
});

// The lab image through testcontainers (offline: no ryuk, no alpine pulls),
// for container-level facts the labs rely on.
import { strict as assert } from 'node:assert';
import { GenericContainer, type StartedTestContainer } from 'testcontainers';
import { labImageOrSkip } from '../helpers/docker';

describe('lab image under testcontainers', function () {
  this.timeout(60_000);
  let container: StartedTestContainer | undefined;

  before(async function () {
    const image = await labImageOrSkip();
    if (!image) return this.skip();
    container = await new GenericContainer(image)
      .withNetworkMode('none')
      .withLabels({ fdlab: 'test' })
      .withCommand(['sleep', '120'])
      .start();
  });

  after(async () => {
    await container?.stop({ remove: true, timeout: 1000 });
  });

  it('has only the loopback interface with --network none, and it works', async () => {
    const links = await container!.exec(['ip', '-o', 'link']);
    const names = links.output.trim().split('\n').map((l) => l.split(':')[1].trim());
    assert.deepEqual(names, ['lo']);
    const echo = await container!.exec([
      'node',
      '-e',
      "const n=require('net');const s=n.createServer(c=>c.pipe(c)).listen(7,'127.0.0.1',()=>{const c=n.connect(7,'127.0.0.1',()=>c.end('ping'));c.on('data',d=>{console.log(String(d));s.close()})})",
    ]);
    assert.equal(echo.output.trim(), 'ping');
  });

  it('runs strace -f -yy on the native module and shows SCM_RIGHTS with the decorated fd', async () => {
    const script =
      "const f=require('fdlab');const fs=require('fs');fs.writeFileSync('/tmp/x','x');" +
      "const fd=fs.openSync('/tmp/x','r');const [a,b]=f.socketpair();f.sendFds(a,[fd],'boy');f.closeQuietly(f.recvFds(b).fds)";
    const run = await container!.exec(['strace', '-f', '-yy', '-e', 'trace=sendmsg,recvmsg', 'node', '-e', script]);
    assert.equal(run.exitCode, 0, run.output);
    assert.match(run.output, /sendmsg\(\d+<UNIX-STREAM:\[\d+->\d+\]>.*cmsg_type=SCM_RIGHTS, cmsg_data=\[\d+<\/tmp\/x>\]/);
    assert.match(run.output, /recvmsg\(.*SCM_RIGHTS, cmsg_data=\[\d+<\/tmp\/x>\]/);
  });
});

// The smallest fdlab demo (seed 002): one process opens a file holding
// "hello world" and sends the open fd with the 3-byte message "boy"; another
// process receives it and reads through it. `npm run demo`.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describeFd, FdChannel, formatFd } from 'fdlab';

async function receiver(): Promise<void> {
  const channel = FdChannel.fromFd(3);
  const { data, fds } = await channel.receive();
  const buffer = Buffer.alloc(64);
  const n = fs.readSync(fds[0], buffer, 0, 64, 0);
  console.log(`[receiver pid ${process.pid}] got "${data}" and fd ${formatFd(describeFd(fds[0]))}`);
  console.log(`[receiver pid ${process.pid}] read ${n} bytes through it: "${buffer.subarray(0, n)}"`);
  const senderFd = Number(process.argv[3]);
  console.log(
    `fd numbers are per process: ${senderFd} in the sender, ${fds[0]} here` +
      `${senderFd === fds[0] ? ' (equal by chance: each process picks its lowest free number)' : ''}; ` +
      `inode ${describeFd(fds[0]).inode} in both: one open file.`,
  );
  channel.close();
}

async function sender(): Promise<void> {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fdlab-demo-')), 'tmp.txt');
  fs.writeFileSync(file, 'hello world');
  const fd = fs.openSync(file, 'r');
  const [ours, theirs] = FdChannel.pair();
  const child = spawn(process.execPath, [__filename, 'receiver', String(fd)], { stdio: ['ignore', 'inherit', 'inherit', theirs.fd] });
  theirs.close();
  console.log(`[sender   pid ${process.pid}] sending "boy" with fd ${formatFd(describeFd(fd))}`);
  await ours.send({ data: 'boy', fds: [fd] });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  ours.close();
  fs.closeSync(fd);
  fs.rmSync(path.dirname(file), { recursive: true });
  if (code !== 0) console.error(`receiver failed (exit ${code})`);
  process.exitCode = code ?? 1;
}

void (process.argv[2] === 'receiver' ? receiver() : sender());

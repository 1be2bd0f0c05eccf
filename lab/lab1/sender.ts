// Lab 1 sender (seed 002): opens a private file holding "hello world" and
// sends the open fd with the 3-byte message "boy".
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describeFd, FdChannel, formatFd } from 'fdlab';
import { sharedPath } from '../../src/runtime/role-env';

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sender-private-'));
  const file = path.join(dir, 'tmp.txt');
  fs.writeFileSync(file, 'hello world');
  const fd = fs.openSync(file, 'r');
  console.log(`opened ${file} as fd ${fd}: ${formatFd(describeFd(fd))}`);
  const channel = await FdChannel.connect(sharedPath('lab1.sock'), { waitMs: 15_000 });
  await channel.send({ data: 'boy', fds: [fd] });
  console.log(`sent fd ${fd} inode ${describeFd(fd).inode} with the 3-byte message "boy"`);
  await channel.receive(); // "your turn": the receiver has read its 5 bytes
  const buffer = Buffer.alloc(64);
  const n = fs.readSync(fd, buffer, 0, 64, null);
  const text = buffer.subarray(0, n).toString();
  // What the offset did depends on how the receiver read: read() moves the shared offset, pread() does not.
  const why = text === 'hello world' ? "the receiver's read did not move our shared offset" : "the receiver's read moved our shared offset";
  console.log(`read through my fd ${fd}: "${text}" (${why})`);
  await channel.send({ data: 'done' });
  channel.close();
  fs.closeSync(fd);
  fs.rmSync(dir, { recursive: true });
}

void main();

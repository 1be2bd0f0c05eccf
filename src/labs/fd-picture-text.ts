// An fd snapshot as plain-text boxes and arrows for the terminal: each
// process's fd numbers on the left, joined when they point at one object,
// an arrow to the object (inode, offset or queues) on the right.
//
//   sender    pid 4102  fd 18 ─┐
//                              ├──▶ /tmp/x/tmp.txt  inode 1234  offset 0 of 11 bytes
//   receiver  pid 4110  fd 21 ─┘
import chalk from 'chalk';
import type { FdObject, FdSnapshot } from './fd-snapshot';

/** Objects drawn per snapshot; the rest are counted in one line. */
export const OBJECTS_SHOWN = 4;

export function describeObject(object: FdObject): string {
  const extra =
    object.kind === 'file'
      ? `offset ${object.offset} of ${object.size} bytes`
      : object.kind === 'tcp'
        ? object.label.endsWith('(listening)')
          ? `accept queue ${object.receiveQueue}`
          : `Send-Q ${object.sendQueue}, Recv-Q ${object.receiveQueue}`
        : '';
  return `${object.label}  inode ${object.inode}${extra ? `  ${extra}` : ''}`;
}

/** Objects in the order the processes' fds first name them (process order, then fd order). */
export function objectOrder(snapshot: FdSnapshot): string[] {
  return [...new Set(snapshot.processes.flatMap((p) => p.fds.map((f) => f.object)))];
}

export function fdPictureText(snapshot: FdSnapshot): string[] {
  const lines = [`${chalk.bold(`fd tables ${snapshot.title}`)} ${chalk.gray('(read from /proc/<pid>/fd and fdinfo of the live processes)')}`];
  const nameWidth = Math.max(...snapshot.processes.map((p) => p.role.length));
  const pidWidth = Math.max(...snapshot.processes.map((p) => String(p.pid ?? '').length));
  const order = objectOrder(snapshot);
  const fdWidth = Math.max(2, ...snapshot.processes.flatMap((p) => p.fds.map((f) => String(f.fd).length)));
  const holderText = (role: string, pid: number | null, fd: number) =>
    `  ${chalk.bold(role.padEnd(nameWidth))}  pid ${String(pid).padEnd(pidWidth)}  fd ${String(fd).padStart(fdWidth)} ─`;
  const blank = ' '.repeat(2 + nameWidth + 2 + 4 + pidWidth + 2 + 3 + fdWidth + 1);
  for (const key of order.slice(0, OBJECTS_SHOWN)) {
    const holders = snapshot.processes.flatMap((p) => p.fds.filter((f) => f.object === key).map((f) => ({ p, f })));
    const object = `${chalk.cyan('──▶')} ${describeObject(snapshot.objects[key])}`;
    if (holders.length === 1) {
      lines.push(`${holderText(holders[0].p.role, holders[0].p.pid, holders[0].f.fd)}${object}`);
      continue;
    }
    holders.forEach(({ p, f }, i) => {
      lines.push(`${holderText(p.role, p.pid, f.fd)}${i === 0 ? '┐' : i === holders.length - 1 ? '┘' : '┤'}`);
      if (i === 0) lines.push(`${blank} ├${object}`);
    });
  }
  const rest = order.slice(OBJECTS_SHOWN);
  if (rest.length) {
    const counts = snapshot.processes
      .map((p) => ({ role: p.role, n: p.fds.filter((f) => rest.includes(f.object)).length }))
      .filter(({ n }) => n > 0)
      .map(({ role, n }) => `${role}: ${n} fd(s)`);
    lines.push(chalk.gray(`  ... ${rest.length} more object(s) like these (${counts.join(', ')}); all in fd-tables.json`));
  }
  for (const p of snapshot.processes) {
    if (p.pid === null) lines.push(chalk.gray(`  ${p.role.padEnd(nameWidth)}  ${snapshot.unseen ? 'not visible from here' : 'has exited'}: no fd table`));
    else if (p.fds.length === 0) lines.push(chalk.gray(`  ${p.role.padEnd(nameWidth)}  pid ${p.pid}: none of these fds`));
  }
  if (snapshot.unseen) lines.push(chalk.yellow(`  ${snapshot.unseen}`));
  return lines;
}

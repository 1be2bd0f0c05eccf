// NODE_OPTIONS="--require dist/test/helpers/join-cgroup.js": a process started
// by a test joins the cgroup named by FDLAB_TEST_CGROUP_PROCS at its first
// line, so everything it allocates from then on, and every process it
// starts (its successors), is charged there (memory-cgroup.ts).
import * as fs from 'node:fs';

const procs = process.env.FDLAB_TEST_CGROUP_PROCS;
if (procs) fs.writeFileSync(procs, String(process.pid));

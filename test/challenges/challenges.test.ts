// Every challenge through the real CLI, in a fresh workspace: its starting
// state fails `fdlab check` with a message that points at the problem, its
// solution passes, and hints come one at a time with progress kept.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CHALLENGES } from '../../src/challenges';
import { NetworkNamespace } from '../../src/runtime/process/netns';
import { collect } from '../helpers/process';
import { processesUsing } from '../helpers/serve';
import { cliPath, projectRoot } from '../../src/project';

const ROOT = projectRoot();
const CLI = cliPath();

/** What the starting state's failed check must say (the problem, not the fix). */
const STARTING_PROBLEM: Record<string, RegExp> = {
  'lab1/read-world': /NOT YET: strace saw your receiver read "hello" through the passed fd, never "world"/,
  'lab1/pread': /NOT YET: the sender read " world" after you: your read\(\) moved the offset/,
  'lab2/hand-off': /NOT YET: the peer read end of stream \(a FIN\) before the receiver wrote anything, and got 0 of 3 of its lines/,
  'lab2/end-for-all': /NOT YET: the peer got your 3 lines but no end of stream within 3 s of your receiver's exit: .* because a process still holds it/,
  'lab3/greedy-read': /NOT YET: \d+ of \d+ replies, then none for 3 s/,
  'lab3/exact-read': /NOT YET: 1 of 200 replies, then none for 3 s/,
  'lab4/adopt-fd3': /NOT YET: your successor \(pid \d+\) called bind\(127\.0\.0\.1:\d+\) and got EADDRINUSE: gen 1's listening socket still holds that port/,
  'lab4/drain': /NOT YET: [1-9]\d* connections were closed without their answer: gen 1 had accepted them/,
  'lab5/pause-trap': /NOT YET: \d+ of \d+ connections lost pongs/,
  'lab5/carry-state': /NOT YET: 20 of 20 connections saw their pong numbers start over after the upgrade/,
  'lab7/unread-bytes': /receive queue 0 bytes \(0 pings\)[^]*NOT YET: pings 10-1\d never got a pong: they had reached your old server before the dump/,
};

/**
 * The distinctive calls of each challenge's answer: a starting file that has
 * all of a challenge's marks gives that challenge away.
 */
const ANSWERS: Record<string, RegExp[]> = {
  'lab1/read-world': [/readSync\(fd, buffer, 0, 11, null\)/], // reads past "hello"
  'lab1/pread': [/readSync\([^)]*, 0\)/], // an explicit position: pread64
  'lab2/hand-off': [/detachSocket\(/], // Node lets go of its fd without a FIN
  'lab2/end-for-all': [/socket\.end\(\)/], // shutdown(SHUT_WR), for every holder
  'lab3/greedy-read': [/Buffer\.concat\(\[leftover, unread\]\)/], // what was read travels with the fd
  'lab3/exact-read': [/readUpTo\(fd, buffered\.length === 0 \? 1 : length - buffered\.length\)/], // one request, no more
  'lab4/adopt-fd3': [/adoptServer\(3\b/],
  'lab4/drain': [/server\.close\(/, /=\s*setTimeout\(\(\) => \{[\s\S]{0,200}?process\.exit/], // stop accepting, with a deadline that exits
  'lab5/pause-trap': [/detachSocket\(/, /Buffer\.concat\(\[[^\]]*\bunread\]\)/], // reads stop at the handle, and what Node read travels
  'lab5/carry-state': [/interface Session \{[^}]*\banswered\b/, /session\.answered/], // the count in the session that travels
  'lab7/unread-bytes': [/detachSocket\(/, /state\.recvQueue = Buffer\.concat\(/], // what Node read goes back in the receive queue
};

/** Lab 7's check makes a network namespace (root, or unshare -Urn); without one its tests skip. */
let namespaces: Promise<boolean> | undefined;
function canMakeNamespace(): Promise<boolean> {
  namespaces ??= NetworkNamespace.create().then(
    (ns) => ns.close().then(() => true),
    () => false,
  );
  return namespaces;
}

/** The command lines of running processes that match `pattern`. */
function processesRunning(pattern: RegExp): string[] {
  return fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).flatMap((pid) => {
    try {
      const command = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      return pattern.test(command) ? [`${pid}: ${command}`] : [];
    } catch {
      return []; // gone meanwhile
    }
  });
}

/** The pids of the processes in network namespace `ns` ("net:[4026532...]"). */
function processesIn(ns: string): string[] {
  return fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((pid) => {
    try {
      return fs.readlinkSync(`/proc/${pid}/ns/net`) === ns;
    } catch {
      return false;
    }
  });
}

function fdlab(args: string[], dir: string) {
  return collect(spawn(process.execPath, [CLI, ...args, '--dir', dir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
}

describe('challenges (fdlab challenge / check / hint)', function () {
  this.timeout(90_000);
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdlab-challenges-test-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('every lab with a challenge has a test expectation for it', function () {
    assert.deepEqual(CHALLENGES.map((c) => `lab${c.lab}/${c.id}`).filter((key) => !STARTING_PROBLEM[key]), []);
  });

  it('every lab has at least two challenges, each in README\'s table and on its lab\'s page, with 2 to 4 hints', function () {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const page = (lab: number) => fs.readFileSync(path.join(ROOT, 'lab', `lab${lab}`, 'README.md'), 'utf8');
    for (const lab of [1, 2, 3, 4, 5]) assert.ok(CHALLENGES.filter((c) => c.lab === lab).length >= 2, `lab ${lab}`);
    for (const c of CHALLENGES) {
      assert.ok(readme.includes(`| ${c.lab} | \`${c.id}\` |`), `README.md's table lacks lab ${c.lab} ${c.id}`);
      const text = page(c.lab);
      assert.ok(text.includes(`fdlab challenge ${c.lab} ${c.id}`) || text.includes(`fdlab -- challenge ${c.lab} ${c.id}`), `lab/lab${c.lab}/README.md does not mention fdlab challenge ${c.lab} ${c.id}`);
      assert.ok(c.hints.length >= 2 && c.hints.length <= 4, `${c.id}: ${c.hints.length} hints`);
    }
  });

  it('no starting file gives away the answer of a challenge of its own lab or an earlier one (a later lab may build on it)', function () {
    const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');
    const problems: string[] = [];
    for (const c of CHALLENGES) {
      const key = `lab${c.lab}/${c.id}`;
      const answer = ANSWERS[key];
      if (!answer) {
        problems.push(`${key}: no entry in ANSWERS`);
        continue;
      }
      // The marks are the answer: all in the solution, not all in its own starting file.
      for (const mark of answer) if (!mark.test(read(c.solution))) problems.push(`${key}: its solution lacks ${mark}`);
      if (answer.every((mark) => mark.test(read(c.start)))) problems.push(`${key}: its own starting file already has the answer`);
      for (const other of CHALLENGES) {
        if (other === c || other.start === c.start || other.lab > c.lab) continue;
        if (answer.every((mark) => mark.test(read(other.start)))) problems.push(`lab${other.lab}/${other.id}'s starting file (${other.start}) holds ${key}'s answer: ${answer.join(' and ')}`);
      }
    }
    assert.deepEqual(problems, []);
  });

  for (const challenge of CHALLENGES) {
    const key = `lab${challenge.lab}/${challenge.id}`;
    it(`${key}: the starting state fails with a hint-worthy message, the solution passes`, async function () {
      if (challenge.network === 'private' && !(await canMakeNamespace())) this.skip();
      const setUp = await fdlab(['challenge', String(challenge.lab), challenge.id], dir);
      assert.equal(setUp.code, 0, setUp.stderr);
      const file = path.join(dir, `lab${challenge.lab}`, challenge.id, challenge.file);
      assert.equal(fs.readFileSync(file, 'utf8'), fs.readFileSync(path.join(ROOT, challenge.start), 'utf8'));

      const failing = await fdlab(['check', String(challenge.lab), challenge.id], dir);
      assert.equal(failing.code, 1, failing.stdout + failing.stderr);
      assert.match(failing.stdout, STARTING_PROBLEM[key] ?? /^$/);
      assert.match(failing.stdout, new RegExp(`A hint: fdlab hint ${challenge.lab} ${challenge.id}`));

      // The learner edits the TypeScript file; the check compiles it again (no stale build).
      fs.copyFileSync(path.join(ROOT, challenge.solution), file);
      const passing = await fdlab(['check', String(challenge.lab), challenge.id], dir);
      assert.equal(passing.code, 0, passing.stdout + passing.stderr);
      assert.match(passing.stdout, /PASS: /);

      const progress = JSON.parse(fs.readFileSync(path.join(dir, 'progress.json'), 'utf8'));
      assert.equal(progress.tasks[key].checks, 2);
      assert.ok(progress.tasks[key].passedAt);
    });
  }

  it('lab3/exact-read: forwarding what was read (greedy-read\'s solution) gets every reply and still fails on strace\'s read sizes', async function () {
    await fdlab(['challenge', '3', 'exact-read'], dir);
    fs.copyFileSync(path.join(ROOT, 'challenges/lab3/greedy-read/solution.ts'), path.join(dir, 'lab3', 'exact-read', 'server.ts'));
    const check = await fdlab(['check', '3', 'exact-read'], dir);
    assert.equal(check.code, 1, check.stdout + check.stderr);
    assert.match(check.stdout, /200 of 200 replies/);
    assert.match(check.stdout, /NOT YET: every reply came, but one read took \d+ bytes off the connection, more than one request/);
  });

  it('lab4/drain: a drain without a deadline answers every connection and still fails: the idle client keeps gen 1 alive', async function () {
    await fdlab(['challenge', '4', 'drain'], dir);
    const file = path.join(dir, 'lab4', 'drain', 'server.ts');
    const solution = fs.readFileSync(path.join(ROOT, 'challenges/lab4/drain/solution.ts'), 'utf8');
    // The solution with its deadline taken out: server.close()'s callback alone.
    const noDeadline = solution.replace(/  const deadline = setTimeout\(\(\) => \{[^]*?\}, DRAIN_MS\);\n/, '').replace('    clearTimeout(deadline);\n', '');
    assert.notEqual(noDeadline, solution);
    assert.doesNotMatch(noDeadline, /deadline\)/);
    fs.writeFileSync(file, noDeadline);
    const check = await fdlab(['check', '4', 'drain'], dir);
    assert.equal(check.code, 1, check.stdout + check.stderr);
    assert.match(check.stdout, / 0 reset, 0 closed without an answer, 0 timed out/);
    assert.match(check.stdout, /NOT YET: gen 1 must exit once its connections are finished: one client never hangs up/);
  });

  it('lab7/unread-bytes: every unread ping carried but no hold: the client\'s next ping gets a RST, the check says so and leaves no process or namespace behind', async function () {
    if (!(await canMakeNamespace())) this.skip();
    await fdlab(['challenge', '7', 'unread-bytes'], dir);
    const solution = fs.readFileSync(path.join(ROOT, 'challenges/lab7/unread-bytes/solution.ts'), 'utf8');
    const noHold = solution.replace(/^  holdTheClient\(port\);.*\n/m, '');
    assert.notEqual(noHold, solution);
    fs.writeFileSync(path.join(dir, 'lab7', 'unread-bytes', 'old-server.ts'), noHold);
    const check = await fdlab(['check', '7', 'unread-bytes'], dir);
    assert.equal(check.code, 1, check.stdout + check.stderr);
    assert.match(check.stdout, /hold: 0 drop rule\(s\)/);
    assert.match(check.stdout, /client: connection error: ECONNRESET/);
    assert.match(check.stdout, /NOT YET: the client's connection broke before the new version rebuilt it: its next ping reached this network while no socket held the connection, and the kernel answered with a RST/);

    // Nothing left behind by a failed check: no role, and no process in the roles' namespace.
    const namespace = /in network namespace (net:\[\d+\])/.exec(check.stdout)?.[1]; // a failed check shows the roles' logs
    assert.ok(namespace, check.stdout);
    assert.notEqual(namespace, fs.readlinkSync('/proc/self/ns/net'), 'the roles ran in a namespace of their own');
    assert.deepEqual(processesRunning(/lab7-(new-server|client)\.js|lab7\/unread-bytes/), []);
    // A namespace lives while a process is in it (the check makes no bind mount): none is, so it is gone, nft rules and all.
    assert.deepEqual(processesIn(namespace!), [], `processes still in ${namespace}`);
  });

  it('no starting file gives away another challenge\'s answer: drain\'s has no gen 2 (the check brings its own)', function () {
    const drain = fs.readFileSync(path.join(ROOT, 'challenges/lab4/drain/server.ts'), 'utf8');
    assert.doesNotMatch(drain, /adoptServer|listen\(\{ fd/, "adopt-fd3's answer");
  });

  it('hints come one per call, progress is kept, and the last call names the solution', async function () {
    const [challenge] = CHALLENGES;
    await fdlab(['challenge', String(challenge.lab), challenge.id], dir);
    for (let i = 1; i <= challenge.hints.length; i++) {
      const hint = await fdlab(['hint', String(challenge.lab)], dir);
      assert.match(hint.stdout, new RegExp(`^Hint ${i} of ${challenge.hints.length} `));
    }
    const done = await fdlab(['hint', String(challenge.lab)], dir);
    assert.match(done.stdout, new RegExp(`No more hints .* A solution: ${challenge.solution}`));
    assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'progress.json'), 'utf8')).tasks[`lab${challenge.lab}/${challenge.id}`].hintsShown, challenge.hints.length);
  });

  it('a type error found while the roles run stops them: the compile error is the verdict, and no role is left', async function () {
    await fdlab(['challenge', '1', 'read-world'], dir);
    // Runs fine as JS and never listens: the check would wait 15 s for "listening on" if nothing stopped it.
    fs.writeFileSync(path.join(dir, 'lab1', 'read-world', 'receiver.ts'), 'const late: number = "a";\nsetInterval(() => console.log(late), 60_000);\n');
    const started = Date.now();
    const check = await fdlab(['check', '1'], dir);
    const took = Date.now() - started;
    assert.equal(check.code, 1, check.stdout + check.stderr);
    assert.match(check.stderr, /receiver\.ts\(1,7\): error TS2322: Type 'string' is not assignable to type 'number'\..*\[ERR_CHALLENGE_COMPILE\]/s);
    assert.doesNotMatch(check.stdout, /NOT YET|PASS/);
    assert.ok(took < 15_000, `the check took ${took} ms: it waited for the receiver instead of stopping at the type error`);
    assert.deepEqual(processesUsing(dir), []);
    assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'progress.json'), 'utf8')).tasks['lab1/read-world'].checks, 0);
  });

  it('clear errors with a code: a check before the set-up, a file that does not compile, an unknown lab', async function () {
    const notStarted = await fdlab(['check', '1', 'read-world'], dir);
    assert.equal(notStarted.code, 1);
    assert.match(notStarted.stderr, /does not exist: run `fdlab challenge 1 read-world --dir .*` first \[ERR_CHALLENGE_NOT_STARTED\]/);

    await fdlab(['challenge', '1', 'read-world'], dir);
    fs.appendFileSync(path.join(dir, 'lab1', 'read-world', 'receiver.ts'), 'const x: number = "a";\n');
    const broken = await fdlab(['check', '1'], dir);
    assert.equal(broken.code, 1);
    assert.match(broken.stderr, /receiver\.ts\(\d+,\d+\): error TS2322: .*\[ERR_CHALLENGE_COMPILE\]/s);

    // A syntax error: nothing is written, so nothing can run (the roles run .build/'s JS).
    fs.rmSync(path.join(dir, '.build'), { recursive: true, force: true });
    fs.writeFileSync(path.join(dir, 'lab1', 'read-world', 'receiver.ts'), 'const = ;\n');
    const unparsable = await fdlab(['check', '1'], dir);
    assert.equal(unparsable.code, 1);
    assert.match(unparsable.stderr, /receiver\.ts\(1,7\): error TS1134: .*\[ERR_CHALLENGE_COMPILE\]/s);
    assert.equal(fs.existsSync(path.join(dir, '.build', 'lab1', 'read-world', 'receiver.js')), false);

    const unknown = await fdlab(['challenge', '9'], dir);
    assert.match(unknown.stderr, /lab 9 has no challenges; .* \[ERR_NO_SUCH_CHALLENGE\]/);
  });
});

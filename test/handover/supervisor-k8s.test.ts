// Issue 20: the Kubernetes spec of docs/production.md
// (examples/production/fdlab.k8s.yaml), as far as is real without a cluster:
// the file parses (yaml) into one Deployment whose values hold together; its
// init container and its container run with Docker exactly as the spec says
// (image, command, args, env, the volume), in the container's own network as
// in a pod; the two commands its header gives (ship the new code through
// `kubectl exec -i ... tar`, upgrade with `kubectl exec ... kill -USR2 1`)
// run with `docker exec` in place of `kubectl exec`: 100 connections to the
// container's address, none lost, one container, the supervisor PID 1 and
// one worker after the upgrade settles. Not tested: a kubelet (preStop,
// the grace period, the Service's endpoints), which this machine has none of.
import { strict as assert } from 'node:assert';
import { execFile, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { tempDir, until } from '../helpers/fds';
import { dockerRunLogged, labImageOrSkip } from '../helpers/docker';
import { Pinger } from '../helpers/pinger';
import { projectPath } from '../../src/project';

const exec = promisify(execFile);
const CONNECTIONS = 100;
const docker = async (...args: string[]) => (await exec('docker', args)).stdout;
const SPEC = projectPath('examples', 'production', 'fdlab.k8s.yaml');
/** fdlab serve's defaults, which the spec's args keep: the longest a stop can wait for an upgrade to settle. */
const UPGRADE_TIMEOUT_S = 10;
const STANDBY_S = 5;

interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value: string }[];
  ports?: { containerPort: number }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
}

interface Deployment {
  apiVersion: string;
  kind: string;
  spec: {
    replicas: number;
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string> };
      spec: { terminationGracePeriodSeconds: number; initContainers: Container[]; containers: Container[]; volumes: { name: string; emptyDir?: object }[] };
    };
  };
}

/** The spec, parsed: one Deployment, no YAML error or warning. */
function readSpec(): { text: string; deployment: Deployment } {
  const text = fs.readFileSync(SPEC, 'utf8');
  const documents = parseAllDocuments(text);
  assert.ok(Array.isArray(documents) && documents.length === 1, 'one YAML document');
  const [document] = documents;
  assert.deepEqual([...document.errors, ...document.warnings].map((e) => e.message), []);
  return { text, deployment: document.toJS() as Deployment };
}

/** `docker run` arguments for a spec container: its command as the entrypoint and its args after the image, as the kubelet runs them. */
function runArgs(container: Container, image: string, volume: string): string[] {
  const [entrypoint, ...rest] = container.command ?? [];
  return [
    ...(container.env ?? []).flatMap((e) => ['-e', `${e.name}=${e.value}`]),
    ...(container.volumeMounts ?? []).flatMap((m) => ['-v', `${volume}:${m.mountPath}${m.readOnly ? ':ro' : ''}`]),
    ...(entrypoint ? ['--entrypoint', entrypoint] : []),
    image,
    ...rest,
    ...(container.args ?? []),
  ];
}

describe('the Kubernetes spec (examples/production/fdlab.k8s.yaml), run with Docker (issue 20)', function () {
  this.timeout(120_000);
  const name = `fdlab-k8s-test-${process.pid}`;
  const volume = `fdlab-k8s-test-${process.pid}`;
  const builtImage = `fdlab-k8s-test:${process.pid}`;
  let child: ChildProcess | null = null;
  let pinger: Pinger | null = null;

  afterEach(async () => {
    pinger?.close();
    pinger = null;
    await docker('rm', '-f', name).catch(() => '');
    child?.kill('SIGKILL');
    child = null;
    await docker('volume', 'rm', volume).catch(() => '');
    await docker('rmi', builtImage).catch(() => '');
  });

  it('parses into one Deployment: the supervisor as the command, a grace period that outlasts preStop and an upgrade settling, the code on a volume', () => {
    const { deployment } = readSpec();
    assert.equal(deployment.apiVersion, 'apps/v1');
    assert.equal(deployment.kind, 'Deployment');
    assert.equal(deployment.spec.replicas, 1);
    assert.deepEqual(deployment.spec.selector.matchLabels, deployment.spec.template.metadata.labels);
    const pod = deployment.spec.template.spec;
    const [container] = pod.containers;
    assert.equal(pod.containers.length, 1);
    assert.deepEqual(container.command!.slice(2, 3), ['run'], 'fdlab run is PID 1');
    assert.equal(container.command!.at(-1), '--');
    assert.deepEqual(container.args!.slice(0, 2), ['sh', '-c']);
    assert.match(container.args![2], /^exec node \S+ serve --host 0\.0\.0\.0 /, 'the worker execs the server, listening on the pod\'s address');
    assert.ok(container.ports!.some((p) => String(p.containerPort) === container.env!.find((e) => e.name === 'PORT')!.value), 'the port declared is the one served');
    const preStop = container.lifecycle!.preStop!.exec!.command;
    assert.equal(preStop[0], 'sleep');
    const needed = Number(preStop[1]) + UPGRADE_TIMEOUT_S + STANDBY_S;
    assert.ok(pod.terminationGracePeriodSeconds > needed, `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} > preStop ${preStop[1]} s + upgrade ${UPGRADE_TIMEOUT_S} s + standby ${STANDBY_S} s`);
    const [seed] = pod.initContainers;
    assert.equal(seed.image, container.image, 'the init container seeds the volume from the same image');
    const code = pod.volumes.find((v) => v.name === 'code')!;
    assert.ok(code.emptyDir, 'an emptyDir: the pod\'s own');
    for (const c of [seed, container]) assert.deepEqual(c.volumeMounts, [{ name: 'code', mountPath: '/code' }]);
  });

  it(`its init container and container, run as written; the header's two commands with docker exec for kubectl exec: the new code shipped, upgraded under ${CONNECTIONS} connections, 0 lost, one worker after`, async function () {
    const base = await labImageOrSkip();
    if (!base) return this.skip();
    const { text, deployment } = readSpec();
    const pod = deployment.spec.template.spec;
    const [seed] = pod.initContainers;
    const [container] = pod.containers;
    // The image is examples/production/Dockerfile, built on this build's lab image (no registry), under our own tag.
    await docker('build', '-q', '-t', builtImage, '--build-arg', `BASE=${base}`, projectPath('examples', 'production'));
    await docker('volume', 'create', '--label', 'fdlab.test=k8s', volume);
    await docker('run', '--rm', '--label', 'fdlab.test=k8s', ...runArgs(seed, builtImage, volume));
    // Its own network namespace, as a pod's: clients come to the container's address, on the spec's port.
    const run = dockerRunLogged(['--rm', '--name', name, '--label', 'fdlab.test=k8s', ...runArgs(container, builtImage, volume)]);
    child = run.child;
    const { exited, waitForLog } = run;
    const port = Number(container.env!.find((e) => e.name === 'PORT')!.value);
    const first = await waitForLog(new RegExp(`serving on 0\\.0\\.0\\.0:${port} as pid (\\d+) \\(v1\\)`));
    assert.equal((await docker('exec', name, 'cat', '/tmp/run.pid')).trim(), '1', 'the supervisor is PID 1');
    const address = (await docker('inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', name)).trim();
    assert.match(address, /^\d+\.\d+\.\d+\.\d+$/, 'the container has an address of its own');
    pinger = await Pinger.connect(port, CONNECTIONS, undefined, address);
    pinger.start();

    // The header's commands, with `docker exec <container>` where they say `kubectl exec <pod> -c fdlab --`.
    const commands = [...text.matchAll(/^# {3}(.*kubectl exec.*?)\s+# /gm)].map((m) => m[1].trim());
    assert.equal(commands.length, 2, `two kubectl exec commands in the header: ${commands.join(' | ')}`);
    const kubectlExec = /kubectl exec (-i )?<pod> -c fdlab --/;
    const v2 = tempDir();
    fs.writeFileSync(path.join(v2, 'VERSION'), 'v2');
    const [ship, upgrade] = commands.map((c) => c.replace(kubectlExec, (_, i: string | undefined) => `docker exec ${i ?? ''}${name}`).replace('./v2', v2));
    assert.match(ship, new RegExp(`^tar cf - -C ${v2} \\. \\| docker exec -i ${name} tar xf - -C /code$`));
    assert.equal(upgrade, `docker exec ${name} kill -USR2 1`);
    await exec('sh', ['-c', ship]);
    assert.equal((await docker('exec', name, 'cat', '/code/VERSION')).trim(), 'v2', 'the new code is on the volume');
    const from = run.log().length;
    await exec('sh', ['-c', upgrade]);
    const next = Number((await waitForLog(new RegExp(`worker pid ${first[1]} exited \\(code 0\\); serving: (\\d+)\\n`), from))[1]);
    assert.match(run.log().slice(from), new RegExp(`serving on 0\\.0\\.0\\.0:${port} as pid ${next} \\(v2\\)`), 'the new worker runs the code from the volume');
    const top = (await docker('top', name, '-o', 'pid,args')).trim().split('\n').slice(1);
    assert.equal(top.length, 2, `the supervisor and one worker:\n${top.join('\n')}`);
    const counts = await pinger.settle();
    assert.equal(counts.disconnects, 0, run.log());
    assert.equal(counts.pongs, counts.pings, 'every ping answered once');
    assert.equal((await docker('ps', '-q', '--filter', `name=^${name}$`)).trim().split('\n').length, 1, 'one container, the same');

    // The kubelet's end of a pod: preStop (a sleep: the binary is there), then SIGTERM to PID 1, SIGKILL after the grace period.
    await docker('exec', name, 'sh', '-c', `command -v ${container.lifecycle!.preStop!.exec!.command[0]}`);
    await docker('stop', '-t', String(pod.terminationGracePeriodSeconds), name);
    assert.equal(await exited, 0, run.log());
    await until(5000, () => `every connection closed by the server (${pinger!.disconnects})`, () => pinger!.disconnects === CONNECTIONS);
  });
});

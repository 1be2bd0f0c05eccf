// pm2 ecosystem file for an fdlab service (docs/production.md): pm2 starts
// the supervisor (`fdlab run`, fork mode) and watches it; the supervisor
// starts the worker and, on SIGUSR2, its successor:
//   pm2 start ecosystem.config.js
//   pm2 sendSignal SIGUSR2 fdlab      # hot upgrade: no restart, no dropped connection
//   pm2 delete fdlab                  # stops the supervisor and every worker
// test/handover/supervisor-pm2.test.ts runs this file as it is (FDLAB_CLI,
// FDLAB_DIR, FDLAB_NAME and FDLAB_PORT point it at a test's build and temp dir).
const dir = process.env.FDLAB_DIR || '/var/run/fdlab';
// `fdlab` on PATH, or a path to its CLI (dist/src/cli/main.js) run by this node.
const fdlab = process.env.FDLAB_CLI ? [process.execPath, process.env.FDLAB_CLI] : ['fdlab'];

module.exports = {
  apps: [
    {
      name: process.env.FDLAB_NAME || 'fdlab',
      script: fdlab[fdlab.length - 1],
      args: [
        'run', '--pid-file', `${dir}/run.pid`, '--',
        ...fdlab, 'serve', '--port', process.env.FDLAB_PORT || '7000', '--pid-file', `${dir}/serve.pid`, '--state-dir', `${dir}/state`,
      ],
      exec_mode: 'fork', // one supervisor process; cluster mode would start several, each its own service
      // pm2 stops with SIGINT: a stop during an upgrade waits for it to settle
      // (at most the upgrade's timeout, 10 s, plus the standby, 5 s) before pm2's SIGKILL.
      kill_timeout: 20000,
      out_file: `${dir}/out.log`,
      error_file: `${dir}/err.log`,
    },
  ],
};

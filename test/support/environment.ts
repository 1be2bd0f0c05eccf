// Settings every test process needs on an offline machine: testcontainers
// must not try to pull its helper images (ryuk, alpine).
process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
process.env.TESTCONTAINERS_HOST_OVERRIDE ??= 'localhost';

// Root hooks: a run leaves no temporary directories behind.
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const mochaHooks = { afterAll: () => (require('../helpers/fds') as typeof import('../helpers/fds')).removeTempDirs() };

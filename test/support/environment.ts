// Settings every test process needs on an offline machine: testcontainers
// must not try to pull its helper images (ryuk, alpine).
process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
process.env.TESTCONTAINERS_HOST_OVERRIDE ??= 'localhost';

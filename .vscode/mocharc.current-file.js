// Mocha settings for launch.json's "Mocha: current test file": the repo's
// .mocharc.json minus its `spec`. Mocha adds a config's spec to the files
// named on the command line, so with .mocharc.json itself the whole suite
// would run instead of the one open file.
const settings = { ...require('../.mocharc.json') };
delete settings.spec;

module.exports = settings;

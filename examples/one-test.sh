#!/bin/sh
# One test file from a terminal, after `npm run build`: without the config,
# whose spec list would add the whole suite, and with the setup file named.
npx mocha --no-config -r dist/test/support/environment.js -t 120000 --exit dist/test/channel/frame.test.js

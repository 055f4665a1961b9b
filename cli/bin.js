#!/usr/bin/env node
// `fsdr` as the package's bin: in a checkout (`npx fsdr`) it runs the TypeScript source through tsx, so no build is
// needed and it is never stale; without the source (a build) it runs dist/cli/main.js.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const source = path.join(__dirname, 'main.ts');
if (fs.existsSync(source)) {
  require('tsx/cjs');
  require(source);
} else {
  require(path.join(__dirname, '..', 'dist', 'cli', 'main.js'));
}

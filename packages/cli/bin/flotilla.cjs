#!/usr/bin/env node
'use strict';
// The `flotilla` command. CommonJS, so that any Node can parse it and the version check can speak
// before the TypeScript sources are loaded.
if (require('./check-node.cjs').checkNode()) import('../src/main.ts');
else process.exitCode = 1;

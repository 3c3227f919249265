'use strict';
// Plain CommonJS on purpose: this runs before any TypeScript source, on whatever Node the user has,
// so that an old one says which Node flotilla needs instead of failing with
// ERR_UNKNOWN_FILE_EXTENSION ".ts". Keep it to what Node 16 can parse and run.
const fs = require('node:fs');
const path = require('node:path');

/** The Node major suggested to get: the one CI runs. */
const SUGGESTED_MAJOR = 24;

/** `engines.node` of the nearest package.json above this file that has one (the repository's). */
function requiredRange() {
  let dir = __dirname;
  for (;;) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) {
      const engines = JSON.parse(fs.readFileSync(file, 'utf8')).engines;
      if (engines?.node) return engines.node;
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json with engines.node above ${__dirname}`);
    dir = parent;
  }
}

/** Whether `version` (`22.18.0`) satisfies a `>=X[.Y[.Z]]` range, the only form engines.node uses here. */
function satisfies(version, range) {
  const minimum = /^>=\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(range.trim());
  if (!minimum) throw new Error(`engines.node must read ">=X.Y", got "${range}"`);
  const have = version.split('.').map(Number);
  for (let i = 0; i < 3; i += 1) {
    const want = Number(minimum[i + 1] || 0);
    if (have[i] !== want) return have[i] > want;
  }
  return true;
}

/** The one line an unsupported Node gets: what is needed, what was found, how to get it. */
function unsupportedMessage(range, found) {
  const pkg = `node-${process.platform}-${process.arch}`;
  const prefix = `.cache/node${SUGGESTED_MAJOR}`;
  return (
    `error: flotilla needs Node ${range} (engines in package.json), found ${found}; get it with: ` +
    `npm install --prefix ~/${prefix} ${pkg}@${SUGGESTED_MAJOR} && ` +
    `export PATH=$HOME/${prefix}/node_modules/${pkg}/bin:$PATH (or: nvm install ${SUGGESTED_MAJOR})`
  );
}

/** True on a Node that can run flotilla; otherwise prints the one line to stderr and returns false. */
function checkNode() {
  const range = requiredRange();
  if (satisfies(process.versions.node, range)) return true;
  console.error(unsupportedMessage(range, process.version));
  return false;
}

module.exports = { checkNode, satisfies };

// Run as a script (npm's preinstall and test): exit 1 on an unsupported Node.
if (require.main === module && !checkNode()) process.exit(1);

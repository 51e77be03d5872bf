// Prints one list of native/build-flags.json for binding.gyp (node-gyp reads it with
// <!@(...)): `cflags` (optimisation, warnings, the x86-64 level when building for x64,
// the addon's visibility) or `defines`. CMakeLists.txt reads the same file itself.
const fs = require('node:fs');
const path = require('node:path');
const flags = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'native', 'build-flags.json'), 'utf8'));
const what = process.argv[2];
let out;
if (what === 'cflags')
  out = [...flags.cxx, ...flags.warnings, ...(process.arch === 'x64' ? flags.x86_64 : []), ...flags.addon];
else if (what === 'defines') out = flags.addon_defines;
else {
  process.stderr.write(`build-flags.js: expected 'cflags' or 'defines', got '${what}'\n`);
  process.exit(1);
}
process.stdout.write(`${out.join('\n')}\n`);

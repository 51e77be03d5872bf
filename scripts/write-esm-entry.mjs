// Writes dist/index.mjs, the ESM entry: re-exports the CommonJS build by name so
// `import { P2SAM } from 'p2sam-native'` works without a second compilation.
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const cjs = require(path.join(root, 'dist/lib/index.js'));
const names = Object.keys(cjs).filter((n) => n !== 'default' && n !== '__esModule');
const lines = [
  "import cjs from './lib/index.js';",
  ...names.map((n) => `export const ${n} = cjs.${n};`),
  'export default cjs;',
  '',
];
writeFileSync(path.join(root, 'dist/index.mjs'), lines.join('\n'));

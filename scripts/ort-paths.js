// Where the pinned onnxruntime-node keeps libonnxruntime.so.1; used by binding.gyp.
const path = require('node:path');
const dir = path.join(
  path.dirname(require.resolve('onnxruntime-node/package.json')),
  'bin',
  'napi-v6',
  'linux',
  'x64',
);
process.stdout.write(process.argv[2] === 'lib' ? path.join(dir, 'libonnxruntime.so.1') : dir);

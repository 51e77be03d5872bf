// Prints the C++ sources of the CPU-only addon for binding.gyp (node-gyp has no glob),
// so binding.gyp and CMakeLists.txt always compile the same files.
const fs = require('node:fs');
const path = require('node:path');
const root = path.resolve(__dirname, '..');
const dirs = ['native/core', 'native/runtime', 'native/addon'];
const files = [];
for (const d of dirs) {
  for (const f of fs.readdirSync(path.join(root, d)).sort()) {
    // The libtorch runners are built only into p2sam_torch.node (CMake), never into p2sam.node.
    if (f.endsWith('.cpp') && !f.startsWith('torch_')) files.push(`${d}/${f}`);
  }
}
files.push('native/cuda/cuda_unavailable.cpp');
process.stdout.write(`${files.join('\n')}\n`);

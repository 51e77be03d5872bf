// Smoke test of an addon build (used by CI for the node-gyp variant): load it, write the
// testkit model, run one real encoder + decoder inference and check the result.
// Select the build with P2SAM_NATIVE_PATH.
import { createRequire } from 'node:module';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const require = createRequire(import.meta.url);
const { P2SAM, testkit } = require('../dist/lib/index.js');
const { nativeFile } = require('../dist/lib/native.js');

const dir = mkdtempSync(path.join(os.tmpdir(), 'p2sam-smoke-'));
const paths = await testkit.writeTestkitModel(dir);
const model = await P2SAM.load({ ...paths, threads: 1 });
const w = 64,
  h = 48;
const data = new Uint8Array(w * h * 3).fill(128);
for (let y = 10; y < 38; y++) for (let x = 8; x < 30; x++) data.set([220, 30, 30], (y * w + x) * 3);
const emb = await model.encode({ data, width: w, height: h, channels: 3 });
const r = await model.predict(emb, { points: [{ x: 18, y: 24, label: 1 }] });
let inside = 0,
  total = 0;
for (let i = 0; i < w * h; i++) total += r.masks[0][i];
for (let y = 10; y < 38; y++) for (let x = 8; x < 30; x++) inside += r.masks[0][y * w + x];
await model.dispose();
console.log(`smoke: addon ${nativeFile()}: mask ${total} px, ${inside} inside the red patch of ${22 * 28}`);
if (total === 0 || inside / total < 0.9 || inside < 0.8 * 22 * 28) {
  console.error('smoke test FAILED: the mask does not cover the red patch');
  process.exit(1);
}
console.log('smoke test passed');

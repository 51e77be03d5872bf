// Electron main process of the example app (docs/electron.md): it never loads the addon
// itself. It starts segment-worker.js as a utilityProcess, sends it one request built from
// the testkit (so the example needs no model download) and prints the answer.
//   npm install && npx electron .        (electron and electron-builder are devDependencies)
'use strict';
const path = require('node:path');
const os = require('node:os');
const { mkdtempSync } = require('node:fs');
const { app, utilityProcess } = require('electron');

app.whenReady().then(async () => {
  // The testkit writes a small real ONNX model pair and a synthetic scene: pure JS, so the
  // main process may do it; everything native happens in the utility process.
  const { testkit, writeImagePng, writeMaskPng } = require('p2sam-native');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'p2sam-electron-'));
  const model = await testkit.writeTestkitModel(path.join(dir, 'model'));
  const [ref, target] = testkit.sequence(2, { width: 320, height: 240, seed: 3 });
  await writeImagePng(path.join(dir, 'ref.png'), ref.image);
  await writeMaskPng(path.join(dir, 'ref-mask.png'), ref.mask);
  await writeImagePng(path.join(dir, 'target.png'), target.image);

  const child = utilityProcess.fork(path.join(__dirname, 'segment-worker.js'), [], { serviceName: 'p2sam' });
  child.once('message', (reply) => {
    console.log(reply.ok ? `mask ${reply.result.width}×${reply.result.height}, ${reply.result.area} px, ${reply.result.parts} parts` : `failed: ${reply.code}: ${reply.message}`);
    child.postMessage('exit');
    app.quit();
  });
  child.postMessage({ ...model, refImage: path.join(dir, 'ref.png'), refMask: path.join(dir, 'ref-mask.png'), target: path.join(dir, 'target.png') });
});

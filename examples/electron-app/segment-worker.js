// The p2sam side of the example app: runs in Electron's utilityProcess (a Node process of
// its own, like child_process.fork), never in the renderer. It answers one message:
// { encoder, decoder, refImage, refMask, target } (paths) → { width, height, area, sha256, parts }.
// The same file runs under plain Node through child_process.fork (the repository's tests
// do exactly that): parentPort is Electron's channel, process.send Node's.
'use strict';
const { createHash } = require('node:crypto');
const { P2SAM, readImage, readMask } = require('p2sam-native');

const port = process.parentPort ?? {
  on: (event, listener) => process.on(event, (data) => listener({ data })),
  postMessage: (message) => process.send(message),
};

let modelPromise; // one model load per process, reused by every request

async function segment({ encoder, decoder, refImage, refMask, target, threads }) {
  modelPromise ??= P2SAM.load({ encoder, decoder, ...(threads ? { threads } : {}) });
  const model = await modelPromise;
  const image = await readImage(refImage);
  const mask = await readMask(refMask, { width: image.width, height: image.height });
  const reference = await model.createReference({ image, mask }, { parts: { min: 1, max: 3 } });
  try {
    const r = await model.segment(await readImage(target), { reference });
    let area = 0;
    for (const v of r.mask) area += v !== 0 ? 1 : 0;
    return { width: r.width, height: r.height, area, parts: r.parts, sha256: createHash('sha256').update(r.mask).digest('hex') };
  } finally {
    reference.dispose();
  }
}

port.on('message', ({ data }) => {
  if (data === 'exit') {
    Promise.resolve(modelPromise && modelPromise.then((m) => m.dispose())).finally(() => process.exit(0));
    return;
  }
  segment(data).then(
    (result) => port.postMessage({ ok: true, result }),
    (err) => port.postMessage({ ok: false, code: err.code ?? 'ERROR', message: err.message }),
  );
});

/**
 * The process models Electron apps use, with plain Node standing in: the API from four
 * worker_threads at once (each loads the addon into its own environment and its own
 * model), and the example app's utility-process script (examples/electron-app/
 * segment-worker.js) in a forked child, which is what Electron's utilityProcess is.
 * Every run segments the same target from the same reference, so every mask must be
 * byte-identical to the one this test's own thread computes.
 */
import { fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { symlinkSync } from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { beforeAll, describe, expect, it } from 'vitest';
import { readImage, readMask } from '../lib/io/image';
import { P2SAM } from '../lib/model';
import { ensureBuilt, ROOT, tempDir, writeModel, writeSequence } from './cli-helpers';

interface Request {
  encoder: string;
  decoder: string;
  refImage: string;
  refMask: string;
  target: string;
  threads: number;
}
interface Answer {
  width: number;
  height: number;
  area: number;
  parts: number;
  sha256: string;
}

let request: Request;
let expected: Answer;

beforeAll(async () => {
  ensureBuilt();
  const dir = tempDir('electron-proc');
  const model = await writeModel(path.join(dir, 'model'));
  await writeSequence(['ref', 'target'], path.join(dir, 'frames'), path.join(dir, 'gt'));
  request = {
    ...model,
    refImage: path.join(dir, 'frames', 'ref.png'),
    refMask: path.join(dir, 'gt', 'ref.png'),
    target: path.join(dir, 'frames', 'target.png'),
    threads: 1,
  };
  const m = await P2SAM.load({ encoder: model.encoder, decoder: model.decoder, threads: 1 });
  try {
    const image = await readImage(request.refImage);
    const reference = await m.createReference(
      { image, mask: await readMask(request.refMask) },
      { parts: { min: 1, max: 3 } },
    );
    const r = await m.segment(await readImage(request.target), { reference });
    reference.dispose();
    let area = 0;
    for (const v of r.mask) area += v !== 0 ? 1 : 0;
    expected = {
      width: r.width,
      height: r.height,
      area,
      parts: r.parts,
      sha256: createHash('sha256').update(r.mask).digest('hex'),
    };
  } finally {
    await m.dispose();
  }
  expect(expected.area).toBeGreaterThan(0);
}, 120_000);

/** The same steps as segment-worker.js, inside a worker thread, against the compiled package. */
const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { P2SAM, readImage, readMask } = require(${JSON.stringify(path.join(ROOT, 'dist', 'lib', 'index.js'))});
(async () => {
  const { encoder, decoder, refImage, refMask, target, threads } = workerData;
  const model = await P2SAM.load({ encoder, decoder, threads });
  const reference = await model.createReference({ image: await readImage(refImage), mask: await readMask(refMask) }, { parts: { min: 1, max: 3 } });
  const r = await model.segment(await readImage(target), { reference });
  let area = 0;
  for (const v of r.mask) area += v !== 0 ? 1 : 0;
  reference.dispose();
  await model.dispose();
  parentPort.postMessage({ width: r.width, height: r.height, area, parts: r.parts, sha256: createHash('sha256').update(r.mask).digest('hex') });
})().catch((e) => parentPort.postMessage({ error: e.code + ': ' + e.message }));
`;

function inThread(): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const w = new Worker(THREAD_SOURCE, { eval: true, workerData: request });
    w.once('message', (m: Answer & { error?: string }) =>
      m.error ? reject(new Error(m.error)) : resolve(m),
    );
    w.once('error', reject);
  });
}

describe('Electron process models, with Node standing in', () => {
  it('four worker_threads at once, each with its own model, give the same mask', async () => {
    const answers = await Promise.all([inThread(), inThread(), inThread(), inThread()]);
    for (const a of answers) expect(a).toEqual(expected);
  }, 180_000);

  it("the example app's utility-process script, forked, answers repeated requests and a bad one with its code", async () => {
    // The example requires 'p2sam-native' by name, as an app's dependency; here the name
    // resolves to this checkout through NODE_PATH.
    const modules = tempDir('electron-nm');
    symlinkSync(ROOT, path.join(modules, 'p2sam-native'), 'dir');
    const child = fork(path.join(ROOT, 'examples', 'electron-app', 'segment-worker.js'), [], {
      env: { ...process.env, NODE_PATH: modules },
      stdio: 'pipe',
    });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const ask = (data: unknown) =>
      new Promise<{ ok: boolean; result?: Answer; code?: string; message?: string }>((resolve, reject) => {
        const early = (code: number | null) =>
          reject(new Error(`segment-worker.js exited (${code}):\n${stderr}`));
        child.once('exit', early);
        child.once('message', (m) => {
          child.off('exit', early);
          resolve(m as { ok: boolean });
        });
        child.send(data as object);
      });
    try {
      const first = await ask(request);
      expect(first, stderr).toEqual({ ok: true, result: expected });
      expect(await ask(request)).toEqual({ ok: true, result: expected });
      // A bad request is answered with its code; the process stays up.
      const bad = await ask({ ...request, target: path.join(ROOT, 'no-such-image.png') });
      expect(bad.ok).toBe(false);
      expect(bad.code).toBe('IMAGE_READ_FAILED');
      const exited = new Promise<number | null>((r) => child.once('exit', r));
      child.send('exit');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 120_000);
});

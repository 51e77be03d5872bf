/**
 * Issue 15 — a worker_threads Worker terminated while a p2sam call runs in it must not
 * take the process down. Electron apps and job runners terminate workers; before the
 * fix the addon aborted the whole process (`terminate called after throwing an
 * instance of 'Napi::Error'`) when a native task finished after its environment had
 * started tearing down.
 *
 * Each scenario runs in its own child process: a worker starts the call in a loop and
 * posts 'busy'; the parent terminates it after a delay (several delays, so the
 * termination lands at different points of the call), then waits long enough for the
 * native work still in flight on libuv's pool to finish against the dead environment,
 * and prints SURVIVED. The test asserts a clean exit 0 with that line.
 */
import { describe, expect, it } from 'vitest';
import { DIST, describeExit, runScript } from './hardening-helpers';
import { testkitModel } from './helpers';

const CHILD = String.raw`
const { Worker } = require('node:worker_threads');
const input = JSON.parse(process.argv[2]);
const workerSource = ${'`'}
const { workerData, parentPort } = require('node:worker_threads');
const { dist, encoder, decoder, mode } = workerData;
(async () => {
  if (mode === 'require') {
    parentPort.postMessage('busy');
    const p2sam = require(dist);
    p2sam.backends();
    return;
  }
  const p2sam = require(dist);
  const { makeScene } = p2sam.testkit;
  if (mode === 'load' || mode === 'dispose') {
    parentPort.postMessage('busy');
    for (;;) {
      const model = await p2sam.P2SAM.load({ encoder, decoder, threads: 1 });
      if (mode === 'dispose') await model.dispose();
    }
  }
  if (mode === 'core') {
    const n = 4000, d = 64;
    const f = new Float32Array(n * d);
    for (let i = 0; i < f.length; i++) f[i] = Math.sin(i * 12.9898) * 43758.5453 % 1;
    parentPort.postMessage('busy');
    for (;;) {
      await Promise.all([
        p2sam.core.kmeans(f, d, { ks: [8, 16], restarts: 3, threads: 2 }),
        p2sam.core.wasserstein(f.subarray(0, 400 * d), f.subarray(400 * d, 800 * d), d, { solver: 'sinkhorn' }),
        p2sam.core.wasserstein(f.subarray(0, 60 * d), f.subarray(60 * d, 120 * d), d),
      ]);
    }
  }
  const model = await p2sam.P2SAM.load({ encoder, decoder, threads: 1, concurrency: 2 });
  const ref = makeScene({ width: 320, height: 240, seed: 4, scale: 0.55 });
  const target = makeScene({ width: 320, height: 240, seed: 4, noiseSeed: 2, center: [0.55, 0.5], scale: 0.55 });
  const reference = await model.createReference({ image: ref.image, mask: ref.mask }, { parts: { min: 1, max: 3 } });
  parentPort.postMessage('busy');
  for (;;) {
    await Promise.all([
      model.segment(target.image, { reference }),
      model.encode(target.image).then((e) => e.dispose()),
      model.createReference({ image: ref.image, mask: ref.mask }, { parts: { min: 1, max: 2 } }),
    ]);
  }
})().catch((e) => parentPort.postMessage('error: ' + (e && e.stack || e)));
${'`'};

async function once(delayMs) {
  const worker = new Worker(workerSource, { eval: true, workerData: { ...input, dist: input.dist } });
  await new Promise((resolve, reject) => {
    worker.on('message', (m) => {
      if (m === 'busy') setTimeout(resolve, delayMs);
      else reject(new Error(String(m)));
    });
    worker.on('error', reject);
  });
  await worker.terminate();
}

(async () => {
  for (const delay of input.delays) await once(delay);
  // Native tasks that were running when their worker died finish now, on the pool.
  await new Promise((r) => setTimeout(r, 1500));
  console.log('SURVIVED');
})().catch((e) => { console.error('child failed:', e); process.exit(3); });
`;

async function scenario(mode: string, delays: number[]): Promise<void> {
  const model = await testkitModel();
  const r = await runScript(CHILD, { ...model, dist: DIST, mode, delays }, { timeoutMs: 120_000 });
  expect(r.signal, describeExit(r)).toBeNull();
  expect(r.code, describeExit(r)).toBe(0);
  expect(r.stdout).toContain('SURVIVED');
}

describe('terminating a worker with p2sam work in flight', () => {
  it('during segment / encode / createReference', () => scenario('segment', [0, 5, 20, 60, 150]), 150_000);
  it('during P2SAM.load', () => scenario('load', [0, 3, 10, 30, 80]), 150_000);
  it('during load + dispose cycles', () => scenario('dispose', [0, 5, 20, 60]), 150_000);
  it('during core.kmeans / core.wasserstein', () => scenario('core', [0, 2, 10, 40, 100]), 150_000);
  it(
    'while the worker is still loading the addon',
    () => scenario('require', [0, 0, 1, 2, 4, 8, 16]),
    150_000,
  );
});

/**
 * Issue 6 — long runs: RSS stays flat over 500 targets.
 *
 * One reference (testkit model, 256×192, parts 1..3), then 500 targets: 50 to warm up
 * (ONNX Runtime's arena, V8's heap and libuv's pool all grow to their working size
 * first), then 450 measured ones. Every 50 targets a full GC runs and RSS is sampled;
 * growth after warm-up must stay under 50 MB (an average leak of ≥ ~110 KB per target
 * would fail it — less than one 256×192 RGB image plus its mask). Every tenth target
 * goes through encode() + segment(embedding) + dispose() instead, so the embedding path
 * is covered as well.
 *
 * GC: vitest's forks do not pass --expose-gc; V8 can still be told to expose it at run
 * time (setFlagsFromString), and a fresh VM context then has `gc` as a global.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { P2SAM, type Reference } from '../lib';
import { makeScene, sequence } from '../lib/testkit/scenes';
import { testkitModel } from './helpers';

const TARGETS = Math.max(100, Number(process.env.P2SAM_LEAK_TARGETS) || 500);
const WARMUP = 50;
const SAMPLE_EVERY = 50;
const GROWTH_LIMIT_MB = 50;
const W = 256;
const H = 192;

function exposeGc(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (existing) return existing;
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

const gc = exposeGc();
const MB = 2 ** 20;

function settledRss(): number {
  // Two passes: the first can only schedule finalizers (native wrappers, ArrayBuffer
  // backing stores) that the second then frees.
  gc();
  gc();
  return process.memoryUsage().rss;
}

let model: P2SAM;
let ref: Reference;

beforeAll(async () => {
  // One ONNX Runtime thread per call and two calls at a time: on two cores this is the
  // highest throughput (≈195 ms of CPU per target here), which keeps 500 targets near a minute.
  model = await P2SAM.load({ ...(await testkitModel()), threads: 1, concurrency: 2 });
  const scene = makeScene({ width: W, height: H, seed: 21, scale: 0.55 });
  ref = await model.createReference({ image: scene.image, mask: scene.mask }, { parts: { min: 1, max: 3 } });
});

afterAll(async () => {
  await model?.dispose();
});

describe('long runs', () => {
  it(`RSS growth over ${TARGETS} targets stays under ${GROWTH_LIMIT_MB} MB after warm-up`, async () => {
    // A pool of distinct frames, cycled, so the test itself does not allocate per target.
    const frames = sequence(12, { width: W, height: H, seed: 21 }).map((s) => s.image);
    const samples: { done: number; rssMb: number; heapMb: number; arrayBuffersMb: number }[] = [];
    let baseline = 0;
    let emptyResults = 0;
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    // Two targets at a time, as a batch pipeline would run them.
    for (let done = 0; done < TARGETS; done += 2) {
      await Promise.all(
        [done, done + 1].map(async (i) => {
          const image = frames[i % frames.length];
          let r: Awaited<ReturnType<typeof model.segment>>;
          if (i % 10 === 9) {
            const emb = await model.encode(image);
            r = await model.segment(emb, { reference: ref });
            emb.dispose();
          } else {
            r = await model.segment(image, { reference: ref });
          }
          if (r.empty) emptyResults++;
        }),
      );
      const n = done + 2;
      if (n === WARMUP) baseline = settledRss();
      if (n > WARMUP && (n - WARMUP) % SAMPLE_EVERY === 0) {
        const rss = settledRss();
        const mu = process.memoryUsage();
        samples.push({
          done: n,
          rssMb: (rss - baseline) / MB,
          heapMb: mu.heapUsed / MB,
          arrayBuffersMb: mu.arrayBuffers / MB,
        });
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const last = samples[samples.length - 1];
    console.log(
      `leak test: ${TARGETS} targets in ${seconds.toFixed(1)} s (${((seconds * 1000) / TARGETS).toFixed(0)} ms/target, ` +
        `${((cpu.user + cpu.system) / 1000 / TARGETS).toFixed(0)} ms CPU/target); ` +
        `RSS after warm-up ${(baseline / MB).toFixed(0)} MB; growth by target: ` +
        samples.map((s) => `${s.done}: ${s.rssMb >= 0 ? '+' : ''}${s.rssMb.toFixed(1)}`).join(', ') +
        ` MB; heap ${last.heapMb.toFixed(0)} MB, array buffers ${last.arrayBuffersMb.toFixed(1)} MB`,
    );
    expect(emptyResults).toBe(0); // the run did real work on every target
    expect(model.stats().segments).toBeGreaterThanOrEqual(TARGETS);
    expect(Math.max(...samples.map((s) => s.rssMb))).toBeLessThan(GROWTH_LIMIT_MB);
    // JS-visible buffers must not pile up either (results are dropped every iteration).
    expect(last.arrayBuffersMb).toBeLessThan(20);
  }, 240_000);
});

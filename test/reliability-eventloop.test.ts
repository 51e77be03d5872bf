/**
 * Issue 6 — the JS thread stays responsive while P2SAM works (an Electron UI calls it
 * from its main thread): event-loop lag < 50 ms during a full createReference and
 * segment.
 *
 * The model runs with threads: 1 and concurrency: 1 so one of this machine's two cores
 * stays free for the JS thread; then any lag we see comes from work done on the JS
 * thread itself (argument copies, result conversion, JS loops), not from a starved core.
 *
 * A shared, noisy machine can deschedule the process for tens of milliseconds at any
 * moment, which is not what this test is about. Lag caused by our code happens on every
 * run, so each measurement is repeated (up to 3 times) and the best run must pass.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { P2SAM, type Reference } from '../lib';
import { makeScene } from '../lib/testkit/scenes';
import { testkitModel } from './helpers';

const LAG_LIMIT_MS = 50;
const ATTEMPTS = 3;

let model: P2SAM;

beforeAll(async () => {
  model = await P2SAM.load({ ...(await testkitModel()), threads: 1, concurrency: 1 });
});

afterAll(async () => {
  await model?.dispose();
});

/**
 * Runs `work` while sampling the event loop two ways: a 5 ms interval timer (the
 * largest gap beyond 5 ms between ticks) and perf_hooks' histogram (its max).
 */
async function lagDuring(work: () => Promise<unknown>): Promise<{ timerMs: number; histogramMs: number; workMs: number }> {
  const hist = monitorEventLoopDelay({ resolution: 5 });
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last - 5);
    last = now;
  }, 5);
  hist.enable();
  const t0 = performance.now();
  try {
    await work();
  } finally {
    clearInterval(timer);
    hist.disable();
  }
  const workMs = performance.now() - t0;
  // One more turn so a stall at the very end is seen by the timer too.
  await new Promise((r) => setTimeout(r, 10));
  return { timerMs: worst, histogramMs: hist.max / 1e6, workMs };
}

async function bestOf(label: string, work: () => Promise<unknown>): Promise<number> {
  const runs: { timerMs: number; histogramMs: number; workMs: number }[] = [];
  for (let i = 0; i < ATTEMPTS; i++) {
    const r = await lagDuring(work);
    runs.push(r);
    if (Math.max(r.timerMs, r.histogramMs) < LAG_LIMIT_MS) break;
  }
  const best = Math.min(...runs.map((r) => Math.max(r.timerMs, r.histogramMs)));
  console.log(
    `event-loop lag, ${label}: ` +
      runs.map((r) => `timer ${r.timerMs.toFixed(1)} ms / histogram ${r.histogramMs.toFixed(1)} ms over ${r.workMs.toFixed(0)} ms`).join('; '),
  );
  return best;
}

describe('event loop stays responsive', () => {
  for (const [w, h] of [
    [640, 480],
    [1920, 1080],
  ] as const) {
    it(`createReference + segment on ${w}×${h}: lag < ${LAG_LIMIT_MS} ms`, async () => {
      const ref = makeScene({ width: w, height: h, seed: 8, scale: 0.5 });
      const target = makeScene({ width: w, height: h, seed: 8, noiseSeed: 3, center: [0.55, 0.5], scale: 0.5 });
      let reference: Reference | undefined;
      const refLag = await bestOf(`createReference ${w}×${h}`, async () => {
        reference = await model.createReference({ image: ref.image, mask: ref.mask }, { parts: { min: 1, max: 5 } });
      });
      expect(refLag).toBeLessThan(LAG_LIMIT_MS);
      const segLag = await bestOf(`segment ${w}×${h}`, async () => {
        const r = await model.segment(target.image, { reference: reference! });
        expect(r.mask.length).toBe(w * h);
      });
      expect(segLag).toBeLessThan(LAG_LIMIT_MS);
    }, 120_000);
  }
});

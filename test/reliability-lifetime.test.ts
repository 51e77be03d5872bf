/**
 * Issue 6 — lifetimes, cancellation and concurrency.
 *
 * - dispose(): in-flight calls finish (or reject cleanly), dispose() resolves only after
 *   them, every later call rejects with code DISPOSED; `await using` does the same.
 * - Embedding / Reference dispose, including while a call is using them.
 * - AbortSignal: rejects with P2SamError ABORTED (the reason as cause) at each stage boundary of
 *   encode / createReference / segment, and while waiting for a concurrency slot.
 * - 8 concurrent segment calls equal the sequential results; `concurrency` bounds how
 *   many run at once (measured from the calls' own progress timestamps).
 */
import { beforeAll, afterAll, describe, expect, it } from 'vitest';
import { type Embedding, P2SAM, P2SamError, Reference, type SegmentResult } from '../lib';
import { makeScene, sequence } from '../lib/testkit/scenes';
import { testkitModel } from './helpers';

const W = 320;
const H = 240;
const refScene = makeScene({ width: W, height: H, seed: 4, scale: 0.55 });
const frames = sequence(8, { width: W, height: H, seed: 4 });
const PARTS = { min: 1, max: 3 };

let paths: { encoder: string; decoder: string };
let model: P2SAM;
let ref: Reference;

beforeAll(async () => {
  paths = await testkitModel();
  model = await P2SAM.load({ ...paths, threads: 2, concurrency: 2 });
  ref = await model.createReference({ image: refScene.image, mask: refScene.mask }, { parts: PARTS });
});

afterAll(async () => {
  await model?.dispose();
});

function reason(tag: string): Error {
  return new Error(`reliability abort: ${tag}`);
}

async function settle<T>(p: Promise<T>): Promise<PromiseSettledResult<T>> {
  const [r] = await Promise.allSettled([p]);
  return r;
}

function sameResult(a: SegmentResult, b: SegmentResult): void {
  expect(Buffer.from(a.mask).equals(Buffer.from(b.mask))).toBe(true);
  expect(a.parts).toBe(b.parts);
  expect(a.points).toEqual(b.points);
  expect(a.candidates.map((c) => c.score)).toEqual(b.candidates.map((c) => c.score));
}

function expectDisposed(r: PromiseSettledResult<unknown>): void {
  expect(r.status).toBe('rejected');
  const e = (r as PromiseRejectedResult).reason;
  expect(e).toBeInstanceOf(P2SamError);
  expect(e.code).toBe('DISPOSED');
}

describe('model dispose', () => {
  it('dispose during a run: started calls finish, queued calls reject DISPOSED, dispose waits, later calls reject DISPOSED', async () => {
    const m = await P2SAM.load({ ...paths, threads: 2, concurrency: 2 });
    const r = await m.createReference({ image: refScene.image, mask: refScene.mask }, { parts: PARTS });
    const emb = await m.encode(frames[0].image);
    const track = (_name: string, p: Promise<unknown>) => settle(p);
    const calls = [
      track('segment0', m.segment(frames[0].image, { reference: r })),
      track('segment1', m.segment(frames[1].image, { reference: r })),
      track('encode', m.encode(frames[2].image)),
      track(
        'createReference',
        m.createReference({ image: refScene.image, mask: refScene.mask }, { parts: 1 }),
      ),
      track('predict', m.predict(emb, { points: [{ x: 160, y: 120, label: 1 }] })),
      track('segment-emb', m.segment(emb, { reference: r })),
    ];
    let segmentsAtDispose = -1;
    const disposed = m.dispose().then(() => {
      segmentsAtDispose = m.stats().segments;
    });
    expect(m.disposed).toBe(true);
    // New calls are refused at once, while the old ones are still running.
    expectDisposed(await settle(m.segment(frames[3].image, { reference: r })));
    const results = await Promise.all(calls);
    await disposed;
    // dispose() resolved (and freed the sessions) only once both running segments had
    // finished their work.
    expect(segmentsAtDispose).toBe(2);
    // The two calls holding the two slots ran to completion; the queued ones were refused.
    expect(results[0].status).toBe('fulfilled');
    expect(results[1].status).toBe('fulfilled');
    for (const q of results.slice(2)) expectDisposed(q);
    sameResult(
      (results[0] as PromiseFulfilledResult<SegmentResult>).value,
      await model.segment(frames[0].image, { reference: ref }),
    );

    for (const late of [
      m.encode(frames[0].image) as Promise<unknown>,
      m.segment(frames[0].image, { reference: r }),
      m.segment(emb, { reference: r }),
      m.createReference({ image: refScene.image, mask: refScene.mask }),
      m.predict(emb, { points: [{ x: 1, y: 1, label: 1 }] }),
    ])
      expectDisposed(await settle(late));
    // dispose is idempotent, and what the model handed out stays valid: the embedding owns
    // its data, the reference is plain memory.
    await m.dispose();
    await m[Symbol.asyncDispose]();
    (globalThis as { gc?: () => void }).gc?.();
    expect(emb.toFloat32Array().length).toBe(256 * 64 * 64);
    expect(r.summary().parts).toEqual([1, 2, 3]);
    emb.dispose();
  });

  it('dispose while calls wait for a slot rejects them DISPOSED without running them', async () => {
    const m = await P2SAM.load({ ...paths, threads: 2, concurrency: 1 });
    const r = await m.createReference({ image: refScene.image, mask: refScene.mask }, { parts: 1 });
    const before = m.stats();
    const first = settle(m.segment(frames[0].image, { reference: r }));
    const queued = [settle(m.segment(frames[1].image, { reference: r })), settle(m.encode(frames[2].image))];
    await m.dispose();
    expect((await first).status).toBe('fulfilled');
    for (const q of queued) expectDisposed(await q);
    // Exactly one more encoder run: the queued calls never reached the model.
    expect(m.stats().encoderRuns - before.encoderRuns).toBe(1);
  });

  it('`await using` disposes the model at the end of the block', async () => {
    let outer: P2SAM | undefined;
    {
      await using m = await P2SAM.load({ ...paths, threads: 1 });
      outer = m;
      expect(m.disposed).toBe(false);
      expect((await m.encode(frames[0].image)).width).toBe(W);
    }
    expect(outer.disposed).toBe(true);
    await expect(outer.encode(frames[0].image)).rejects.toMatchObject({ code: 'DISPOSED' });
    // `using` on an embedding frees it at the end of its block.
    let emb: Embedding | undefined;
    {
      using e = await model.encode(frames[0].image);
      emb = e;
      expect(e.disposed).toBe(false);
    }
    expect(emb.disposed).toBe(true);
  });

  it('a model that is never disposed is still safe to drop (GC finalizes the sessions)', async () => {
    // Not a leak test (see reliability-leak): just that finalisation cannot crash.
    for (let i = 0; i < 3; i++) {
      const m = await P2SAM.load({ ...paths, threads: 1 });
      (await m.encode(frames[i].image)).dispose();
    }
    (globalThis as { gc?: () => void }).gc?.();
    await new Promise((res) => setTimeout(res, 20));
    expect((await model.encode(frames[0].image)).width).toBe(W);
  });
});

describe('embedding and reference dispose', () => {
  it('a disposed embedding is refused everywhere with DISPOSED; dispose is idempotent', async () => {
    const emb = await model.encode(frames[0].image);
    emb.dispose();
    emb.dispose();
    expect(emb.disposed).toBe(true);
    expect(() => emb.toFloat32Array()).toThrow(expect.objectContaining({ code: 'DISPOSED' }));
    await expect(model.segment(emb, { reference: ref })).rejects.toMatchObject({ code: 'DISPOSED' });
    await expect(model.createReference({ image: emb, mask: refScene.mask })).rejects.toMatchObject({
      code: 'DISPOSED',
    });
    await expect(model.predict(emb, { points: [{ x: 5, y: 5, label: 1 }] })).rejects.toMatchObject({
      code: 'DISPOSED',
    });
  });

  it('disposing an embedding at any stage of a segment that uses it: the same result, or DISPOSED', async () => {
    const baseline = await model.segment(frames[1].image, { reference: ref });
    const stages = ['encode', 'points', 'decode', 'retrieval'] as const;
    for (const stage of stages) {
      const emb = await model.encode(frames[1].image);
      const r = await settle(
        model.segment(emb, {
          reference: ref,
          onProgress: (p) => {
            if (p.stage === stage) emb.dispose();
          },
        }),
      );
      if (r.status === 'fulfilled') sameResult(r.value, baseline);
      else expect(r.reason).toMatchObject({ code: 'DISPOSED' });
    }
    // While its native work is running (the native side holds its own reference).
    for (let delay = 0; delay < 40; delay += 8) {
      const emb = await model.encode(frames[1].image);
      const p = settle(model.segment(emb, { reference: ref }));
      setTimeout(() => emb.dispose(), delay);
      const r = await p;
      if (r.status === 'fulfilled') sameResult(r.value, baseline);
      else expect(r.reason).toMatchObject({ code: 'DISPOSED' });
    }
  });

  it('a reference disposed mid-run does not disturb that run; later use is DISPOSED', async () => {
    const baseline = await model.segment(frames[2].image, { reference: ref });
    const r = await model.createReference({ image: refScene.image, mask: refScene.mask }, { parts: PARTS });
    const res = await model.segment(frames[2].image, {
      reference: r,
      onProgress: (p) => {
        if (p.stage === 'points') r.dispose();
      },
    });
    sameResult(res, baseline);
    expect(r.disposed).toBe(true);
    await expect(model.segment(frames[2].image, { reference: r })).rejects.toMatchObject({
      code: 'DISPOSED',
    });
    // `await using` on a reference.
    let outer: Reference | undefined;
    {
      await using r2 = await model.createReference(
        { image: refScene.image, mask: refScene.mask },
        { parts: 1 },
      );
      outer = r2;
    }
    expect(outer.disposed).toBe(true);
  });
});

describe('cancellation', () => {
  it('an already-aborted signal rejects with its reason before any model run', async () => {
    const before = model.stats();
    const why = reason('pre');
    const signal = AbortSignal.abort(why);
    await expect(model.encode(frames[0].image, { signal })).rejects.toMatchObject({
      code: 'ABORTED',
      cause: why,
    });
    await expect(
      model.createReference({ image: refScene.image, mask: refScene.mask }, { signal }),
    ).rejects.toMatchObject({ code: 'ABORTED', cause: why });
    await expect(model.segment(frames[0].image, { reference: ref, signal })).rejects.toMatchObject({
      code: 'ABORTED',
      cause: why,
    });
    await expect(
      model.predict(await model.encode(frames[0].image), { points: [{ x: 1, y: 1, label: 1 }] }, { signal }),
    ).rejects.toMatchObject({ code: 'ABORTED', cause: why });
    expect(model.stats().encoderRuns - before.encoderRuns).toBe(1); // only the encode for predict
    // Every reason — the default DOMException AbortError included — becomes P2SamError
    // ABORTED with the reason as its cause (issue 15: one documented code).
    const c = new AbortController();
    c.abort();
    await expect(model.encode(frames[0].image, { signal: c.signal })).rejects.toMatchObject({
      code: 'ABORTED',
      cause: c.signal.reason,
    });
    const s = await model
      .encode(frames[0].image, { signal: AbortSignal.abort('user pressed stop') })
      .catch((e: unknown) => e);
    expect(s).toBeInstanceOf(P2SamError);
    expect(s).toMatchObject({ code: 'ABORTED', cause: 'user pressed stop' });
    expect((s as Error).message).toContain('user pressed stop');
  });

  it('segment: an abort during each stage rejects with the reason at the next stage boundary', async () => {
    for (const stage of ['encode', 'points', 'decode'] as const) {
      const before = model.stats();
      const c = new AbortController();
      const why = reason(stage);
      const r = await settle(
        model.segment(frames[3].image, {
          reference: ref,
          signal: c.signal,
          onProgress: (p) => {
            if (p.stage === stage) c.abort(why);
          },
        }),
      );
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'ABORTED', cause: why });
      const after = model.stats();
      expect(after.segments).toBe(before.segments);
      // Nothing after the running stage ran; the stage itself is cancelled inside native
      // code (issue 15), so an abort as the encoder starts leaves no finished encoder run.
      expect(after.encoderRuns - before.encoderRuns).toBe(stage === 'encode' ? 0 : 1);
    }
    // After the last boundary ('retrieval') there is nothing left to stop: the result stands.
    const c = new AbortController();
    const done = await model.segment(frames[3].image, {
      reference: ref,
      signal: c.signal,
      onProgress: (p) => p.stage === 'retrieval' && c.abort(),
    });
    expect(done.mask.length).toBe(W * H);
  });

  it('segment: an abort while the native candidate cascade runs stops it early', async () => {
    const full = model.stats();
    await model.segment(frames[5].image, { reference: ref });
    const perSegment = model.stats().decoderRuns - full.decoderRuns;
    const before = model.stats();
    const c = new AbortController();
    const why = reason('cascade');
    const r = await settle(
      model.segment(frames[5].image, {
        reference: ref,
        signal: c.signal,
        // The cascade is queued right after this event; the abort arrives while it runs.
        onProgress: (p) => p.stage === 'decode' && setImmediate(() => c.abort(why)),
      }),
    );
    expect(r.status).toBe('rejected');
    expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'ABORTED', cause: why });
    // The cancel flag stopped the native loop between decoder passes: fewer runs than a
    // whole segment's cascade.
    expect(model.stats().decoderRuns - before.decoderRuns).toBeLessThan(perSegment);
  });

  it('createReference and encode: an abort while native work runs rejects with the reason', async () => {
    // Abort at 0 %, 25 % and 60 % of a typical run, wherever that falls on this machine.
    const t0 = performance.now();
    (
      await model.createReference(
        { image: refScene.image, mask: refScene.mask },
        { parts: { min: 1, max: 5 } },
      )
    ).dispose();
    const typical = performance.now() - t0;
    let landed = 0;
    for (const delay of [0, Math.floor(typical * 0.25), Math.floor(typical * 0.6)]) {
      const c = new AbortController();
      const why = reason(`createReference after ${delay} ms`);
      const before = model.stats();
      let abortedAt = Infinity;
      const p = settle(
        model.createReference(
          { image: refScene.image, mask: refScene.mask },
          { parts: { min: 1, max: 5 }, signal: c.signal },
        ),
      );
      setTimeout(() => {
        abortedAt = performance.now();
        c.abort(why);
      }, delay);
      const r = await p;
      const settledAt = performance.now();
      if (r.status === 'fulfilled') {
        // Only possible when this run beat the timer (a noisy machine): the abort then
        // came after the result, and there was nothing left to stop.
        expect(abortedAt).toBeGreaterThanOrEqual(settledAt);
        r.value.dispose();
        await new Promise((res) => setTimeout(res, delay));
        continue;
      }
      // There is a stage boundary after every stage, the last included, so an abort
      // that arrives before the call resolves always lands.
      expect(r.reason).toMatchObject({ code: 'ABORTED', cause: why });
      expect(model.stats().references).toBe(before.references);
      landed++;
    }
    expect(landed).toBeGreaterThanOrEqual(1);
    const c = new AbortController();
    const why = reason('encode');
    const p = settle(model.encode(frames[4].image, { signal: c.signal }));
    setImmediate(() => c.abort(why));
    const r = await p;
    expect(r.status).toBe('rejected');
    expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'ABORTED', cause: why });
  });

  it('aborting a call that waits for a concurrency slot rejects it at once; the slot queue keeps working', async () => {
    const m = await P2SAM.load({ ...paths, threads: 2, concurrency: 1 });
    const r = await m.createReference({ image: refScene.image, mask: refScene.mask }, { parts: PARTS });
    const events: string[] = [];
    const first = m.segment(frames[5].image, { reference: r }).then((x) => (events.push('first done'), x));
    const c = new AbortController();
    const why = reason('waiting');
    const waiting = m.segment(frames[6].image, { reference: r, signal: c.signal }).then(
      () => events.push('waiting resolved'),
      (e: unknown) =>
        events.push((e as Error).cause === why ? 'waiting aborted' : `waiting failed: ${String(e)}`),
    );
    const third = m.segment(frames[7].image, { reference: r }).then((x) => (events.push('third done'), x));
    setImmediate(() => c.abort(why));
    await Promise.all([first, waiting, third]);
    // The waiter left the queue without waiting for the running call; the call queued
    // behind it still got its turn.
    expect(events).toEqual(['waiting aborted', 'first done', 'third done']);
    sameResult(await third, await model.segment(frames[7].image, { reference: ref }));
    await m.dispose();
  });
});

describe('concurrency', () => {
  it('8 concurrent segment calls on one model equal the sequential results', async () => {
    const m = await P2SAM.load({ ...paths, threads: 2, concurrency: 8 });
    const r = await m.createReference({ image: refScene.image, mask: refScene.mask }, { parts: PARTS });
    const sequential: SegmentResult[] = [];
    for (const f of frames) sequential.push(await m.segment(f.image, { reference: r }));
    // Images and precomputed embeddings mixed, so encoder and decoder sessions both run
    // concurrently; some calls also parallelise their candidates.
    const embs = await Promise.all(frames.slice(0, 4).map((f) => m.encode(f.image)));
    const concurrent = await Promise.all(
      frames.map((f, i) =>
        m.segment(i < 4 ? embs[i] : f.image, { reference: r, parallelCandidates: i % 2 ? 3 : 1 }),
      ),
    );
    for (let i = 0; i < frames.length; i++) sameResult(concurrent[i], sequential[i]);
    for (const e of embs) e.dispose();
    await m.dispose();
  });

  async function maxOverlap(concurrency: number, n: number): Promise<{ max: number; starts: number[] }> {
    const m = await P2SAM.load({ ...paths, threads: 1, concurrency });
    const r = await m.createReference({ image: refScene.image, mask: refScene.mask }, { parts: 2 });
    // Each call's own timestamps: 'encode' is reported once it holds a slot, 'done'
    // just before it releases it.
    const spans: { start: number; end: number }[] = frames.slice(0, n).map(() => ({ start: 0, end: 0 }));
    const startOrder: number[] = [];
    await Promise.all(
      frames.slice(0, n).map((f, i) =>
        m.segment(f.image, {
          reference: r,
          onProgress: (p) => {
            if (p.stage === 'encode') {
              spans[i].start = performance.now();
              startOrder.push(i);
            }
            if (p.stage === 'done') spans[i].end = performance.now();
          },
        }),
      ),
    );
    await m.dispose();
    let max = 0;
    for (const s of spans)
      max = Math.max(max, spans.filter((o) => o.start <= s.start && s.start < o.end).length);
    return { max, starts: startOrder };
  }

  it('concurrency: 1 serialises calls in arrival order; concurrency: 3 never runs more than 3', async () => {
    const one = await maxOverlap(1, 5);
    expect(one.max).toBe(1);
    expect(one.starts).toEqual([0, 1, 2, 3, 4]);
    const three = await maxOverlap(3, 6);
    expect(three.max).toBeLessThanOrEqual(3);
    expect(three.max).toBeGreaterThanOrEqual(1);
  });

  it('concurrent calls with mixed aborts and a dispose at the end leave no call hanging', async () => {
    const m = await P2SAM.load({ ...paths, threads: 2, concurrency: 2 });
    const r = await m.createReference({ image: refScene.image, mask: refScene.mask }, { parts: PARTS });
    const controllers = frames.map(() => new AbortController());
    const calls = frames.map((f, i) =>
      settle(m.segment(f.image, { reference: r, signal: controllers[i].signal })),
    );
    controllers.forEach((c, i) => {
      if (i % 3 === 1) setTimeout(() => c.abort(reason(`mixed ${i}`)), i * 3);
    });
    const disposing = m.dispose();
    const results = await Promise.all(calls);
    await disposing;
    for (const [i, res] of results.entries()) {
      if (res.status === 'fulfilled') expect(res.value.mask.length).toBe(W * H);
      else {
        const e = res.reason as Error & { code?: string };
        expect(
          e.code === 'DISPOSED' ||
            (e.code === 'ABORTED' && (e.cause as Error).message === `reliability abort: mixed ${i}`),
        ).toBe(true);
      }
    }
  });
});

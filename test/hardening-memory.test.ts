/**
 * Issue 15 — segment keeps only what its result needs. Every candidate's full-size mask
 * used to be kept natively and then copied into JS (parts 1..16 × negatives 0..64 on
 * 640×480 took +370 MB; a 12 MP image would have needed ~13 GB), though the result
 * holds one mask.
 *
 * Measured in a child process as the growth of peak RSS (VmHWM, reset through
 * /proc/self/clear_refs after warming up) across one segment with 4 × 17 = 68
 * candidates on 1280×960, minus the same for a single candidate: what grows with the
 * number of candidates. 68 masks of 1.2 MB are 80 MB more than one.
 */
import { describe, expect, it } from 'vitest';
import { DIST, describeExit, runScript } from './hardening-helpers';
import { testkitModel } from './helpers';

const CHILD = String.raw`
const input = JSON.parse(process.argv[2]);
const p2sam = require(input.dist);
const fs = require('fs');
const kb = (field) => Number(new RegExp(field + ':\\s+(\\d+)').exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]);
(async () => {
  const { makeScene } = p2sam.testkit;
  const ref = makeScene({ width: 1280, height: 960, seed: 4, scale: 0.5 });
  const target = makeScene({ width: 1280, height: 960, seed: 4, noiseSeed: 2, center: [0.55, 0.5], scale: 0.5 });
  const model = await p2sam.P2SAM.load({ encoder: input.encoder, decoder: input.decoder, threads: 1 });
  const many = await model.createReference({ image: ref.image, mask: ref.mask }, { mode: 'medical', parts: { min: 1, max: 4 }, negatives: { min: 0, max: 16 } });
  const one = await model.createReference({ image: ref.image, mask: ref.mask }, { mode: 'medical', parts: { min: 4, max: 4 }, negatives: { min: 16, max: 16 } });
  const embedding = await model.encode(target.image);
  const retrieval = { solver: 'sinkhorn' };
  // Warm-up on the same work, so ONNX Runtime's arena and V8's heap have their size.
  await model.segment(embedding, { reference: many, retrieval });
  await model.segment(embedding, { reference: one, retrieval });
  const growth = async (reference) => {
    const before = kb('VmRSS');
    fs.writeFileSync('/proc/self/clear_refs', '5');
    const r = await model.segment(embedding, { reference, retrieval });
    return { mb: (kb('VmHWM') - before) / 1024, candidates: r.candidates.length, maskLength: r.mask.length };
  };
  const g1 = await growth(one);
  const gMany = await growth(many);
  console.log(JSON.stringify({ one: g1, many: gMany }));
})().catch((e) => { console.error(e); process.exit(3); });
`;

describe('segment memory', () => {
  it('68 candidates on 1280×960: peak RSS grows by far less than one mask per candidate', async () => {
    const m = await testkitModel();
    // A fixed mmap threshold: glibc otherwise raises it after each large free, keeping
    // freed transients (cost matrices, upscaling buffers) in the heap, so peak RSS
    // would measure the allocator instead of what is kept alive.
    const r = await runScript(
      CHILD,
      { dist: DIST, ...m },
      { timeoutMs: 240_000, env: { MALLOC_MMAP_THRESHOLD_: '131072', MALLOC_TRIM_THRESHOLD_: '131072' } },
    );
    expect(r.code, describeExit(r)).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    const extra = out.many.mb - out.one.mb;
    console.log(
      `segment peak RSS: +${out.one.mb.toFixed(1)} MB with 1 candidate, +${out.many.mb.toFixed(1)} MB with ${out.many.candidates}: ${extra.toFixed(1)} MB for the other ${out.many.candidates - 1}`,
    );
    expect(out.one.candidates).toBe(1);
    expect(out.many.candidates).toBe(4 * 17);
    expect(out.many.maskLength).toBe(1280 * 960);
    // Keeping every candidate's mask costs 67 × 1.2 MB = 80 MB more than one candidate;
    // keeping only the winner, nothing that grows with the count.
    expect(extra).toBeLessThan(25);
  }, 300_000);
});

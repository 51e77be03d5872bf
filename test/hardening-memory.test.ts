/**
 * Issue 15 — segment keeps only what its result needs. Every candidate's full-size mask
 * used to be kept natively and then copied into JS (parts 1..16 × negatives 0..64 on
 * 640×480 took +370 MB; a 12 MP image would have needed ~13 GB), though the result
 * holds one mask.
 *
 * Measured in a child process as the growth of peak RSS (VmHWM, reset through
 * /proc/self/clear_refs after warming up) across one segment with 4 × 17 = 68
 * candidates on 1280×960 — 68 masks of 1.2 MB: +120 MB with the old code (on 640×480:
 * +18 MB for 68 candidates, +140 MB for 8 × 33).
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
  const opts = { mode: 'medical', parts: { min: 1, max: 4 }, negatives: { min: 0, max: 16 } };
  const reference = await model.createReference({ image: ref.image, mask: ref.mask }, opts);
  const embedding = await model.encode(target.image);
  // Warm-up on the same work, so ONNX Runtime's arena and V8's heap have their size.
  await model.segment(embedding, { reference, retrieval: { solver: 'sinkhorn' } });
  global.gc?.();
  const before = kb('VmRSS');
  fs.writeFileSync('/proc/self/clear_refs', '5');
  const r = await model.segment(embedding, { reference, retrieval: { solver: 'sinkhorn' } });
  const peak = kb('VmHWM');
  console.log(JSON.stringify({ candidates: r.candidates.length, growthMB: (peak - before) / 1024, maskLength: r.mask.length }));
})().catch((e) => { console.error(e); process.exit(3); });
`;

describe('segment memory', () => {
  it('68 candidates on 1280×960: peak RSS grows by far less than one mask per candidate', async () => {
    const m = await testkitModel();
    const r = await runScript(CHILD, { dist: DIST, ...m }, { timeoutMs: 240_000 });
    expect(r.code, describeExit(r)).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    console.log(`segment with ${out.candidates} candidates: peak RSS +${out.growthMB.toFixed(1)} MB`);
    expect(out.candidates).toBe(4 * 17);
    expect(out.maskLength).toBe(1280 * 960);
    // 68 masks are 84 MB; the best one and those being computed are a few MB.
    expect(out.growthMB).toBeLessThan(30);
  }, 300_000);
});

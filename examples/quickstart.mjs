// The main job through the API, fully offline: write the testkit model, make a reference
// scene and a few targets where the object moved and changed size, segment them with
// one cached reference, and print what P2SAM chose and why.
//   node examples/quickstart.mjs
import { P2SAM, testkit } from 'p2sam-native';
import os from 'node:os';
import path from 'node:path';

const { encoder, decoder } = await testkit.writeTestkitModel(path.join(os.tmpdir(), 'p2sam-quickstart'));
const model = await P2SAM.load({ encoder, decoder });

// A red/green/blue object on a textured background; the mask marks all three parts.
const ref = testkit.makeScene({ width: 640, height: 480, seed: 3, center: [0.45, 0.5], scale: 0.5 });
const reference = await model.createReference(
  { image: ref.image, mask: ref.mask },
  { mode: 'natural', parts: { min: 1, max: 5 } },
);

for (const [i, [cx, cy, scale]] of [
  [0.55, 0.5, 0.5],
  [0.5, 0.45, 0.6],
  [0.42, 0.55, 0.5],
].entries()) {
  const target = testkit.makeScene({
    width: 640,
    height: 480,
    seed: 3,
    noiseSeed: 20 + i,
    center: [cx, cy],
    scale,
  });
  const r = await model.segment(target.image, { reference, retrieval: { solver: 'exact' } });
  let inter = 0,
    union = 0;
  for (let p = 0; p < r.mask.length; p++) {
    inter += r.mask[p] & target.mask.data[p];
    union += r.mask[p] | target.mask.data[p];
  }
  const scores = r.candidates.map((c) => `k=${c.parts}:${c.score?.toFixed(3)}`).join(' ');
  console.log(
    `target ${i}: chose ${r.parts} parts, ${r.points.length} points, IoU ${(inter / union).toFixed(3)}  [${scores}]  ${r.timings.totalMs.toFixed(0)} ms`,
  );
}
await model.dispose();
